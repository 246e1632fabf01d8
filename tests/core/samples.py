"""The real-shaped sample events in ../shared/samples (with a copy fallback path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [ROOT / "tests" / "samples", ROOT.parent / "shared" / "samples"]


def sample(name: str) -> Any:
    for folder in CANDIDATES:
        path = folder / name
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"sample {name} not found in {CANDIDATES}")
