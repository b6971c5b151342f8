"""Background jobs: ``python -m analysis ...`` commands run detached, so they outlive the page that started them.

Each job has a folder ``<store>/work/jobs/<id>/`` with ``job.json`` (what to run), ``status.json``
(written by the runner: pid, state, return code), ``log.txt`` (the command's output) and, once
asked, a ``cancel`` marker.  The runner, ``python -m analysis.jobs <folder>``, is started in a
new session, so it and its command form one process group that :func:`cancel` signals as a whole.
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
from typing import Any

from .config import PROJECT_ROOT
from .store import Store, process_alive

RUNNING, DONE, FAILED, CANCELLED, LOST = "running", "done", "failed", "cancelled", "lost"
PERCENT = re.compile(r"(\d{1,3})%\|")
COUNT = re.compile(r"\|\s*(\d+)/(\d+)\s")


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

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"

    @property
    def active(self) -> bool:
        return self.state == RUNNING

    def log_tail(self, max_chars: int = 4000) -> str:
        """The end of the log, progress-bar carriage returns folded into lines."""
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 4 * max_chars))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
        return "\n".join(lines)[-max_chars:]

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


def start(store: Store, args: list[str], name: str | None = None) -> Job:
    """Start ``python -m analysis <args> --store <store>`` detached; returns at once."""
    argv = [sys.executable, "-m", "analysis", *args, "--store", str(store.root)]
    return launch(store, argv, name or " ".join(args[:3]))


def call(store: Store, target: str, kwargs: dict[str, Any], name: str) -> Job:
    """Run ``target(store, **kwargs)`` in the background; ``target`` is ``"analysis.module:function"``."""
    if not target.startswith("analysis."):
        raise ValueError(f"only analysis functions can run as jobs, not {target!r}")
    argv = [sys.executable, "-m", "analysis.jobs", "call", target, json.dumps(kwargs), str(store.root)]
    return launch(store, argv, name)


def _call(target: str, kwargs: str, root: str) -> int:
    """The process side of :func:`call`: import the function, run it, print what it returns."""
    module, function = target.split(":")
    print(getattr(importlib.import_module(module), function)(Store(root), **json.loads(kwargs)), flush=True)
    return 0


def launch(store: Store, argv: list[str], name: str) -> Job:
    """Start any command detached as a job of ``store``, under the runner; returns at once."""
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = store.work_dir(f"jobs/{job_id}")
    _write(folder / "job.json", {"id": job_id, "name": name, "argv": argv, "created": time.time()})
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
    job = json.loads((folder / "job.json").read_text())
    status = _read_json(folder / "status.json")
    pid = status.get("pid")
    state = status.get("state", RUNNING)
    if state == RUNNING and not _starting(job, status) and not (pid and process_alive(pid)):
        state = CANCELLED if (folder / "cancel").exists() else LOST
    return Job(id=job["id"], name=job["name"], argv=job["argv"], folder=folder, created=job["created"],
               state=state, pid=pid, returncode=status.get("returncode"), ended=status.get("ended"))


def _starting(job: dict[str, Any], status: dict[str, Any]) -> bool:
    """True in the few seconds before the runner has written its pid."""
    return "pid" not in status and time.time() - job["created"] < 30


def list_jobs(store: Store) -> list[Job]:
    """Every job in the store, newest first; unreadable folders are skipped."""
    root = jobs_dir(store)
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        try:
            out.append(read(folder))
        except (OSError, ValueError, KeyError):
            continue
    return sorted(out, key=lambda j: j.created, reverse=True)


def get(store: Store, job_id: str) -> Job:
    return read(jobs_dir(store) / job_id)


def cancel(store: Store, job_id: str, grace: float = 5.0) -> Job:
    """Stop a job's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    A job whose runner has not started its command yet sees the ``cancel`` marker and never starts it.
    """
    job = get(store, job_id)
    if not job.active:
        return job
    (job.folder / "cancel").touch()
    deadline = time.time() + grace
    while job.pid is None and job.active and time.time() < deadline:
        time.sleep(0.05)
        job = get(store, job_id)
    if job.pid is None:
        return job
    _signal_group(job.pid, signal.SIGTERM)
    while time.time() < deadline and process_alive(job.pid):
        time.sleep(0.1)
    if process_alive(job.pid):
        _signal_group(job.pid, signal.SIGKILL)
    return get(store, job_id)


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
    _write(folder / "status.json", {"pid": os.getpid(), "state": RUNNING, "started": time.time()})
    if (folder / "cancel").exists():  # cancelled before it began
        _write(folder / "status.json", {"pid": os.getpid(), "state": CANCELLED, "ended": time.time()})
        return 1
    with open(folder / "log.txt", "ab") as log:
        log.write(f"$ {' '.join(job['argv'])}\n".encode())
        log.flush()
        child = subprocess.Popen(job["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=PROJECT_ROOT)
        code = child.wait()
    cancelled = cancelled or (folder / "cancel").exists()
    state = CANCELLED if cancelled else DONE if code == 0 else FAILED
    _write(folder / "status.json", {"pid": os.getpid(), "state": state, "returncode": code, "ended": time.time()})
    return code


if __name__ == "__main__":
    sys.exit(_call(*sys.argv[2:]) if sys.argv[1] == "call" else run_job(Path(sys.argv[1])))
