"""Layer behaviour during fine-tuning: each layer at each step against its original (Figure 4)."""
from __future__ import annotations

from typing import Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from .similarity import centroid_rsa, linear_cka, spatial_similarity_if_linear


class LayerSnapshot(NamedTuple):
    """One layer's representation of the shared targets at one step, with its DirectProbe result."""

    step: int
    layer: int
    X: np.ndarray
    distances: np.ndarray | None = None
    is_linear: bool = False


def compare_layers(
    snapshot: LayerSnapshot, original: LayerSnapshot, y: np.ndarray
) -> dict[str, float]:
    """Spatial similarity (NaN unless both linear), linear CKA and centroid RSA of two layers."""
    if snapshot.distances is None or original.distances is None:
        spatial = float("nan")
    else:
        spatial = spatial_similarity_if_linear(
            snapshot.distances, original.distances, snapshot.is_linear, original.is_linear
        )
    return {
        "spatial": spatial,
        "cka": linear_cka(snapshot.X, original.X),
        "rsa": centroid_rsa(snapshot.X, original.X, y),
    }


def layer_behaviour(
    snapshots: Iterable[LayerSnapshot], original: Mapping[int, LayerSnapshot], y: np.ndarray
) -> pd.DataFrame:
    """Long table (step, layer, metric, value) comparing every snapshot with its original layer.

    ``snapshots`` may be a generator so that only one layer is in memory at a time; ``original``
    maps a layer index to the original model's snapshot of that layer.
    """
    rows = []
    for snap in snapshots:
        if snap.layer not in original:
            raise KeyError(f"no original representation for layer {snap.layer}")
        for metric, value in compare_layers(snap, original[snap.layer], y).items():
            rows.append(
                {"step": int(snap.step), "layer": int(snap.layer), "metric": metric, "value": value}
            )
    return pd.DataFrame(rows, columns=["step", "layer", "metric", "value"])
