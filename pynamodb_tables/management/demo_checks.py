"""The demo's checks: what its workers left in the tables and reported, against the scenario."""

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..items import RequestStatus
from ..job_table import JobItem
from ..region_request_table import RegionRequestItem
from .demo_scenario import DemoEvent, Scenario
from .job_status import whole

Check = Tuple[bool, str]  # passed, what was checked


def _except(region_ids: List[str]) -> str:
    return f", except {', '.join(region_ids)}" if region_ids else ""


@dataclass
class DemoResult:
    """The job, the regions and the workers' events of one demo run."""

    scenario: Scenario
    job: JobItem
    regions: Dict[str, RegionRequestItem]
    events: List[DemoEvent]

    def checks(self) -> List[Check]:
        return [self.no_errors(), self.counters(), self.ended_once(), self.outcomes(), self.tiles(),
                self.redrive(), self.duplicate()]

    def region(self, n: int) -> Optional[RegionRequestItem]:
        return self.regions.get(self.scenario.region_id(n))

    def no_errors(self) -> Check:
        errors = [e.detail for e in self.events if e.kind == "error"]
        return not errors, "no worker errors" + (f": {errors[0]}" if errors else "")

    def counters(self) -> Check:
        total = self.scenario.regions
        success = sum(1 for n in range(total) if self.scenario.expected_status(n) is RequestStatus.SUCCESS)
        job = self.job
        exact = (job.region_success, job.region_error, job.region_count) == (success, total - success, total)
        return exact, (f"job counters exact: region_success {whole(job.region_success)} (expected {success}), "
                       f"region_error {whole(job.region_error)} (expected {total - success}) "
                       f"of {whole(job.region_count)}")

    def ended_once(self) -> Check:
        wins = sum(1 for e in self.events if e.ended == "won")
        return wins == 1 and self.job.end_time is not None, f"job ended exactly once ({wins} end_image_request won)"

    def outcomes(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions)
                 if getattr(self.region(n), "region_status", None) != self.scenario.expected_status(n).value]
        return (len(self.regions) == self.scenario.regions and not wrong,
                f"{len(self.regions)} regions, each with its expected outcome{_except(wrong)}")

    def tiles(self) -> Check:
        wrong = [self.scenario.region_id(n) for n in range(self.scenario.regions) if not self.tiles_exact(n)]
        return not wrong, f"tile counts exact, no tile recorded twice{_except(wrong)}"

    def tiles_exact(self, n: int) -> bool:
        region = self.region(n)
        if region is None:
            return False
        failed, succeeded = region.failed_tiles or [], region.succeeded_tiles or []
        expected_failed = len(self.scenario.failing_tiles(n))
        return (region.failed_tile_count == len(failed) == expected_failed
                and region.succeeded_tile_count == len(succeeded) == self.scenario.tiles - expected_failed
                and all(len({json.dumps(t) for t in tiles}) == len(tiles) for tiles in (failed, succeeded)))

    def redrive(self) -> Check:
        retries = whole(getattr(self.region(self.scenario.crash_region), "region_retry_count", None))
        redone = [e.processed for e in self.events if e.delivery.note == "redelivery" and e.kind == "completed"]
        missing = self.scenario.tiles - self.scenario.crash_after
        return (retries == 1 and redone == [missing],
                f"crashed region redriven: retry count {retries}, redelivery processed "
                f"{', '.join(map(str, redone)) or 'no'} tile(s): the {missing} missing of {self.scenario.tiles}")

    def duplicate(self) -> Check:
        n = self.scenario.duplicate_region
        kinds = sorted(e.kind for e in self.events if e.delivery.region == n)
        return (kinds == ["completed", "skipped"],
                f"{self.scenario.region_id(n)} delivered twice ({len(kinds)} handled): completed once, "
                f"the duplicate found it already complete and changed nothing")
