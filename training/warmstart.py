"""Warm start: behaviour cloning of a rule-based agent before reinforcement learning.

An incident policy needs long chains (declare, escalate, diagnose, fix, validate, resolve)
before any reward shows, and PPO from scratch settles for what L1 can do alone. Cloning the
expert's choices first (a masked cross-entropy on its observations and actions, the same
observations the policy sees) gives RL a sound starting point to improve on.

A clone errs on a few percent of decisions, and each error leads it to states the teacher
never showed it, where it errs more. DAgger (Ross, Gordon & Bagnell, 2011) closes that gap:
the clone plays, the teacher labels every state the clone visited with what it would have done
there, and the clone is refit on all labels so far. It needs a teacher that can follow an
episode played by someone else (``label``: the expert).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from agents.registry import RULE_AGENTS, make_agent
from agents.view import View
from evaluation.play import EpisodePlan, make_env, play
from supportgym.vector import IncidentVectorEnv

#: Algorithms whose policy gives per-action logits for one observation (no recurrent state).
CLONABLE = ("ppo", "maskable_ppo")


def collect_demonstrations(suite: str, teacher: str, episodes: int, seed: int,
                           max_services: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The teacher's (observations, actions, action masks) over seeded episodes."""
    if teacher not in RULE_AGENTS:
        raise ValueError(f"warm start needs a rule-based teacher ({', '.join(RULE_AGENTS)}), not {teacher!r}")
    env = make_env(suite, max_services)
    agent = make_agent(teacher, env)
    observations, actions, masks = [], [], []

    def record(obs: np.ndarray, info: dict[str, Any], action: int) -> None:
        observations.append(obs)
        actions.append(action)
        masks.append(info["action_mask"])

    play(env, agent, EpisodePlan(suite, episodes, seed, max_services), observe=record)
    return np.array(observations), np.array(actions), np.array(masks)


Demonstrations = tuple[np.ndarray, np.ndarray, np.ndarray]


def masked_logits(policy, observations: th.Tensor, masks: th.Tensor) -> th.Tensor:
    """The policy's action logits, masked actions at -1e8 (the actor's path alone: SB3's actor
    encoder, latent network and action head, as PPO's and MaskablePPO's policies compute them)."""
    features = policy.extract_features(observations, policy.pi_features_extractor)
    return policy.action_net(policy.mlp_extractor.forward_actor(features)).masked_fill(~masks, -1e8)


def label_own_states(policy, suite: str, teacher: str, episodes: int, seed: int, max_services: int,
                     rows: int = 32) -> tuple[Demonstrations, float]:
    """DAgger's data: the policy plays ``episodes`` episodes (sampling its masked action
    distribution), and the teacher labels each state it visited with its own choice there.
    Also returns how often the policy's action was the teacher's."""
    env = IncidentVectorEnv(num_envs=min(rows, episodes), suite=suite, max_services=max_services)
    agent = make_agent(teacher, make_env(suite, max_services))
    if not hasattr(agent, "label"):
        raise ValueError(f"DAgger needs a teacher that can follow another's episode (expert), not {teacher!r}")
    generator = th.Generator().manual_seed(seed)
    obs, info = env.reset(seed=seed)
    books = [agent.new_memory(o) for o in obs]
    observations, labels, masks, agreed = [], [], [], 0
    finished = 0
    policy.set_training_mode(False)
    while finished < episodes:
        mask = info["action_mask"]
        with th.no_grad():
            logits = masked_logits(policy, th.as_tensor(obs, device=policy.device), th.as_tensor(mask, device=policy.device))
            taken = th.multinomial(th.softmax(logits, dim=-1), 1, generator=generator)[:, 0].cpu().numpy()
        for row in range(env.num_envs):
            view = View(agent.desk.layout, obs[row])
            labels.append(agent.label(view, mask[row], books[row], int(taken[row])))
            agreed += labels[-1] == taken[row]
        observations.append(obs)
        masks.append(mask)
        obs, _, terminated, truncated, info = env.step(taken)
        for row in np.flatnonzero(terminated | truncated):
            books[row] = agent.new_memory(obs[row])  # the row's next episode has begun (same-step autoreset)
            finished += 1
    env.close()
    demonstrations = np.concatenate(observations), np.array(labels, dtype=np.int64), np.concatenate(masks)
    return demonstrations, agreed / len(labels)


def dagger(policy, demonstrations: Demonstrations, suite: str, teacher: str, rounds: int, episodes: int,
           epochs: int, seed: int, max_services: int) -> tuple[Demonstrations, dict[str, float]]:
    """``rounds`` of DAgger after a clone fitted on ``demonstrations``: each round labels the
    states of ``episodes`` episodes the policy plays and refits it on every label so far.
    Returns the aggregated data and the last fit, with ``agreement_<round>``: how often the
    policy's own (sampled) action was the teacher's in that round's episodes."""
    fit: dict[str, float] = {}
    for round_ in range(1, rounds + 1):
        new, agreement = label_own_states(policy, suite, teacher, episodes, seed + 7919 * round_, max_services)
        demonstrations = tuple(np.concatenate([old, more]) for old, more in zip(demonstrations, new))
        fit = {**fit, **behaviour_clone(policy, *demonstrations, epochs=epochs, seed=seed + round_),
               f"agreement_{round_}": agreement}
        print(f"DAgger round {round_}: the clone chose the teacher's action in {agreement:.1%} of "
              f"{len(new[0])} states it visited; refit on {len(demonstrations[0])}: accuracy "
              f"{fit['accuracy']:.1%}, loss {fit['loss']:.3f}", flush=True)
    return demonstrations, fit


def behaviour_clone(policy, observations: np.ndarray, actions: np.ndarray, masks: np.ndarray, epochs: int,
                    batch_size: int = 512, learning_rate: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Fit the policy's action distribution to the teacher's actions (masked actions excluded).
    Returns the final epoch's mean loss and accuracy."""
    generator = th.Generator().manual_seed(seed)
    optimizer = th.optim.Adam(policy.parameters(), lr=learning_rate)
    obs_t, act_t = th.as_tensor(observations, device=policy.device), th.as_tensor(actions, device=policy.device)
    mask_t = th.as_tensor(masks, device=policy.device)
    policy.set_training_mode(True)
    loss_sum, correct = 0.0, 0
    for _ in range(epochs):
        loss_sum, correct = 0.0, 0
        for idx in th.randperm(len(obs_t), generator=generator).split(batch_size):
            logits = masked_logits(policy, obs_t[idx], mask_t[idx])
            loss = th.nn.functional.cross_entropy(logits, act_t[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(dim=1) == act_t[idx]).sum())
    policy.set_training_mode(False)
    return {"loss": loss_sum / len(obs_t), "accuracy": correct / len(obs_t)}
