"""Linearity before and after fine-tuning: DirectProbe cluster counts per representation (Tables 3, 7)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from .states import STATE, wide_by_state

MEASURES = ("n_clusters", "n_labels", "is_linear")


def linearity_table(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Original vs fine-tuned cluster counts and linearity, one row per representation.

    Each record has ``model_state`` ("original"/"fine-tuned"), ``n_clusters``, ``n_labels``,
    ``is_linear`` and any key fields (e.g. task, model, layer).  Returns the keys, then
    n_labels, n_clusters_original, n_clusters_fine_tuned, is_linear_original,
    is_linear_fine_tuned (NA where a state is missing).
    """
    long = pd.DataFrame(records)
    missing = {STATE, *MEASURES} - set(long.columns)
    if missing:
        raise ValueError(f"records lack {sorted(missing)}")
    keys = [c for c in long.columns if c not in (STATE, *MEASURES)]
    wide = wide_by_state(long, MEASURES, keys)
    n_labels = wide["n_labels_original"].fillna(wide["n_labels_fine_tuned"])
    both = wide["n_labels_original"].notna() & wide["n_labels_fine_tuned"].notna()
    if (wide.loc[both, "n_labels_original"] != wide.loc[both, "n_labels_fine_tuned"]).any():
        raise ValueError("the two model states disagree on n_labels for the same key")
    return pd.DataFrame(
        {
            **{k: wide[k] for k in keys},
            "n_labels": n_labels.astype("Int64"),
            "n_clusters_original": wide["n_clusters_original"].astype("Int64"),
            "n_clusters_fine_tuned": wide["n_clusters_fine_tuned"].astype("Int64"),
            "is_linear_original": wide["is_linear_original"].astype("boolean"),
            "is_linear_fine_tuned": wide["is_linear_fine_tuned"].astype("boolean"),
        }
    )
