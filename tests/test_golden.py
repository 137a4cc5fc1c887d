"""Behaviour is pinned: seeded rollouts and baseline returns match ``tests/golden/golden.json``.

A refactor must keep these identical. A change meant to alter behaviour regenerates the file
(``python tests/golden/make_golden.py``) in the same commit and says why.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_HERE = Path(__file__).with_name("golden")
_spec = importlib.util.spec_from_file_location("make_golden", _HERE / "make_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)
EXPECTED = json.loads((_HERE / "golden.json").read_text())


@pytest.mark.parametrize("suite", golden.SUITES)
def test_seeded_rollout_is_unchanged(suite):
    got = json.loads(json.dumps(golden.rollout(suite), default=repr))
    assert got == EXPECTED[suite]["rollout"]


@pytest.mark.parametrize("suite", golden.SUITES)
def test_baseline_returns_are_unchanged(suite):
    assert golden.baselines(suite) == EXPECTED[suite]["baselines"]
