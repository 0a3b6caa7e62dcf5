"""A state change refused again and again by another writer's progress on the same attempt (a duplicate
delivery adding tiles) falls back, after ``EXACT_ATTEMPTS`` refusals, to a weaker condition
(``region_states.same_attempt`` for a completion, ``start_decision_holds`` for a start). The weaker
condition still holds only in the state the decision was made on: a later attempt, or a tile recorded
since, refuses it. Another writer acts right before each transaction is sent (a botocore hook)."""

import time

import botocore.session
import pytest

from pynamodb_tables import RegionRequestItem, RequestStatus
from pynamodb_tables.region_states import EXACT_ATTEMPTS
from tests.support.faults import BeforeEachTransaction

pytestmark = pytest.mark.dynamodb_local

KEY = {"image_id": {"S": "img"}, "region_id": {"S": "r"}}


@pytest.fixture
def client(dynamodb_local):
    """Another writer, around the package."""
    return botocore.session.get_session().create_client("dynamodb", endpoint_url=dynamodb_local.endpoint)


def append_tile(client, table_name, n):
    tile = {"L": [{"L": [{"N": str(16 * n)}, {"N": "0"}]}, {"L": [{"N": "16"}, {"N": "16"}]}]}
    client.update_item(TableName=table_name, Key=KEY,
                       ExpressionAttributeValues={":t": {"L": [tile]}, ":one": {"N": "1"}},
                       UpdateExpression="SET succeeded_tiles = list_append(succeeded_tiles, :t), "
                                        "succeeded_tile_count = succeeded_tile_count + :one")


def test_a_loose_completion_never_lands_on_a_later_attempt(local_tables, client):
    _, regions = local_tables
    name = regions.table_name
    regions.start_region_request(RegionRequestItem("r", "img", "job"))
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    client.update_item(TableName=name, Key=KEY, UpdateExpression="SET start_time = :t",
                       ExpressionAttributeValues={":t": {"N": str(an_hour_ago)}})
    append_tile(client, name, 99)  # (worked on already: the tiles appended next leave the decision standing)
    copy = regions.get_region_request("r", "img")

    def restart():  # another worker starts a new attempt, right before the loose completion is sent
        client.update_item(TableName=name, Key=KEY, UpdateExpression="SET start_time = :t, region_retry_count = :one",
                           ExpressionAttributeValues={":t": {"N": str(int(time.time() * 1000))}, ":one": {"N": "1"}})

    appends = EXACT_ATTEMPTS + 1  # (the first refusal is of the item read, not of a decision: not counted)
    actions = [lambda n=n: append_tile(client, name, n) for n in range(appends)] + [restart]
    with BeforeEachTransaction(regions.clients(), actions) as hook:
        done = regions.complete_region_request(copy, RequestStatus.SUCCESS)
    assert not hook.actions and hook.sent == appends + 2  # the loose completion refused, then the new attempt's
    assert done.region_retry_count == 1 and done.succeeded_tile_count == appends + 1
    assert done.processing_duration < 60, "completed with the duration of the earlier attempt"


def test_a_loose_start_of_an_untouched_region_is_refused_by_a_tile_recorded_since(local_tables, client):
    _, regions = local_tables
    name = regions.table_name
    regions.start_region_request(RegionRequestItem("r", "img", "job"))
    copy = regions.get_region_request("r", "img")

    def message(n):  # another writer's progress that leaves the start's decision standing
        client.update_item(TableName=name, Key=KEY, UpdateExpression="SET message = :m",
                           ExpressionAttributeValues={":m": {"S": f"progress {n}"}})

    actions = [lambda n=n: message(n) for n in range(EXACT_ATTEMPTS)] + [lambda: append_tile(client, name, 0)]
    with BeforeEachTransaction(regions.clients(), actions) as hook:
        started = regions.start_region_request(copy)
    assert hook.sent == EXACT_ATTEMPTS + 2
    assert (started.region_retry_count, started.succeeded_tile_count) == (1, 1), \
        "a region worked on since was started as untouched (no retry counted)"
