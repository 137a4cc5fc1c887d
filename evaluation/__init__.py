"""Evaluating agents on supportgym: play seeded episodes, score them, summarise and report.

    play        the one rollout loop (``run_episode``, with an observer hook), the episode plan,
                worker processes
    statistics  the normalised score (0 = random, 100 = oracle), IQM, stratified-bootstrap CIs
    summary     one summary per agent, with one set of keys
    reports     console and Markdown tables, results.json and CSVs
    plots       PNG figures (matplotlib imported only when drawing)

``evaluate.py`` is the command line over it; ``train.py``'s periodic evaluation, the warm
start's demonstrations and ``benchmarks/catalogue.py`` use it too. The docstrings of ``play`` and
``statistics`` define the episodes and the score exactly.
"""

from evaluation.play import EpisodePlan, play, play_agents, run_episode
from evaluation.statistics import REFERENCES, normalised_score, normalised_scores, stratified_ci
from evaluation.summary import summarise, summarise_all

__all__ = ["REFERENCES", "EpisodePlan", "normalised_score", "normalised_scores", "play", "play_agents",
           "run_episode", "stratified_ci", "summarise", "summarise_all"]
