"""Reward: fast, safe, validated resolution. Weights come from the suite file.

Per step (``account``, compiled):
            - impact * user-impact minutes accrued during the action
            - engineer cost per minute (by tier, times ``sev1_cost_multiplier`` under a declared SEV1)
            - harm * [the action was harmful] - invalid_action * [the action was masked]
On resolve: + resolve_bonus if the resolution holds through the post-resolution window,
            otherwise - reopen_penalty; either way the window's user impact is charged too;
            - unconfirmed_close if a reporting customer was not asked whether it works again
              (or last said it did not).
At the end: - timeout_penalty if the time limit truncated the episode,
            - severity_mismatch if the declared severity is not the true one, or a more
              severe one was declared on the way.

The weights arrive as one array (``Params.reward_weights``) laid out by the ``W_*`` constants,
so neither this module nor its kernel depends on the suite-file schema: (N_WEIGHTS,) for one
scenario's parameters (the single env), or (K, N_WEIGHTS) with one per parameter row (a vector
env's rows, whose scenarios may come from different suites); the kernels read batch row b's at
``State.param_row[b]``.
"""

from __future__ import annotations

import math

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.vocabulary import (
    ACTION_MINUTES,
    ESCALATION_MINUTES,
    MISROUTE_MINUTES,
    MITIGATED_IMPACT,
    ActionKind,
    true_severity,
)

#: Layout of ``Params.reward_weights`` (built by ``episode.weight_array`` from the suite's weights).
W_IMPACT, W_SEV1, W_HARM, W_INVALID = 0, 1, 2, 3
W_ENGINEER = 4  # W_ENGINEER + 0, 1, 2: engineer cost per minute at L1, L2, L3
W_RESOLVE_BONUS, W_REOPEN, W_TIMEOUT, W_SEVERITY_MISMATCH, W_UNCONFIRMED = 7, 8, 9, 10, 11
N_WEIGHTS = 12
RESOLVE = int(ActionKind.RESOLVE)


@kernel
def account_kernel(
    kind, minutes, impact_during, impact_end, tier, declared, harmful, valid, weights, time,
    time_limit, param_row, impact_now, impact_minutes, peak_impact, mitigated_at, harmful_count, invalid_count, steps,
    episode_return, reward, truncated,
):  # pragma: no cover - compiled
    """The action's user impact is the trapezoid of the impact before it and at its end while
    still running (``impact_during``); ``impact_end`` is the impact once it completed;
    ``impact_now`` holds the impact before the action and is then updated."""
    ended = 0
    for b in range(minutes.shape[0]):
        resolving = kind[b] == RESOLVE
        impact = minutes[b] * 0.5 * (impact_now[b] + impact_during[b])
        pr = param_row[b]
        w = weights[pr]
        engineer = w[W_ENGINEER + tier[b] - 1] * (w[W_SEV1] if declared[b] == 1 else 1.0)
        reward[b] = -(w[W_IMPACT] * impact + engineer * minutes[b] + w[W_HARM] * harmful[b]
                      + w[W_INVALID] * (not valid[b]))
        episode_return[b] += reward[b]
        impact_minutes[b] += impact
        impact_now[b] = impact_end[b]
        peak_impact[b] = max(peak_impact[b], impact_end[b])
        if not resolving and math.isnan(mitigated_at[b]) and impact_end[b] < MITIGATED_IMPACT:
            mitigated_at[b] = time[b]
        truncated[b] = not resolving and time[b] >= time_limit[pr]
        ended += resolving or truncated[b]
        harmful_count[b] += harmful[b]
        invalid_count[b] += not valid[b]
        steps[b] += 1
    return ended


@kernel
def resolution_reward_row(w, resolving, held, window_impact_minutes, unconfirmed):  # pragma: no cover - compiled
    """``resolution_reward`` of one row (``w``: its weights)."""
    outcome = (w[W_RESOLVE_BONUS] if held else -w[W_REOPEN]) - w[W_UNCONFIRMED] * unconfirmed
    return outcome - w[W_IMPACT] * window_impact_minutes if resolving else 0.0


def end_reward(weights: np.ndarray, ended: np.ndarray, truncated: np.ndarray, declared: np.ndarray,
               declared_peak: np.ndarray, peak_impact: np.ndarray) -> np.ndarray:
    """Timeout penalty, and the severity penalty: the final declaration is wrong, or a more severe
    level was declared on the way (paging people to buy a fast hand-off is not free). ``weights``
    (N_WEIGHTS,): the same for every row."""
    return np.array([end_reward_row(weights, ended[b], truncated[b], declared[b], declared_peak[b], peak_impact[b])
                     for b in range(len(ended))])


_true_severity = kernel(true_severity)


@kernel
def end_reward_row(w, ended, truncated, declared, declared_peak, peak_impact):  # pragma: no cover - compiled
    """``end_reward`` of one row (``w``: its weights)."""
    true = _true_severity(peak_impact)
    mismatch = ended and (declared != true or (declared_peak > 0 and declared_peak < true))
    return -(w[W_TIMEOUT] * truncated + w[W_SEVERITY_MISMATCH] * mismatch)


def reward_bounds(weights: np.ndarray, post_resolution_minutes: float, validate_minutes: float) -> tuple[float, float]:
    """Bounds of a single step's reward for these weights.

    The highest is a held resolution with nothing else charged; the lowest is the longest action
    at full outage and top engineer cost, harmful, closing into a reopened full outage, and
    ending the episode with both end penalties.
    """
    w = [float(x) for x in weights]
    longest = max(ACTION_MINUTES.max(), ESCALATION_MINUTES.max() + MISROUTE_MINUTES, validate_minutes)
    engineer = max(w[W_ENGINEER:W_ENGINEER + 3]) * w[W_SEV1]
    worst = (w[W_IMPACT] * longest + engineer * longest + w[W_HARM] + w[W_INVALID]
             + w[W_REOPEN] + w[W_IMPACT] * post_resolution_minutes + w[W_TIMEOUT] + w[W_SEVERITY_MISMATCH]
             + w[W_UNCONFIRMED])
    return -worst, w[W_RESOLVE_BONUS]


stamp_cache(__file__, globals())
