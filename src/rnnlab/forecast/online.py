"""Online mode: a forecaster that keeps learning as each new point of a stream arrives.

The stream is read once, in order. When x_t arrives, the window whose H-step target has just
become complete (origin t − H) joins the examples seen so far, and the network takes `k` Adam
steps, each on a batch of that newest window and B − 1 windows drawn from the earlier ones
(a replay of the stream's own past: truncated BPTT over the L steps of each window, nothing
from the future). At every forecast origin o the network forecasts from x_0..x_{o−1} with the
weights it has then — prequential evaluation, so its errors count only forecasts made before
the truths arrived. `k` follows from the time budget (steps it can afford / points to come).
"""

from __future__ import annotations

import time

import numpy as np

from .network import Forecaster, NetConfig, build_network
from .windows import Scaler, training_windows


def run_online(
    cfg: NetConfig,
    scaler: Scaler,
    z: np.ndarray,
    origins,
    seconds: float,
    progress=None,
    steps_per_point: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Stream z (T, F) (transformed) once; returns ((n, H, 3) forecasts at `origins`, facts).
    `steps_per_point` fixes k (otherwise it follows from `seconds`)."""
    if cfg.strategy != "direct":
        raise ValueError(f"online mode trains the direct strategy, got {cfg.strategy!r}")
    origins = sorted(int(o) for o in origins)
    x_all, y_all = training_windows(scaler, z, cfg.window, cfg.horizon)  # window i: origin L+i
    forecaster = Forecaster(cfg, scaler)
    model = build_network(cfg, x_all.shape[-1], cfg.seed)
    forecaster.models = [model]
    rng = np.random.default_rng(cfg.seed)
    last_arrival = origins[-1] - 1
    first = cfg.window + cfg.horizon  # x_t with t = first completes window 0
    arrivals = max(1, last_arrival - first + 1)
    forecasts, steps, next_origin = [], 0, 0
    start = time.perf_counter()
    for t in range(first, last_arrival + 1):
        newest = t - first  # index of the window completed by x_t
        if steps_per_point is not None:
            k = steps_per_point
        else:  # share the time left equally among the points left, at the pace so far
            spent = time.perf_counter() - start
            pace = spent / steps if steps else 0.0
            left = last_arrival + 1 - t
            k = 1 if not steps else max(1, int((seconds - spent) / left / max(pace, 1e-6)))
        for _ in range(k):
            idx = rng.integers(0, newest + 1, size=cfg.batch_size)
            idx[0] = newest
            forecaster.train_step(model, x_all[idx], y_all[idx])
            steps += 1
        while next_origin < len(origins) and origins[next_origin] == t + 1:
            forecasts.append(forecaster.forecast(z, [t + 1])[0])
            next_origin += 1
        if progress is not None:
            progress(online_t=t, steps=steps)
    while next_origin < len(origins):  # origins before the first arrival (very short streams)
        forecasts.append(forecaster.forecast(z, [origins[next_origin]])[0])
        next_origin += 1
    facts = {"steps_per_point": steps / arrivals, "steps": steps, "points": arrivals}
    return np.stack(forecasts), facts
