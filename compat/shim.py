"""Puts this package's tables where the model runner imports its own.

``install()`` must run before anything imports ``aws.osml.model_runner``: it registers two modules under the
names of the model runner's ``database.job_table`` and ``database.region_request_table``, re-exporting
``JobItem, JobTable, RegionRequestItem, RegionRequestTable`` from ``pynamodb_tables``. Python's import system
finds them in ``sys.modules`` first, so the model runner's own code (its ``database`` package, status monitors,
handlers and tile workers) runs unchanged on top of them.
"""

import contextlib
import sys
import types
from typing import Any, Dict, Iterator, List, Tuple

DATABASE = "aws.osml.model_runner.database"
SHIMS = {
    f"{DATABASE}.job_table": ("JobItem", "JobTable"),
    f"{DATABASE}.region_request_table": ("RegionRequestItem", "RegionRequestTable"),
}


def install(shims: Dict[str, Tuple[str, ...]] = SHIMS) -> None:
    """Register the shim modules (``shims``: module name to the names it re-exports; default 2.3.0's); refuses if
    the model runner's database package was already imported."""
    if DATABASE in sys.modules:
        raise RuntimeError(f"{DATABASE} is already imported: install the shims before importing the model runner")
    import pynamodb_tables

    for name, exported in shims.items():
        module = types.ModuleType(name, f"pynamodb_tables' {', '.join(exported)} in place of the model runner's")
        for attribute in exported:
            setattr(module, attribute, getattr(pynamodb_tables, attribute))
        sys.modules[name] = module


def installed() -> bool:
    """True when the model runner's database package uses this package's tables."""
    from aws.osml.model_runner import database

    if "pynamodb_tables" not in sys.modules:
        return False
    pynamodb_tables = sys.modules["pynamodb_tables"]
    return (
        database.JobTable is pynamodb_tables.JobTable
        and database.RegionRequestTable is pynamodb_tables.RegionRequestTable
    )


@contextlib.contextmanager
def package_classes_in_place() -> Iterator[None]:
    """This package's four classes in place of the model runner's, in each of its modules that already imported
    them (its handlers, tile workers, monitors), until the block ends: a ``ModelRunner()`` built inside runs on
    this package while one built outside keeps the model runner's own tables, in one process (a fleet mid-move).
    """
    from aws.osml.model_runner.database import job_table, region_request_table

    import pynamodb_tables

    ours = {getattr(module, name): getattr(pynamodb_tables, name)
            for module, names in ((job_table, SHIMS[f"{DATABASE}.job_table"]),
                                  (region_request_table, SHIMS[f"{DATABASE}.region_request_table"]))
            for name in names}
    replaced: List[Tuple[Any, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("aws.osml.model_runner") or name.startswith(DATABASE):
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, type) and value in ours:
                replaced.append((module, attribute, value))
                setattr(module, attribute, ours[value])
    try:
        yield
    finally:
        for module, attribute, value in replaced:
            setattr(module, attribute, value)
