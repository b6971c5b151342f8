"""Benchmark representation extraction: MiniLM-L6 on UD English ParTUT train (POS targets).

Prints words/s of the batched extractor against (a) a naive one-sentence-at-a-time loop and
(b) this machine's fp32 matmul rate (all threads), both measured in the same run, as the
fraction of the FLOP bound reached; and the peak RSS when extracting half the corpus (every 2nd
sentence), all of it and all of it twice, each in its own process, with the RSS before
extraction (model and corpus loaded) for comparison. Each extraction process measures the
matmul rate just before and just after extracting and is compared with their mean, so a change
in machine load during the run is partly corrected for; the load average is printed too.

    python bench/embed.py [--data-dir ../shared/data] [--naive-sentences 200]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.embed import BATCH_TOKENS, batches, extract, plan_inputs  # noqa: E402
from analysis.models import load_model, resolve_model  # noqa: E402
from analysis.store import RowFile  # noqa: E402
from analysis.tasks import load_task  # noqa: E402
from analysis.tasks.base import TaskData  # noqa: E402


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """Sustained fp32 FLOP/s of a large square matmul with all threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def encoder_flops(lengths: list[int], hidden: int, layers: int, ffn: int) -> float:
    """Forward matmul FLOPs of a BERT encoder on sequences of the given (unpadded) lengths.

    Counts the projections (Q, K, V, output), the feed-forward layers and the two attention
    products over the real tokens only ([CLS] and [SEP] included, padding not); embeddings,
    softmax, layer norms, GELU and the pooler are left out, so the count is a lower bound.
    """
    total = 0.0
    for t in lengths:
        per_layer = 2 * t * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * t * t * hidden
        total += layers * per_layer
    return total


def resize(data: TaskData, factor: float) -> TaskData:
    """A corpus with the same length mix: every k-th sentence (factor 1/k) or k copies (factor k)."""
    if factor >= 1:
        k = round(factor)
        n = len(data.sentences)
        return TaskData(task=data.task, split=data.split, kind=data.kind, sentences=data.sentences * k,
                        target_sentence=np.concatenate([data.target_sentence + i * n for i in range(k)]),
                        target_words=data.target_words * k, labels=np.tile(data.labels, k),
                        label_names=data.label_names, files=data.files)
    step = round(1 / factor)
    keep = data.target_sentence % step == 0
    return TaskData(task=data.task, split=data.split, kind=data.kind, sentences=data.sentences[::step],
                    target_sentence=data.target_sentence[keep] // step,
                    target_words=[w for w, k in zip(data.target_words, keep) if k],
                    labels=data.labels[keep], label_names=data.label_names, files=data.files)


def child(fraction: float, data_dir: str | None) -> None:
    """Extract a fraction of the corpus into row files; print seconds, matmul rate and RSS."""
    data = resize(load_task("pos", "train", data_dir=data_dir), fraction)
    tokenizer, model = load_model(resolve_model(None))
    n_layers = model.config.num_hidden_layers + 1
    rss_before = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        outs = [RowFile(Path(tmp) / f"l{i}.npy", (data.n_targets, model.config.hidden_size), np.float32)
                for i in range(n_layers)]
        rate_before = matmul_flops()
        start = time.perf_counter()
        extract(model, tokenizer, data, outs)
        seconds = time.perf_counter() - start
        rate_after = matmul_flops()
        for out in outs:
            out.close()
    print(json.dumps({"fraction": fraction, "words": data.n_words, "targets": data.n_targets,
                      "seconds": seconds, "matmul_flops": (rate_before + rate_after) / 2,
                      "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()}))


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def naive_words_per_second(model, tokenizer, data: TaskData, n_sentences: int) -> float:
    """One sentence per forward pass, no batching: the baseline."""
    words = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for sent in data.sentences[:n_sentences]:
            enc = tokenizer(sent, is_split_into_words=True, return_tensors="pt", truncation=True)
            hidden = model(**enc, output_hidden_states=True).hidden_states
            ids = enc.word_ids(0)
            for w in range(len(sent)):
                pos = [p for p, i in enumerate(ids) if i == w]
                if pos:
                    [h[0, pos].mean(0) for h in hidden]
            words += len(sent)
    return words / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--naive-sentences", type=int, default=200)
    p.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.data_dir)
        return

    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)")
    print(f"fp32 matmul rate (2048^3, {torch.get_num_threads()} threads): {matmul_flops() / 1e9:.1f} GFLOP/s")
    data = load_task("pos", "train", data_dir=args.data_dir)
    tokenizer, model = load_model(resolve_model(None))
    cfg = model.config
    fractions = (0.5, 1.0, 2.0)
    flops = {}
    for fraction in fractions:
        plan = plan_inputs(tokenizer, resize(data, fraction), 512)
        lengths = [len(s.ids) for s in plan.sequences]
        flops[fraction] = encoder_flops(lengths, cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size)
        if fraction == 1.0:
            padded = sum(len(b) * max(lengths[i] for i in b) for b in batches(plan, BATCH_TOKENS))
            print(f"corpus: {len(data.sentences)} sentences, {data.n_words} words, {sum(lengths)} tokens "
                  f"({padded / sum(lengths) - 1:.1%} padding in batches of <= {BATCH_TOKENS} tokens), "
                  f"{flops[fraction] / 1e9:.1f} GFLOP forward")

    naive = naive_words_per_second(model, tokenizer, data, args.naive_sentences)
    print(f"naive loop ({args.naive_sentences} sentences): {naive:,.0f} words/s")
    runs = []
    for fraction in fractions:
        out = subprocess.run([sys.executable, __file__, "--child", str(fraction)]
                             + (["--data-dir", args.data_dir] if args.data_dir else []),
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"batched extractor ({torch.get_num_threads()} workers, one thread each):")
    for r in runs:
        wps = r["words"] / r["seconds"]
        achieved = flops[r["fraction"]] / r["seconds"]
        print(f"  {r['fraction']:>4.0%} of the corpus: {r['words']:>6} words in {r['seconds']:5.1f} s = "
              f"{wps:,.0f} words/s ({wps / naive:.1f}x naive), {achieved / 1e9:.1f} GFLOP/s = "
              f"{achieved / r['matmul_flops']:.0%} of the matmul rate ({r['matmul_flops'] / 1e9:.1f} GFLOP/s); "
              f"RSS {r['rss_before_mb']:.0f} MB before extraction, peak {r['peak_rss_mb']:.0f} MB")
    growth = runs[2]["peak_rss_mb"] / runs[1]["peak_rss_mb"] - 1
    print(f"peak RSS from 1x to 2x the corpus: {growth:+.1%}")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
