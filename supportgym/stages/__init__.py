"""The support loop, one module per stage, each with its compiled kernels beside it.

``core.step`` runs them in this order every step:

1. ``signal``: true golden signals and their propagation through the graph; alerts.
2. ``triage``: declared severity, tiers, escalation.
3. ``diagnosis``: the evidence channels (metrics, logs, traces, changes) and the knowledge base.
4. ``action``: decoding the chosen action, and what remedies do to the hidden mechanisms.
5. ``validation``: validating health, and the window a resolution must hold through.

Learning from closed incidents (postmortems, a knowledge base that grows over a shift) is not
simulated by a single-incident episode; see ``docs/world.md``.
"""

from collections.abc import Callable, Sequence

import numpy as np

#: The randomness ``core.step`` draws from: one generator for the whole batch (rows draw from
#: it in row order), or one generator per batch row (a vector env's rows, each seeded like a
#: single env, so row *i* draws exactly what a single env with its seed would).
Rng = np.random.Generator | Sequence[np.random.Generator]


def draw_rows(rng: Rng, rows: np.ndarray, draw: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
    """``draw(generator, count)`` for the batch rows ``rows``, stacked along the first axis.

    With one shared generator this is a single ``draw(rng, len(rows))``; with per-row generators
    each row draws its own ``draw(rng[b], 1)``. A batch of one gets the same numbers either way
    (numpy fills arrays in C order from one stream).
    """
    if isinstance(rng, np.random.Generator):
        return draw(rng, len(rows))
    if len(rows) == 0:
        return draw(np.random.default_rng(0), 0)
    return np.concatenate([draw(rng[b], 1) for b in rows])
