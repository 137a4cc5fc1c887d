"""The graph policy's former module: model files saved before the split into :mod:`agents.graph`
name their policy class here (``agents.graph_policy.MaskableGraphPolicy``), so it stays
importable for them. New code imports from :mod:`agents.graph`."""

from agents.graph import GraphPolicy, MaskableGraphPolicy

__all__ = ["GraphPolicy", "MaskableGraphPolicy"]
