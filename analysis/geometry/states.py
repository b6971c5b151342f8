"""The two model states compared throughout (original vs fine-tuned) and a before/after pivot."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

STATE = "model_state"
ORIGINAL = "original"
FINE_TUNED = "fine-tuned"
STATES = (ORIGINAL, FINE_TUNED)


def state_suffix(state: str) -> str:
    """The column suffix of a state: ``original`` or ``fine_tuned``."""
    return state.replace("-", "_")


def wide_by_state(long: pd.DataFrame, values: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """One row per key with ``<value>_original`` and ``<value>_fine_tuned`` columns.

    ``long`` holds one row per key and model state; a state missing for a key gives NA.
    """
    unknown = set(long[STATE]) - set(STATES)
    if unknown:
        raise ValueError(f"unknown {STATE} {sorted(unknown)}; expected {list(STATES)}")
    keys = list(keys)
    if long.duplicated(keys + [STATE]).any():
        raise ValueError(f"more than one row per {keys + [STATE]}")
    on = keys or ["_row"]
    long = long if keys else long.assign(_row=0)
    sides = [
        long.loc[long[STATE] == state, on + list(values)].rename(
            columns={v: f"{v}_{state_suffix(state)}" for v in values}
        )
        for state in STATES
    ]
    wide = sides[0].merge(sides[1], on=on, how="outer", sort=bool(keys))
    return wide.drop(columns=[] if keys else ["_row"]).reset_index(drop=True)
