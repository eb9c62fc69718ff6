"""Optimizers: 20-step parity with torch.optim, clipping against torch.nn.utils, bit-exact
checkpoint round trips, in-place float32 updates, configuration and every error message."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from _torch import requires_torch, torch
from rnnlab import optimizers
from rnnlab.optimizers import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
)

TORCH_TOL = 1e-12  # float64 parity with torch.optim
STEPS = 20
SHAPES = {"dense.bias": (4,), "dense.weight": (4, 3), "lstm.weight_hh": (8, 2)}


def make_params(seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(steps: int, seed: int = 1, dtype=np.float64) -> list[dict[str, np.ndarray]]:
    """Random gradients whose overall scale varies over 0.1–10, so clipping sometimes acts."""
    rng = np.random.default_rng(seed)
    return [
        {
            k: (10.0 ** rng.uniform(-1, 1) * rng.normal(size=s)).astype(dtype)
            for k, s in SHAPES.items()
        }
        for _ in range(steps)
    ]


def run(opt: Optimizer, params: dict, grads_seq: list[dict], lr_at: dict | None = None) -> dict:
    """Step `opt` through grads_seq on copies of params; lr_at maps step index → new rate."""
    params = {k: v.copy() for k, v in params.items()}
    for i, grads in enumerate(grads_seq):
        if lr_at and i in lr_at:
            opt.learning_rate = lr_at[i]
        opt.step(params, grads)
    return params


# -- parity with torch.optim -----------------------------------------------------------------
# (ours, torch.optim constructor, its keyword arguments, clipping applied before torch's step)
CASES = {
    "sgd": (lambda: SGD(0.1), "SGD", {"lr": 0.1}, None),
    "sgd_momentum": (lambda: SGD(0.1, momentum=0.9), "SGD", {"lr": 0.1, "momentum": 0.9}, None),
    "sgd_nesterov": (
        lambda: SGD(0.05, momentum=0.8, nesterov=True),
        "SGD",
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
        None,
    ),
    "sgd_weight_decay": (
        lambda: SGD(0.1, momentum=0.5, weight_decay=0.01),
        "SGD",
        {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01},
        None,
    ),
    "sgd_clipvalue": (
        lambda: SGD(0.1, momentum=0.9, clipvalue=0.5),
        "SGD",
        {"lr": 0.1, "momentum": 0.9},
        ("value", 0.5),
    ),
    "sgd_global_clipnorm": (
        lambda: SGD(0.01, momentum=0.9, global_clipnorm=10.0),
        "SGD",
        {"lr": 0.01, "momentum": 0.9},
        ("norm", 10.0),
    ),
    "rmsprop": (lambda: RMSprop(0.01), "RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-7}, None),
    "rmsprop_centered": (
        lambda: RMSprop(0.01, rho=0.8, centered=True),
        "RMSprop",
        {"lr": 0.01, "alpha": 0.8, "eps": 1e-7, "centered": True},
        None,
    ),
    "rmsprop_momentum": (
        lambda: RMSprop(0.01, momentum=0.9),
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-7, "momentum": 0.9},
        None,
    ),
    "rmsprop_centered_momentum": (
        lambda: RMSprop(0.01, epsilon=1e-5, momentum=0.5, centered=True),
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-5, "momentum": 0.5, "centered": True},
        None,
    ),
    "adagrad": (
        lambda: Adagrad(0.1),
        "Adagrad",
        {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7},
        None,
    ),
    "adagrad_zero_accumulator": (
        lambda: Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-6),
        "Adagrad",
        {"lr": 0.1, "eps": 1e-6},
        None,
    ),
    "adam": (lambda: Adam(0.01), "Adam", {"lr": 0.01, "eps": 1e-7}, None),
    "adam_betas": (
        lambda: Adam(0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-6),
        "Adam",
        {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6},
        None,
    ),
    "adam_amsgrad": (
        lambda: Adam(0.01, amsgrad=True),
        "Adam",
        {"lr": 0.01, "eps": 1e-7, "amsgrad": True},
        None,
    ),
    "adam_global_clipnorm": (  # global norms of make_grads(20) span 2.5–42: some steps clip
        lambda: Adam(0.01, global_clipnorm=10.0),
        "Adam",
        {"lr": 0.01, "eps": 1e-7},
        ("norm", 10.0),
    ),
    "adamw": (
        lambda: AdamW(0.01, weight_decay=0.1),
        "AdamW",
        {"lr": 0.01, "weight_decay": 0.1, "eps": 1e-7},
        None,
    ),
    "adamw_amsgrad": (
        lambda: AdamW(0.01, amsgrad=True),
        "AdamW",
        {"lr": 0.01, "weight_decay": 0.004, "eps": 1e-7, "amsgrad": True},
        None,
    ),
}


def run_torch(name: str, kwargs: dict, clip, params, grads_seq, lr_at=None) -> dict:
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = getattr(torch.optim, name)(list(tensors.values()), **kwargs)
    for i, grads in enumerate(grads_seq):
        if lr_at and i in lr_at:
            for group in opt.param_groups:
                group["lr"] = lr_at[i]
        for k, t in tensors.items():
            t.grad = torch.from_numpy(grads[k].copy())
        if clip and clip[0] == "value":
            torch.nn.utils.clip_grad_value_(list(tensors.values()), clip[1])
        elif clip:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip[1])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


@requires_torch
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_optim(case):
    make, torch_name, kwargs, clip = CASES[case]
    params, grads_seq = make_params(), make_grads(STEPS)
    ours = run(make(), params, grads_seq)
    reference = run_torch(torch_name, kwargs, clip, params, grads_seq)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], reference[k], rtol=TORCH_TOL, atol=TORCH_TOL)
        assert not np.allclose(ours[k], params[k])  # the params did move


@requires_torch
@pytest.mark.parametrize("case", ["sgd_momentum", "rmsprop_centered", "adam", "adamw"])
def test_learning_rate_changes_between_steps_like_torch(case):
    make, torch_name, kwargs, clip = CASES[case]
    params, grads_seq = make_params(), make_grads(STEPS)
    lr_at = {5: 0.003, 12: 0.0005}
    ours = run(make(), params, grads_seq, lr_at)
    reference = run_torch(torch_name, kwargs, clip, params, grads_seq, lr_at)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], reference[k], rtol=TORCH_TOL, atol=TORCH_TOL)


# -- clipping --------------------------------------------------------------------------------
def torch_params_with_grads(grads: dict[str, np.ndarray]) -> list:
    """Tensors whose .grad holds a copy of grads[k]: what torch.nn.utils clips in place."""
    tensors = []
    for k in SHAPES:
        t = torch.zeros(SHAPES[k], dtype=torch.float64, requires_grad=True)
        t.grad = torch.from_numpy(grads[k].copy())
        tensors.append(t)
    return tensors


@requires_torch
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "no_clip"])
def test_clip_by_global_norm_matches_torch(max_norm):
    grads = make_grads(1)[0]
    clipped, total = clip_by_global_norm(grads, max_norm)
    tensors = torch_params_with_grads(grads)
    reference = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert abs(total - reference.item()) <= TORCH_TOL * reference.item()
    for k, t in zip(SHAPES, tensors, strict=True):
        np.testing.assert_allclose(clipped[k], t.grad.numpy(), rtol=TORCH_TOL, atol=TORCH_TOL)
    if max_norm < total:
        assert np.sqrt(sum(np.sum(g**2) for g in clipped.values())) < max_norm


@requires_torch
def test_clip_by_value_matches_torch():
    grads = make_grads(1)[0]
    clipped = clip_by_value(grads, 0.3)
    tensors = torch_params_with_grads(grads)
    torch.nn.utils.clip_grad_value_(tensors, 0.3)
    for k, t in zip(SHAPES, tensors, strict=True):
        np.testing.assert_array_equal(clipped[k], t.grad.numpy())
        assert (np.abs(grads[k]) > 0.3).any()


def test_clip_by_norm_clips_each_tensor_separately():
    grads = {"big": np.array([3.0, 4.0]), "small": np.array([0.3, 0.4])}
    clipped = clip_by_norm(grads, 1.0)
    np.testing.assert_allclose(clipped["big"], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_array_equal(clipped["small"], grads["small"])


def test_clipnorm_in_step_uses_the_per_tensor_norm():
    params = {"a": np.zeros(2), "b": np.zeros(2)}
    SGD(1.0, clipnorm=1.0).step(params, {"a": np.array([3.0, 4.0]), "b": np.array([0.3, 0.4])})
    np.testing.assert_allclose(params["a"], [-0.6, -0.8], rtol=1e-15)
    np.testing.assert_allclose(params["b"], [-0.3, -0.4], rtol=1e-15)


def test_clipvalue_then_global_norm():
    params = {"a": np.zeros(2)}
    SGD(1.0, clipvalue=1.0, global_clipnorm=1.0).step(params, {"a": np.array([10.0, 0.0])})
    np.testing.assert_allclose(params["a"], [-1.0 / (1.0 + 1e-6), 0.0], rtol=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Adam(0.01, clipvalue=0.1, global_clipnorm=0.5),
        lambda: SGD(0.1, momentum=0.9, weight_decay=0.1, clipnorm=0.2),
        lambda: RMSprop(centered=True, momentum=0.5),
    ],
)
def test_callers_gradients_are_not_modified(make):
    grads_seq = make_grads(3)
    copies = [{k: g.copy() for k, g in grads.items()} for grads in grads_seq]
    run(make(), make_params(), grads_seq)
    for grads, copy in zip(grads_seq, copies, strict=True):
        for k in SHAPES:
            np.testing.assert_array_equal(grads[k], copy[k])


def test_clip_functions_return_new_arrays():
    grads = make_grads(1)[0]
    for clipped in (clip_by_value(grads, 1e9), clip_by_norm(grads, 1e9)):
        assert all(clipped[k] is not grads[k] for k in SHAPES)
    clipped, _ = clip_by_global_norm(grads, 1e9)
    assert all(clipped[k] is not grads[k] for k in SHAPES)


# -- checkpoints -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_state_round_trip_is_bit_identical(case):
    make = CASES[case][0]
    params, grads_seq = make_params(), make_grads(10)
    opt = make()
    params = run(opt, params, grads_seq[:5])
    snapshot_params = {k: v.copy() for k, v in params.items()}
    snapshot = opt.get_state()
    frozen = {k: v.copy() for k, v in snapshot.items()}
    continued = run(opt, params, grads_seq[5:])

    fresh = make()
    fresh.set_state(snapshot)
    resumed = run(fresh, snapshot_params, grads_seq[5:])
    for k in SHAPES:
        np.testing.assert_array_equal(resumed[k], continued[k])
    final, restored_final = opt.get_state(), fresh.get_state()
    assert final.keys() == restored_final.keys()
    for k in final:
        assert final[k].dtype == restored_final[k].dtype
        np.testing.assert_array_equal(final[k], restored_final[k])
    for k in snapshot:  # get_state returned copies: later steps did not touch the snapshot
        np.testing.assert_array_equal(snapshot[k], frozen[k])


def test_state_layout():
    opt = Adam(amsgrad=True)
    opt.step(make_params(), make_grads(1)[0])
    state = opt.get_state()
    expected = {"iterations"} | {f"{s}/{k}" for s in ("m", "v", "vhat") for k in SHAPES}
    assert set(state) == expected
    assert state["iterations"].shape == () and state["iterations"].dtype == np.int64
    assert int(state["iterations"]) == opt.iterations == 1
    assert set(SGD().get_state()) == {"iterations"}


# -- dtypes, in place ------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_float32_params_stay_float32_and_are_updated_in_place(case):
    opt = CASES[case][0]()
    params = make_params(dtype=np.float32)
    views = {k: v.reshape(-1) for k, v in params.items()}  # see in-place writes
    objects = {k: id(v) for k, v in params.items()}
    grads_seq = make_grads(5, dtype=np.float32)
    grads_seq[0] = {k: g.astype(np.float64) for k, g in grads_seq[0].items()}  # cast to float32
    for grads in grads_seq:
        opt.step(params, grads)
    reference = run(CASES[case][0](), make_params(), make_grads(5))
    for k in SHAPES:
        assert params[k].dtype == np.float32 and id(params[k]) == objects[k]
        np.testing.assert_array_equal(views[k], params[k].reshape(-1))
        np.testing.assert_allclose(params[k], reference[k], rtol=1e-4, atol=1e-5)
    assert all(v.dtype == np.float32 for k, v in opt.get_state().items() if k != "iterations")


def test_tiny_float32_gradients_do_not_trip_underflow():
    """Regression: g² of tiny float32 gradients underflows; that must not raise under seterr."""
    params = {"w": np.ones(3, dtype=np.float32)}
    opt = Adam()
    with np.errstate(all="raise"):
        for _ in range(3):
            opt.step(params, {"w": np.full(3, 1e-30, dtype=np.float32)})
    assert np.isfinite(params["w"]).all()


# -- configuration and lookup ----------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_config_round_trip(case):
    opt = CASES[case][0]()
    config = opt.get_config()
    rebuilt = Optimizer.from_config(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(opt) and rebuilt.get_config() == config
    assert optimizers.get(config).get_config() == config


@pytest.mark.parametrize(
    ("name", "cls", "lr"),
    [
        ("sgd", SGD, 0.01),
        ("RMSprop", RMSprop, 0.001),
        ("adagrad", Adagrad, 0.001),
        ("Adam", Adam, 0.001),
        ("ADAMW", AdamW, 0.001),
    ],
)
def test_get_resolves_names_case_insensitively(name, cls, lr):
    opt = optimizers.get(name)
    assert type(opt) is cls and opt.learning_rate == lr and opt.iterations == 0


def test_get_passes_instances_through():
    opt = Adam(0.1)
    assert optimizers.get(opt) is opt


@pytest.mark.parametrize("bad", ["adadelta", None, 0.1])
def test_get_rejects_unknown_names(bad):
    with pytest.raises(
        ValueError, match=r"expected an Optimizer, a config dict or one of .*'adam'"
    ):
        optimizers.get(bad)


def test_from_config_errors():
    with pytest.raises(ValueError, match=r"Optimizer.from_config: expected class_name in"):
        Optimizer.from_config({"class_name": "Lion"})
    with pytest.raises(ValueError, match=r"unexpected keys \['nesterov'\] for Adam"):
        Optimizer.from_config({"class_name": "Adam", "nesterov": True})
    with pytest.raises(ValueError, match=r"SGD.from_config: expected class_name in \['SGD'\]"):
        SGD.from_config({"class_name": "Adam"})


def test_learning_rate_is_a_settable_attribute():
    opt = SGD(0.1)
    opt.learning_rate = 0.0  # a schedule may reach zero
    params = {"w": np.ones(2)}
    opt.step(params, {"w": np.ones(2)})
    np.testing.assert_array_equal(params["w"], 1.0)
    for bad in (-0.1, np.nan, np.inf, "0.1"):
        with pytest.raises(ValueError, match=r"SGD: expected learning_rate ≥ 0 and finite"):
            opt.learning_rate = bad


# -- constructor errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Adam(beta_1=1.5), ValueError, r"Adam: expected beta_1 in \[0, 1\), got 1.5"),
        (lambda: Adam(beta_2=1.0), ValueError, r"Adam: expected beta_2 in \[0, 1\), got 1.0"),
        (lambda: AdamW(beta_1=-0.1), ValueError, r"AdamW: expected beta_1 in \[0, 1\)"),
        (lambda: Adam(epsilon=0.0), ValueError, r"Adam: expected epsilon > 0 and finite, got 0.0"),
        (lambda: Adam(amsgrad=1), TypeError, r"Adam: expected amsgrad to be True or False"),
        (lambda: SGD(0.0), ValueError, r"SGD: expected learning_rate > 0 and finite, got 0.0"),
        (lambda: SGD(-1), ValueError, r"SGD: expected learning_rate > 0 and finite, got -1"),
        (lambda: SGD(float("nan")), ValueError, r"SGD: expected learning_rate > 0 and finite"),
        (lambda: SGD(float("inf")), ValueError, r"SGD: expected learning_rate > 0 and finite"),
        (lambda: SGD("0.1"), ValueError, r"SGD: expected learning_rate > 0 and finite"),
        (lambda: SGD(True), ValueError, r"SGD: expected learning_rate > 0 and finite"),
        (lambda: SGD(momentum=1.0), ValueError, r"SGD: expected momentum in \[0, 1\)"),
        (lambda: SGD(nesterov=True), ValueError, r"SGD: nesterov=True needs momentum > 0"),
        (lambda: SGD(momentum=0.9, nesterov="y"), TypeError, r"SGD: expected nesterov to be"),
        (lambda: SGD(weight_decay=-1.0), ValueError, r"SGD: expected weight_decay ≥ 0"),
        (lambda: RMSprop(rho=1.0), ValueError, r"RMSprop: expected rho in \[0, 1\), got 1.0"),
        (lambda: RMSprop(epsilon=-1e-7), ValueError, r"RMSprop: expected epsilon > 0"),
        (lambda: RMSprop(momentum=-0.5), ValueError, r"RMSprop: expected momentum in \[0, 1\)"),
        (lambda: RMSprop(centered=None), TypeError, r"RMSprop: expected centered to be True"),
        (
            lambda: Adagrad(initial_accumulator_value=-0.1),
            ValueError,
            r"Adagrad: expected initial_accumulator_value ≥ 0 and finite, got -0.1",
        ),
        (lambda: Adagrad(epsilon=np.inf), ValueError, r"Adagrad: expected epsilon > 0 and finite"),
        (lambda: AdamW(weight_decay=-0.1), ValueError, r"AdamW: expected weight_decay ≥ 0"),
        (lambda: Adam(clipnorm=0.0), ValueError, r"Adam: expected clipnorm > 0 and finite"),
        (lambda: Adam(clipvalue=-1.0), ValueError, r"Adam: expected clipvalue > 0 and finite"),
        (
            lambda: Adam(global_clipnorm=np.nan),
            ValueError,
            r"Adam: expected global_clipnorm > 0 and finite",
        ),
        (
            lambda: SGD(clipnorm=1.0, global_clipnorm=1.0),
            ValueError,
            r"SGD: expected at most one of clipnorm and global_clipnorm",
        ),
    ],
)
def test_constructor_rejects_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- step errors -----------------------------------------------------------------------------
def test_step_requires_matching_keys():
    with pytest.raises(
        ValueError,
        match=r"SGD.step: expected grads with the same keys as params; missing \['b'\], "
        r"unexpected \['c'\]",
    ):
        SGD().step({"a": np.zeros(1), "b": np.zeros(1)}, {"a": np.zeros(1), "c": np.zeros(1)})


def test_step_requires_the_same_keys_as_earlier_steps():
    opt = Adam()
    opt.step({"a": np.zeros(1)}, {"a": np.ones(1)})
    with pytest.raises(
        ValueError,
        match=r"Adam.step: expected the same parameter keys as in earlier steps; missing \[\], "
        r"unexpected \['b'\]",
    ):
        opt.step({"a": np.zeros(1), "b": np.zeros(1)}, {"a": np.ones(1), "b": np.ones(1)})


def test_step_requires_matching_shapes():
    with pytest.raises(
        ValueError,
        match=r"Adam.step: expected gradient 'w' of shape \(2, 3\) \(like the param\), "
        r"got \(3, 2\)",
    ):
        Adam().step({"w": np.zeros((2, 3))}, {"w": np.zeros((3, 2))})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_raises_and_updates_nothing(bad):
    opt = Adam(0.1)
    params = make_params()
    opt.step(params, make_grads(1)[0])
    before_params = {k: v.copy() for k, v in params.items()}
    before_state = opt.get_state()
    grads = make_grads(1, seed=7)[0]
    grads["lstm.weight_hh"][3, 1] = bad
    with pytest.raises(
        ValueError,
        match=r"Adam.step: gradient 'lstm.weight_hh' contains NaN or Inf \(first at index \(3, 1\)",
    ):
        opt.step(params, grads)
    assert opt.iterations == 1
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], before_params[k])
    for k, v in opt.get_state().items():
        np.testing.assert_array_equal(v, before_state[k])


@pytest.mark.parametrize(
    ("params", "grads", "error", "match"),
    [
        ([np.zeros(1)], {"w": np.zeros(1)}, TypeError, r"SGD.step: expected params as a dict"),
        ({"w": np.zeros(1)}, None, TypeError, r"SGD.step: expected grads as a dict"),
        ({}, {}, ValueError, r"SGD.step: expected at least one parameter"),
        ({1: np.zeros(1)}, {1: np.zeros(1)}, TypeError, r"SGD.step: expected str keys"),
        (
            {"w": [0.0]},
            {"w": np.zeros(1)},
            TypeError,
            r"SGD.step: expected param 'w' as a float32 or float64 array, got list",
        ),
        (
            {"w": np.zeros(1, dtype=np.int64)},
            {"w": np.zeros(1)},
            TypeError,
            r"SGD.step: expected param 'w' as a float32 or float64 array",
        ),
        (
            {"w": np.zeros(1)},
            {"w": np.zeros(1, dtype=np.int64)},
            TypeError,
            r"SGD.step: expected gradient 'w' as a floating-point array",
        ),
    ],
)
def test_step_rejects_bad_containers(params, grads, error, match):
    with pytest.raises(error, match=match):
        SGD().step(params, grads)


def test_step_rejects_read_only_params():
    w = np.zeros(2)
    w.flags.writeable = False
    with pytest.raises(ValueError, match=r"SGD.step: param 'w' is read-only"):
        SGD().step({"w": w}, {"w": np.ones(2)})


def test_gradient_norm_overflow_is_reported():
    with pytest.raises(ValueError, match=r"the L2 norm of gradient 'w' overflows float64"):
        Adam(global_clipnorm=1.0).step({"w": np.zeros(2)}, {"w": np.full(2, 1e200)})


# -- set_state errors ------------------------------------------------------------------------
def adam_state() -> dict[str, np.ndarray]:
    opt = Adam()
    opt.step({"w": np.zeros((2, 3))}, {"w": np.ones((2, 3))})
    return opt.get_state()


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda s: s.pop("iterations"), ValueError, r"Adam.set_state: expected an 'iterations'"),
        (
            lambda s: s.update(iterations=np.array(-1)),
            ValueError,
            r"expected 'iterations' as a 0-d integer array ≥ 0",
        ),
        (
            lambda s: s.update(iterations=np.array([1])),
            ValueError,
            r"expected 'iterations' as a 0-d integer array",
        ),
        (
            lambda s: s.update(iterations=np.array(1.0)),
            ValueError,
            r"expected 'iterations' as a 0-d integer array",
        ),
        (
            lambda s: s.update({"momentum/w": np.zeros((2, 3))}),
            ValueError,
            r"Adam.set_state: unexpected entry 'momentum/w'; expected 'iterations' and "
            r"'<slot>/<param key>' with slot in \['m', 'v'\]",
        ),
        (lambda s: s.pop("v/w"), ValueError, r"Adam.set_state: missing state entries \['v/w'\]"),
        (
            lambda s: s.update({"v/w": np.zeros((3, 2))}),
            ValueError,
            r"Adam.set_state: state arrays of 'w' disagree",
        ),
        (
            lambda s: s.update({"m/w": np.full((2, 3), np.nan)}),
            ValueError,
            r"Adam.set_state: 'm/w' contains NaN or Inf",
        ),
        (
            lambda s: s.update({"m/w": [[0.0] * 3] * 2}),
            TypeError,
            r"Adam.set_state: expected 'm/w' as a float32 or float64 array, got list",
        ),
    ],
)
def test_set_state_rejects_bad_states(edit, error, match):
    state = adam_state()
    edit(state)
    with pytest.raises(error, match=match):
        Adam().set_state(state)


def test_set_state_rejects_non_dict():
    with pytest.raises(TypeError, match=r"SGD.set_state: expected a dict of arrays, got list"):
        SGD().set_state([])


def test_restored_state_must_fit_the_params():
    opt = Adam()
    opt.set_state(adam_state())
    with pytest.raises(
        ValueError,
        match=r"Adam.step: state m/w has shape \(2, 3\) and dtype float64, but param 'w' has "
        r"shape \(2, 3\) and dtype float32",
    ):
        opt.step({"w": np.zeros((2, 3), np.float32)}, {"w": np.ones((2, 3), np.float32)})
    with pytest.raises(ValueError, match=r"Adam.step: expected the same parameter keys"):
        opt.step({"u": np.zeros((2, 3))}, {"u": np.ones((2, 3))})


# -- clip function errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: clip_by_global_norm({}, 0.0),
            ValueError,
            r"clip_by_global_norm: expected max_norm > 0",
        ),
        (lambda: clip_by_norm({}, -1.0), ValueError, r"clip_by_norm: expected max_norm > 0"),
        (lambda: clip_by_value({}, np.nan), ValueError, r"clip_by_value: expected value > 0"),
        (
            lambda: clip_by_value({"g": np.array([np.nan])}, 1.0),
            ValueError,
            r"clip_by_value: gradient 'g' contains NaN or Inf",
        ),
        (
            lambda: clip_by_global_norm({"g": [1.0]}, 1.0),
            TypeError,
            r"clip_by_global_norm: expected gradient 'g' as a floating-point array, got list",
        ),
        (
            lambda: clip_by_norm([np.ones(1)], 1.0),
            TypeError,
            r"clip_by_norm: expected grads as a dict of arrays, got list",
        ),
    ],
)
def test_clip_functions_reject_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- the torch helper (tests/_torch.py) ------------------------------------------------------
def load_torch_helper_without_torch(monkeypatch, required: bool):
    """A fresh copy of tests/_torch.py in an interpreter where `import torch` fails."""
    monkeypatch.setitem(sys.modules, "torch", None)  # None in sys.modules: ImportError
    if required:
        monkeypatch.setenv("RNNLAB_REQUIRE_TORCH", "1")
    else:
        monkeypatch.delenv("RNNLAB_REQUIRE_TORCH", raising=False)
    path = Path(__file__).with_name("_torch.py")
    spec = importlib.util.spec_from_file_location("_torch_without_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_helper_skips_without_torch(monkeypatch):
    helper = load_torch_helper_without_torch(monkeypatch, required=False)
    assert helper.torch is None

    @helper.requires_torch
    def test_something():
        pass

    marks = {m.name: m for m in test_something.pytestmark}
    assert "torch" in marks and marks["skipif"].args == (True,)
    assert "PyTorch" in marks["skipif"].kwargs["reason"]


def test_torch_helper_fails_without_torch_when_required(monkeypatch):
    helper = load_torch_helper_without_torch(monkeypatch, required=True)
    with pytest.raises(RuntimeError, match=r"test_x needs PyTorch and RNNLAB_REQUIRE_TORCH=1"):

        @helper.requires_torch
        def test_x():
            pass
