"""Shared fixtures: the real corpora in ../shared/data and a throw-away store per test."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import PROJECT_ROOT
from analysis.store import Store

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared corpora are expected at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")
