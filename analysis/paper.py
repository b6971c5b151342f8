"""The published figures of Zhou & Srikumar (ACL 2022), read from a cited data file, shown beside ours."""
from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data"
CITATION = "Zhou & Srikumar (2022), A Closer Look at How Fine-tuning Changes BERT, ACL"
PAPER_TASKS = {"pos": "POS", "dep": "DEP", "ps-fxn": "PS-fxn", "ps-role": "PS-role", "trec-50": "TREC-50"}
"""Our task names → the paper's (TREC-6 and custom tasks are not in the paper)."""
PAPER_MODELS = {"bert-tiny": "google/bert_uncased_L-2_H-128_A-2", "bert-mini": "google/bert_uncased_L-4_H-256_A-4",
                "bert-small": "google/bert_uncased_L-4_H-512_A-8", "bert-medium": "google/bert_uncased_L-8_H-512_A-8",
                "bert-base": "bert-base-uncased"}
"""The paper's model names → their Hugging Face names."""
MEASURES = {"probe_accuracy": "MLP probe accuracy", "n_clusters": "DirectProbe clusters",
            "is_linear": "linear", "train_test_similarity": "train–test spatial similarity"}
"""Table 7's columns that the pages show beside ours, with their names."""


@functools.cache
def table7() -> pd.DataFrame:
    """Table 7: model, task, state, probe_accuracy (a fraction, as ours), probe_accuracy_std, best_hidden1/2,
    n_clusters, is_linear (bool), train_test_similarity (NaN where not linear)."""
    table = pd.read_csv(DATA / "zhou2022_table7.csv")
    return table.assign(probe_accuracy=table["probe_accuracy"] / 100,
                        probe_accuracy_std=table["probe_accuracy_std"] / 100,
                        is_linear=table["is_linear"].eq("Y"))


@functools.cache
def table5() -> pd.DataFrame:
    """Table 5: BERT-base fine-tuned on each task (empty: not fine-tuned), probed on PS-fxn at the last layer."""
    table = pd.read_csv(DATA / "zhou2022_table5.csv")
    return table.assign(probe_accuracy=table["probe_accuracy"] / 100)


@functools.cache
def models() -> pd.DataFrame:
    """The paper's five models: layers, heads, hidden, parameters_millions, and our name for each (hub)."""
    table = pd.read_csv(DATA / "zhou2022_models.csv")
    return table.assign(hub=table["model"].map(PAPER_MODELS))


def paper_model(model: str) -> str | None:
    """The paper's name for a model we ran (``bert-base-uncased`` → ``bert-base``), or None if it is not one."""
    name = model.rstrip("/").split("/")[-1]  # a hub id or a local folder named after it
    return next((paper for paper, hub in PAPER_MODELS.items() if name == hub.split("/")[-1]), None)


def published(task: str, measure: str) -> pd.DataFrame:
    """One Table-7 measure for one of our tasks, a row per paper model: model, original, fine-tuned.

    Empty for a task the paper does not report (TREC-6, custom tasks).
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; the paper reports {', '.join(MEASURES)}")
    rows = table7()[table7()["task"] == PAPER_TASKS.get(task)]
    wide = rows.pivot(index="model", columns="state", values=measure)
    order = [m for m in PAPER_MODELS if m in wide.index]
    wide = wide.reindex(index=order, columns=["original", "fine-tuned"])
    return wide.rename_axis(index="model", columns=None).reset_index()
