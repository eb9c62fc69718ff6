"""Windowed LSTM/GRU forecasters with quantile heads (the 80% interval from pinball loss).

Three strategies over the same windows (forecast/windows.py):

    direct      many-to-one: the last hidden state → Dense → (H, 3) quantiles of the H changes
    seq         many-to-many: every step τ of the window predicts its own next H changes
                (B, L, H, 3), trained on all steps after a burn-in; forecasts use the last step
    recursive   one step ahead (H = 1), rolled forward H times on sampled paths: each step draws
                a value from the predicted quantiles (linear between them) and feeds it back

Loss: the pinball loss averaged over quantiles τ ∈ {0.1, 0.5, 0.9}, horizons and windows,

    L = mean ρ_τ(y − q̂_τ),  ρ_τ(u) = max(τu, (τ−1)u),  ∂ρ/∂q̂ = 1{y < q̂} − τ

so the 0.1 and 0.9 heads bound an 80% interval (checked by coverage, forecast/metrics.py) and
the 0.5 head is the point forecast. Quantile heads trained on the windows they fit come out too
narrow on new data, so the interval is widened (or narrowed) about the median by a factor c_k
per horizon step, split-conformal (forecast/calibrate.py): from the validation windows after
training, and with `forecast(..., recalibrate=True)` also from the later windows whose truths
arrived before each origin.

A forecaster is an ensemble of `members` networks trained from different seeds (quantiles
averaged), each keeping the weights of its best validation loss (the last `val_fraction` of the
windows in time); the learning rate halves after `patience` / 3 epochs without a better one,
and training stops after `patience`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import optimizers
from ..layers import Dense, Dropout, cells_by_units, layer_for_cell
from ..model import Sequential
from .calibrate import interval_scores, rolling_factors, step_factors, widen
from .metrics import QUANTILES
from .windows import Scaler, origin_changes, origin_windows, training_windows

STRATEGIES = ("direct", "seq", "recursive")
CELLS = tuple(cells_by_units())  # every family a layer can be made of from `units` alone


def pinball_grad(y: np.ndarray, q: np.ndarray, levels=QUANTILES) -> tuple[float, np.ndarray]:
    """Mean pinball loss of quantile forecasts q (..., K) for truths y (...), and ∂L/∂q."""
    tau = np.asarray(levels, dtype=q.dtype)
    u = y[..., None] - q
    loss = float(np.mean(np.maximum(tau * u, (tau - 1) * u)))
    grad = ((u < 0).astype(q.dtype) - tau) / q.size
    return loss, grad


@dataclass
class NetConfig:
    cell: str = "lstm"
    strategy: str = "direct"
    window: int = 24
    horizon: int = 12
    units: int = 32
    members: int = 3
    batch_size: int = 32
    learning_rate: float = 3e-3
    dropout: float = 0.0  # on the last hidden state(s), before the head
    weight_decay: float = 0.0  # AdamW's decoupled decay when > 0
    val_fraction: float = 0.15
    max_epochs: int = 1000
    patience: int = 60
    burn_in: int = 4
    paths: int = 64
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"expected cell in {list(CELLS)}, got {self.cell!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"expected strategy in {list(STRATEGIES)}, got {self.strategy!r}")
        for name in ("window", "horizon", "units", "members", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")

    @property
    def out_horizon(self) -> int:
        return 1 if self.strategy == "recursive" else self.horizon


def build_network(cfg: NetConfig, n_features: int, seed: int) -> Sequential:
    k = len(QUANTILES)
    seq = cfg.strategy == "seq"
    layers = [layer_for_cell(cfg.cell)(cfg.units, return_sequences=seq, seed=seed, name="rnn")]
    if cfg.dropout > 0:
        layers.append(Dropout(cfg.dropout, seed=seed + 2, name="dropout"))
    layers.append(Dense(cfg.out_horizon * k, seed=seed + 1, name="head"))
    model = Sequential(layers, seed=seed)
    model.build((cfg.window, n_features))
    if cfg.weight_decay > 0:
        opt = optimizers.AdamW(
            learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, global_clipnorm=1.0
        )
    else:
        opt = optimizers.Adam(learning_rate=cfg.learning_rate, global_clipnorm=1.0)
    model.compile(opt, "mse")
    return model


def _quantiles(model: Sequential, x: np.ndarray, horizon: int) -> np.ndarray:
    out = model.forward(x)  # (B, H*K) or (B, L, H*K)
    return out.reshape(*out.shape[:-1], horizon, len(QUANTILES))


class Forecaster:
    """An ensemble of windowed RNN forecasters for one series (see the module docstring).

    fit(z_train, seconds) trains within a wall-clock budget; forecast(z, origins) gives
    (n, H, 3) quantiles in series units from each origin's history.
    """

    def __init__(self, cfg: NetConfig, scaler: Scaler):
        self.cfg, self.scaler = cfg, scaler
        self.models: list[Sequential] = []
        self.history: list[dict] = []
        self.interval_scale = np.ones(cfg.out_horizon)  # c_k per horizon step, (H_out,)
        self.cal_scores: np.ndarray | None = None  # validation scores, (n_val, H_out)
        self.fit_length = 0  # points of the series it was trained on

    # -- training ------------------------------------------------------------------------------
    def held_out(self, n_windows: int) -> int:
        """How many of the last training windows are held out for validation."""
        return max(1, round(self.cfg.val_fraction * n_windows)) if n_windows >= 8 else 0

    def _data(self, z: np.ndarray):
        cfg = self.cfg
        x, y = training_windows(
            self.scaler, z, cfg.window, cfg.out_horizon, per_step=cfg.strategy == "seq"
        )
        n_val = self.held_out(len(x))
        return (x[: len(x) - n_val], y[: len(y) - n_val]), (
            x[len(x) - n_val :],
            y[len(y) - n_val :],
        )

    def _loss_on(self, model, x, y) -> float:
        q = _quantiles(model, x, self.cfg.out_horizon)
        if self.cfg.strategy == "seq":
            q, y = q[:, -1], y[:, -1]
        return pinball_grad(y, q)[0]

    def train_step(self, model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
        """One Adam step on a batch; returns the batch's pinball loss."""
        cfg = self.cfg
        out = model.forward(x, training=True)
        q = out.reshape(*out.shape[:-1], cfg.out_horizon, len(QUANTILES))
        if cfg.strategy == "seq":
            b = min(cfg.burn_in, x.shape[1] - 1)
            loss, g = pinball_grad(y[:, b:], q[:, b:])
            grad = np.zeros_like(q)
            grad[:, b:] = g
        else:
            loss, grad = pinball_grad(y, q)
        model.backward(grad.reshape(out.shape).astype(out.dtype))
        model.optimizer.step(model.named_params(), model.named_grads())
        return loss

    def fit(self, z: np.ndarray, seconds: float, progress=None) -> Forecaster:
        """Train `members` networks on z (T, F) (transformed), `seconds` in all."""
        cfg = self.cfg
        (xt, yt), (xv, yv) = self._data(z)
        deadline = time.perf_counter() + seconds
        self.models, self.history = [], []
        for m in range(cfg.members):
            share = (deadline - time.perf_counter()) / (cfg.members - m)
            self.models.append(
                self._fit_member(xt, yt, xv, yv, share, cfg.seed + 1000 * m, progress)
            )
        self.fit_length = len(z)
        if len(xv):
            yv_last = yv[:, -1] if cfg.strategy == "seq" else yv
            self.calibrate(interval_scores(yv_last, self.raw_quantiles(xv)))
        return self

    def calibrate(self, scores: np.ndarray) -> None:
        """Per-step factors from held-out scores (n, H_out) (forecast/calibrate.py)."""
        self.cal_scores = np.asarray(scores, dtype=np.float64)
        self.interval_scale = step_factors(self.cal_scores)

    def rolling_scale(self, z: np.ndarray, origins) -> np.ndarray | None:
        """Factors (n, H_out) per origin: the validation scores and those of the windows after
        the fit (never trained on) whose truths arrived before the origin; None when there is
        nothing to add (no validation scores, or no window after the fit)."""
        cfg, sc = self.cfg, self.scaler
        h = cfg.out_horizon
        first = max(self.fit_length - h + 1, cfg.window + 1)
        later = np.arange(first, max(origins))  # origins o′ of windows not trained on
        if self.cal_scores is None or later.size == 0:
            return None
        raw = self.raw_quantiles(origin_windows(sc, z, later, cfg.window))  # (m, H, 3)
        y = origin_changes(sc, z, later, h)  # (m, H), NaN: not arrived
        return rolling_factors(self.cal_scores, interval_scores(y, raw), later, origins)

    def _fit_member(self, xt, yt, xv, yv, seconds, seed, progress) -> Sequential:
        cfg = self.cfg
        rng = np.random.default_rng(seed)
        model = build_network(cfg, xt.shape[-1], seed)
        best = (np.inf, model.get_weights(), 0)
        end = time.perf_counter() + max(seconds, 0.05)
        epoch = steps = last_cut = 0
        while epoch < cfg.max_epochs and time.perf_counter() < end:
            order = rng.permutation(len(xt))
            losses = []
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                losses.append(self.train_step(model, xt[idx], yt[idx]))
                steps += 1
            epoch += 1
            val = self._loss_on(model, xv, yv) if len(xv) else float(np.mean(losses))
            if val < best[0]:
                best = (val, model.get_weights(), epoch)
            elif epoch - best[2] > cfg.patience:
                break
            elif epoch - max(best[2], last_cut) > cfg.patience // 3:  # a plateau: halve the rate
                model.optimizer.learning_rate = model.optimizer.learning_rate * 0.5
                last_cut = epoch
            if progress is not None:
                progress(member=len(self.models), epoch=epoch, loss=float(np.mean(losses)), val=val)
        model.set_weights(best[1])
        self.history.append(
            {"epochs": epoch, "steps": steps, "best_epoch": best[2], "val_pinball": float(best[0])}
        )
        return model

    # -- forecasting ---------------------------------------------------------------------------
    def raw_quantiles(self, x: np.ndarray) -> np.ndarray:
        h = self.cfg.out_horizon
        qs = []
        for model in self.models:
            q = _quantiles(model, x, h)
            qs.append(q[:, -1] if self.cfg.strategy == "seq" else q)
        return np.sort(np.mean(qs, axis=0), axis=-1)

    def predict_scaled(self, x: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """Ensemble mean of the scaled quantiles, sorted, interval calibrated: (n, H_out, 3);
        `scale` (H_out,) or (n, H_out) replaces the stored per-step factors."""
        return widen(self.raw_quantiles(x), self.interval_scale if scale is None else scale)

    def forecast(
        self,
        z: np.ndarray,
        origins,
        horizon: int | None = None,
        *,
        recalibrate: bool = False,
        scale: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, H, 3) quantile forecasts in series units from each origin o (history z[:o]).

        With `recalibrate`, z continues the series the model was fitted on and the interval
        factors at each origin also use the windows after the fit whose truths arrived before
        it (`rolling_scale`; direct and seq); `scale` (n, H_out) gives the factors instead."""
        if not self.models:
            raise RuntimeError("Forecaster.forecast: call fit() first")
        h = self.cfg.horizon if horizon is None else int(horizon)
        origins = [int(o) for o in origins]
        if self.cfg.strategy == "recursive":
            return self._recursive(z, origins, h)
        if h > self.cfg.horizon:
            raise ValueError(f"horizon {h}: this model was trained for at most {self.cfg.horizon}")
        x = origin_windows(self.scaler, z, origins, self.cfg.window)
        if scale is None and recalibrate:
            scale = self.rolling_scale(z, origins)
        q = self.predict_scaled(x, scale)[:, :h]  # (n, H, 3)
        z0 = np.array([z[o - 1, self.scaler.target] for o in origins])[:, None, None]
        return self.scaler.unscale(z0, q)

    def _recursive(self, z: np.ndarray, origins: list[int], h: int) -> np.ndarray:
        """Sample paths: each step draws u ~ U(0,1) and the value at quantile u (linear between
        0.1, 0.5, 0.9, extended linearly beyond), appends it and steps again."""
        cfg, sc = self.cfg, self.scaler
        rng = np.random.default_rng(cfg.seed + 7)
        P, L, j = cfg.paths, cfg.window, sc.target
        out = []
        for o in origins:
            hist = np.repeat(z[None, max(0, o - L - 2) : o], P, axis=0)  # (P, L+2, F)
            start = max(0, o - L - 2)
            for _ in range(h):
                feats = sc.features(hist, start)[:, -L:]  # (P, L, D)
                q = self.predict_scaled(feats.astype(np.float32))[:, 0]  # (P, 3)
                u = rng.uniform(size=P)
                lo, mid, hi = q[:, 0], q[:, 1], q[:, 2]
                step = np.where(
                    u < 0.5, mid + (u - 0.5) / 0.4 * (mid - lo), mid + (u - 0.5) / 0.4 * (hi - mid)
                )
                nxt = hist[:, -1].copy()  # other columns (inputs) carry their last value
                nxt[:, j] = hist[:, -1, j] + sc.diff_scale[j] * step
                hist = np.concatenate([hist[:, 1:], nxt[:, None]], axis=1)
                start += 1
            paths = hist[:, -h:, j]  # (P, h)
            out.append(np.quantile(sc.inverse(paths), QUANTILES, axis=0).T)  # (h, 3)
        return np.stack(out)


def save_forecaster(fc: Forecaster, folder, extra: dict | None = None) -> list:
    """Write every member to `folder`/member{k}.safetensors with the config, the scaler, the
    per-step interval factors and the fitted length in the model's metadata (not the
    validation scores: a loaded forecaster keeps its factors, it does not recalibrate)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {k: v for k, v in fc.cfg.__dict__.items() if k != "extra"}
    paths = []
    for k, model in enumerate(fc.models):
        model.metadata = {
            "forecast": {
                "config": cfg,
                "scaler": fc.scaler.to_dict(),
                "interval_scale": np.asarray(fc.interval_scale).tolist(),
                "fit_length": fc.fit_length,
                **(extra or {}),
            }
        }
        path = folder / f"member{k}.safetensors"
        model.save(path)
        paths.append(path)
    return paths


def load_forecaster(folder) -> tuple[Forecaster, dict]:
    """A Forecaster from the files `save_forecaster` wrote, and the saved extra facts."""
    from pathlib import Path

    from ..io import load_model

    folder = Path(folder)
    files = sorted(folder.glob("member*.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"{folder}: no member*.safetensors (is it a forecast run's model directory?)"
        )
    models = [load_model(f) for f in files]
    meta = models[0].metadata.get("forecast")
    if not isinstance(meta, dict) or not {"config", "scaler"} <= set(meta):
        raise ValueError(f"{files[0]}: not a forecaster (no 'forecast' metadata)")
    fc = Forecaster(NetConfig(**meta["config"]), Scaler(**meta["scaler"]))
    fc.models = models
    scale = np.asarray(meta.get("interval_scale", 1.0), dtype=np.float64)
    fc.interval_scale = np.broadcast_to(scale, (fc.cfg.out_horizon,)).copy()  # a float before
    fc.fit_length = int(meta.get("fit_length", 0))
    own = ("config", "scaler", "interval_scale", "fit_length")
    extra = {k: v for k, v in meta.items() if k not in own}
    return fc, extra
