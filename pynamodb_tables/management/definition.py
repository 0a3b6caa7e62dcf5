"""What an operator deploys, from one definition: the two tables as declared (what ``create-tables``
makes and ``template`` writes), the worker's IAM policy and the CloudWatch dashboard.

A :class:`TableDefinition` takes its keys and TTL attribute from the table's item model (the code's
own declaration) and its billing, encryption, deletion protection, point-in-time recovery and tags
from :class:`TableOptions`. It has two forms, built from the same parts: the DynamoDB requests
(``CreateTable``, then ``UpdateTimeToLive`` and ``UpdateContinuousBackups``) and the CloudFormation
``AWS::DynamoDB::Table`` properties.

- ``template``: a CloudFormation template declaring both tables as ``create-tables`` makes them, so the
  two cannot drift. Tables with deletion protection are also retained by CloudFormation when the
  stack deletes or replaces them.
- ``iam-policy``: the least-privilege IAM policy a worker needs on the two tables.
- ``dashboard``: a CloudWatch dashboard (a ``PutDashboard`` body) graphing the metrics ``emf_listener``
  writes. Every graph is a metric math ``SEARCH`` of the EMF namespace by the dimensions the lines
  carry (``Operation``, ``Table``), so each operation of each table gets its own line, whichever
  operations the workers run, and a new operation shows up without a new dashboard. Where the tables
  are named (``--job-table``, ``--region-table`` or their variables), the graphs are of those two
  tables only.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pynamodb.attributes import TTLAttribute

from ..listeners import DIMENSIONS
from ..reads import Table
from .arguments import TablePair, logical_id

ON_DEMAND, PROVISIONED = "PAY_PER_REQUEST", "PROVISIONED"
BILLING_MODES = (ON_DEMAND, PROVISIONED)

Key = Tuple[str, str, str]  # attribute name, HASH or RANGE, attribute type


@dataclass(frozen=True)
class TableOptions:
    """How the tables are made, beyond their keys and TTL: the options of ``create-tables`` and ``template``."""

    billing_mode: str = ON_DEMAND
    read_capacity: Optional[int] = None
    write_capacity: Optional[int] = None
    pitr: bool = False
    kms_key: Optional[str] = None  # a customer managed KMS key's ARN; None: DynamoDB's own key
    deletion_protection: bool = False
    tags: Tuple[Tuple[str, str], ...] = ()


def model_keys(table: Table) -> List[Key]:
    """The key schema the table's item model declares, hash key first."""
    attributes = list(table.model.get_attributes().values())
    return ([(a.attr_name, "HASH", a.attr_type) for a in attributes if a.is_hash_key]
            + [(a.attr_name, "RANGE", a.attr_type) for a in attributes if a.is_range_key])


def model_ttl_attribute(table: Table) -> str:
    """The attribute the item model declares as the table's TTL."""
    return next(a.attr_name for a in table.model.get_attributes().values() if isinstance(a, TTLAttribute))


@dataclass(frozen=True)
class TableDefinition:
    """One table as declared: role, name, keys, TTL attribute and options."""

    role: str
    name: str
    keys: Tuple[Key, ...]
    ttl_attribute: str
    options: TableOptions

    @classmethod
    def of(cls, role: str, table: Table, options: TableOptions) -> "TableDefinition":
        return cls(role, table.table_name, tuple(model_keys(table)), model_ttl_attribute(table), options)

    def _common(self) -> Dict[str, Any]:
        """What ``CreateTable`` and CloudFormation spell alike."""
        options = self.options
        common: Dict[str, Any] = {
            "TableName": self.name,
            "KeySchema": [{"AttributeName": name, "KeyType": key_type} for name, key_type, _ in self.keys],
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind} for name, _, kind in self.keys],
            "BillingMode": options.billing_mode,
            "DeletionProtectionEnabled": options.deletion_protection,
        }
        if options.billing_mode == PROVISIONED:
            common["ProvisionedThroughput"] = {"ReadCapacityUnits": options.read_capacity,
                                               "WriteCapacityUnits": options.write_capacity}
        if options.tags:
            common["Tags"] = [{"Key": key, "Value": value} for key, value in options.tags]
        return common

    def create_table_request(self) -> Dict[str, Any]:
        """The ``CreateTable`` parameters (TTL and PITR are requests of their own)."""
        request = self._common()
        if self.options.kms_key:
            request["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": self.options.kms_key}
        return request

    def ttl_request(self) -> Dict[str, Any]:
        """The ``UpdateTimeToLive`` parameters that turn TTL on."""
        return {"TableName": self.name,
                "TimeToLiveSpecification": {"AttributeName": self.ttl_attribute, "Enabled": True}}

    def pitr_request(self) -> Dict[str, Any]:
        """The ``UpdateContinuousBackups`` parameters that turn point-in-time recovery on."""
        return {"TableName": self.name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}

    def cloudformation_properties(self) -> Dict[str, Any]:
        """The ``AWS::DynamoDB::Table`` properties: ``CreateTable``'s, with TTL and PITR declared too."""
        properties = self._common()
        properties["SSESpecification"] = (
            {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": self.options.kms_key}
            if self.options.kms_key else {"SSEEnabled": False})
        properties["TimeToLiveSpecification"] = self.ttl_request()["TimeToLiveSpecification"]
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": self.options.pitr}
        return properties


def definitions(tables: TablePair, options: TableOptions) -> Sequence[TableDefinition]:
    """Both tables' definitions, job table first."""
    return [TableDefinition.of(role, table, options) for role, table in tables.roles()]


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


WIDTH, HEIGHT = 12, 6  # half of the dashboard's 24 columns
PERIOD_S = 60

#: The graphs: title, metric, statistic.
GRAPHS: Tuple[Tuple[str, str, str], ...] = (
    ("Calls per operation", "Duration", "SampleCount"),
    ("Latency p99 per operation (ms)", "Duration", "p99"),
    ("Throttled requests sent again", "Throttles", "Sum"),
    ("Transaction conflicts (requests sent again)", "Conflicts", "Sum"),
    ("Lost answers (requests sent again)", "LostAnswers", "Sum"),
    ("Server errors and requests not sent (sent again)", "ServerErrors", "Sum"),
    ("Read capacity units per operation", "ReadUnits", "Sum"),
    ("Write capacity units per operation", "WriteUnits", "Sum"),
    ("Operations that raised", "Errors", "Sum"),
)
#: A graph's further metrics, beside its first.
ALSO = {"ServerErrors": ("NotSent",)}


def quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search(namespace: str, metric: str, statistic: str, tables: Sequence[str]) -> str:
    """A ``SEARCH`` expression: ``metric`` of every operation (of ``tables``, if any) in ``namespace``."""
    schema = ",".join(quoted(name) for name in (namespace, *DIMENSIONS))
    terms = f"MetricName={quoted(metric)}"
    if tables:
        terms += " (" + " OR ".join(f"Table={quoted(table)}" for table in tables) + ")"
    return f"SEARCH('{{{schema}}} {terms}', '{statistic}', {PERIOD_S})"


def graph(title: str, metric: str, statistic: str, namespace: str, region: str, tables: Sequence[str],
          position: Tuple[int, int]) -> Dict[str, Any]:
    names = (metric, *ALSO.get(metric, ()))
    metrics: List[Any] = []
    for n, name in enumerate(names):
        query: Dict[str, Any] = {"expression": search(namespace, name, statistic, tables), "id": f"m{n}"}
        if len(names) > 1:  # which metric each line is, beside its operation and table
            query["label"] = f"{name} ${{LABEL}}"
        metrics.append([query])
    return {"type": "metric", "x": position[0], "y": position[1], "width": WIDTH, "height": HEIGHT,
            "properties": {"title": title, "region": region, "view": "timeSeries", "stacked": False,
                           "period": PERIOD_S, "stat": statistic, "metrics": metrics,
                           "yAxis": {"left": {"min": 0}}}}


def dashboard(namespace: str, region: str, tables: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The dashboard body: a heading, then a graph per :data:`GRAPHS`, two by two."""
    which = f"tables {', '.join(tables)}" if tables else "every table"
    widgets: List[Dict[str, Any]] = [{
        "type": "text", "x": 0, "y": 0, "width": 2 * WIDTH, "height": 2,
        "properties": {"markdown": f"## pynamodb_tables operations\nCloudWatch namespace `{namespace}`, {which}: "
                                   "the lines `emf_listener` writes, one per operation (dimensions `Operation`, "
                                   "`Table`). Resends are counted by cause."}}]
    for n, (title, metric, statistic) in enumerate(GRAPHS):
        position = ((n % 2) * WIDTH, 2 + (n // 2) * HEIGHT)
        widgets.append(graph(title, metric, statistic, namespace, region, tables or (), position))
    return {"widgets": widgets}
