"""Adding a cell family: one class (written here, in the test) and one registry line give a
layer, Bidirectional, Sequential fit, save/load, gradient checks and the online learners'
Jacobians — the worked example of docs/design.md, "How to add a cell family"."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import CELLS, Cache, Cell, LocalDerivatives, ParamSpec, register
from rnnlab.cells.ops import carry, gated_grads, input_projection, split_through_carry
from rnnlab.gradcheck import assert_layer_gradients, relative_error
from rnnlab.layers import layer_for_cell
from rnnlab.online import jacobians

B, T, I, H = 3, 5, 4, 6


@dataclass(eq=False, kw_only=True)
class LeakyTanhCache(Cache):
    h0: np.ndarray  # (B, H)
    hs: np.ndarray  # (T, B, H) h_t after every step
    tanh_a: np.ndarray  # (T, B, H) tanh a_t


@dataclass(frozen=True)
class LeakyTanhCell(Cell):
    """Leaky-integrator tanh units: each unit moves a fraction α of the way to its target.

        a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        h_t = (1 - α) h_{t-1} + α tanh(a_t)            α = leak ∈ (0, 1]; α = 1: SimpleRNN

    Shapes: x_t (B, I), h (B, H); weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H).
    Backward, with dh the gradient arriving at h_t and δ_t = ∂L/∂a_t:

        δ_t = dh ⊙ α (1 - tanh² a_t)         dh_{t-1} = (1 - α) dh + δ_t W_hh
        ∂L/∂W_ih = Σ_t δ_tᵀ x_t   ∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1}   ∂L/∂b = Σ_t δ_t   dx_t = δ_t W_ih

    Local derivatives (online learners): e_in = e_rec = α (1 - tanh² a_t), direct = 1 - α.
    """

    leak: float = 0.5

    name: ClassVar[str] = "leaky_tanh"
    gates: ClassVar[int] = 1

    def __post_init__(self):
        if not isinstance(self.leak, (int, float)) or not 0.0 < self.leak <= 1.0:
            raise ValueError(f"LeakyTanhCell: expected leak in (0, 1], got {self.leak!r}")

    def param_specs(self, input_size, units):
        H, I = units, input_size
        return {
            "weight_ih": ParamSpec((H, I), "kernel"),
            "weight_hh": ParamSpec((H, H), "recurrent"),
            "bias_ih": ParamSpec((H,), "bias"),
            "bias_hh": ParamSpec((H,), "bias"),
        }

    def step(self, params, x_t, states):
        (h,) = states
        a = (
            x_t @ params["weight_ih"].T
            + params["bias_ih"]
            + h @ params["weight_hh"].T
            + params["bias_hh"]
        )
        return ((1 - self.leak) * h + self.leak * np.tanh(a),)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        (h0,) = states
        a_in = input_projection(x, params["weight_ih"], params["bias_ih"] + params["bias_hh"])
        hs, tanh_a = np.empty_like(a_in), np.empty_like(a_in)  # (T, B, H)
        h = h0
        for t in range(x.shape[0]):
            h_read = h if recurrent_mask is None else h * recurrent_mask
            tanh_a[t] = np.tanh(a_in[t] + h_read @ params["weight_hh"].T)
            h_new = (1 - self.leak) * h + self.leak * tanh_a[t]
            hs[t] = carry(None if mask is None else mask[t], h_new, h)
            h = hs[t]
        cache = (
            LeakyTanhCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=recurrent_mask,
                h0=h0,
                hs=hs,
                tanh_a=tanh_a,
            )
            if keep_cache
            else None
        )
        return hs, (h.copy(),), cache

    def backward_steps(self, cache, d_outputs, d_final):
        hs, mask, w_hh = cache.hs, cache.mask, cache.params["weight_hh"]
        d_pre = np.empty_like(hs)  # (T, B, H): δ_t
        dh = np.zeros_like(hs[0]) if d_final[0] is None else d_final[0].copy()
        for t in range(hs.shape[0] - 1, -1, -1):
            if d_outputs is not None:
                dh = dh + d_outputs[t]
            dh_cell, dh_carried = split_through_carry(None if mask is None else mask[t], dh)
            d_pre[t] = dh_cell * self.leak * (1 - cache.tanh_a[t] ** 2)
            dh_rec = d_pre[t] @ w_hh
            if cache.recurrent_mask is not None:
                dh_rec *= cache.recurrent_mask
            dh = (1 - self.leak) * dh_cell + dh_rec
            if dh_carried is not None:
                dh += dh_carried
        dx, grads = gated_grads(
            d_pre, d_pre, cache.x, cache.h0, hs, cache.recurrent_mask, cache.params["weight_ih"]
        )
        return dx, (dh,), grads

    def states_at(self, cache, t):
        return (cache.hs[t],)

    def local_derivatives(self, params, x_t, states):
        (h,) = states
        tanh_a = np.tanh(
            x_t @ params["weight_ih"].T
            + params["bias_ih"]
            + h @ params["weight_hh"].T
            + params["bias_hh"]
        )
        e = (self.leak * (1 - tanh_a**2))[:, :, None]  # (B, H, 1)
        return LocalDerivatives(
            (1 - self.leak) * h + self.leak * tanh_a, e, e, np.full_like(e, 1 - self.leak), x_t, h
        )


@pytest.fixture
def registered():
    """The one registry line, undone afterwards."""
    saved = dict(CELLS)
    register(LeakyTanhCell)
    yield layer_for_cell("leaky_tanh")
    CELLS.clear()
    CELLS.update(saved)


def test_the_family_gets_a_layer(registered, rng):
    LeakyTanh = registered
    assert LeakyTanh.__name__ == "LeakyTanh" and LeakyTanh.cell_class is LeakyTanhCell
    assert layer_for_cell(LeakyTanhCell) is LeakyTanh
    assert layer_for_cell(LeakyTanhCell()) is LeakyTanh
    assert "LeakyTanh" in rnnlab.layers.known_layer_types()
    layer = LeakyTanh(H, leak=0.3, return_sequences=True, dtype="float64", seed=0)
    x = rng.standard_normal((B, T, I))
    y = layer.forward(x)
    assert y.shape == (B, T, H) and layer.cell == LeakyTanhCell(0.3)
    assert {k: v.shape for k, v in layer.params.items()} == layer.cell.param_shapes(I, H)
    h = np.zeros((B, H))
    for t in range(T):  # the layer runs the cell's reference step
        (h,) = layer.cell.step(layer.params, x[:, t], (h,))
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12, atol=1e-14)
    with pytest.raises(
        ValueError,
        match=r"LeakyTanh 'leaky_tanh.*': LeakyTanhCell: expected "
        r"leak in \(0, 1\], got 2",
    ):
        LeakyTanh(H, leak=2)


@pytest.mark.parametrize(
    "options",
    [
        {"return_sequences": True},
        {"go_backwards": True, "return_state": True},
        {"return_sequences": True, "dropout": 0.2, "recurrent_dropout": 0.3},
    ],
)
def test_the_family_passes_gradient_checks(registered, options, rng):
    layer = registered(H, leak=0.4, dtype="float64", seed=1, **options)
    x = rng.standard_normal((B, T, I))
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    training = "dropout" in options
    assert_layer_gradients(layer, x, mask=mask, training=training)
    bi = rnnlab.Bidirectional(
        registered(H, leak=0.7, dtype="float64", seed=2, return_sequences=True)
    )
    assert_layer_gradients(bi, x, mask=mask)


def test_the_family_trains_saves_and_loads(registered, rng, tmp_path):
    x = rng.standard_normal((32, 8, I)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    model = rnnlab.Sequential(
        [registered(16, leak=0.5, seed=0), rnnlab.Dense(2, activation="softmax", seed=1)]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    path = tmp_path / "leaky.safetensors"
    model.save(path)
    loaded = rnnlab.load_model(path)
    assert type(loaded.layers[0]).__name__ == "LeakyTanh" and loaded.layers[0].cell.leak == 0.5
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_saved_family_loads_once_registered_even_before_its_layer_is_made(registered, tmp_path):
    """layer_from_config finds the layer of every registered family by its name."""
    cfg = registered(4, leak=0.2).get_config()
    assert cfg["class_name"] == "LeakyTanh" and cfg["leak"] == 0.2
    rebuilt = rnnlab.layer_from_config(cfg)
    assert rebuilt.get_config() == cfg


def test_the_family_plugs_into_the_online_jacobians(registered, rng):
    """Its local derivatives give D_t and I_t equal to finite differences of its step."""
    cell = LeakyTanhCell(0.6)
    params = {k: 0.5 * rng.standard_normal(s) for k, s in cell.param_shapes(I, H).items()}
    x, s = rng.standard_normal((2, I)), rng.standard_normal((2, H))
    s_new, D, Imm = jacobians.step_with_jacobians(cell, params, x, s)
    np.testing.assert_allclose(s_new, cell.step(params, x, (s,))[0], rtol=1e-13)
    theta, eps = jacobians.flatten_params(params), 1e-6

    def f(s_, th):
        return cell.step(jacobians.unflatten(th, params), x, (s_,))[0]

    D_num = np.stack(
        [(f(s + eps * e, theta) - f(s - eps * e, theta)) / (2 * eps) for e in np.eye(H)], axis=-1
    )
    I_num = np.stack(
        [(f(s, theta + eps * e) - f(s, theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)],
        axis=-1,
    )
    assert relative_error(D, D_num) < 1e-7 and relative_error(Imm, I_num) < 1e-7


def test_the_family_follows_the_no_grad_rule(registered, rng):
    layer = registered(H, return_sequences=True)
    with rnnlab.no_grad():
        y = layer.forward(rng.standard_normal((B, T, I)))
    with pytest.raises(RuntimeError, match="ran under rnnlab.no_grad"):
        layer.backward(np.ones_like(y))


def test_the_design_documents_example_is_this_family(rng):
    """docs/design.md shows this family's module; its code runs and computes the same."""
    doc = (Path(__file__).parents[1] / "docs" / "design.md").read_text(encoding="utf-8")
    section = doc.split("## How to add a cell family", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    saved = dict(CELLS)
    module = types.ModuleType("leaky_tanh_example")  # dataclasses look their module up
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, "docs/design.md", "exec"), module.__dict__)
        documented = module.LeakyTanhCell
        assert CELLS["leaky_tanh"] is documented  # its module registers it
    finally:
        del sys.modules[module.__name__]
        CELLS.clear()
        CELLS.update(saved)
    params = {k: rng.standard_normal(s) for k, s in LeakyTanhCell().param_shapes(I, H).items()}
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H))
    ours = LeakyTanhCell(0.3).forward(params, x, (h0,))
    theirs = documented(0.3).forward(params, x, (h0,))
    np.testing.assert_array_equal(ours[0], theirs[0])
    d = rng.standard_normal((T, B, H))
    for a, b in zip(
        LeakyTanhCell(0.3).backward(ours[2], d, (None,))[2].values(),
        documented(0.3).backward(theirs[2], d, (None,))[2].values(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
