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
