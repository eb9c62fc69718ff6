"""Conformal calibration of the 80% interval, per horizon step, over rolling origins.

A quantile forecast (q̂_lo, q̂_mid, q̂_hi) of a truth y is widened (or narrowed) about its
median by a factor c: q̂_lo ← q̂_mid − c (q̂_mid − q̂_lo), q̂_hi ← q̂_mid + c (q̂_hi − q̂_mid).
The factor a truth needs to lie inside is its score

    s = (q̂_mid − y) / (q̂_mid − q̂_lo)   if y < q̂_mid,    (y − q̂_mid) / (q̂_hi − q̂_mid)   otherwise,

and, from n scores of forecasts the model did not train on, the split-conformal factor for the
level 1 − α = 0.8 is the ⌈(n + 1)(1 − α)⌉-th smallest score (the finite-sample correction: with
exchangeable scores the next truth lies inside with probability ≥ 1 − α; Vovk et al. 2005,
Romano et al. 2019). One factor per horizon step k = 1..H, from the scores at that step.

Which forecasts calibrate: the validation windows held out in training (the last 15% of the
training windows), and — at a rolling forecast origin o — every later window the network never
trained on whose step-k truth has arrived before o (origin o′ with o′ + k − 1 ≤ o − 1). No
weights change (refit-free); nothing at or after o is used. The calibration set so grows from
the validation windows at the first origin to hundreds of (window, step) scores at the last,
and follows a change of volatility after the training period (airline's 1958–60).
"""

from __future__ import annotations

import numpy as np

#: the interval's nominal coverage (the 0.1 and 0.9 quantile heads)
LEVEL = 0.8
_CLIP = (0.2, 20.0)  # a factor outside this is a symptom (degenerate heads), not a calibration


def widen(q: np.ndarray, c) -> np.ndarray:
    """Quantiles q (..., H, 3) widened about their medians by factors c (H,) or (..., H)."""
    mid = q[..., 1:2]
    c = np.asarray(c)[..., None]  # (..., H, 1)
    return np.concatenate([mid - c * (mid - q[..., :1]), mid, mid + c * (q[..., 2:] - mid)], -1)


def interval_scores(y: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The factor s each truth y (...) needs to lie inside its interval q (..., 3) (see the
    module docstring); NaN where y is NaN (a truth not arrived yet)."""
    lo, mid, hi = q[..., 0], q[..., 1], q[..., 2]
    eps = 1e-9
    with np.errstate(invalid="ignore"):
        return np.where(
            y < mid, (mid - y) / np.maximum(mid - lo, eps), (y - mid) / np.maximum(hi - mid, eps)
        )


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """The ⌈(n + 1) level⌉-th smallest of the n finite scores (the largest when n is too small
    for it), clipped to [0.2, 20]; 1.0 (the heads as trained) when there is no score."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    s = s[np.isfinite(s)]
    if s.size == 0:
        return 1.0
    k = min(int(np.ceil((s.size + 1) * level)), s.size)
    return float(np.clip(s[k - 1], *_CLIP))


def calibration_factor(y: np.ndarray, q: np.ndarray, level: float = LEVEL) -> float:
    """One factor c for all the truths y (...) and intervals q (..., 3)."""
    return conformal_quantile(interval_scores(y, q), level)


def step_factors(scores: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Per horizon step: the conformal factor of the scores (n, H) at each step, (H,)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"step_factors: expected scores (n, H), got shape {scores.shape}")
    return np.array([conformal_quantile(scores[:, k], level) for k in range(scores.shape[1])])


def rolling_factors(
    held_out: np.ndarray,
    later: np.ndarray,
    later_origins: np.ndarray,
    origins,
    level: float = LEVEL,
) -> np.ndarray:
    """Factors (n, H) for forecasts from each of the n `origins`: at step k the held-out scores
    `held_out` (m, H) and the scores `later` (m′, H) of the windows from `later_origins` (m′,)
    whose step-k truth lies before the origin (o′ + k − 1 ≤ o − 1; NaN scores are skipped)."""
    held_out = np.asarray(held_out, dtype=np.float64)
    later = np.asarray(later, dtype=np.float64)
    later_origins = np.asarray(later_origins)
    h = held_out.shape[1]
    if later.shape != (len(later_origins), h):
        raise ValueError(
            f"rolling_factors: expected later scores ({len(later_origins)}, {h}), got {later.shape}"
        )
    out = np.empty((len(origins), h))
    for i, o in enumerate(origins):
        for k in range(h):
            arrived = later[later_origins + k <= o - 1, k]
            out[i, k] = conformal_quantile(np.concatenate([held_out[:, k], arrived]), level)
    return out
