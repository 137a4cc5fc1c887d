"""Reward terms: fast, safe, validated resolution. Weights come from the suite file.

Per step (computed in ``kernels.account_kernel``):
            - impact * user-impact minutes accrued during the action
            - engineer cost per minute (by tier, times ``sev1_cost_multiplier`` under a declared SEV1)
            - harm * [the action was harmful] - invalid_action * [the action was masked]
On resolve: + resolve_bonus if the resolution holds through the post-resolution window,
            otherwise - reopen_penalty; either way the window's user impact is charged too.
At the end: - timeout_penalty if the time limit truncated the episode,
            - severity_mismatch if the declared severity is not the true one, or a more
              severe one was declared on the way.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import ACTION_MINUTES, ESCALATION_MINUTES
from supportgym.suite_schema import RewardWeights

#: Layout of ``Params.reward_weights``, the weights as one array for the compiled step kernel.
W_IMPACT, W_SEV1, W_HARM, W_INVALID, W_ENGINEER = 0, 1, 2, 3, 4  # W_ENGINEER.. +2: L1, L2, L3


def weight_array(w: RewardWeights) -> np.ndarray:
    return np.array([w.impact, w.sev1_cost_multiplier, w.harm, w.invalid_action, *w.engineer_per_minute])


def true_severity(peak_impact: np.ndarray) -> np.ndarray:
    """SEV1 above 50% of users hurt, SEV2 above 10%, else SEV3."""
    return np.where(peak_impact > 0.5, 1, np.where(peak_impact > 0.1, 2, 3))


def resolution_reward(w: RewardWeights, resolving: np.ndarray, held: np.ndarray,
                      window_impact_minutes: np.ndarray) -> np.ndarray:
    outcome = np.where(held, w.resolve_bonus, -w.reopen_penalty)
    return np.where(resolving, outcome - w.impact * window_impact_minutes, 0.0)


def end_reward(w: RewardWeights, ended: np.ndarray, truncated: np.ndarray, declared: np.ndarray,
               declared_peak: np.ndarray, peak_impact: np.ndarray) -> np.ndarray:
    """Timeout penalty, and the severity penalty: the final declaration is wrong, or a more severe
    level was declared on the way (paging people to buy a fast hand-off is not free)."""
    true = true_severity(peak_impact)
    mismatch = ended & ((declared != true) | ((declared_peak > 0) & (declared_peak < true)))
    return -(w.timeout_penalty * truncated + w.severity_mismatch * mismatch)


def reward_bounds(w: RewardWeights, post_resolution_minutes: float, validate_minutes: float) -> tuple[float, float]:
    """Bounds of a single step's reward for these weights.

    The highest is a held resolution with nothing else charged; the lowest is the longest action
    at full outage and top engineer cost, harmful, closing into a reopened full outage, and
    ending the episode with both end penalties.
    """
    longest = max(ACTION_MINUTES.max(), ESCALATION_MINUTES.max(), validate_minutes)
    engineer = max(w.engineer_per_minute) * w.sev1_cost_multiplier
    worst = (w.impact * longest + engineer * longest + w.harm + w.invalid_action
             + w.reopen_penalty + w.impact * post_resolution_minutes + w.timeout_penalty + w.severity_mismatch)
    return -worst, w.resolve_bonus
