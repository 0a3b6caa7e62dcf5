"""Items written the way osml-model-runner 2.3.0's own database modules write them (no tests here).

Its ``DDBHelper`` uses boto3's resource layer; these helpers send the same requests with botocore:
``start_image_request`` and ``start_region_request`` put the whole item (a restart from an item
read back keeps its tile lists and ``end_time`` and resets the counts and retry count to 0);
``add_tile`` appends with ``list_append`` and keeps no count (nor ``last_updated_time``);
``update_region_request`` sets the item's counts as the handler computed them;
``complete_region_request`` sets the outcome; the job's ``complete_region_request`` is a bare
``region_x = region_x + 1``, once per call. For the repair tests: what a fleet being moved over
leaves in the tables.
"""

import time
from typing import Any, Dict, List, Optional

import botocore.session

Tile = List[List[int]]


def n(value: int) -> Dict[str, str]:
    return {"N": str(value)}


def tiles(values: List[Tile]) -> Dict[str, Any]:
    return {"L": [{"L": [{"L": [n(v) for v in pair]} for pair in tile]} for tile in values]}


class OldWorker:
    """The model runner's own table calls, on two tables of an endpoint."""

    def __init__(self, endpoint: str, job_table: str, region_table: str) -> None:
        self.client = botocore.session.get_session().create_client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing")
        self.jobs, self.regions = job_table, region_table

    @staticmethod
    def now() -> int:
        return int(time.time() * 1000)

    def start_image(self, image_id: str, region_count: int, *, start: Optional[int] = None) -> None:
        start = start or self.now()
        self.client.put_item(TableName=self.jobs, Item={
            "image_id": {"S": image_id}, "job_id": {"S": "job"}, "start_time": n(start), "processing_duration": n(0),
            "expire_time": n(start // 1000 + 86400), "region_success": n(0), "region_error": n(0),
            "region_count": n(region_count), "width": n(1024), "height": n(1024), "tile_size": {"S": "(256, 256)"}})

    def count_region(self, image_id: str, error: bool) -> None:
        counter = "region_error" if error else "region_success"
        self.client.update_item(TableName=self.jobs, Key={"image_id": {"S": image_id}},
                                UpdateExpression=f"SET {counter} = {counter} + :one",
                                ExpressionAttributeValues={":one": n(1)})

    def get_region(self, image_id: str, region_id: str) -> Dict[str, Any]:
        return dict(self.client.get_item(TableName=self.regions, ConsistentRead=True, Key={
            "image_id": {"S": image_id}, "region_id": {"S": region_id}})["Item"])

    def start_region(self, image_id: str, region_id: str, *, read_back: bool = False, start: Optional[int] = None,
                     bounds: Optional[Tile] = None, only_new: bool = False) -> None:
        """A put of the whole item: a new one, or (``read_back``) the stored item with fresh start values
        (``only_new``: unless the region exists: then botocore's ``ConditionalCheckFailedException``)."""
        start = start or self.now()
        item = self.get_region(image_id, region_id) if read_back else {
            "image_id": {"S": image_id}, "region_id": {"S": region_id}, "job_id": {"S": "job"},
            "region_bounds": tiles([bounds or [[0, 0], [512, 512]]])["L"][0], "tile_size": {"L": [n(256), n(256)]},
            "tile_overlap": {"L": [n(0), n(0)]}, "tile_format": {"S": "NITF"}, "tile_compression": {"S": "NONE"}}
        item.update(start_time=n(start), region_status={"S": "STARTED"}, region_retry_count=n(0),
                    succeeded_tile_count=n(0), failed_tile_count=n(0), processing_duration=n(0),
                    expire_time=n(start // 1000 + 86400))
        condition = {"ConditionExpression": "attribute_not_exists(region_id)"} if only_new else {}
        self.client.put_item(TableName=self.regions, Item=item, **condition)

    def add_tile(self, image_id: str, region_id: str, tile: Tile, state: str) -> None:
        self.client.update_item(
            TableName=self.regions, Key={"image_id": {"S": image_id}, "region_id": {"S": region_id}},
            UpdateExpression=f"SET {state}_tiles = list_append(if_not_exists({state}_tiles, :empty), :new)",
            ExpressionAttributeValues={":empty": {"L": []}, ":new": tiles([tile])})

    def update_counts(self, image_id: str, region_id: str, succeeded: int, failed: int, *,
                      only_existing: bool = False) -> None:
        """``update_region_request`` with the counts the handler computed (it creates an unknown region, unless
        ``only_existing``: then botocore's ``ConditionalCheckFailedException``)."""
        condition = {"ConditionExpression": "attribute_exists(region_id)"} if only_existing else {}
        self.client.update_item(
            TableName=self.regions, Key={"image_id": {"S": image_id}, "region_id": {"S": region_id}},
            UpdateExpression="SET succeeded_tile_count = :s, failed_tile_count = :f, last_updated_time = :t",
            ExpressionAttributeValues={":s": n(succeeded), ":f": n(failed), ":t": n(self.now())}, **condition)

    def complete_region(self, image_id: str, region_id: str, status: str) -> None:
        now = self.now()
        self.client.update_item(
            TableName=self.regions, Key={"image_id": {"S": image_id}, "region_id": {"S": region_id}},
            UpdateExpression="SET region_status = :s, end_time = :t, last_updated_time = :t",
            ExpressionAttributeValues={":s": {"S": status}, ":t": n(now)})

    def process_region(self, image_id: str, region_id: str, ok: List[Tile], failed: List[Tile], status: str, *,
                       read_back: bool = False) -> None:
        """The handler's calls for one region message: start, tiles, counts, the job's counter, the outcome."""
        self.start_region(image_id, region_id, read_back=read_back)
        for tile in ok:
            self.add_tile(image_id, region_id, tile, "succeeded")
        for tile in failed:
            self.add_tile(image_id, region_id, tile, "failed")
        self.update_counts(image_id, region_id, len(ok), len(failed))
        self.count_region(image_id, error=bool(failed))
        self.complete_region(image_id, region_id, status)
