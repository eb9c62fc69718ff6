"""The unrolled network: one copy of a recurrent layer per time step, sharing its parameters.

Unrolling in time is literal here: `step_copies` makes T copies of a recurrent layer
(`layer_from_config` of the same config) that share the very same parameter arrays, and
`unroll_forward` runs them, each step's copy starting from the previous one's state.
Backpropagating through the copies in reverse, with each copy's own `backward`
(`step_backward`), gives the per-step contributions to ∂L/∂W (each copy's `grads`) and the
gradient reaching every hidden state (each copy's `initial_state_grads`). `elman_bptt` does
both for the explorer's Elman network, so the views can check that the contributions sum to
the whole-sequence layer's `backward`. Gradients are computed in float64 clones
(`clone_layer`), so the checks show ~1e-16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import losses
from ..layers import layer_from_config
from ..layers.base import Layer
from ..model import Sequential


def clone_layer(layer: Layer, dtype: str = "float64", **overrides) -> Layer:
    """A new layer of the same config (with `overrides`) holding float64 copies of the params."""
    cfg = layer.get_config()
    cfg.update(dtype=dtype, **overrides)
    for key in ("kernel_initializer", "recurrent_initializer"):
        if key in cfg:  # the copied params replace them: skip the costly ones
            cfg[key] = "zeros"
    copy = layer_from_config(cfg)
    copy.build(layer.input_shape)
    for key, value in layer.params.items():
        copy.params[key][...] = value
    return copy


def step_copies(layer: Layer, T: int) -> list[Layer]:
    """T copies of a recurrent layer for single steps, SHARING its parameter arrays: the
    unrolled network. Each returns [h_t, *states] and takes state gradients in backward."""
    cfg = layer.get_config()
    cfg.update(
        return_sequences=False,
        return_state=True,
        stateful=False,
        go_backwards=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        kernel_initializer="zeros",
        recurrent_initializer="zeros",
        bias_initializer="zeros",
    )
    copies = []
    for t in range(T):
        cfg["name"] = f"{layer.name}_t{t}"
        step = layer_from_config(cfg)
        step.build(layer.input_shape)
        for key in layer.params:
            step.params[key] = layer.params[key]  # shared, not copied
            step.grads[key] = np.zeros_like(layer.params[key])
        copies.append(step)
    return copies


def unroll_forward(steps: list[Layer], x: np.ndarray) -> list[list[np.ndarray]]:
    """Run x (1, T, I) through the step copies; returns the states after each step."""
    states = None
    out = []
    for t, step in enumerate(steps):
        y = step.forward(x[:, t : t + 1], initial_state=states)
        states = y[1:]
        out.append([s.copy() for s in states])
    return out


def step_backward(step: Layer, dstates: list[np.ndarray]) -> list[np.ndarray]:
    """Backward through one step copy given ∂L/∂(its output states); returns ∂L/∂(its input
    states). The copy's grads then hold this step's contribution to ∂L/∂W."""
    dh, *rest = dstates
    step.backward(dh, *([None, *rest] if rest else []))
    return [g.copy() for g in step.initial_state_grads]


def one_hot(ids: np.ndarray, V: int, dtype=np.float64) -> np.ndarray:
    x = np.zeros((1, len(ids), V), dtype=dtype)
    x[0, np.arange(len(ids)), ids] = 1.0
    return x


# -- the Elman network's BPTT, both ways ------------------------------------------------------
def elman_bptt(model: Sequential, vocab, text: str) -> dict[str, Any]:
    """Forward and backward of the Elman network on next-character prediction over `text`,
    L = Σ_t CE(softmax(W_hy h_t + b_y), text[t+1]); whole-sequence and step by step."""
    rnn32, dense32 = model.layers
    ids = vocab.encode(text)
    x = one_hot(ids[:-1], len(vocab))  # (1, T, V)
    targets = ids[1:].astype(np.int64)
    T = len(targets)
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)

    # whole sequence: the layer's own backward
    rnn = clone_layer(rnn32, return_sequences=True)
    dense = clone_layer(dense32)
    hs = rnn.forward(x)  # (1, T, H)
    logits = dense.forward(hs)  # (1, T, V)
    mean, dlogits = ce.value_and_grad(targets[None], logits)
    dlogits = dlogits * T  # the sum over steps, not the mean
    dense.backward(dlogits)
    rnn.backward(dense.backward(dlogits))
    full = {
        "W_xh": rnn.grads["weight_ih"].copy(),
        "W_hh": rnn.grads["weight_hh"].copy(),
        "b_ih": rnn.grads["bias_ih"].copy(),
        "b_hh": rnn.grads["bias_hh"].copy(),
        "W_hy": dense.grads["weight"].copy(),
        "b_y": dense.grads["bias"].copy(),
    }

    # step by step: T copies sharing the parameters
    steps = step_copies(rnn, T)
    states = unroll_forward(steps, x)
    out_dense = clone_layer(dense32)
    step_loss, d_out, hy = [], [], []
    for t in range(T):
        z = out_dense.forward(states[t][0])  # (1, V)
        value, dz = ce.value_and_grad(targets[t : t + 1], z)
        dh_out = out_dense.backward(dz)  # ∂loss_t/∂h_t through W_hy
        step_loss.append(value)
        d_out.append(dh_out)
        hy.append({"W_hy": out_dense.grads["weight"].copy(), "b_y": out_dense.grads["bias"].copy()})
    back = [None] * T
    dh_next = np.zeros_like(d_out[0])
    for t in range(T - 1, -1, -1):
        dh = d_out[t] + dh_next
        (dh_prev,) = step_backward(steps[t], [dh])
        g = steps[t].grads
        back[t] = {
            "dh": dh[0],
            "dh_from_output": d_out[t][0],
            "dh_from_next": dh_next[0],
            "delta": g["bias_hh"].copy(),  # δ_t = dh ⊙ (1 − h_t²): ∂L/∂b for one step
            "W_xh": g["weight_ih"].copy(),
            "W_hh": g["weight_hh"].copy(),
            "b_ih": g["bias_ih"].copy(),
            "b_hh": g["bias_hh"].copy(),
            **hy[t],
        }
        dh_next = dh_prev
    return {
        "ids": ids,
        "T": T,
        "loss": float(mean) * T,
        "step_loss": step_loss,
        "hs": [s[0][0] for s in states],
        "hs_full": hs[0],
        "full": full,
        "back": back,
        "rnn": rnn,
        "dense": dense,
    }


__all__ = ["clone_layer", "elman_bptt", "one_hot", "step_backward", "step_copies", "unroll_forward"]
