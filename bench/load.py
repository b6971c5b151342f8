"""Benchmark the dashboard under load and the store under writer crashes; prints figures.

Load: ``--sessions`` Playwright contexts on Debian's Chromium walk every dashboard page for
``--seconds`` while ``python -m analysis study --preset quick`` (new seed each time) writes to the
same store. Each session opens the dashboard once by its address, then goes from page to page
through the top navigation, as a user does (``--full-loads``: every page by its address, the whole
front end started each time). A page visit counts as an error when it shows an ``stException`` or
``stAlertContentError`` element or does not finish within ``--page-timeout``.

Faults: ``--kills`` times, a writer (extraction, DirectProbe, fine-tuning with snapshots) starts on a
fresh store and its process group gets SIGKILL after a random delay (15-95% of an undisturbed run,
then up to 3 s more until an entry write is under way in ``tmp/``); the store is checked right after
the kill, the same command then runs undisturbed to completion, and every entry is compared byte for
byte with an undisturbed reference run's (JSON files that differ are compared again without
``meta.json``'s ``created`` time and the wall-clock ``seconds`` / ``*_seconds`` fields).

Everything uses a tiny random BERT (``tests/conftest.py``) and a scratch folder; the server listens
on 127.0.0.1 only.

    python bench/load.py [--sessions 20] [--seconds 300] [--kills 20] [--skip-load] [--skip-faults]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from analysis.store import Store, StoreError  # noqa: E402
from conftest import build_dashboard_store, build_tiny_bert  # noqa: E402

PAGES = {"overview": ("Explore", "Overview"), "embeddings": ("Explore", "Embeddings"),
         "linearity": ("Explore", "Linearity"), "distances": ("Explore", "Distances"),
         "centroids": ("Explore", "Centroid paths"), "layers": ("Explore", "Layers"), "probes": ("Explore", "Probes"),
         "compare": ("Compare", "Compare"), "cross_task": ("Compare", "Cross-task"),
         "stability": ("Compare", "Stability"), "runs": ("Work", "Runs"), "report": ("Work", "Report")}
"""Every page, with its top-navigation section and title (``app.py``)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
WATCH_RUNS = """() => {
  window.__scriptRuns = 0;
  new MutationObserver(records => {
    for (const r of records) if (r.oldValue === 'running') window.__scriptRuns++;
  }).observe(document, {attributes: true, subtree: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
}"""
"""Counts finished script runs in ``window.__scriptRuns`` (the app marks ``stApp`` running / not running)."""
IDLE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state') !== 'running'"
READY = ("!document.querySelector('[data-testid=\"stStatusWidget\"]') && "
         "!document.querySelector('[data-stale=\"true\"]') && !document.querySelector('[data-testid=\"stSkeleton\"]')")
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def volatile(key: str) -> bool:
    """JSON fields that measure wall-clock time (``seconds``, ``distance_seconds``), so differ between identical runs."""
    return key == "seconds" or key.endswith("_seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def analysis_cmd(store: Path, *args: str) -> list[str]:
    """``nice python -m analysis ...`` on ``store``."""
    return ["nice", "-n", "10", sys.executable, "-m", "analysis", *args, "--store", str(store)]


def start_server(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` over ``store`` on a free loopback port; returns the process and its URL."""
    port = free_port()
    proc = subprocess.Popen(["nice", "-n", "5", sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=dict(os.environ, FTGEO_STORE=str(store)), stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    stop(proc)
    raise SystemExit("streamlit did not start:\n" + log.read_text()[-3000:])


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal ``proc``'s process group (it was started in a session of its own) and reap it."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@dataclass
class LoadFigures:
    loads: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    """Page switches through the top navigation (or every load, with ``--full-loads``)."""
    first_seconds: list[float] = field(default_factory=list)
    """Each session's first, full load (the whole front end fetched and started)."""


@dataclass
class WriterFigures:
    studies: int = 0
    study_failures: int = 0


async def open_page(page, url: str, name: str, query: str, timeout_ms: int) -> None:
    """A full load of page ``name``, as typing its address does."""
    await page.goto(f"{url}/{'' if name == 'overview' else name}?{query}", timeout=timeout_ms)
    await page.wait_for_selector("h1", timeout=timeout_ms)
    await page.wait_for_function(READY, timeout=timeout_ms)


async def switch_to(page, name: str, timeout_ms: int) -> None:
    """Go to page ``name`` as a user does: its section in the top navigation, then its link; done when
    the new page's script has run and nothing is left stale or loading."""
    section, title = PAGES[name]
    runs, heading = await page.evaluate("[window.__scriptRuns, document.querySelector('h1')?.innerText]")
    await page.locator('[data-testid="stTopNavSection"]', has_text=section).click(timeout=timeout_ms)
    await page.locator('[data-testid="stTopNavDropdownLink"]', has_text=title).first.click(timeout=timeout_ms)
    # a run so short that the app never showed it running leaves only the new heading behind
    ran = f"(window.__scriptRuns > {runs} || document.querySelector('h1')?.innerText !== {json.dumps(heading)})"
    path = f"location.pathname.endsWith('/{'' if name == 'overview' else name}')"
    await page.wait_for_function(f"{ran} && {path} && {IDLE} && {READY}", timeout=timeout_ms)


async def walk(browser, url: str, query: str, end: float, timeout_ms: int, figures: LoadFigures, who: int,
               full_loads: bool) -> None:
    """One session: open the dashboard once, then go to every page in turn (starting at a different
    one per session) until ``end``."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.add_init_script(f"({WATCH_RUNS})()")
    page = await context.new_page()
    names = list(PAGES)
    order = names[who % len(names):] + names[:who % len(names)]
    for i in range(100_000):  # bounded; the time limit ends it long before
        if time.monotonic() >= end:
            break
        name = order[i % len(order)]
        first = i == 0 or full_loads
        t0 = time.monotonic()
        try:
            await (open_page(page, url, name, query, timeout_ms) if first else switch_to(page, name, timeout_ms))
            elapsed = time.monotonic() - t0
            bad = page.locator(ERRORS)
            if await bad.count():
                text = (await bad.first.inner_text())[:200].replace("\n", " ")
                figures.errors.append(f"{name}: {text}")
            (figures.first_seconds if i == 0 else figures.seconds).append(elapsed)
        except Exception as exc:  # a navigation or wait timeout, or a crashed page
            figures.errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            if not first:  # start over from a full load, as a user whose page hangs reloads it
                try:
                    await open_page(page, url, name, query, timeout_ms)
                except Exception:
                    pass
        figures.loads += 1
    await context.close()


async def protocol_walk(url: str, query: str, end: float, timeout: float, figures: LoadFigures, who: int) -> None:
    """One session without a browser: speak the front end's websocket protocol (Streamlit's protobuf
    messages), asking for every page in turn as the top navigation does, until ``end``. A visit ends
    with the script's ``script_finished``; an exception or error alert among its elements, or a run
    that does not finish successfully, is an error."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    names = list(PAGES)
    order = names[who % len(names):] + names[:who % len(names)]
    hashes: dict[str, str] = {}

    async def visit(ws, name: str) -> list[str]:
        message = BackMsg()
        message.rerun_script.query_string = query
        if name in hashes:
            message.rerun_script.page_script_hash = hashes[name]
            message.rerun_script.page_name = name
        await ws.send(message.SerializeToString())
        problems = []
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "navigation":
                hashes.update({p.url_pathname or "overview": p.page_script_hash for p in msg.navigation.app_pages})
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "exception" or (
                        element.WhichOneof("type") == "alert" and element.alert.format == element.alert.ERROR):
                    text = element.exception.message if element.HasField("exception") else element.alert.body
                    problems.append(f"{name}: {text[:200]}")
            elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                if msg.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    problems.append(f"{name}: script finished with status {msg.script_finished}")
                return problems

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    ws = None

    async def connect_and_visit(name: str) -> list[str]:
        nonlocal ws
        if ws is None:
            ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None)
        return await visit(ws, name)

    for i in range(100_000):  # bounded; the time limit ends it long before
        if time.monotonic() >= end:
            break
        # the first visit opens the address, which shows Overview (the page names are learnt from it)
        name = order[i % len(order)] if hashes else "overview"
        t0 = time.monotonic()
        try:
            problems = await asyncio.wait_for(connect_and_visit(name), timeout)
            figures.errors.extend(problems)
            (figures.first_seconds if i == 0 else figures.seconds).append(time.monotonic() - t0)
        except Exception as exc:  # a timeout or a dropped connection: reconnect, as the front end does
            figures.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:160]}")
            if ws is not None:
                await ws.close()
            ws = None
        figures.loads += 1
    if ws is not None:
        await ws.close()


async def sessions(url: str, query: str, args: argparse.Namespace, browser_figures: LoadFigures,
                   protocol_figures: LoadFigures) -> None:
    """``args.browsers`` Chromium sessions and ``args.sessions - args.browsers`` protocol sessions at once."""
    from playwright.async_api import async_playwright

    timeout = float(args.page_timeout)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        end = time.monotonic() + args.seconds
        await asyncio.gather(
            *(walk(browser, url, query, end, timeout * 1000, browser_figures, i, args.full_loads)
              for i in range(args.browsers)),
            *(protocol_walk(url, query, end, timeout, protocol_figures, i)
              for i in range(args.browsers, args.sessions)))
        await browser.close()


def study_writer(store: Path, model: Path, data: Path, end: float, figures: WriterFigures, log: Path) -> None:
    """Run quick PS-role studies with new seeds one after another until ``end`` (the last one is stopped)."""
    with open(log, "w") as out:
        for seed in range(100, 1100):  # bounded; the time limit ends it long before
            if time.monotonic() >= end:
                return
            proc = subprocess.Popen(analysis_cmd(store, "study", "--task", "ps-role", "--preset", "quick",
                                                 "--model", str(model), "--seeds", str(seed),
                                                 "--data-dir", str(data)),
                                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(0.5)
            if proc.poll() is None:
                stop(proc)
                return
            figures.studies += 1
            figures.study_failures += proc.returncode != 0


def run_load(work: Path, model: Path, data: Path, args: argparse.Namespace) -> None:
    import threading

    from analysis.finetune import list_runs

    t0 = time.monotonic()
    store = build_dashboard_store(work / "dashboard", model, data)
    print(f"dashboard store built in {time.monotonic() - t0:.0f} s", flush=True)
    runs = list_runs(store)
    run = runs[runs["task"] == "ps-role"]["run"].iloc[0]
    query = f"task=ps-role&run={run}&split=train&layer=2"
    server, url = start_server(store.root, work / "streamlit.log")
    import psutil

    browser_figures, protocol_figures, writer_figures = LoadFigures(), LoadFigures(), WriterFigures()
    before = len(store.ls())
    machine0, wall0 = psutil.cpu_times(), time.monotonic()
    try:
        end = time.monotonic() + args.seconds
        writer = threading.Thread(target=study_writer, args=(store.root, model, data, end, writer_figures,
                                                             work / "study.log"))
        writer.start()
        asyncio.run(sessions(url, query, args, browser_figures, protocol_figures))
        writer.join(timeout=120)
        server_cpu = sum(sum(p.cpu_times()[:2]) for p in [psutil.Process(server.pid)]
                         + psutil.Process(server.pid).children(recursive=True))
    finally:
        stop(server)
    machine1, wall = psutil.cpu_times(), time.monotonic() - wall0
    busy = (sum(machine1) - machine1.idle - sum(machine0) + machine0.idle) / wall
    print(f"\nLoad: {args.sessions} sessions x {args.seconds:.0f} s, {len(PAGES)} pages, URL query {query}")
    how = "full loads of each page" if args.full_loads else "one full load, then the top navigation"
    for who, figures, n in ((f"Chromium ({how})", browser_figures, args.browsers),
                            ("websocket protocol, no browser", protocol_figures, args.sessions - args.browsers)):
        if not n:
            continue
        print(f"  {n} sessions, {who}")
        print(f"    page visits            {figures.loads}")
        print(f"    errors                 {len(figures.errors)}")
        for what, seconds in (("first visit", figures.first_seconds),
                              ("page load" if args.full_loads and figures is browser_figures else "page switch",
                               figures.seconds)):
            times = np.array(seconds) if seconds else np.array([np.nan])
            print(f"    {what + ' p50 / p95':<22} {np.percentile(times, 50):.2f} s / {np.percentile(times, 95):.2f} s"
                  f" (max {np.max(times):.2f} s, over {len(seconds)} finished)")
        for line in sorted(set(figures.errors))[:20]:
            print(f"      error: {line} (x{figures.errors.count(line)})")
    print(f"  studies written          {writer_figures.studies} finished ({writer_figures.study_failures} failed), "
          f"the last one stopped at the end; store entries {before} before, {len(store.ls())} after")
    print(f"  CPU                      streamlit server {server_cpu / wall:.2f} cores, whole machine {busy:.2f} of"
          f" {psutil.cpu_count()} cores busy (every process, this benchmark's and others'), over {wall:.0f} s")


def writers(model: Path, data: Path) -> dict[str, list[str]]:
    """The writer commands the fault benchmark kills (without ``--store``)."""
    common = ["--model", str(model), "--data-dir", str(data)]
    return {
        "embed": ["embed", "--task", "trec-6", "--split", "test", *common],
        "directprobe": ["directprobe", "--task", "trec-6", "--split", "test", "--layer", "2", *common],
        "finetune": ["finetune", "--task", "ps-role", "--steps", "12", "--batch-size", "16", "--lr", "1e-3",
                     "--snapshot-every", "2", "--threads", "1", *common],
    }


def run_to_end(store: Path, args: list[str], log: Path) -> float:
    """Run one writer undisturbed; returns its wall time (a failure stops the benchmark)."""
    t0 = time.monotonic()
    with open(log, "a") as out:
        rc = subprocess.run(analysis_cmd(store, *args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            timeout=600).returncode
    if rc:
        raise SystemExit(f"{' '.join(args)} failed ({rc}); see {log}")
    return time.monotonic() - t0


def without_timings(obj):
    """``obj`` (parsed JSON) without its wall-clock fields, at any depth."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if not volatile(k)}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def json_without_timings(path: Path) -> object:
    """A JSON file without its wall-clock fields (and, for meta.json, its ``created`` time)."""
    obj = json.loads(path.read_text())
    if path.name == "meta.json":
        obj.pop("created", None)
    return without_timings(obj)


def entry_differences(ours: Path, reference: Path) -> tuple[list[str], int]:
    """How entry folder ``ours`` differs from ``reference`` (file names, bytes, JSON beyond timings),
    and how many of its JSON files differ in wall-clock fields only."""
    names, ref_names = {p.name for p in ours.iterdir()}, {p.name for p in reference.iterdir()}
    out = [f"files only here: {sorted(names - ref_names)}"] if names - ref_names else []
    out += [f"files missing: {sorted(ref_names - names)}"] if ref_names - names else []
    timing_only = 0
    for name in sorted(names & ref_names):
        if (ours / name).read_bytes() == (reference / name).read_bytes():
            continue
        if name.endswith(".json"):
            a, b = json_without_timings(ours / name), json_without_timings(reference / name)
            if a != b:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) else []
                out.append(f"{name} differs beyond timings (in {keys})")
            else:
                timing_only += 1
        else:
            out.append(f"{name} differs")
    return out, timing_only


def partial_entries(root: Path) -> list[str]:
    """Entry folders that look complete but are not: no meta.json, unreadable metadata or files, tmp names."""
    store, bad = Store(root), []
    if not store.entries.is_dir():
        return bad
    for path in sorted(store.entries.iterdir()):
        try:
            entry = store.get(path.name)
        except (StoreError, ValueError) as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        if entry is None:
            bad.append(f"{path.name}: no meta.json")
            continue
        for file in entry.files():
            try:
                if file.endswith(".npy"):
                    np.asarray(entry.array(file[:-4], mmap=False))
                elif file.endswith(".json"):
                    entry.json(file[:-5])
                elif file.endswith(".parquet"):
                    entry.table(file[:-8])
            except StoreError as exc:
                bad.append(f"{path.name}: {exc}")
    return bad


def tmp_leftovers(root: Path) -> int:
    tmp = root / "tmp"
    return sum(1 for _ in tmp.iterdir()) if tmp.is_dir() else 0


def run_faults(work: Path, model: Path, data: Path, args: argparse.Namespace) -> None:
    commands = writers(model, data)
    took = {name: run_to_end(work / f"reference-{name}", cmd, work / "reference.log")
            for name, cmd in commands.items()}
    references = {name: {p.name: p for p in (work / f"reference-{name}" / "entries").iterdir()} for name in commands}
    print("\nreference runs (each on a store of its own): "
          + ", ".join(f"{n} {t:.1f} s, {len(references[n])} entries" for n, t in took.items()), flush=True)
    rng = random.Random(args.seed)
    kills = compared = mismatches = partial_after_kill = partial_after_rerun = extra = missing = 0
    files_compared = timing_files = 0
    mid_write = tmp_after_kill = tmp_after_rerun = complete_at_kill = 0
    notes: list[str] = []
    names = list(commands)
    for k in range(args.kills):
        name = names[k % len(names)]
        store = work / f"fault-{k}"
        delay = rng.uniform(0.15, 0.95) * took[name]
        log = work / f"fault-{k}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(analysis_cmd(store, *commands[name]), cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(delay)
        for _ in range(1500):  # then up to about 3 s more for an entry write to be under way
            if tmp_leftovers(store) or proc.poll() is not None:
                break
            time.sleep(0.002)
        writing = tmp_leftovers(store) > 0
        finished = proc.poll() is not None
        stop(proc, signal.SIGKILL)
        kills += not finished
        mid_write += writing and not finished
        tmp_after_kill += tmp_leftovers(store)
        complete_at_kill += len(list((store / "entries").iterdir())) if (store / "entries").is_dir() else 0
        bad = partial_entries(store)
        partial_after_kill += len(bad)
        notes += [f"kill {k} ({name}) after kill: {b}" for b in bad]
        run_to_end(store, commands[name], log)
        bad = partial_entries(store)
        partial_after_rerun += len(bad)
        notes += [f"kill {k} ({name}) after rerun: {b}" for b in bad]
        tmp_after_rerun += tmp_leftovers(store)
        ours = {p.name: p for p in (store / "entries").iterdir()}
        ref_entries = references[name]
        missing += len(set(ref_entries) - set(ours))
        notes += [f"kill {k} ({name}): {key} missing after rerun" for key in sorted(set(ref_entries) - set(ours))]
        for key, path in sorted(ours.items()):
            if key not in ref_entries:
                extra += 1
                notes.append(f"kill {k} ({name}): {key} not in the reference store")
                continue
            compared += 1
            diff, timing = entry_differences(path, ref_entries[key])
            timing_files += timing
            files_compared += len(list(path.iterdir()))
            mismatches += bool(diff)
            notes += [f"kill {k} ({name}): {key} {d}" for d in diff]
        print(f"  kill {k + 1}/{args.kills}: {name} after {delay:.1f} s"
              f"{' (had already finished)' if finished else ''}{', mid-write' if writing else ''}; "
              f"{len(ours)} entries after rerun", flush=True)
        shutil.rmtree(store, ignore_errors=True)
    print(f"\nFaults: {args.kills} SIGKILLs of writer process groups ({', '.join(names)} in turn)")
    print(f"  kills of running writers         {kills} ({mid_write} with a tmp/ write in progress)")
    print(f"  complete entries at kill time    {complete_at_kill}")
    print(f"  tmp/ leftovers after kill        {tmp_after_kill}; after the rerun {tmp_after_rerun}")
    print(f"  partial entries after kill       {partial_after_kill}; after the rerun {partial_after_rerun}")
    print(f"  entries compared with reference  {compared} ({files_compared} files; {timing_files} JSON files"
          " differ only in the created time or wall-clock fields)")
    print(f"  mismatches                       {mismatches}")
    print(f"  missing / unexpected entries     {missing} / {extra}")
    for line in notes[:40]:
        print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--browsers", type=int, default=2,
                        help="how many of the sessions drive Chromium; the others speak the websocket protocol")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--page-timeout", type=int, default=60, help="seconds before a page visit counts as failed")
    parser.add_argument("--full-loads", action="store_true",
                        help="load every page by its address (the whole front end each time) instead of switching "
                             "pages through the top navigation as a user does")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill delays")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-faults", action="store_true")
    args = parser.parse_args()
    if not 0 <= args.browsers <= args.sessions:
        parser.error("--browsers must lie between 0 and --sessions")
    if not 1 <= args.sessions <= 50 or not 0 < args.seconds <= 3600 or not 0 <= args.kills <= 200:
        parser.error("keep --sessions in 1-50, --seconds in (0, 3600], --kills in 0-200")
    work = args.work or Path(tempfile.mkdtemp(prefix="ftgeo-load-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        model = build_tiny_bert(work / "tiny_bert")
        data = args.data_dir.resolve()
        if not args.skip_load:
            run_load(work, model, data, args)
        if not args.skip_faults and args.kills:
            run_faults(work, model, data, args)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
