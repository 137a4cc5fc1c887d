"""supportgym: a Gymnasium environment for production incident response.

``import supportgym`` registers ``supportgym/Incident-v0``.
"""

from gymnasium.envs.registration import register

from supportgym.env import IncidentEnv
from supportgym.suite import Suite, SuiteError, builtin_suites, load_suite

__all__ = ["IncidentEnv", "Suite", "SuiteError", "builtin_suites", "load_suite"]
__version__ = "0.1.0"

register(id="supportgym/Incident-v0", entry_point="supportgym.env:IncidentEnv")
