"""From a series to network inputs and targets: transform, scaling, features, windows.

A series x (T, F) with target column j is first transformed, z_j = log x_j (a target that
grows multiplicatively: airline, GDP) or z = x (other columns are never logged), then described
at each step τ by

    Δz_τ / s_Δ                     first differences, scaled by their training std s_Δ (F,)
    (z_τ − μ) / σ                  the level, standardised (stationary series only: `level`)
    sin, cos (2π j τ / P), j=1..K  the phase in the season (`seasonal`): period P = m unless
                                   set (co2: 52.1775 weeks, the year), K `harmonics`

so the network sees differences (a trend does not move its inputs out of the training range)
and, where the level carries information (sunspots), the level. A window ending at step t
holds the features of steps t−L+1..t, (L, D); its direct multi-horizon target is the change of
the target column from the origin, scaled:

    y_k = (z_{t+k, j} − z_{t, j}) / s_Δ,j,   k = 1..H                                   (H,)

and forecasts go back as ẑ_{t+k} = z_t + s_Δ,j ŷ_k, x̂ = exp ẑ (log) — quantile by quantile,
which is exact since both maps are increasing. Only the history before the first forecast
origin sets s_Δ, μ and σ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Scaler:
    """The transform and scales of one series, fitted on its training part."""

    log: bool
    level: bool
    seasonal: bool
    season: int
    target: int
    diff_scale: list[float]
    level_mean: list[float]
    level_std: list[float]
    #: steps from the phase origin of the training series to z[0] (a user's CSV starts elsewhere)
    phase_offset: int = 0
    #: the seasonal features' period in steps (0: the season m) and their number of harmonics
    period: float = 0.0
    harmonics: int = 1

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        *,
        target: int,
        season: int,
        log: bool,
        level: bool,
        seasonal: bool,
        period: float | None = None,
        harmonics: int = 1,
    ) -> Scaler:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or not 0 <= target < x.shape[1] or len(x) < 3:
            raise ValueError(
                f"Scaler.fit: expected (T ≥ 3, F) values and a target column, got "
                f"{x.shape} and {target!r}"
            )
        bad_period = period is not None and not period > 1
        if bad_period or not isinstance(harmonics, int) or harmonics < 1:
            raise ValueError(
                f"Scaler.fit: expected a period > 1 and harmonics ≥ 1, got {period!r} and "
                f"{harmonics!r}"
            )
        z = _log_column(x, target) if log else x
        d = np.diff(z, axis=0)
        diff_scale = np.std(d, axis=0)
        level_std = np.std(z, axis=0)
        for name, s in (("differences", diff_scale), ("levels", level_std)):
            if not (np.all(np.isfinite(s)) and np.all(s > 0)):
                raise ValueError(
                    f"a column is constant (std of its {name} is 0): nothing to forecast"
                )
        return cls(
            bool(log),
            bool(level),
            bool(seasonal),
            int(season),
            int(target),
            diff_scale.tolist(),
            np.mean(z, axis=0).tolist(),
            level_std.tolist(),
            period=float(period or 0.0),
            harmonics=int(harmonics),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """z from x (T, F): the target column logged when `log`."""
        x = np.asarray(x, dtype=np.float64)
        return _log_column(x, self.target) if self.log else x

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.exp(z) if self.log else z

    @property
    def n_features(self) -> int:
        f = len(self.diff_scale)
        seasonal = 2 * self.harmonics if self.seasonal and self.season > 1 else 0
        return f * (2 if self.level else 1) + seasonal

    def features(self, z: np.ndarray, start: int = 0) -> np.ndarray:
        """(..., T−1, D) features of steps 1..T−1 of z (..., T, F) (step 0 has no difference);
        `start` is the absolute time index of z[..., 0, :] (for the phase)."""
        d = np.diff(z, axis=-2) / np.asarray(self.diff_scale)  # (..., T-1, F)
        parts = [d]
        if self.level:
            level = (z[..., 1:, :] - np.asarray(self.level_mean)) / np.asarray(self.level_std)
            parts.append(level)
        if self.seasonal and self.season > 1:
            first = start + self.phase_offset + 1
            tau = np.arange(first, first + z.shape[-2] - 1)[:, None]
            j = np.arange(1, self.harmonics + 1)[None, :]
            angle = 2 * np.pi * j * tau / (self.period or self.season)  # (T-1, K)
            phase = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)  # (T-1, 2K)
            parts.append(np.broadcast_to(phase, (*d.shape[:-1], phase.shape[1])))
        return np.concatenate(parts, axis=-1)

    def unscale(self, z_origin: float, y: np.ndarray) -> np.ndarray:
        """Forecasts in series units from scaled changes y (..., H, K) and the origin's z."""
        return self.inverse(z_origin + self.diff_scale[self.target] * y)


def _log_column(x: np.ndarray, j: int) -> np.ndarray:
    if np.any(x[:, j] <= 0):
        row = int(np.argmax(x[:, j] <= 0))
        raise ValueError(f"log transform: expected positive values, got {x[row, j]} at row {row}")
    z = x.copy()
    z[:, j] = np.log(x[:, j])
    return z


def training_windows(
    scaler: Scaler, z: np.ndarray, window: int, horizon: int, *, per_step: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All windows whose targets lie inside z (T, F): inputs (N, L, D) and targets (N, H), or
    with `per_step` (N, L, H) targets for every step of the window (many-to-many)."""
    feats = scaler.features(z)  # (T-1, D); row r describes step r+1
    zt = z[:, scaler.target]
    s = scaler.diff_scale[scaler.target]
    last = len(z) - 1 - horizon  # the last origin t with t + H ≤ T − 1
    origins = np.arange(window, last + 1)  # t ≥ L so steps t−L+1..t all have a difference
    if origins.size == 0:
        raise ValueError(
            f"{len(z)} points: too few for a window of {window} and a horizon of "
            f"{horizon} (need at least {window + horizon + 1})"
        )
    rows = origins[:, None] - window + np.arange(window)[None, :]  # (N, L) step indices - 1 + 1
    x = feats[rows]  # (N, L, D) rows r = step - 1, steps t-L+1..t
    k = np.arange(1, horizon + 1)
    if not per_step:
        y = (zt[origins[:, None] + k[None, :]] - zt[origins][:, None]) / s  # (N, H)
        return x.astype(np.float32), y.astype(np.float32)
    steps = rows + 1  # (N, L) absolute steps
    y = (zt[steps[..., None] + k] - zt[steps][..., None]) / s  # (N, L, H)
    return x.astype(np.float32), y.astype(np.float32)


def origin_windows(scaler: Scaler, z: np.ndarray, origins, window: int) -> np.ndarray:
    """Inputs (n, L, D) for forecasts from each origin o (history z[:o], last step o−1)."""
    feats = scaler.features(z)
    out = []
    for o in origins:
        t = int(o) - 1
        if t < window:
            raise ValueError(f"origin {o}: expected at least {window + 1} points of history")
        out.append(feats[t - window : t])  # rows t-L..t-1 = steps t-L+1..t
    return np.stack(out).astype(np.float32)


def origin_changes(scaler: Scaler, z: np.ndarray, origins, horizon: int) -> np.ndarray:
    """The scaled targets (n, H) of forecasts from each origin o: (z_{o−1+k} − z_{o−1}) / s_Δ
    for k = 1..H, NaN where the step lies beyond z."""
    origins = np.asarray(origins, dtype=np.int64)
    zt = z[:, scaler.target]
    idx = origins[:, None] + np.arange(horizon)  # (n, H) steps forecast
    change = zt[np.minimum(idx, len(z) - 1)] - zt[origins - 1][:, None]
    return np.where(idx < len(z), change / scaler.diff_scale[scaler.target], np.nan)
