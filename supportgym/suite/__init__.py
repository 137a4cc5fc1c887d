"""The scenario layer: suite files, their schema and loading, and the scenario generator.

* ``schema``: the suite-file schema (pydantic: shape, types and ranges);
* ``loading``: safe YAML loading, cross-checks, errors that name the file and field, and
  frozen :class:`Scenario` / :class:`Suite` objects;
* ``generator``: seeded random scenarios as suite-file data; ``topology_gen``: the topology
  shapes it draws (and the layered graphs of the speed benchmark).

Only ``episode.py`` carries a scenario into the simulator; the simulator itself never imports
this layer.
"""

from supportgym.suite.generator import suite_data
from supportgym.suite.loading import (
    Scenario,
    Suite,
    SuiteError,
    build_suite,
    builtin_suite_dir,
    builtin_suites,
    category_of,
    generate_scenario,
    generate_suite,
    known_fix,
    load_suite,
    parse_suite,
    resolve_suite_path,
)

__all__ = ["Scenario", "Suite", "SuiteError", "build_suite", "builtin_suite_dir", "builtin_suites", "category_of",
           "generate_scenario", "generate_suite", "known_fix", "load_suite", "parse_suite", "resolve_suite_path",
           "suite_data"]
