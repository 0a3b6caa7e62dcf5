"""What the tests share beside their fixtures (``conftest.py``): the frozen clock's start, and the two
backends' tables and raw reads."""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import botocore.session

from pynamodb_tables import JobTable, RegionRequestTable

# Every frozen test starts here. It lies in the future: DynamoDB Local, like DynamoDB,
# deletes items whose expire_time has passed, and expire_time is derived from this clock.
T0 = "2031-03-04 05:06:07.891"
T0_MS = 1930367167891


@dataclass
class Backend:
    name: str
    host: Optional[str]

    def tables(self, suffix: str = "test") -> Tuple[JobTable, RegionRequestTable]:
        """A pair of empty tables, created and ready (the caller deletes them)."""
        job_table = JobTable(f"jobs-{suffix}", host=self.host)
        region_table = RegionRequestTable(f"regions-{suffix}", host=self.host)
        for table in (job_table, region_table):
            table.model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        return job_table, region_table

    def raw_item(self, table_name: str, **key: str) -> Optional[Dict[str, Any]]:
        """The item exactly as DynamoDB stores it (attribute-value JSON), bypassing the package."""
        client = botocore.session.get_session().create_client("dynamodb", endpoint_url=self.host)
        response = client.get_item(TableName=table_name, Key={k: {"S": v} for k, v in key.items()},
                                   ConsistentRead=True)
        return response.get("Item")

    def item_count(self, table_name: str) -> int:
        """Items in the table (a consistent scan)."""
        client = botocore.session.get_session().create_client("dynamodb", endpoint_url=self.host)
        return sum(page["Count"] for page in client.get_paginator("scan").paginate(
            TableName=table_name, ConsistentRead=True))
