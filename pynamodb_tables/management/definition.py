"""The two tables as declared: what ``create-tables`` makes and ``template`` writes, from one definition.

A :class:`TableDefinition` takes its keys and TTL attribute from the table's item model (the
code's own declaration) and its billing, encryption, deletion protection, point-in-time
recovery and tags from :class:`TableOptions`. It has two forms, built from the same parts:
the DynamoDB requests (``CreateTable``, then ``UpdateTimeToLive`` and
``UpdateContinuousBackups``) and the CloudFormation ``AWS::DynamoDB::Table`` properties.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pynamodb.attributes import TTLAttribute

from ..reads import Table
from .settings import TablePair

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
