"""Puts this package's tables where the model runner imports its own.

``install()`` must run before anything imports ``aws.osml.model_runner``: it registers two modules under the
names of the model runner's ``database.job_table`` and ``database.region_request_table``, re-exporting
``JobItem, JobTable, RegionRequestItem, RegionRequestTable`` from ``pynamodb_tables``. Python's import system
finds them in ``sys.modules`` first, so the model runner's own code (its ``database`` package, status monitors,
handlers and tile workers) runs unchanged on top of them.
"""

import sys
import types

DATABASE = "aws.osml.model_runner.database"
SHIMS = {
    f"{DATABASE}.job_table": ("JobItem", "JobTable"),
    f"{DATABASE}.region_request_table": ("RegionRequestItem", "RegionRequestTable"),
}


def install() -> None:
    """Register the shim modules; refuses if the model runner's database package was already imported."""
    if DATABASE in sys.modules:
        raise RuntimeError(f"{DATABASE} is already imported: install the shims before importing the model runner")
    import pynamodb_tables

    for name, exported in SHIMS.items():
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
