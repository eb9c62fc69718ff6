"""Parity with PyTorch (DESIGN.md, Testing): forward values and every gradient, float64, ≤ 1e-9.

Weights are drawn by torch (its default init), copied INTO rnnlab, and both sides see the same
input, initial states and random upstream gradients R (loss = Σ out ⊙ R over every output).
Compared: outputs, final states, ∂L/∂x, every parameter gradient and ∂L/∂(h0, c0).

One harness, `run_case`, drives every recurrent comparison. The rnnlab object it builds reads
the torch direction(s) `dirs`: (0,) a plain layer vs torch's forward direction, (1,) a
go_backwards=True layer vs torch's reverse direction (`*_reverse` weights), (0, 1) a
Bidirectional layer vs torch's bidirectional=True. Masks are compared with
pack_padded_sequence (right padding), or, for masks with holes, with torch run row by row on
the valid steps only (a masked step carries the state, so the two are the same computation).
The last tests check that the harness can fail: a permuted gate order, a dropped mask or a
wrong direction must break it.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from _torch import requires_torch, torch


# requires_torch is a decorator (tests/_torch.py): take the marks it puts on a function and give
# them to the whole module (skip without torch; an error with RNNLAB_REQUIRE_TORCH=1).
@requires_torch
def torch_parity_module() -> None:
    """Carrier of the module's marks."""


pytestmark = torch_parity_module.pytestmark

B, T, I, H = 5, 6, 3, 4
RTOL, ATOL = 1e-9, 1e-10  # float64; ATOL is relative to the scale of the reference
F32_TOL = 1e-5

# right padding, unsorted, with a length-1 row and two full-length rows
LENGTHS = np.array([4, 1, 6, 3, 6])
PADDED = np.arange(T)[None, :] < LENGTHS[:, None]  # (B, T)
# arbitrary masks: holes, leading and trailing masked steps, a single valid step in the middle
HOLES = np.array(
    [
        [1, 0, 1, 1, 0, 1],
        [0, 0, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 1],
        [0, 1, 0, 1, 1, 0],
        [1, 0, 0, 0, 0, 1],
    ],
    dtype=bool,
)

# kind -> (torch.nn class, its kwargs, rnnlab class, its kwargs)
CELLS = {
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}, "SimpleRNN", {"activation": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}, "SimpleRNN", {"activation": "relu"}),
    "lstm": ("LSTM", {}, "LSTM", {}),
    "gru": ("GRU", {}, "GRU", {}),
}
KINDS = list(CELLS)
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
DIRECTIONS = {"forward": (0,), "backward": (1,), "bidirectional": (0, 1)}
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


# -- helpers ----------------------------------------------------------------------------------
def n_states(kind: str) -> int:
    return 2 if kind == "lstm" else 1


def to_numpy(a) -> np.ndarray:
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def check(ours, theirs, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """max |ours - theirs| ≤ rtol·|theirs| + atol·scale, scale = max(1, max |theirs|)."""
    assert theirs is not None, f"{what}: torch has no value (no gradient reached it)"
    theirs = to_numpy(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol * scale, err_msg=what)


def make_torch(kind: str, *, num_layers: int = 1, bidirectional: bool = False, seed: int = 0):
    cls, kwargs, _, _ = CELLS[kind]
    torch.manual_seed(seed)
    return getattr(torch.nn, cls)(
        I,
        H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=True,
        dtype=torch.float64,
        **kwargs,
    )


def make_ours(
    kind: str,
    *,
    input_dim: int = I,
    go_backwards: bool = False,
    bidirectional: bool = False,
    merge_mode: str | None = "concat",
    dtype: str | None = "float64",
    **kwargs,
):
    """A built rnnlab layer (or Bidirectional) reading (B, T, input_dim)."""
    _, _, cls, cls_kwargs = CELLS[kind]
    layer = getattr(rnnlab, cls)(
        H, go_backwards=go_backwards, dtype=dtype, seed=0, **cls_kwargs, **kwargs
    )
    if bidirectional:
        layer = rnnlab.Bidirectional(layer, merge_mode=merge_mode)
    layer.build((T, input_dim))
    return layer


def torch_param(module, key: str, k: int = 0, reverse: bool = False):
    """The torch parameter of an rnnlab params key in layer k: "weight_ih" -> weight_ih_l{k},
    "backward_layer.weight_ih" (or reverse=True) -> weight_ih_l{k}_reverse."""
    prefix, _, name = key.rpartition(".")
    assert prefix in ("", "forward_layer", "backward_layer"), key
    suffix = "_reverse" if reverse or prefix == "backward_layer" else ""
    return getattr(module, f"{name}_l{k}{suffix}")


def copy_weights(layer, module, k: int = 0, reverse: bool = False) -> None:
    """Copy layer k of the torch module INTO the rnnlab layer (every param, shapes checked)."""
    for key, p in layer.params.items():
        w = torch_param(module, key, k, reverse).detach().numpy()
        assert p.shape == w.shape, f"{key}: rnnlab {p.shape} != torch {w.shape}"
        p[...] = w


def expected_keys(dirs) -> set[str]:
    if len(dirs) == 1:
        return set(PARAM_NAMES)
    return {f"{side}.{n}" for side in ("forward_layer", "backward_layer") for n in PARAM_NAMES}


def merge(parts: list, mode):
    """rnnlab's merge of direction outputs, on torch tensors."""
    if len(parts) == 1:
        return parts[0]
    a, b = parts
    return {
        "concat": lambda: torch.cat([a, b], dim=-1),
        "sum": lambda: a + b,
        "mul": lambda: a * b,
        "ave": lambda: (a + b) / 2,
        None: lambda: [a, b],
    }[mode]()


def as_list(y) -> list:
    return list(y) if isinstance(y, (list, tuple)) else [y]


def torch_backward(outputs, upstream) -> None:
    """Backpropagate loss = Σ_j Σ outputs[j] ⊙ upstream[j] through torch."""
    loss = sum((t * torch.as_tensor(r)).sum() for t, r in zip(outputs, upstream, strict=True))
    loss.backward()


def torch_forward(module, xt, mask, h0t, masking: str = "pack"):
    """Run torch on (B, T, I) under a mask. Returns out (B, T, D·H), zero at masked steps, and
    the final states [h_n] or [h_n, c_n], each (L·D, B, H)."""
    hx = None if h0t is None else (tuple(h0t) if len(h0t) == 2 else h0t[0])
    if mask is None:
        out, hn = module(xt, hx)
    elif masking == "pack":
        lengths = mask.sum(axis=1)
        assert (mask == (np.arange(T)[None, :] < lengths[:, None])).all(), "not right-padded"
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False
        )
        out, hn = module(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    else:  # "rows": each row on its valid steps only, outputs scattered back
        return torch_forward_rows(module, xt, mask, h0t)
    return out, (list(hn) if isinstance(hn, tuple) else [hn])


def torch_forward_rows(module, xt, mask, h0t):
    rows, finals = [], []
    for b in range(xt.shape[0]):
        idx = torch.as_tensor(np.flatnonzero(mask[b]))
        hx = None if h0t is None else tuple(s[:, b : b + 1] for s in h0t)
        out_b, hn = module(xt[b : b + 1, idx], hx if hx is None or len(hx) == 2 else hx[0])
        row = torch.zeros(T, out_b.shape[-1], dtype=out_b.dtype).index_put((idx,), out_b[0])
        rows.append(row)
        finals.append(list(hn) if isinstance(hn, tuple) else [hn])
    states = [torch.cat([f[j] for f in finals], dim=1) for j in range(len(finals[0]))]
    return torch.stack(rows), states


def exercise(layer, input_dim: int) -> None:
    """A forward and a backward with whatever weights the layer has (all-ones data)."""

    def ones(a):
        return [np.ones_like(b) for b in a] if isinstance(a, list) else np.ones_like(a)

    out = layer.forward(np.ones((B, T, input_dim)))
    if layer.return_state:
        layer.backward(*(ones(o) for o in out))
    else:
        layer.backward(ones(out))


def run_case(
    kind: str,
    *,
    dirs=(0,),
    num_layers: int = 1,
    merge_mode="concat",
    return_sequences: bool = True,
    return_state: bool = False,
    mask=None,
    masking: str = "pack",
    init: bool = False,
    dtype: str | None = "float64",
    tol=(RTOL, ATOL),
    warmup: bool = False,
    tamper=None,
    seed: int = 0,
) -> None:
    """Build torch and rnnlab with the same weights, run both, compare everything.

    warmup: run each rnnlab layer once with its own initial weights before copying torch's
    (the copied params must take effect, the gradients be overwritten, not accumulated).
    tamper(layers): called after the copy, to check that the comparison can fail.
    """
    D = 2 if 1 in dirs else 1
    assert num_layers == 1 or tuple(dirs) == tuple(range(D)), "stack whole layers only"
    module = make_torch(kind, num_layers=num_layers, bidirectional=D == 2, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I))
    h0 = (
        [0.5 * rng.standard_normal((num_layers * D, B, H)) for _ in range(n_states(kind))]
        if init
        else None
    )
    reverse_only = tuple(dirs) == (1,)

    # rnnlab: layer k reads the outputs of layer k-1 (the concatenated directions)
    layers = []
    for k in range(num_layers):
        last = k == num_layers - 1
        layer = make_ours(
            kind,
            input_dim=I if k == 0 else D * H,
            go_backwards=reverse_only,
            bidirectional=len(dirs) == 2,
            merge_mode=merge_mode if last else "concat",
            return_sequences=return_sequences or not last,
            return_state=return_state,
            dtype=dtype,
        )
        assert set(layer.params) == expected_keys(dirs)
        if warmup:
            exercise(layer, I if k == 0 else D * H)
        copy_weights(layer, module, k, reverse_only)
        layers.append(layer)
    if tamper is not None:
        tamper(layers)

    y, ours_states = x, []
    for k, layer in enumerate(layers):
        init_k = None if h0 is None else [s[k * D + d] for d in dirs for s in h0]
        out = layer.forward(y, mask=mask, initial_state=init_k)
        if return_state:
            y, *states = out
            ours_states.extend(states)
        else:
            y = out
    ours_y = as_list(y)
    ours = ours_y + ours_states

    # torch: the direction(s) `dirs` of the output (or of h_n of the last layer), merged
    xt = torch.tensor(x, requires_grad=True)
    h0t = None if h0 is None else [torch.tensor(s, requires_grad=True) for s in h0]
    out, states = torch_forward(module, xt, mask, h0t, masking)
    top = (num_layers - 1) * D
    parts = (
        [out[..., d * H : (d + 1) * H] for d in dirs]
        if return_sequences
        else [states[0][top + d] for d in dirs]
    )
    theirs = as_list(merge(parts, merge_mode))
    if return_state:
        theirs += [s[k * D + d] for k in range(num_layers) for d in dirs for s in states]
    assert len(theirs) == len(ours)

    upstream = [rng.standard_normal(o.shape) for o in ours]
    torch_backward(theirs, upstream)
    n_y, n_s = len(ours_y), n_states(kind) * len(dirs)
    dy = upstream[0] if n_y == 1 else upstream[:n_y]
    for k in reversed(range(num_layers)):
        dstates = upstream[n_y + k * n_s : n_y + (k + 1) * n_s] if return_state else []
        dy = layers[k].backward(dy, *dstates)
    dx = dy

    rtol, atol = tol
    dtype_ours = layers[0].dtype
    for j, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == dtype_ours, f"output {j}: dtype {a.dtype}, layer dtype {dtype_ours}"
        check(a, b, f"output {j}", rtol, atol)
    assert dx.dtype == dtype_ours
    check(dx, xt.grad, "dL/dx", rtol, atol)
    for k, layer in enumerate(layers):
        assert set(layer.grads) == set(layer.params)
        for key, g in layer.grads.items():
            assert g.dtype == dtype_ours
            check(
                g,
                torch_param(module, key, k, reverse_only).grad,
                f"layer {k} grad {key}",
                rtol,
                atol,
            )
        if init:
            d_init = layer.initial_state_grads
            want = [s.grad[k * D + d] for d in dirs for s in h0t]
            assert len(d_init) == len(want)
            for j, (a, b) in enumerate(zip(d_init, want, strict=True)):
                check(a, b, f"layer {k} dL/d(initial state {j})", rtol, atol)


# -- 1. plain ---------------------------------------------------------------------------------
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_plain(kind, return_sequences):
    # return_sequences=False compares y with h_n[-1]
    run_case(kind, return_sequences=return_sequences)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_plain_return_state(kind, return_sequences):
    # return_sequences=False: y and h are the same state, their upstream gradients add up
    run_case(kind, return_sequences=return_sequences, return_state=True)


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_params_edited_after_a_forward_take_effect(kind, direction):
    run_case(
        kind, dirs=DIRECTIONS[direction], mask=PADDED, return_state=True, init=True, warmup=True
    )


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_chunks_equal_one_torch_run(kind):
    """stateful=True: chunks of a stream continue where the last one stopped; reset_states(idx)
    restarts the given rows from zero."""
    module = make_torch(kind)
    layer = make_ours(kind, stateful=True, return_sequences=True, return_state=True)
    copy_weights(layer, module)
    x = np.random.default_rng(4).standard_normal((B, T, I))
    y1, *_ = layer.forward(x[:, :2])
    y2, *states = layer.forward(x[:, 2:])
    with torch.no_grad():
        out, hn = module(torch.as_tensor(x))
    hn = list(hn) if isinstance(hn, tuple) else [hn]
    check(np.concatenate([y1, y2], axis=1), out, "outputs of the two chunks")
    for j, (a, b) in enumerate(zip(states, hn, strict=True)):
        check(a, b[0], f"final state {j}")

    rows = [1, 3]
    layer.reset_states(rows)
    y3, *_ = layer.forward(x)
    hx = [s.clone() for s in hn]
    for s in hx:
        s[:, rows] = 0.0
    with torch.no_grad():
        out3, _ = module(torch.as_tensor(x), tuple(hx) if len(hx) == 2 else hx[0])
    check(y3, out3, "outputs after reset_states([1, 3])")


# -- 2. masks vs pack_padded_sequence, and masks with holes vs torch row by row ---------------
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_mask_vs_packed(kind, direction, return_sequences):
    # return_sequences=True: outputs (0 at padding) and h_n (return_state);
    # False: y alone, the state after the last valid step (for the reverse: after position 0)
    run_case(
        kind,
        dirs=DIRECTIONS[direction],
        mask=PADDED,
        return_sequences=return_sequences,
        return_state=return_sequences,
    )


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_mask_with_holes_vs_torch_on_valid_steps(kind, direction):
    run_case(kind, dirs=DIRECTIONS[direction], mask=HOLES, masking="rows", return_state=True)


@pytest.mark.parametrize("kind", KINDS)
def test_all_valid_mask_equals_no_mask(kind):
    run_case(kind, dirs=(0, 1), mask=np.ones((B, T), dtype=bool), return_state=True)


# -- 3. go_backwards without a mask vs torch's reverse direction ------------------------------
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_vs_reverse_direction(kind, return_sequences):
    run_case(kind, dirs=(1,), return_sequences=return_sequences, return_state=True)


@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_vs_torch_on_flipped_input(kind):
    """Independent of torch's bidirectional: reading backwards = unidirectional torch on x
    flipped in time, output flipped back."""
    module = make_torch(kind)
    layer = make_ours(kind, go_backwards=True, return_sequences=True, return_state=True)
    copy_weights(layer, module)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, I))
    y, *states = layer.forward(x)
    xt = torch.tensor(x, requires_grad=True)
    out, hn = module(xt.flip(1))
    theirs = [out.flip(1), *(s[0] for s in (hn if isinstance(hn, tuple) else (hn,)))]
    upstream = [rng.standard_normal(a.shape) for a in (y, *states)]
    torch_backward(theirs, upstream)
    dx = layer.backward(*upstream)
    for j, (a, b) in enumerate(zip([y, *states], theirs, strict=True)):
        check(a, b, f"output {j}")
    check(dx, xt.grad, "dL/dx")
    for key, g in layer.grads.items():
        check(g, torch_param(module, key).grad, f"grad {key}")


# -- 4. Bidirectional merge modes --------------------------------------------------------------
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_merge_modes(kind, merge_mode):
    run_case(kind, dirs=(0, 1), merge_mode=merge_mode)


@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_bidirectional_merge_modes_masked_final_states(merge_mode):
    run_case(
        "lstm",
        dirs=(0, 1),
        merge_mode=merge_mode,
        mask=PADDED,
        return_sequences=False,
        return_state=True,
    )


# -- 5. initial states and their gradients ---------------------------------------------------
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_initial_state(kind, direction, masked):
    run_case(
        kind,
        dirs=DIRECTIONS[direction],
        mask=PADDED if masked else None,
        return_state=True,
        init=True,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_with_holes_and_final_state_only(kind):
    # row 1 starts with two masked steps: the initial state must be carried through them
    run_case(
        kind,
        dirs=(0, 1),
        mask=HOLES,
        masking="rows",
        return_sequences=False,
        return_state=True,
        init=True,
    )


# -- 6. stacks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_two_stacked_layers(kind, bidirectional, masked):
    run_case(
        kind,
        dirs=(0, 1) if bidirectional else (0,),
        num_layers=2,
        mask=PADDED if masked else None,
        return_state=True,
        init=True,
    )


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_two_stacked_layers_last_state_only(kind, bidirectional):
    run_case(
        kind,
        dirs=(0, 1) if bidirectional else (0,),
        num_layers=2,
        mask=HOLES,
        masking="rows",
        return_sequences=False,
    )


# -- 7. Dense and Embedding --------------------------------------------------------------------
TORCH_ACTIVATIONS = {
    None: lambda z: z,
    "linear": lambda z: z,
    "tanh": torch.tanh if torch is not None else None,
    "sigmoid": torch.sigmoid if torch is not None else None,
    "relu": torch.relu if torch is not None else None,
    "softmax": (lambda z: torch.softmax(z, dim=-1)) if torch is not None else None,
}


@pytest.mark.parametrize("time_distributed", [False, True], ids=["dense", "time_distributed"])
@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
def test_dense_vs_linear(activation, time_distributed):
    O = 5
    torch.manual_seed(0)
    linear = torch.nn.Linear(I, O, dtype=torch.float64)
    dense = rnnlab.Dense(O, activation=activation, dtype="float64", seed=0)
    layer = rnnlab.TimeDistributed(dense) if time_distributed else dense
    layer.build((T, I))
    dense.params["weight"][...] = linear.weight.detach().numpy()
    dense.params["bias"][...] = linear.bias.detach().numpy()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I))
    R = rng.standard_normal((B, T, O))
    xt = torch.tensor(x, requires_grad=True)
    out = TORCH_ACTIVATIONS[activation](linear(xt))
    (out * torch.as_tensor(R)).sum().backward()
    y = layer.forward(x)
    dx = layer.backward(R)
    check(y, out, "output")
    check(dx, xt.grad, "dL/dx")
    check(layer.grads["weight"], linear.weight.grad, "grad weight")
    check(layer.grads["bias"], linear.bias.grad, "grad bias")


def test_embedding_vs_torch():
    V, E = 7, 3
    torch.manual_seed(0)
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    layer = rnnlab.Embedding(V, E, dtype="float64", seed=0)
    layer.build((T,))
    layer.params["weight"][...] = emb.weight.detach().numpy()
    ids = np.array(
        [
            [1, 2, 2, 0, 6, 1],
            [3, 3, 3, 3, 3, 3],
            [0, 1, 2, 3, 4, 5],
            [6, 6, 0, 0, 1, 2],
            [2, 5, 2, 5, 2, 5],
        ]
    )  # repeated ids accumulate; id 4 only once
    R = np.random.default_rng(2).standard_normal((B, T, E))
    out = emb(torch.as_tensor(ids))
    (out * torch.as_tensor(R)).sum().backward()
    y = layer.forward(ids)
    assert layer.backward(R) is None
    check(y, out, "output")
    check(layer.grads["weight"], emb.weight.grad, "grad weight")
    # a second backward overwrites (does not accumulate into) the gradient
    layer.backward(R)
    check(layer.grads["weight"], emb.weight.grad, "grad weight after a second backward")


# -- 8. float32 (the default dtype) vs torch in float64 ------------------------------------------
@pytest.fixture
def floatx_float32():
    """Layers built without dtype are float32 (restored afterwards for the other tests)."""
    before = rnnlab.config.floatx()
    rnnlab.config.set_floatx("float32")
    yield
    rnnlab.config.set_floatx(before)


@pytest.mark.usefixtures("floatx_float32")
@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_float32_default_close_to_torch_float64(kind, direction):
    assert make_ours(kind, dtype=None).dtype == np.float32
    run_case(
        kind,
        dirs=DIRECTIONS[direction],
        mask=PADDED,
        return_state=True,
        init=True,
        dtype=None,
        tol=(F32_TOL, F32_TOL),
    )


# -- 9. initializers ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_pytorch_uniform_initializer(kind):
    kwargs = {"unit_forget_bias": False} if kind == "lstm" else {}
    layer = make_ours(
        kind,
        kernel_initializer="pytorch_uniform",
        recurrent_initializer="pytorch_uniform",
        bias_initializer="pytorch_uniform",
        **kwargs,
    )
    bound = 1.0 / np.sqrt(H)
    for key, p in layer.params.items():
        assert np.abs(p).max() <= bound, f"{key} exceeds 1/sqrt(H) = {bound}"
    # spread over the whole interval, not a narrower one (e.g. 1/H or 1/sqrt(fan_in))
    everything = np.concatenate([p.ravel() for p in layer.params.values()])
    assert everything.min() < -0.9 * bound and everything.max() > 0.9 * bound
    assert abs(everything.mean()) < 0.2 * bound


def test_lstm_pytorch_uniform_with_unit_forget_bias():
    layer = make_ours(
        "lstm",
        kernel_initializer="pytorch_uniform",
        recurrent_initializer="pytorch_uniform",
        bias_initializer="pytorch_uniform",
    )
    bound = 1.0 / np.sqrt(H)
    for key in PARAM_NAMES:
        p = layer.params[key].copy()
        if key == "bias_ih":
            p[H : 2 * H] -= 1.0  # unit_forget_bias adds 1 to the forget rows
        assert np.abs(p).max() <= bound, key


def test_lstm_default_unit_forget_bias():
    layer = make_ours("lstm")
    b_ih, b_hh = layer.params["bias_ih"], layer.params["bias_hh"]
    np.testing.assert_array_equal(b_ih[H : 2 * H], 1.0)  # rows i, f, g, o: f is H:2H
    np.testing.assert_array_equal(np.delete(b_ih, np.s_[H : 2 * H]), 0.0)
    np.testing.assert_array_equal(b_hh, 0.0)
    off = make_ours("lstm", unit_forget_bias=False)
    np.testing.assert_array_equal(off.params["bias_ih"], 0.0)


# -- the harness can fail -------------------------------------------------------------------
def permute_gates(layers) -> None:
    """Swap the first two gate blocks (LSTM i<->f, GRU r<->z) of every weight and bias."""
    for layer in layers:
        for p in layer.params.values():
            p[: 2 * H] = np.concatenate([p[H : 2 * H], p[:H]])


def drop_mask(layers) -> None:
    for layer in layers:
        forward = layer.forward
        layer.forward = lambda x, mask=None, _f=forward, **kw: _f(x, None, **kw)


def read_forwards(layers) -> None:
    for layer in layers:
        layer.go_backwards = False


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_harness_detects_permuted_gates(kind):
    with pytest.raises(AssertionError):
        run_case(kind, tamper=permute_gates)


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_harness_detects_a_dropped_mask(kind, direction):
    with pytest.raises(AssertionError):
        run_case(
            kind, dirs=DIRECTIONS[direction], mask=PADDED, return_sequences=False, tamper=drop_mask
        )


@pytest.mark.parametrize("kind", KINDS)
def test_harness_detects_the_wrong_direction(kind):
    with pytest.raises(AssertionError):
        run_case(kind, dirs=(1,), tamper=read_forwards)
