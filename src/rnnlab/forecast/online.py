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
    # time one step to choose k from the budget
    t0 = time.perf_counter()
    for _ in range(3):
        forecaster.train_step(
            model, x_all[:1].repeat(cfg.batch_size, 0), y_all[:1].repeat(cfg.batch_size, 0)
        )
    per_step = (time.perf_counter() - t0) / 3
    model = build_network(cfg, x_all.shape[-1], cfg.seed)  # a fresh one for the stream
    forecaster.models = [model]
    last_arrival = origins[-1] - 1
    first = cfg.window + cfg.horizon  # x_t with t = first completes window 0
    arrivals = max(1, last_arrival - first + 1)
    k = steps_per_point or max(1, int(0.9 * seconds / per_step / arrivals))
    forecasts, steps, next_origin = [], 0, 0
    deadline = time.perf_counter() + seconds
    for t in range(first, last_arrival + 1):
        newest = t - first  # index of the window completed by x_t
        for _ in range(k):
            if time.perf_counter() > deadline:
                break
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
    facts = {"steps_per_point": k, "steps": steps, "points": arrivals}
    return np.stack(forecasts), facts
