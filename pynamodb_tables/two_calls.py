"""The model runner's two calls: a region finished with ``RegionRequestTable.complete_region_request`` and
``JobTable.complete_region_request(image_id, error)``, counted as ``complete_region`` counts it.

The runner's handlers make both calls in the thread that started the region, one after the other, in
either order (success: the job's count first; failure: the region's outcome first). The job's call
names only the image; what ties it to the region is that thread: every ``start_region_request`` leaves
a :class:`Tie` to the region it returned in its thread, and the job's call of that image counts *that
region* (``region_states.count_actions``: the counter and the job's record of the region in one
conditional write), so that it is counted once, by its latest outcome, however often and in whichever
order the calls come (a crash between them and the message delivered again, a finished region
delivered again). A finished region's count is its success whatever the job's call says: ``SUCCESS`` is
final (a start replays it), so the tie of a replayed start holds that count.

A tie never misfires: it is used only by a job table on the same endpoint and region as the region
table that made it, for the image it names, and only while the job's item is the one it was made
for: the job started no later than the region, with the region's ``job_id`` where it has one (a
condition of the write: a region another test, image or job started earlier never ties). It ends
once its count has landed, and at the next start in its thread (a start that raises leaves none); a
job's call without one (a script, a thread that started nothing) is a bare counter, adding 1 as the
seed did.
"""

import threading
from dataclasses import dataclass
from typing import Any, Optional

from pynamodb.expressions.condition import Condition

from .items import JobItem, RegionRequestItem, RequestStatus, still
from .region_states import SUCCESS_COUNT
from .store import Store


@dataclass(frozen=True)
class Tie:
    """The region a thread last started: where (its table's endpoint and region), which, and when."""

    host: Optional[str]
    region: Optional[str]
    region_table: str
    image_id: str
    region_id: str
    start_time: int
    job_id: Optional[str]
    final: Optional[str] = None  # the count of a finished (SUCCESS) region the start replayed: it stays so


_threads = threading.local()


def tie_to(store: Store[RegionRequestItem], started: RegionRequestItem) -> None:
    """Leave this thread's tie to ``started``, the region a start returned (stored, with its start time)."""
    if started.start_time is None:  # (never, for a stored start)
        return
    final = SUCCESS_COUNT if started.region_status == RequestStatus.SUCCESS.value else None
    _threads.tie = Tie(store.host, store.region, store.table_name, str(started.image_id), str(started.region_id),
                       int(started.start_time), started.job_id, final)


def forget() -> None:
    """End this thread's tie, whatever it is: a new start begins (one that raises leaves none)."""
    _threads.tie = None


def tie_for(jobs: Store[Any], image_id: str) -> Optional[Tie]:
    """This thread's tie, if a job table ``jobs`` counting ``image_id`` may use it."""
    tie: Optional[Tie] = getattr(_threads, "tie", None)
    if tie is None or tie.image_id != image_id or (tie.host, tie.region) != (jobs.host, jobs.region):
        return None
    return tie


def untie(tie: Tie) -> None:
    """End ``tie``: its count landed (or it was not made for the job it met)."""
    if getattr(_threads, "tie", None) is tie:
        _threads.tie = None


def made_for(tie: Tie, job: JobItem) -> bool:
    """Whether ``job`` (as stored) is the job ``tie``'s region was started for."""
    return job.start_time is not None and int(job.start_time) <= tie.start_time and \
        (tie.job_id is None or job.job_id == tie.job_id)


def is_made_for(tie: Tie) -> Condition:
    """The stored job is the one ``tie``'s region was started for (:func:`made_for`, as a condition)."""
    condition = JobItem.start_time <= tie.start_time
    if tie.job_id is not None:
        condition &= still(JobItem.job_id, tie.job_id)
    return condition
