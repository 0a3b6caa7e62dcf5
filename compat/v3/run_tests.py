"""The model runner v3's own tests of its database package and of the code that uses it, on its own modules
and on this package, side by side.

v3's source (``../shared/upstream/osml-model-runner-*.tar.gz``, or ``--source`` a tarball or an extracted
tree of a user's own checkout) is extracted once into ``compat/.venv-v3/source``; its tests run from there,
as its ``tox.ini`` runs them (its environment variables, moto), in groups (one pytest process each: some
of its scheduler tests depend on the order they run in), twice: on v3's own modules, then with
``-p shim_v3`` (v3's ``database.image_request_table`` and ``database.region_request_table`` replaced by
re-exports of this package, nothing else changed). Each test's outcome is compared. A test that fails on
this package only is a difference, unless :data:`NOT_APPLICABLE` names it, with the reason: it reaches into
v3's own implementation (its private ``DDBHelper`` methods, the boto3 ``Table`` behind its classes, its
exception classes), which a fleet replacing the two modules does not keep. Exit 1 on any difference.
"""

import argparse
import collections
import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
COMPAT = HERE.parent
WORK = COMPAT / ".venv-v3"
TESTS = "test/aws/osml/model_runner"
#: The test groups, each run in a pytest process of its own.
GROUPS: Dict[str, List[str]] = {
    "database": [f"{TESTS}/database"],
    "handlers": [f"{TESTS}/test_region_request_handler.py", f"{TESTS}/test_image_request_handler.py",
                 f"{TESTS}/test_model_runner.py", f"{TESTS}/test_end_to_end.py"],
    "tile workers": [f"{TESTS}/tile_worker"],
    "status monitors": [f"{TESTS}/status"],
    "scheduler": [f"{TESTS}/scheduler"],
}
#: The environment v3's tox.ini gives its tests.
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-west-2", "WORKERS": "4", "IMAGE_REQUEST_TABLE": "TEST-IMAGE-REQUEST-TABLE",
    "OUTSTANDING_IMAGE_REQUEST_TABLE": "OUTSTANDING-IMAGE-REQUEST-TABLE", "FEATURE_TABLE": "TEST-FEATURE-TABLE",
    "REGION_REQUEST_TABLE": "TEST-REGION-REQUEST-TABLE", "IMAGE_QUEUE": "TEST-IMAGE-QUEUE",
    "IMAGE_DLQ": "TEST-IMAGE-DLQ", "REGION_QUEUE": "TEST-REGION-QUEUE", "IMAGE_STATUS_TOPIC": "TEST-IMAGE-STATUS-TOPIC",
    "REGION_STATUS_TOPIC": "TEST-REGION-STATUS-TOPIC", "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
}

_HELPER = ("drives v3's private DDBHelper with ImageRequestItem as its dataclass item (to_put, ddb_key, "
           "to_update): the package's item is a PynamoDB model, written only by the table's state changes")
_PATCHED = "patches ImageRequestTable.{} (the private DDBHelper method behind v3's class) to fail"
_WHOLE_ITEM = ("calls update_ddb_item, the generic whole-item write v3's class inherits from DDBHelper; the package's "
               "writes are its state changes only")
_EXCEPTION = ("asserts v3's own exception class (database.exceptions); the package raises its own class of that name "
              "(the contract: 'The exception names v3's database.exceptions exports and the package raises are the "
              "package's classes')")
_TABLE = "patches the boto3 Table behind v3's class (.table.update_item) to fail"
_MOCK_NAME = ("gives the table a mock for its name (ServiceConfig mocked): the package checks a table name when the "
              "table is made (a ConfigurationError), v3's boto3 Table only when it sends")
#: Tests that fail on this package because they reach into v3's own implementation, by name, with the reason.
NOT_APPLICABLE: Dict[str, str] = {
    **{f"database.test_ddb_helper::{name}": _HELPER for name in (
        "test_ddb_helper_put_ddb_item", "test_ddb_helper_get_ddb_item", "test_ddb_helper_delete_ddb_item",
        "test_ddb_helper_update_ddb_item", "test_ddb_helper_update_ddb_item_invalid_params",
        "test_ddb_helper_update_ddb_item_with_explicit_params", "test_ddb_helper_query_items",
        "test_ddb_helper_query_items_pagination", "test_ddb_helper_get_update_params", "test_ddb_helper_get_keys",
        "test_batch_write_items_with_retries", "test_batch_write_items_exceeds_retries",
        "test_batch_write_items_retries_on_exception")},
    "database.test_image_request_table::test_region_complete_error_count": _WHOLE_ITEM,
    "database.test_image_request_table::test_is_image_complete_success": _WHOLE_ITEM,
    "database.test_image_request_table::test_start_image_failure": _PATCHED.format("put_ddb_item"),
    "database.test_image_request_table::test_complete_region_failure": _PATCHED.format("update_ddb_item"),
    "database.test_image_request_table::test_end_image_failure": _PATCHED.format("update_ddb_item"),
    "database.test_image_request_table::test_get_image_request_failure": _PATCHED.format("get_ddb_item"),
    "database.test_image_request_table::test_is_image_request_complete_failure": _EXCEPTION,
    "database.test_region_request_table::test_add_tile_invalid_format": _EXCEPTION,
    "database.test_region_request_table::test_add_tiles_empty_list_raises": _EXCEPTION,
    **{f"database.test_region_request_table::{name}": _TABLE for name in (
        "test_start_region_failure_exception", "test_complete_region_failure_exception",
        "test_region_updated_failure_exception", "test_get_region_request_none")},
    "tile_worker.test_tile_worker_utils::test_setup_tile_workers": _MOCK_NAME,
    "tile_worker.test_tile_worker_utils::test_setup_tile_workers_with_endpoint_parameters": _MOCK_NAME,
}

#: Tests left out on both sides, with the reason.
LEFT_OUT = {f"{TESTS}/test_model_runner.py::test_process_region_requests_clears_context_in_finally":
            "reaches SQS on AWS (sqs.us-west-2.amazonaws.com, no moto): it needs the network, which CI has not "
            "(failing on both sides, after 190 s of retries)"}

Outcomes = Dict[str, Tuple[str, str]]  # test -> (passed | failed | skipped, the failure's first line)


def source_tree(given: str) -> Path:
    """v3's extracted source: ``given`` itself when it is a tree, else the tarball extracted once."""
    path = Path(given)
    if path.is_dir():
        return path
    target = WORK / "source"
    stamp = target / ".from"
    if not (stamp.exists() and stamp.read_text() == f"{path.resolve()} {path.stat().st_mtime}"):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with tarfile.open(path) as archive:
            archive.extractall(target)  # (the project's own test input, not untrusted)
        stamp.write_text(f"{path.resolve()} {path.stat().st_mtime}")
    (tree,) = [each for each in target.iterdir() if each.is_dir()]
    return tree


def run_group(tree: Path, group: str, on_package: bool) -> Outcomes:
    report = WORK / f"junit-{group.replace(' ', '-')}-{'package' if on_package else 'own'}.xml"
    tables = report.with_suffix(".tables.jsonl")
    tables.unlink(missing_ok=True)
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": os.pathsep.join(["src", ".", str(HERE), str(COMPAT)]),
           "V3_TABLES": str(tables)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "-p", "tables_v3", *(["-p", "shim_v3"] if on_package else []), f"--junitxml={report}",
               *(f"--deselect={test}" for test in LEFT_OUT), *GROUPS[group]]
    with open(report.with_suffix(".log"), "w") as log:
        subprocess.run(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1200, check=False)
    outcomes: Outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').removeprefix('test.aws.osml.model_runner.')}::{case.get('name')}"
        state, message = "passed", ""
        for kind, called in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            found = case.find(kind)
            if found is not None:
                state, message = called, (found.get("message") or "").splitlines()[0][:160] if found.get("message") \
                    else ""
                break
        outcomes[name] = (state, message)
    return outcomes


def tables_left(group: str, on_package: bool) -> Dict[str, Any]:
    """What each test of the run left in the two tables (``tables_v3``), by test."""
    path = WORK / f"junit-{group.replace(' ', '-')}-{'package' if on_package else 'own'}.tables.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return {entry["test"]: entry["tables"] for entry in map(json.loads, lines)}


def first_difference(own: Dict[str, Any], package: Dict[str, Any]) -> str:
    """Where two tables' contents first differ: the table, the item's key, the attribute and both values."""
    for role in own:
        mine, theirs = package.get(role, []), own[role]
        if len(mine) != len(theirs):
            return f"{role} table: {len(theirs)} items on its own modules, {len(mine)} on pynamodb_tables"
        for theirs_item, mine_item in zip(theirs, mine):
            for attribute in sorted(set(theirs_item) | set(mine_item)):
                if theirs_item.get(attribute) != mine_item.get(attribute):
                    key = theirs_item.get("region_id") or theirs_item.get("image_id")
                    return (f"{role} {key!r}.{attribute}: {str(theirs_item.get(attribute))[:60]} on its own modules, "
                            f"{str(mine_item.get(attribute))[:60]} on pynamodb_tables")
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = sorted(glob.glob(str(COMPAT.parent.parent / "shared" / "upstream" / "osml-model-runner-*.tar.gz")))
    parser.add_argument("--source", default=default[-1] if default else None,
                        help="v3's source: its tarball or an extracted tree (default: ../shared/upstream's)")
    args = parser.parse_args()
    if not args.source:
        print("compat v3: no source of the model runner v3 (../shared/upstream/ or --source)", file=sys.stderr)
        return 2
    started = time.monotonic()
    tree = source_tree(args.source)
    print(f"\n== the model runner v3's own tests ({tree.name}): its own modules, and this package in place of its "
          "database.image_request_table and database.region_request_table ==")
    runs = [(group, package) for group in GROUPS for package in (False, True)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(runs, pool.map(lambda run: run_group(tree, *run), runs)))
    differences: List[str] = []
    listed: Dict[str, str] = {}
    rows = []
    for group in GROUPS:
        own, package = results[(group, False)], results[(group, True)]
        count = collections.Counter
        rows.append((group, count(state for state, _ in own.values()), count(state for state, _ in package.values())))
        for name in sorted(set(own) | set(package)):
            mine, theirs = package.get(name, ("missing", "")), own.get(name, ("missing", ""))
            if mine[0] == theirs[0]:
                continue
            if mine[0] == "failed" and name in NOT_APPLICABLE:
                listed[name] = NOT_APPLICABLE[name]
            elif theirs[0] != "passed":
                print(f"  (on pynamodb_tables {mine[0]}, on its own modules {theirs[0]}: {name})")
            else:
                differences.append(f"{name}: {theirs[0]} on its own modules, {mine[0]} on pynamodb_tables"
                                   + (f" ({mine[1]})" if mine[1] else ""))
    for test, reason in LEFT_OUT.items():
        print(f"left out on both sides: {test}: {reason}")
    compared, unequal = 0, []
    for group in GROUPS:
        own_tables, package_tables = tables_left(group, False), tables_left(group, True)
        for test in sorted(set(own_tables) & set(package_tables)):
            name = test.removeprefix(f"{TESTS}/").replace("/", ".").replace(".py::", "::")
            if results[(group, True)].get(name, ("",))[0] != "passed" or \
                    results[(group, False)].get(name, ("",))[0] != "passed":
                continue
            compared += 1
            if own_tables[test] != package_tables[test]:
                unequal.append(f"{name}: {first_difference(own_tables[test], package_tables[test])}")
    print(f"{'tests':<18}{'its own modules':<30}pynamodb_tables")
    for group, own_counts, package_counts in rows:
        def shown(counts: collections.Counter) -> str:  # type: ignore[type-arg]
            return ", ".join(f"{counts[state]} {state}" for state in ("passed", "failed", "skipped") if counts[state])
        print(f"{group:<18}{shown(own_counts):<30}{shown(package_counts)}")
    total_own = sum(sum(own.values()) for _, own, _ in rows)
    passed_own = sum(own["passed"] for _, own, _ in rows)
    passed_package = sum(package["passed"] for _, _, package in rows)
    print(f"{'all':<18}{f'{passed_own} of {total_own} passed':<30}{passed_package} of {total_own} passed, "
          f"{len(listed)} not applicable (below)")
    print("not applicable on pynamodb_tables (they reach into v3's own implementation), by reason:")
    by_reason: Dict[str, List[str]] = collections.defaultdict(list)
    for name, reason in sorted(listed.items()):
        by_reason[reason].append(name)
    for reason, names in by_reason.items():
        print(f"  {len(names)}: {reason}:")
        print("\n".join(textwrap.wrap(", ".join(names), 116, initial_indent="      ", subsequent_indent="      ")))
    stale = sorted(set(NOT_APPLICABLE) - set(listed))
    for name in stale:
        print(f"  (listed, but not failing on pynamodb_tables only: {name})")
    print(f"the tables each test left (v3's item attributes, times aside), where it passed on both sides: "
          f"{compared - len(unequal)} of {compared} tests leave the same tables")
    differences += [f"tables differ: {line}" for line in unequal]
    if differences:
        print("DIFFERENCES (a test that passes on v3's own modules and not on pynamodb_tables):")
        for line in differences:
            print(f"  {line}")
    print(f"RESULT (v3's tests): {'different' if differences else 'identical'}, but for the "
          f"{len(listed)} not applicable ({time.monotonic() - started:.0f}s; logs: {WORK}/junit-*.log)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
