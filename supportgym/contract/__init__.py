"""The agent-facing contract: everything an agent may know, and nothing of the hidden world.

* ``vocabulary``: service kinds, log signatures, tickets, actions, tiers, remedies, and the public
  rules and thresholds of the world.
* ``actions``: the flat action space, its names and the allowed-action masks.
* ``observation``: where each feature sits in the observation, with one encode/decode pair per
  scaled value.

Rule-based agents import only from here (``tests/test_imports.py`` checks it).
"""
