"""Repairs of the tables as stored, whoever wrote them (this package, or the model runner's own
database code in a fleet being moved over), for an operator or a scheduled job.

Each repair is a function returning plain data; the management script's commands call them and
render what they return. Every write is one of the package's conditional writes, holding only
while the item is still as read: a worker writing at the same moment wins, and the repair reads
again.

- ``reconcile``: recount tile counts from the tile lists and the job's counters from its regions.
- ``fail_stale``: complete ``FAILED`` the regions nobody has updated for a while, as
  ``complete_region`` does.
- ``end_job``: end a job whose regions all have an outcome.
- ``is_stale``: when a region without an outcome counts as stale.
- ``metered``: the read and write units a repair spent (``observing.metered``); the jobs a repair
  works on are read through the package's read API (``pynamodb_tables.reads``).
"""

from ..observing import Capacity, metered
from .ending import EndedJob, JobNotFinishedError, StaleRegion, StaleSweep, end_job, fail_stale, is_stale, last_activity
from .reconcile import Drift, Reconciliation, counted_as, reconcile

__all__ = [
    "Capacity",
    "Drift",
    "EndedJob",
    "JobNotFinishedError",
    "Reconciliation",
    "StaleRegion",
    "StaleSweep",
    "counted_as",
    "end_job",
    "fail_stale",
    "is_stale",
    "last_activity",
    "metered",
    "reconcile",
]
