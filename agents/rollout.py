"""Where ``agents.run_episode`` comes from: the one rollout loop lives in ``evaluation.play``.

Kept so that ``from agents import run_episode`` and ``from agents.rollout import run_episode``
keep working; new code imports ``evaluation.play.run_episode``.
"""

from evaluation.play import run_episode

__all__ = ["run_episode"]
