"""Readings of the observation's encoded features that the rule-based agents decode by hand.

One helper per encoding, so that the observation layout's own decoders can replace them in one
place. Each docstring names the encoding it inverts.
"""

from __future__ import annotations

import numpy as np

from agents.view import View


def changed_within(recency: np.ndarray, minutes: float) -> np.ndarray:
    """Whether a change came within ``minutes``, from ``*_recent`` = exp(-age / 60 min)."""
    return recency > float(np.exp(-minutes / 60.0))


def utilisation(view: View) -> np.ndarray:
    """Load / capacity per service, from ``metric_utilisation`` = utilisation / 2."""
    return view.metric("utilisation") * 2.0


def latency_ratio(view: View) -> np.ndarray:
    """Latency as a multiple of healthy, from ``metric_latency`` = log2(ratio) / 5."""
    return 2.0 ** (5.0 * view.metric("latency"))
