"""A topology-agnostic actor-critic policy over service slots and the call graph (issue 12).

The slot MLP of ``hyperparams.yml`` learns one weight per (slot, feature): it memorises the
topologies it trained on. This policy treats slots as a *set* of services connected by a
weighted call graph, so its weights do not depend on ``max_services`` and it is
permutation-equivariant over slots:

* a shared per-service encoder (every slot's features, plus the global features);
* message passing over the call graph, callers and callees as separate directions, weighted by
  the share of requests on each call;
* self-attention across the services that are present, plus a global token;
* a pooled context that gives the value and the logits of the global actions, and one shared
  head that gives the logits of each service's actions, flattened as index ``s * 9 + k``.

It reads the flat observation through a :class:`GraphLayout` (per-slot feature count, global
count, which feature says "present", whether an adjacency block follows the globals), derived
from the environment by :func:`native_layout` (the observation carries the call graph after the
global features). Used by SB3 ``PPO`` (:class:`GraphPolicy`) and sb3-contrib ``MaskablePPO``
(:class:`MaskableGraphPolicy`)::

    env = gym.make("supportgym/Incident-v1", suite="scenarios/train.yaml", max_services=24)
    model = MaskablePPO(MaskableGraphPolicy, env)

A model trained at one ``max_services`` plays another through :func:`load_graph_policy`.

Modules: ``layout`` (the observation's layout), ``network`` (encoder and heads), ``policies``
(the SB3 policies), ``loading`` (safe loading at any ``max_services``, and the agent that plays
any env).
"""

from agents.graph.layout import GraphLayout, native_layout
from agents.graph.loading import (GRAPH_ALGORITHMS, GraphPolicyAgent, graph_policy_name, load_graph_agent,
                                  load_graph_policy)
from agents.graph.network import CallGraphLayer, GraphActionHead, GraphEncoder, GraphValueHead, SetAttention
from agents.graph.policies import GraphPolicy, MaskableGraphPolicy, is_graph_policy

__all__ = ["GRAPH_ALGORITHMS", "CallGraphLayer", "GraphActionHead", "GraphEncoder", "GraphLayout", "GraphPolicy",
           "GraphPolicyAgent", "GraphValueHead", "MaskableGraphPolicy", "SetAttention", "graph_policy_name",
           "is_graph_policy", "load_graph_agent", "load_graph_policy", "native_layout"]
