"""The shipped model (models/): its card, and evaluate.py playing it from the repository as cloned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_evaluate import evaluate

pytest.importorskip("sb3_contrib")

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = sorted(MODELS.glob("*.zip"))


def test_a_model_is_shipped_with_its_card():
    assert SHIPPED, "models/ holds no model"
    for model in SHIPPED:
        card = model.with_suffix(".md")
        assert card.is_file(), f"{model.name} has no model card ({card.name})"
        text = card.read_text(encoding="utf-8")
        assert "python train.py " in text and "--policy graph" in text  # the command that reproduces it
        for library in ("stable_baselines3", "sb3_contrib", "torch"):
            assert library in text, library
        assert re.search(r"\bheldout\b.*\d+\.\d", text), "its scores"
        assert model.stat().st_size < 5 * 2**20  # small


@pytest.mark.parametrize("suite, slots", [("heldout", 16), ("benchmarks/suites/large32.yaml", 32)])
def test_the_shipped_model_plays_through_evaluate(tmp_path, suite, slots):
    for model in SHIPPED:
        played = evaluate("--suite", suite, "--agents", f"random,oracle,{model.relative_to(MODELS.parent)}",
                          "--episodes", "2", "--reps", "100", "--max-services", str(slots), "--out", str(tmp_path))
        assert played.returncode == 0, played.stderr[-2000:]
        results = json.loads((tmp_path / "results.json").read_text())
        assert str(model.relative_to(MODELS.parent)) in results["agents"]
