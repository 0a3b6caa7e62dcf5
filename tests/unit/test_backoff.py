"""The send loop's backoff, the one sleep of the package: its figures, and that it really sleeps.

Every other test replaces the sleeper (``connection.sleep``) with one that records the delays
(``conftest.backoffs``); these check the real one.
"""

import subprocess
import sys
import time

import pytest

from pynamodb_tables import connection


@pytest.mark.parametrize("attempt", range(10))
def test_each_delay_is_full_jitter_under_an_exponential_cap(attempt):
    ceiling = min(connection.BACKOFF_CAP_S, connection.BACKOFF_BASE_S * 2**attempt)
    delays = [connection.backoff_delay(attempt) for _ in range(2_000)]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert max(delays) > 0.9 * ceiling and min(delays) < 0.1 * ceiling  # spread over the whole range


def test_the_cap_is_reached_at_the_sixth_resend():
    assert connection.BACKOFF_BASE_S * 2**5 < connection.BACKOFF_CAP_S <= connection.BACKOFF_BASE_S * 2**6


def test_the_default_sleeper_is_the_clocks():
    code = "import time; from pynamodb_tables import connection; assert connection.sleep is time.sleep"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backoff_sleeps_through_the_sleeper_for_real(monkeypatch):
    monkeypatch.setattr(connection, "sleep", time.sleep)  # the package's own (the suite records instead)
    monkeypatch.setattr(connection.random, "uniform", lambda low, high: high)  # the longest delay of each attempt
    started = time.monotonic()
    connection.backoff(2)  # 0.025 * 2**2 = 0.1 s
    assert 0.1 <= time.monotonic() - started < 0.5


def test_the_suite_records_delays_instead_of_sleeping(backoffs):
    started = time.monotonic()
    for attempt in range(20):
        connection.backoff(attempt)
    assert time.monotonic() - started < 0.5
    assert len(backoffs) == 20 and all(0 <= delay <= connection.BACKOFF_CAP_S for delay in backoffs)
