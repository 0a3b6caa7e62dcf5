"""A pytest plugin (``-p shim_v3``) putting this package's tables where the model runner v3 imports its own.

Loaded before any test module, it registers two modules under the names of v3's
``database.image_request_table`` and ``database.region_request_table``, re-exporting
``ImageRequestItem, ImageRequestTable`` and ``RegionRequestItem, RegionRequestTable`` from
``pynamodb_tables``: the two modules a v3 fleet replaces, nothing else. v3's own code (its ``database``
package, handlers, tile workers, scheduler) then runs unchanged on top of them.
"""

from shim import DATABASE, install  # (compat/shim.py: 2.3.0's shim, the same mechanism)

#: v3's two modules and the names each re-exports.
SHIMS = {
    f"{DATABASE}.image_request_table": ("ImageRequestItem", "ImageRequestTable"),
    f"{DATABASE}.region_request_table": ("RegionRequestItem", "RegionRequestTable"),
}

install(SHIMS)
