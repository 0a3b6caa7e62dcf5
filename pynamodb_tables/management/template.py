"""``template``: a CloudFormation template declaring both tables as ``create-tables`` makes them.

Each table's properties come from the same :class:`~.definition.TableDefinition` that
``create-tables`` sends (keys, billing, TTL, point-in-time recovery, encryption, deletion
protection, tags), so the two cannot drift. Tables with deletion protection are also retained
by CloudFormation when the stack deletes or replaces them.
"""

from typing import Any, Dict, Sequence

from .definition import TableDefinition
from .settings import logical_id

DESCRIPTION = "pynamodb_tables: the job table and the region request table (pynamodb-tables template)"


def resource(definition: TableDefinition) -> Dict[str, Any]:
    """One ``AWS::DynamoDB::Table`` resource."""
    policy = "Retain" if definition.options.deletion_protection else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": definition.cloudformation_properties()}


def template(definitions: Sequence[TableDefinition]) -> Dict[str, Any]:
    """The template (a JSON object): both tables, and their names and ARNs as outputs."""
    resources = {logical_id(d.role): resource(d) for d in definitions}
    outputs: Dict[str, Any] = {}
    for name in resources:
        outputs[f"{name}Name"] = {"Description": f"{name}'s name", "Value": {"Ref": name}}
        outputs[f"{name}Arn"] = {"Description": f"{name}'s ARN", "Value": {"Fn::GetAtt": [name, "Arn"]}}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Description": DESCRIPTION, "Resources": resources,
            "Outputs": outputs}
