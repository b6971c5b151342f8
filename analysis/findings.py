"""The paper's five findings, each checked against one stored study: reproduced or not, and the evidence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .store import Store

REPRODUCED, NOT_REPRODUCED, NOT_COMPUTED, NOT_APPLICABLE = "reproduced", "not reproduced", "not computed", "n/a"

CLAIMS = (
    "Fine-tuning makes the training and test sets diverge (their spatial similarity falls).",
    "Where labels are not linearly separable, fine-tuning groups each label into fewer clusters.",
    "Fine-tuning pushes the clusters of different labels apart (minimum distances grow).",
    "Fine-tuning on a related task moves the target task's labels apart too (PS-role → PS-fxn); "
    "on an unrelated one, closer (POS → PS-fxn).",
    "Fine-tuning does not change the higher layers arbitrarily: spatial similarity to the original stays above "
    "about 0.5.",
)
"""The paper's findings in its own order (Zhou & Srikumar 2022, Section 5)."""

RELATED = {("ps-role", "ps-fxn"): True, ("pos", "ps-fxn"): False}
"""(fine-tuned on, analysed) pairs of the paper's Table 5: whether the analysed task's labels moved apart."""


@dataclass(frozen=True)
class Finding:
    """One of the paper's findings against this study: the claim, the verdict and the numbers behind it."""

    number: int
    claim: str
    verdict: str
    evidence: str


def _mean(table: pd.DataFrame, by: list[str], value: str) -> pd.Series:
    """Across-seed mean of ``value`` per ``by``."""
    return table.groupby(by)[value].mean()


def divergence(table: pd.DataFrame) -> tuple[str, str]:
    defined = table.dropna(subset=["similarity_original", "similarity_fine_tuned"]) if len(table) else table
    if not len(defined):
        return NOT_COMPUTED, "no layer is linear on both splits, where train–test similarity is defined"
    means = defined.groupby("layer")[["similarity_original", "similarity_fine_tuned"]].mean()
    layer = int(means.index.max())
    before, after = means.loc[layer]
    verdict = REPRODUCED if after < before else NOT_REPRODUCED
    return verdict, f"layer {layer}: train–test similarity {before:.3f} → {after:.3f}"


def grouping(table: pd.DataFrame) -> tuple[str, str]:
    if not len(table):
        return NOT_COMPUTED, "no DirectProbe results at the first and last snapshot"
    means = table.groupby("layer")[["n_clusters_original", "n_clusters_fine_tuned", "n_labels"]].mean()
    split = means[means["n_clusters_original"] > means["n_labels"]]
    if split.empty:
        return NOT_APPLICABLE, f"every layer is linear before fine-tuning ({means['n_labels'].iloc[0]:.0f} labels)"
    fewer = split["n_clusters_fine_tuned"] < split["n_clusters_original"]
    parts = [f"layer {layer}: {r.n_clusters_original:.0f} → {r.n_clusters_fine_tuned:.0f}"
             for layer, r in split.iterrows()]
    return (REPRODUCED if fewer.all() else NOT_REPRODUCED,
            f"{'; '.join(parts)} clusters for {split['n_labels'].iloc[0]:.0f} labels")


def separation(table: pd.DataFrame) -> tuple[str, str]:
    if not len(table):
        return NOT_COMPUTED, "no minimum-distance curve (DirectProbe at every snapshot of the last layer)"
    per_step = table.groupby(["seed", "step"])["min_distance"].mean().groupby("step").mean()
    first, last = per_step.iloc[0], per_step.iloc[-1]
    finals = table[table["step"] == table.groupby("seed")["step"].transform("max")]
    starts = table[table["step"] == table.groupby("seed")["step"].transform("min")]
    change = _mean(finals, ["label"], "min_distance") - _mean(starts, ["label"], "min_distance")
    return (REPRODUCED if last > first else NOT_REPRODUCED,
            f"mean minimum distance {first:.3f} → {last:.3f}; {int((change > 0).sum())} of {len(change)} labels "
            "moved apart")


def cross_task(table: pd.DataFrame) -> tuple[str, str]:
    if not len(table):
        return NOT_COMPUTED, "no other task recorded during fine-tuning (--probe-tasks)"
    rows = table.groupby(["fine_tuned_on", "analysed_task"])[["n_increased", "n_decreased", "mean_change"]].mean()
    verdicts, parts = [], []
    for (tuned, analysed), r in rows.iterrows():
        parts.append(f"{tuned} → {analysed}: {r.n_increased:.0f} labels apart, {r.n_decreased:.0f} closer "
                     f"(mean change {r.mean_change:+.3f})")
        if (tuned, analysed) in RELATED:
            verdicts.append((r.mean_change > 0) == RELATED[tuned, analysed])
    if not verdicts:
        return NOT_APPLICABLE, "; ".join(parts) + " (the paper reports no such pair)"
    return REPRODUCED if all(verdicts) else NOT_REPRODUCED, "; ".join(parts)


def stability(table: pd.DataFrame) -> tuple[str, str]:
    spatial = table[table["metric"] == "spatial"].dropna(subset=["value"]) if len(table) else table
    if not len(spatial):
        return NOT_COMPUTED, "no spatial similarity to the original (DirectProbe on every layer at the last snapshot)"
    finals = spatial[spatial["step"] == spatial.groupby("seed")["step"].transform("max")]
    means = finals.groupby("layer")["value"].mean()
    low = float(means.min())
    return (REPRODUCED if low >= 0.5 else NOT_REPRODUCED,
            f"last snapshot: lowest layer similarity {low:.3f} (layer {int(means.idxmin())}); top layer "
            f"{means.iloc[-1]:.3f}")


CHECKS = (("divergence", divergence), ("linearity", grouping), ("dynamics", separation),
          ("cross_task", cross_task), ("layers", stability))
"""The study table behind each finding, in the paper's order, and how it is judged."""


def findings(tables: dict[str, pd.DataFrame]) -> list[Finding]:
    """Each of the paper's findings judged on a study's tables (:func:`analysis.study.study_tables`)."""
    out = []
    for number, (claim, (name, check)) in enumerate(zip(CLAIMS, CHECKS), start=1):
        verdict, evidence = check(tables.get(name, pd.DataFrame()))
        out.append(Finding(number, claim, verdict, evidence))
    return out


def study_findings(store: Store, key: str) -> pd.DataFrame:
    """The findings table of a stored study: number, claim, verdict, evidence."""
    from .study import study_table

    tables = {name: study_table(store, key, name) for name, _ in CHECKS}
    rows = findings(tables)
    return pd.DataFrame([vars(f) for f in rows], columns=["number", "claim", "verdict", "evidence"]).astype(
        {"number": np.int64})
