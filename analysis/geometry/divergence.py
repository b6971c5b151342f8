"""Train–test divergence: spatial similarity of the train and test geometry (Table 2)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from .similarity import spatial_similarity_if_linear
from .states import STATE, wide_by_state

FIELDS = ("train_distances", "test_distances", "train_linear", "test_linear")


def train_test_divergence(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Spatial similarity between the train and test label-distance matrices, before vs after.

    Each record has ``model_state``, the two DirectProbe label × label matrices
    ``train_distances`` / ``test_distances``, their flags ``train_linear`` / ``test_linear``,
    and key fields (e.g. task, layer).  Returns the keys, similarity_original,
    similarity_fine_tuned; NaN where either side is not linear (the paper's "-").
    """
    rows = []
    for record in records:
        missing = {STATE, *FIELDS} - set(record)
        if missing:
            raise ValueError(f"record lacks {sorted(missing)}")
        similarity = spatial_similarity_if_linear(
            record["train_distances"],
            record["test_distances"],
            bool(record["train_linear"]),
            bool(record["test_linear"]),
        )
        keys = {k: v for k, v in record.items() if k not in FIELDS}
        rows.append(keys | {"similarity": similarity})
    long = pd.DataFrame(rows, columns=None if rows else [STATE, "similarity"])
    keys = [c for c in long.columns if c not in (STATE, "similarity")]
    return wide_by_state(long, ["similarity"], keys)
