"""Background jobs of the Runs page: detached, logged, progress from the log, cancellable as a group."""
from __future__ import annotations

import sys
import time

import pytest

from analysis import jobs
from analysis.store import process_alive


def wait_until(predicate, timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds; fail the test if it never does (a hang, not a speed check)."""
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"condition not reached within {timeout} s")


def test_analysis_command_runs_detached_and_records_success(store):
    job = jobs.start(store, ["store", "ls", "--json"], "list the store")
    assert job.state == jobs.RUNNING and job.name == "list the store"
    wait_until(lambda: not jobs.get(store, job.id).active)
    done = jobs.get(store, job.id)
    assert done.state == jobs.DONE and done.returncode == 0
    assert '"entries": []' in done.log_tail()
    assert [j.id for j in jobs.list_jobs(store)] == [job.id]


def test_failed_command_is_failed_with_its_message(store):
    job = jobs.start(store, ["embed", "--task", "no-such-task", "--split", "test"], "bad task")
    wait_until(lambda: not jobs.get(store, job.id).active)
    failed = jobs.get(store, job.id)
    assert failed.state == jobs.FAILED and failed.returncode == 2
    assert "no-such-task" in failed.log_tail()


def test_progress_is_read_from_the_log_and_cancel_stops_the_group(store):
    script = ("import sys, time\n"
              "for i in range(1, 4):\n"
              "    sys.stderr.write(f'\\rembed:  {i*25}%|##   | {i}/4 [00:01<00:01]'); sys.stderr.flush()\n"
              "time.sleep(120)\n")
    job = jobs.launch(store, [sys.executable, "-c", script], "slow")
    wait_until(lambda: jobs.get(store, job.id).progress() == 0.75)
    running = jobs.get(store, job.id)
    assert running.active and running.pid
    cancelled = jobs.cancel(store, job.id, grace=10)
    assert cancelled.state == jobs.CANCELLED
    assert not process_alive(running.pid)


def test_a_job_whose_process_vanished_is_lost(store):
    job = jobs.launch(store, [sys.executable, "-c", "import time; time.sleep(120)"], "doomed")
    wait_until(lambda: jobs.get(store, job.id).pid is not None)
    jobs._signal_group(jobs.get(store, job.id).pid, 9)
    wait_until(lambda: not jobs.get(store, job.id).active)
    assert jobs.get(store, job.id).state == jobs.LOST


def test_a_job_cancelled_at_once_never_starts_its_command(store):
    marker = store.root / "ran"
    job = jobs.launch(store, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], "too late")
    assert jobs.cancel(store, job.id).state == jobs.CANCELLED
    time.sleep(1)
    assert not marker.exists()
