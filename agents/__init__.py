"""Agents for supportgym: rule-based baselines, the privileged oracle, trained-policy adapters.

Every agent follows SB3's ``predict(observation, state=None, episode_start=None,
deterministic=True) -> (action, state)`` protocol, so they plug into evaluation and user code
alike.
"""
