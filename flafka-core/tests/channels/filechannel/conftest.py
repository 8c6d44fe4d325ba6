"""The file channel's tests import their helpers (fchelpers, powerloss) by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path
