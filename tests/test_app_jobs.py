"""Background jobs of the Runs page: detached, logged, progress from the log, cancellable as a group."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from analysis import jobs
from analysis.processes import ProcessId, start_time
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


def _sleeper() -> subprocess.Popen:
    """An unrelated process in its own process group (what a reused pid might name)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)


def _fake_running_job(store, pid: int, host: str, started: int) -> str:
    """A job folder whose status says ``running`` under the given runner identity."""
    job = jobs.launch(store, [sys.executable, "-c", "pass"], "finished long ago")
    wait_until(lambda: not jobs.get(store, job.id).active)
    jobs._write(job.folder / "status.json", {"pid": pid, "host": host, "started": started, "state": jobs.RUNNING})
    return job.id


def test_cancel_never_signals_a_process_that_is_not_the_job(store):
    other = _sleeper()
    try:
        me = ProcessId.current()
        reused = _fake_running_job(store, other.pid, me.host, start_time(other.pid) - 300)
        assert jobs.get(store, reused).state == jobs.LOST  # the pid lives, but it is another process
        jobs.cancel(store, reused, grace=1)
        elsewhere = _fake_running_job(store, other.pid, "another-node.cluster", start_time(other.pid))
        assert jobs.get(store, elsewhere).state == jobs.RUNNING  # cannot be checked from here: still running
        with pytest.raises(jobs.JobError, match="another-node.cluster"):
            jobs.cancel(store, elsewhere, grace=1)
        time.sleep(0.5)
        assert other.poll() is None, "an unrelated process was signalled"
    finally:
        other.kill()
        other.wait()


def test_only_the_session_that_started_a_job_or_an_operator_cancels_it(store):
    job = jobs.launch(store, [sys.executable, "-c", "import time; time.sleep(120)"], "mine", owner="session-a")
    wait_until(lambda: jobs.get(store, job.id).process is not None)
    with pytest.raises(jobs.JobError, match="another session"):
        jobs.cancel(store, job.id, owner="session-b")
    assert jobs.get(store, job.id).active and not (job.folder / "cancel").exists()
    assert jobs.cancel(store, job.id, grace=10, owner="session-a").state == jobs.CANCELLED
    other = jobs.launch(store, [sys.executable, "-c", "import time; time.sleep(120)"], "theirs", owner="session-b")
    wait_until(lambda: jobs.get(store, other.id).process is not None)
    assert jobs.cancel(store, other.id, grace=10).state == jobs.CANCELLED  # an operator passes no owner


def test_a_cancelled_job_removes_its_unfinished_entry(store):
    script = textwrap.dedent(f"""
        import time, numpy as np
        from analysis.processes import exit_on_sigterm
        from analysis.store import Store
        exit_on_sigterm()
        with Store({str(store.root)!r}).create("embed", {{"x": 1}}) as w:
            w.new_array("layer_00", (1000, 10), np.float32)[:] = 1.0
            time.sleep(120)
    """)
    job = jobs.launch(store, [sys.executable, "-c", script], "writer")
    wait_until(lambda: store.tmp.is_dir() and any(store.tmp.iterdir()))
    assert jobs.cancel(store, job.id, grace=20).state == jobs.CANCELLED
    assert list(store.tmp.iterdir()) == [] and store.ls() == []


def test_a_job_start_removes_dead_writers_leftovers(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = ProcessId.current()
    leftover = store.tmp / f"embed-{'0' * 24}.{dead.pid}.{me.started}.0123abcd@{me.host}"
    leftover.mkdir(parents=True)
    job = jobs.launch(store, [sys.executable, "-c", "pass"], "any job")
    wait_until(lambda: not jobs.get(store, job.id).active)
    assert not leftover.exists()


def test_cancelling_a_real_command_mid_write_leaves_no_temporary_folder(store, tiny_bert, shared_data):
    job = jobs.start(store, ["embed", "--model", str(tiny_bert), "--task", "pos", "--split", "train",
                             "--data-dir", str(shared_data)], "embed pos/train")
    wait_until(lambda: store.tmp.is_dir() and any(store.tmp.iterdir()) or not jobs.get(store, job.id).active,
               timeout=120)
    assert jobs.get(store, job.id).active, "the command ended before it could be cancelled mid-write"
    assert jobs.cancel(store, job.id, grace=30).state == jobs.CANCELLED
    assert list(store.tmp.iterdir()) == [] and store.ls() == []


def test_concurrent_jobs_are_capped_with_a_clear_error(store, monkeypatch):
    monkeypatch.setenv("FTGEO_MAX_JOBS", "2")
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    running = [jobs.launch(store, sleep, f"sleeper {i}") for i in range(2)]
    try:
        with pytest.raises(jobs.JobError, match="2 jobs are running already"):
            jobs.start(store, ["store", "ls"], "one too many")
        assert len(jobs.list_jobs(store)) == 2
        jobs.cancel(store, running[0].id, grace=10)
        extra = jobs.start(store, ["store", "ls"], "now there is room")
        wait_until(lambda: not jobs.get(store, extra.id).active)
    finally:
        for job in running:
            jobs.cancel(store, job.id, grace=10)
    monkeypatch.setenv("FTGEO_MAX_JOBS", "none")
    with pytest.raises(jobs.JobError, match="FTGEO_MAX_JOBS must be a whole number"):
        jobs.start(store, ["store", "ls"], "misconfigured")


@pytest.mark.parametrize("job_json, status_json, problem", [
    ("{", None, "unreadable job record"),
    ("[1]", None, "not a JSON object"),
    ('{"id": "x", "name": "n", "argv": []}', None, "lacks created"),
    ('{"id": "x", "name": "n", "argv": [], "created": "today"}', None, "job.json created"),
    ('{"id": "x", "name": "n", "argv": [], "created": 1.0}', "[1]", "not a JSON object"),
    ('{"id": "x", "name": "n", "argv": [], "created": 1.0}', '{"pid": "12", "state": "running"}', "status.json pid"),
])
def test_a_damaged_job_record_is_listed_as_unreadable_and_skipped(store, job_json, status_json, problem):
    good = jobs.launch(store, [sys.executable, "-c", "pass"], "fine")
    bad = jobs.jobs_dir(store) / "20261206-120000-abcdef"
    bad.mkdir()
    (bad / "job.json").write_text(job_json)
    if status_json is not None:
        (bad / "status.json").write_text(status_json)
    with pytest.raises(jobs.JobError, match=problem):
        jobs.read(bad)
    listing = jobs.scan(store)
    assert [j.id for j in listing.jobs] == [j.id for j in jobs.list_jobs(store)] == [good.id]
    assert listing.broken == [bad]


def test_a_log_tail_starts_at_a_whole_line(tmp_path):
    """A long log is shown from the first whole line within the limit (a cut line could show a
    fragment of a path that no filter recognises); progress-bar redraws fold into their last state."""
    job = jobs.Job("20261206-000000-abcdef", "long", [], tmp_path, 0.0, jobs.DONE, None, 0, 1.0)
    lines = [f"line {i:04d} /srv/data/file-{i}.csv" for i in range(2000)]
    job.log.write_text("\n".join(lines) + "\nbar 10%|\rbar 50%|\rbar 100%|\n")
    tail = job.log_tail(1000)
    assert len(tail) <= 1000 and tail.splitlines()[0] in lines and tail.endswith("bar 100%|\n")
    assert job.log_tail(100_000).splitlines()[0] == lines[0]  # all of it: nothing dropped
    job.log.write_text("x" * 5000)  # one line longer than the limit: its end
    assert job.log_tail(1000) == "x" * 1000
