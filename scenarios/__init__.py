"""The built-in scenario suites (YAML files), installed as ``supportgym.scenarios``."""
