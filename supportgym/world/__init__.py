"""The hidden world model: what is really going on behind the symptoms.

* ``mechanisms``: defects and accumulators (what faults switch on), and how time moves them;
* ``faults``: the thirteen fault types, their root-cause categories, whether one is still at work;
* ``topology``: a dependency graph and the matrices load, errors and latency propagate through;
* ``params``: the frozen per-episode arrays; ``state``: the mutable state of a batch of episodes.

Agents never import from here (``tests/test_imports.py`` checks it); the oracle does, by design.
"""
