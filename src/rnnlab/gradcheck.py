"""Finite-difference gradient checks for any Layer — including the ones you write yourself.

For a layer f and a fixed random probe r of the output's shape, the scalar L = Σ r ⊙ f(x; θ)
has the gradient that `layer.backward(r)` returns. Each entry of x, of every parameter θ and of
the initial states is perturbed by ±ε and the central difference

    ∂L/∂θ_k ≈ (L(θ + ε e_k) − L(θ − ε e_k)) / 2ε        (error O(ε²) plus round-off ~1e-16/ε)

is compared with the analytic gradient by the relative error ‖a − n‖₂ / max(‖a‖₂, ‖n‖₂).
Checks need float64 layers. Dropout masks and carried (stateful) states are held fixed across
the repeated forwards through `layer.snapshot_state()` / `restore_state()`.

Example (a cell of your own, as a Layer subclass with params, grads, forward, backward):

    >>> from rnnlab.gradcheck import assert_layer_gradients
    >>> layer = MyCell(8, dtype="float64")
    >>> x = np.random.default_rng(0).standard_normal((3, 5, 4))
    >>> report = assert_layer_gradients(layer, x)     # raises AssertionError with a table
    >>> print(report)                                  # relative error per tensor
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .layers.base import Layer

#: relative error bound for float64 checks (docs/design.md: ≤ 1e-6); the one place it is set
TOLERANCE = 1e-6
#: finite-difference step for float64
EPSILON = 1e-6


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """‖a − n‖₂ / max(‖a‖₂, ‖n‖₂); 0 when both are exactly zero."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(n))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - n) / scale)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """Central differences of the scalar f() with respect to the array x, perturbed in place."""
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: expected a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: x must be contiguous so it can be perturbed in place")
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        plus = f()
        flat[k] = orig - eps
        minus = f()
        flat[k] = orig
        gflat[k] = (plus - minus) / (2.0 * eps)
    return grad


@dataclass
class GradcheckReport:
    """Relative error per checked tensor ("input", "param:<name>", "initial_state:<k>")."""

    errors: dict[str, float] = field(default_factory=dict)
    tolerance: float = TOLERANCE

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_error <= self.tolerance

    def __str__(self) -> str:
        rows = [f"{'tensor':40s} {'relative error':>15s}"]
        for name, err in self.errors.items():
            flag = "" if err <= self.tolerance else "  > tolerance"
            rows.append(f"{name:40s} {err:15.3e}{flag}")
        rows.append(f"max {self.max_error:.3e} (tolerance {self.tolerance:.0e})")
        return "\n".join(rows)


def _flatten(out) -> list[np.ndarray]:
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in _flatten(item)]
    return [out]


def _like(structure, flat: list[np.ndarray]):
    """Rebuild `structure` (nested lists of arrays) from the flat list, consuming it in order."""
    if isinstance(structure, (list, tuple)):
        return [_like(item, flat) for item in structure]
    return flat.pop(0)


def check_layer(
    layer: Layer,
    x,
    *,
    mask=None,
    initial_state=None,
    training: bool = False,
    eps: float = EPSILON,
    tolerance: float = TOLERANCE,
    seed: int = 0,
    check_input: bool = True,
) -> GradcheckReport:
    """Compare layer.backward with central differences for the input, every param and the
    initial states (when given). Returns a report; the layer's state is left as it was."""
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer: expected a rnnlab Layer, got {type(layer).__name__}")
    if layer.dtype != np.float64:
        raise ValueError(
            f"check_layer: {layer.who} has dtype {layer.dtype}; gradient checks "
            f"need float64 (construct it with dtype='float64')"
        )
    x = np.array(x)  # a private copy we may perturb
    float_input = x.dtype.kind == "f"
    if float_input:
        x = x.astype(np.float64)
    states = (
        None
        if initial_state is None
        else [
            np.array(s, dtype=np.float64)
            for s in (
                initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
        ]
    )
    if not layer.built:
        layer.forward(x, mask=mask, initial_state=states, training=training)
    snapshot = layer.snapshot_state()

    def run():
        layer.restore_state(snapshot)
        return layer.forward(x, mask=mask, initial_state=states, training=training)

    out = run()
    rng = np.random.default_rng(seed)
    probes = [rng.standard_normal(o.shape) for o in _flatten(out)]

    def loss() -> float:
        return float(sum(np.sum(p * o) for p, o in zip(probes, _flatten(run()), strict=True)))

    structured = _like(out, list(probes))
    if layer.return_state:
        dx = layer.backward(structured[0], *structured[1:])
    else:
        dx = layer.backward(structured)
    analytic = {f"param:{k}": g.copy() for k, g in layer.grads.items()}
    if check_input and float_input:
        analytic["input"] = dx.copy()
    if states is not None:
        for k, g in enumerate(layer.initial_state_grads):
            analytic[f"initial_state:{k}"] = g.copy()

    report = GradcheckReport(tolerance=tolerance)
    try:
        for key, p in layer.params.items():
            numeric = numerical_gradient(loss, p, eps)
            report.errors[f"param:{key}"] = relative_error(analytic[f"param:{key}"], numeric)
        if "input" in analytic:
            report.errors["input"] = relative_error(
                analytic["input"], numerical_gradient(loss, x, eps)
            )
        for k, s in enumerate(states or []):
            report.errors[f"initial_state:{k}"] = relative_error(
                analytic[f"initial_state:{k}"], numerical_gradient(loss, s, eps)
            )
    finally:
        layer.restore_state(snapshot)
    return report


def assert_layer_gradients(layer: Layer, x, **kwargs) -> GradcheckReport:
    """check_layer, raising AssertionError with the report when an error exceeds tolerance."""
    report = check_layer(layer, x, **kwargs)
    if not report.ok:
        raise AssertionError(f"gradient check failed for {layer.who}:\n{report}")
    return report
