"""A background snapshot worker: ``python -m analysis.finetune.worker`` (started by :class:`.background.SnapshotWorkers`).

Reads jobs as JSON lines on stdin and runs each with :func:`.background.run_job`, answering one
JSON line per job on stdout (``{"step", "ok"}``, plus ``error`` on failure); anything else that
is printed goes to stderr, the worker's log, so the answers cannot be mixed up with it.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def main() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    from .background import run_job

    cache: dict[str, Any] = {}
    for line in sys.stdin:
        job = json.loads(line)
        try:
            run_job(job, cache)
            answer = {"step": job["step"], "ok": True}
        except Exception as exc:  # reported to the training process, which fails the run
            traceback.print_exc()
            answer = {"step": job["step"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
