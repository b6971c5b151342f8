"""Where a study's steps run: a Dask scheduler given by address, or a LocalCluster started here.

The store is the only thing workers share with the client, so before any step is sent out every
worker is asked to read a token file written into the store (:func:`check_store`).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..store import Store

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a scheduler to answer before giving up."""

WORKER_WAIT = 60.0
"""Seconds a study waits for a worker (or a GPU worker) to appear before it stops."""


class ClusterError(RuntimeError):
    """The cluster cannot run the study: no scheduler, no (GPU) worker, a worker without the store."""


class StepFailed(ClusterError):
    """A step raised on a worker; the message names the step and the worker."""


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int, *, gpus: int = 0, retries: int = 2,
            timeout: float = CONNECT_TIMEOUT) -> Iterator["Client | None"]:
    """A Dask client for the scheduler at ``scheduler``; without one, a LocalCluster of ``workers``
    single-threaded worker processes on loopback (the first ``gpus`` of them offer ``GPU=1``, one
    card each), or ``None`` (run in this process) for one worker."""
    if scheduler:
        client = _client(scheduler, timeout)
        try:
            yield client
        finally:
            client.close(timeout=timeout)
        return
    if workers <= 1:
        yield None
        return
    with local_cluster(workers, gpus=gpus, retries=retries) as cluster:
        client = _client(cluster, timeout)
        try:
            client.wait_for_workers(workers, timeout=WORKER_WAIT)
            yield client
        finally:
            client.close(timeout=timeout)


def _client(address: Any, timeout: float) -> "Client":
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({type(exc).__name__}: {exc})") from None


@contextlib.contextmanager
def local_cluster(workers: int, *, gpus: int = 0, retries: int = 2) -> Iterator[Any]:
    """A LocalCluster of ``workers`` single-threaded processes on 127.0.0.1 (dashboard on a free port);
    a worker killed mid-step has its step retried ``retries`` times before the study fails, and a
    worker holds only the step it runs (worker saturation 1), so the others wait for any free worker."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    try:
        for i in range(workers):
            spec = copy.deepcopy(cluster.new_spec)
            if i < gpus:
                spec["options"]["resources"] = {"GPU": 1}
                spec["options"]["env"] = {"CUDA_VISIBLE_DEVICES": str(i)}
            cluster.worker_spec[f"local-{i}"] = spec
        cluster.scale(workers)
        yield cluster
    finally:
        cluster.close()


def dashboard(client: "Client") -> str | None:
    """The address of the scheduler's dashboard, or None when it serves none (it needs bokeh)."""
    services = client.scheduler_info(n_workers=0).get("services", {})
    return client.dashboard_link if "dashboard" in services else None


def worker_resources(client: "Client") -> dict[str, dict[str, float]]:
    """Each connected worker's address and resources."""
    return {address: dict(info.get("resources") or {})
            for address, info in client.scheduler_info(n_workers=-1)["workers"].items()}


def read_token(path: str) -> str:
    """What a worker reads at ``path`` (run on each worker by :func:`check_store`)."""
    return Path(path).read_text()


def check_store(client: "Client", store: Store) -> None:
    """Stop unless every worker reads, under the store's path, the token this process just wrote there.

    Running :func:`read_token` also proves that each worker imports this package.
    """
    token = uuid.uuid4().hex
    path = store.work_dir("cluster") / f"token-{token}"
    path.write_text(token)
    try:
        answers = client.run(read_token, str(path), on_error="return")
    finally:
        path.unlink(missing_ok=True)
    problems = []
    for address, answer in sorted(answers.items()):
        if isinstance(answer, FileNotFoundError):
            problems.append(f"worker {address} does not see the store {store.root} (the check file {path} "
                            f"is not there)")
        elif isinstance(answer, BaseException):
            problems.append(f"worker {address} cannot run the study's steps ({type(answer).__name__}: {answer})")
        elif answer != token:
            problems.append(f"worker {address} reads another store at {store.root} (the check file holds "
                            f"{answer[:40]!r})")
    if problems:
        raise ClusterError("; ".join(problems) + ". The store must be one folder every worker sees at the same "
                           "path (see docs/cluster.md).")


def wait_for_workers(client: "Client", address: str, gpu: bool, timeout: float = WORKER_WAIT) -> None:
    """Wait up to ``timeout`` seconds for a worker (one offering ``GPU`` when ``gpu``), then stop clearly."""
    import time

    end = time.monotonic() + timeout
    while True:
        resources = worker_resources(client)
        if resources and (not gpu or any(r.get("GPU", 0) >= 1 for r in resources.values())):
            return
        if time.monotonic() >= end:
            break
        time.sleep(0.5)
    if not resources:
        raise ClusterError(f"no Dask worker is connected to the scheduler at {address} (waited {timeout:g} s)")
    raise ClusterError(f"the study asks for a GPU (--device cuda) but none of the {len(resources)} workers of "
                       f"the scheduler at {address} offers the resource GPU=1 (start GPU workers with "
                       f"`dask worker ADDRESS --resources GPU=1`)")
