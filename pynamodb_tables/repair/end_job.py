"""``end-job``: end a job (``end_image_request``) once every one of its regions has an outcome.

A job whose regions are not all finished is refused, naming the regions still running and how
many of ``region_count`` were never recorded (a message that never reached a worker), unless
``force``. Ending is ``end_image_request`` itself: exactly one caller ever ends a job, and a job
already ended raises :class:`~pynamodb_tables.ImageAlreadyEndedError` with ``end_time`` unchanged.
"""

from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from ..errors import EndImageException
from ..job_table import JobTable
from ..region_request_table import RegionRequestTable
from ..region_states import is_outcome
from ..store import store_of
from .capacity import Capacity, metered
from .job_scan import read_job

OPERATION = "end_job"


class JobNotFinishedError(EndImageException):
    """The job still has regions without an outcome (``.running``, ``.never_recorded``); nothing changed."""

    def __init__(self, message: str, running: List[str], never_recorded: int, **where: Any) -> None:
        super().__init__(message, **where)
        self.running = running
        self.never_recorded = never_recorded


@dataclass
class EndedJob:
    """A job ended: its end time and duration as stored, and what was still open when ``force`` ended it."""

    image_id: str
    end_time: int
    processing_duration: Optional[int]
    forced: bool
    running: List[str] = field(default_factory=list)
    never_recorded: int = 0
    capacity: Capacity = field(default_factory=Capacity)


def unfinished(region_count: Any, statuses: Sequence[Tuple[str, Optional[str]]]) -> Tuple[List[str], int]:
    """The regions without an outcome, and how many of ``region_count`` have no item at all."""
    running = sorted(region_id for region_id, status in statuses if not is_outcome(status))
    never_recorded = max(0, int(region_count) - len(statuses)) if region_count is not None else 0
    return running, never_recorded


def end_job(job_table: JobTable, region_table: RegionRequestTable, image_id: str, *, force: bool = False) -> EndedJob:
    """End the job of ``image_id`` if every region has an outcome (or ``force``); see the module."""
    with metered(job_table, region_table) as capacity:
        job = read_job(job_table, image_id, OPERATION, listed=False)
        assert job is not None
        regions = region_table.list_regions(image_id)
        running, never_recorded = unfinished(job.region_count, [(str(r.region_id), r.region_status) for r in regions])
        if job.end_time is None and (running or never_recorded) and not force:
            parts = [f"{len(running)} region(s) still running: {', '.join(running)}"] if running else []
            if never_recorded:
                parts.append(f"{never_recorded} of region_count {int(job.region_count or 0)} never recorded")
            raise JobNotFinishedError("not ended: " + "; ".join(parts) + " (--force ends it anyway)", running,
                                      never_recorded, operation=OPERATION, table=job_table.table_name,
                                      key=store_of(job_table).key(image_id))
        ended = job_table.end_image_request(image_id)
    return EndedJob(image_id, int(ended.end_time), None if ended.processing_duration is None
                    else int(ended.processing_duration), force and bool(running or never_recorded), running,
                    never_recorded, capacity)
