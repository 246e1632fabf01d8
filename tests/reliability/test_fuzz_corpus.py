"""The atheris target's check, without atheris: a fixed pseudo-random corpus in make test.

``make fuzz`` runs the same ``check`` under atheris (coverage-guided, 200,000 runs); this keeps
the target importable and green in CI, and proves it never loads atheris.
"""

from __future__ import annotations

import random
import sys

import pytest

from tests.fuzz import fuzz_parsing
from tests.reliability.common import record_figures

CORPUS = 3000


def test_the_fuzz_target_survives_a_fixed_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzz_parsing, "TOLERATE_KNOWN", False)  # strict: every bug is fixed
    rng = random.Random(20240118)
    seeds = [bytes([kind]) for kind in range(6)]
    for _ in range(CORPUS):
        length = rng.choice([1, 2, 4, 8, 16, 64, 300])
        seeds.append(bytes(rng.getrandbits(8) for _ in range(length)))
    for data in seeds:
        fuzz_parsing.check(data)
    assert "atheris" not in sys.modules
    record_figures("fuzz", {"pytest_corpus_inputs": len(seeds)})
