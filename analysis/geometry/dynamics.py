"""How each label's minimum distance to the other labels moves over fine-tuning steps (Figure 6)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def min_distances(D: np.ndarray) -> np.ndarray:
    """Each label's smallest distance to another label (NaN for a label with no defined distance)."""
    D = np.asarray(D, dtype=float)
    defined = np.isfinite(D).any(axis=1)
    out = np.full(D.shape[0], np.nan)
    out[defined] = np.nanmin(D[defined], axis=1)
    return out


def min_distance_dynamics(
    steps: Sequence[int], distances: Sequence[np.ndarray], label_names: Sequence[str]
) -> pd.DataFrame:
    """Long table (step, label, min_distance) from one label × label matrix per snapshot."""
    if len(steps) != len(distances):
        raise ValueError(f"{len(steps)} steps for {len(distances)} distance matrices")
    frames = []
    for step, D in zip(steps, distances):
        if np.shape(D) != (len(label_names), len(label_names)):
            raise ValueError(f"step {step}: distances {np.shape(D)} for {len(label_names)} labels")
        frames.append(
            pd.DataFrame(
                {
                    "step": int(step),
                    "label": np.asarray(label_names, dtype=object),
                    "min_distance": min_distances(D),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def min_distance_extremes(dynamics: pd.DataFrame, k: int) -> pd.DataFrame:
    """The k labels whose minimum distance grew most and the k that grew least (first → last step).

    Returns label, min_distance_first, min_distance_last, change, group ("most"/"least"),
    ordered by change within each group; labels undefined at either end are left out.
    """
    first, last = dynamics["step"].min(), dynamics["step"].max()
    by_label = dynamics.pivot(index="label", columns="step", values="min_distance")
    ends = pd.DataFrame(
        {"min_distance_first": by_label[first], "min_distance_last": by_label[last]}
    ).dropna()
    ends["change"] = ends["min_distance_last"] - ends["min_distance_first"]
    ends = ends.rename_axis("label").reset_index()
    most = ends.sort_values(["change", "label"], ascending=[False, True]).head(k)
    least = ends.sort_values(["change", "label"], ascending=[True, True]).head(k)
    return pd.concat(
        [most.assign(group="most"), least.assign(group="least")], ignore_index=True
    )
