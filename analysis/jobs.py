"""Background jobs: ``python -m analysis ...`` commands run detached, so they outlive the page that started them.

Each job has a folder ``<store>/work/jobs/<id>/`` with ``job.json`` (what to run, and the token of
the session that started it), ``status.json`` (written by the runner: its pid, host and start time,
state, return code), ``log.txt`` (the command's output) and, once asked, a ``cancel`` marker.  The
runner, ``python -m analysis.jobs <folder>``, is started in a new session, so it and its command form
one process group that :func:`cancel` signals as a whole, and only after checking that the pid still
names the runner (same start time, same host): a reused pid is never signalled.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .config import PROJECT_ROOT
from .processes import ProcessId, exit_on_sigterm
from .store import Store, process_alive

RUNNING, DONE, FAILED, CANCELLED, LOST = "running", "done", "failed", "cancelled", "lost"
PERCENT = re.compile(r"(\d{1,3})%\|")
COUNT = re.compile(r"\|\s*(\d+)/(\d+)\s")
MAX_JOBS = 4
MAX_JOBS_ENV = "FTGEO_MAX_JOBS"
JOB_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


class JobError(RuntimeError):
    """A job's record cannot be read, or the job cannot be cancelled by this caller or from this host."""


@dataclass(frozen=True)
class Job:
    """A snapshot of one job's state, read from its folder."""

    id: str
    name: str
    argv: list[str]
    folder: Path
    created: float
    state: str
    pid: int | None
    returncode: int | None
    ended: float | None
    owner: str | None = None
    process: ProcessId | None = None

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"

    @property
    def active(self) -> bool:
        return self.state == RUNNING

    def log_tail(self, max_chars: int = 4000) -> str:
        """The end of the log in whole lines (at most ``max_chars``), progress-bar carriage returns
        folded into lines."""
        try:
            with open(self.log, "rb") as f:
                start = max(0, f.seek(0, os.SEEK_END) - 4 * max_chars)
                f.seek(start)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
        tail = "\n".join(lines)
        if start > 0 or len(tail) > max_chars:  # the first line may be cut: drop it, unless it is all there is
            tail = tail[-max_chars:]
            tail = tail.partition("\n")[2] if "\n" in tail else tail
        return tail

    def progress(self) -> float | None:
        """The fraction done, from the last progress bar in the log (``None`` if it shows none)."""
        tail = self.log_tail(2000)
        counts = COUNT.findall(tail)
        if counts and int(counts[-1][1]) > 0:
            return min(1.0, int(counts[-1][0]) / int(counts[-1][1]))
        percents = PERCENT.findall(tail)
        return min(1.0, int(percents[-1]) / 100) if percents else None

    def seconds(self) -> float:
        return (self.ended or time.time()) - self.created


def jobs_dir(store: Store) -> Path:
    return store.work / "jobs"


def start(store: Store, args: list[str], name: str | None = None, owner: str | None = None) -> Job:
    """Start ``python -m analysis <args> --store <store>`` detached; returns at once.

    ``owner`` is a token of whoever starts it (a dashboard session): only that owner, or a caller that
    passes none (an operator), may cancel it.
    """
    argv = [sys.executable, "-m", "analysis", *args, "--store", str(store.root)]
    return launch(store, argv, name or " ".join(args[:3]), owner)


def call(store: Store, target: str, kwargs: dict[str, Any], name: str, owner: str | None = None) -> Job:
    """Run ``target(store, **kwargs)`` in the background; ``target`` is ``"analysis.module:function"``."""
    if not target.startswith("analysis."):
        raise ValueError(f"only analysis functions can run as jobs, not {target!r}")
    argv = [sys.executable, "-m", "analysis.jobs", "call", target, json.dumps(kwargs), str(store.root)]
    return launch(store, argv, name, owner)


def _call(target: str, kwargs: str, root: str) -> int:
    """The process side of :func:`call`: import the function, run it, print what it returns."""
    module, function = target.split(":")
    print(getattr(importlib.import_module(module), function)(Store(root), **json.loads(kwargs)), flush=True)
    return 0


def max_jobs() -> int:
    """How many jobs of one store may run at once: ``$FTGEO_MAX_JOBS``, else :data:`MAX_JOBS`."""
    value = os.environ.get(MAX_JOBS_ENV, "").strip()
    if not value:
        return MAX_JOBS
    if not value.isdigit() or int(value) < 1:
        raise JobError(f"${MAX_JOBS_ENV} must be a whole number of at least 1, not {value!r}")
    return int(value)


def launch(store: Store, argv: list[str], name: str, owner: str | None = None) -> Job:
    """Start any command detached as a job of ``store``, under the runner; returns at once.

    Refused (``JobError``) while :func:`max_jobs` jobs of this store run already.
    """
    limit = max_jobs()
    with store.lock("jobs"):  # two starts at once cannot both take the last free place
        running = [j for j in list_jobs(store) if j.active]
        if len(running) >= limit:
            raise JobError(f"{len(running)} jobs are running already (at most {limit} at once, ${MAX_JOBS_ENV}); "
                           "wait for one to end or cancel one")
        job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = store.work_dir(f"jobs/{job_id}")
        _write(folder / "job.json", {"id": job_id, "name": name, "argv": argv, "created": time.time(),
                                     "owner": owner})
    with open(os.devnull, "rb") as devnull:
        subprocess.Popen([sys.executable, "-m", "analysis.jobs", str(folder)], cwd=PROJECT_ROOT,
                         stdin=devnull, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=_env())
    return read(folder)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def read(folder: Path) -> Job:
    """The job in ``folder``, its state reconciled with whether its process still lives."""
    try:
        job = json.loads((folder / "job.json").read_text())
    except (OSError, ValueError) as exc:
        raise JobError(f"{folder / 'job.json'}: unreadable job record ({exc})") from exc
    status = _read_json(folder / "status.json")
    problem = _record_problem(job, status)
    if problem:
        raise JobError(f"{folder}: unreadable job record ({problem})")
    pid = status.get("pid")
    process = _process(status)
    state = status.get("state", RUNNING)
    if state == RUNNING and not _starting(job, status):
        alive = process.alive() if process else bool(pid and process_alive(pid))
        if alive is False:  # None: on another host, where it cannot be checked from here
            state = CANCELLED if (folder / "cancel").exists() else LOST
    return Job(id=job["id"], name=job["name"], argv=job["argv"], folder=folder, created=job["created"],
               state=state, pid=pid, returncode=status.get("returncode"), ended=status.get("ended"),
               owner=job.get("owner"), process=process)


_OPTIONAL_NUMBER = (int, float, type(None))
_JOB = {"id": str, "name": str, "argv": list, "created": (int, float), "owner": (str, type(None))}
_STATUS = {"pid": (int, type(None)), "state": str, "returncode": (int, type(None)), "ended": _OPTIONAL_NUMBER}


def _record_problem(job: Any, status: Any) -> str | None:
    """What makes a parsed ``job.json`` / ``status.json`` pair unusable, or ``None``."""
    if not isinstance(job, dict) or not isinstance(status, dict):
        return "job.json or status.json is not a JSON object"
    missing = [k for k in ("id", "name", "argv", "created") if k not in job]
    if missing:
        return f"job.json lacks {', '.join(missing)}"
    wrong = [f"job.json {k}" for k, t in _JOB.items() if k in job and not isinstance(job[k], t)]
    wrong += [f"status.json {k}" for k, t in _STATUS.items() if k in status and not isinstance(status[k], t)]
    if wrong:
        return f"wrong type of value in {', '.join(wrong)}"
    return None


def _process(status: dict[str, Any]) -> ProcessId | None:
    """The runner's identity as its status records it (``None`` before it starts, or from an older version)."""
    try:
        return ProcessId(int(status["pid"]), str(status["host"]), int(status["started"]))
    except (KeyError, TypeError, ValueError):
        return None


def _starting(job: dict[str, Any], status: dict[str, Any]) -> bool:
    """True in the few seconds before the runner has written its pid."""
    return "pid" not in status and time.time() - job["created"] < 30


class JobListing(NamedTuple):
    """The job folders of a store, read once: readable jobs newest first, and unreadable folders."""

    jobs: list[Job]
    broken: list[Path]
    """Folders with a ``job.json`` whose records cannot be read (listed by the dashboard, skipped
    everywhere else)."""


def scan(store: Store) -> JobListing:
    """Read every job folder once (see :class:`JobListing`)."""
    root = jobs_dir(store)
    if not root.is_dir():
        return JobListing([], [])
    found, broken = [], []
    for folder in sorted(root.iterdir()):
        recorded = (folder / "job.json").exists()  # else being created, or not a job's folder
        try:
            found.append(read(folder))
        except JobError:
            if recorded:
                broken.append(folder)
    return JobListing(sorted(found, key=lambda j: j.created, reverse=True), broken)


def list_jobs(store: Store) -> list[Job]:
    """Every readable job in the store, newest first."""
    return scan(store).jobs


def get(store: Store, job_id: str) -> Job:
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise JobError(f"not a job id: {job_id!r}")
    return read(jobs_dir(store) / job_id)


def cancel(store: Store, job_id: str, grace: float = 5.0, owner: str | None = None) -> Job:
    """Stop a job's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    ``owner``: the token of the session asking; it must be the one that started the job (``None``: an
    operator, who may cancel any).  A job whose runner has not started its command yet sees the
    ``cancel`` marker and never starts it.  Only the runner itself is ever signalled: a pid that now
    names another process (same pid, other start time) or a runner on another host is left alone.
    """
    job = get(store, job_id)
    if owner is not None and job.owner != owner:
        raise JobError(f"job {job_id} was started by another session; only that session or an operator may cancel it")
    if not job.active:
        return job
    if job.process is not None and not job.process.local:
        raise JobError(f"job {job_id} runs on host {job.process.host}; cancel it there")
    (job.folder / "cancel").touch()
    deadline = time.time() + grace
    while job.process is None and job.active and time.time() < deadline:
        time.sleep(0.05)
        job = get(store, job_id)
    if job.process is None:  # not started (it never will: the marker is set), or an older runner without identity
        return job
    _signal_runner(job.process, signal.SIGTERM)
    while time.time() < deadline and job.process.alive():
        time.sleep(0.1)
    _signal_runner(job.process, signal.SIGKILL)
    return get(store, job_id)


def _signal_runner(runner: ProcessId, sig: int) -> None:
    """Signal the runner's process group, if the runner (this pid with this start time, here) still runs."""
    if runner.alive():
        _signal_group(runner.pid, sig)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def run_job(folder: Path) -> int:
    """The runner: execute the job's command with its output in ``log.txt`` and record how it ended."""
    job = json.loads((folder / "job.json").read_text())
    cancelled = False

    def on_term(signum: int, frame: Any) -> None:  # the child got the same signal; wait for it
        nonlocal cancelled
        cancelled = True

    signal.signal(signal.SIGTERM, on_term)
    me = ProcessId.current()
    identity = {"pid": me.pid, "host": me.host, "started": me.started}
    _write(folder / "status.json", {**identity, "state": RUNNING})
    if (folder / "cancel").exists():  # cancelled before it began
        _write(folder / "status.json", {**identity, "state": CANCELLED, "ended": time.time()})
        return 1
    try:  # leftovers of this host's writers that died (killed jobs, crashes)
        Store(folder.parents[2]).clean_tmp()
    except OSError:
        pass
    with open(folder / "log.txt", "ab") as log:
        log.write(f"$ {' '.join(job['argv'])}\n".encode())
        log.flush()
        child = subprocess.Popen(job["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=PROJECT_ROOT)
        code = child.wait()
    cancelled = cancelled or (folder / "cancel").exists()
    state = CANCELLED if cancelled else DONE if code == 0 else FAILED
    _write(folder / "status.json", {**identity, "state": state, "returncode": code, "ended": time.time()})
    return code


def main(argv: list[str]) -> int:
    """``python -m analysis.jobs <folder>`` (the runner) or ``... call <target> <kwargs> <store>`` (a call)."""
    if argv[0] == "call":
        exit_on_sigterm()  # a cancelled call leaves no half-written entry behind
        return _call(*argv[1:])
    return run_job(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
