"""``iam-policy``: the least-privilege IAM policy a worker needs on the two tables."""

from typing import Any, Dict, Tuple

from .settings import TablePair, logical_id

#: What a worker's calls need, per table: every write is an ``UpdateItem``, alone or as an
#: ``Update`` in a ``TransactWriteItems`` (which IAM authorises per item action: it has no action
#: of its own; the package sends no ``ConditionCheck``, which would need ``ConditionCheckItem``);
#: reads are ``GetItem``; ``list_regions`` is a ``Query``. All of them are in the model runner's
#: deployed worker role.
WORKER_ACTIONS: Dict[str, Tuple[str, ...]] = {
    "job": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
    "region request": ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"),
}


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def iam_policy(tables: TablePair, region: str, account_id: str) -> Dict[str, Any]:
    """The policy a worker needs: :data:`WORKER_ACTIONS` on each table's ARN, nothing else."""
    statements = []
    for role, table in tables.roles():
        arn = f"arn:{partition_of(region)}:dynamodb:{region}:{account_id}:table/{table.table_name}"
        statements.append({"Sid": logical_id(role), "Effect": "Allow", "Action": sorted(WORKER_ACTIONS[role]),
                           "Resource": arn})
    return {"Version": "2012-10-17", "Statement": statements}
