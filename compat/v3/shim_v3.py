"""A pytest plugin (``-p shim_v3``) putting this package's tables where the model runner v3 imports its own.

Loaded before any test module, it registers two modules under the names of v3's
``database.image_request_table`` and ``database.region_request_table``, re-exporting
``ImageRequestItem, ImageRequestTable`` and ``RegionRequestItem, RegionRequestTable`` from
``pynamodb_tables``: the two modules a v3 fleet replaces, nothing else. v3's own code (its ``database``
package, handlers, tile workers, scheduler) then runs unchanged on top of them.
"""

import sys
import types

DATABASE = "aws.osml.model_runner.database"
SHIMS = {
    f"{DATABASE}.image_request_table": ("ImageRequestItem", "ImageRequestTable"),
    f"{DATABASE}.region_request_table": ("RegionRequestItem", "RegionRequestTable"),
}


def install() -> None:
    if DATABASE in sys.modules:
        raise RuntimeError(f"{DATABASE} is already imported: install the shims before importing the model runner")
    import pynamodb_tables

    for name, exported in SHIMS.items():
        module = types.ModuleType(name, f"pynamodb_tables' {', '.join(exported)} in place of the model runner's")
        for attribute in exported:
            setattr(module, attribute, getattr(pynamodb_tables, attribute))
        sys.modules[name] = module


install()
