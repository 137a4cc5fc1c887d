"""``supportgym/Shift-v0``: an on-call shift of several incidents on one system (the Learning stage).

* ``layout``: the observation and action layout of a shift (public; agents read it, it imports only
  the contract);
* ``env``: :class:`~supportgym.shift.env.ShiftEnv`, which composes an Incident-v1 environment.

Nothing is imported here, so an agent that reads only ``layout`` never loads the simulator.
"""
