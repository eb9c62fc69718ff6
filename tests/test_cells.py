"""The cell protocol: the plain one-step functions, looped in Python, equal the fast
whole-sequence paths; both layouts and keep_cache=False give the same numbers; the registry."""

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import (
    CELLS,
    Cell,
    GRUCell,
    JordanCell,
    LSTMCell,
    SimpleRNNCell,
    get_cell,
    register,
)
from rnnlab.layers import GRU, LSTM, Jordan, SimpleRNN, layer_for_cell

T, B, I, H, O = 6, 3, 4, 5, 3


def _params(rng, cell):
    return {k: 0.5 * rng.standard_normal(s) for k, s in cell.param_shapes(I, H).items()}


def _carry(m, new, old):
    return np.where(m[:, None], new, old)


def _dropped_step(cell):
    """The reference step with the recurrent dropout mask r applied to the fed-back state."""
    if isinstance(cell, LSTMCell):  # r multiplies the h read by the gates, not the carried c
        return lambda p, x, s, r: cell.step(p, x, (s[0] * r, s[1]))
    if isinstance(cell, GRUCell):
        return _gru_step
    return lambda p, x, s, r: cell.step(p, x, (s[0] * r,))


def _gru_step(p, x, s, r):
    # the dropped h feeds the matmuls; z ⊙ h uses the undropped h: split the step accordingly
    h, h_read = s[0], s[0] * r
    rows = [slice(k * H, (k + 1) * H) for k in range(3)]
    w_ih, w_hh, b_ih, b_hh = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    rr = sig(x @ w_ih[rows[0]].T + b_ih[rows[0]] + h_read @ w_hh[rows[0]].T + b_hh[rows[0]])
    z = sig(x @ w_ih[rows[1]].T + b_ih[rows[1]] + h_read @ w_hh[rows[1]].T + b_hh[rows[1]])
    n = np.tanh(
        x @ w_ih[rows[2]].T + b_ih[rows[2]] + rr * (h_read @ w_hh[rows[2]].T + b_hh[rows[2]])
    )
    return ((1 - z) * n + z * h,)


FAMILIES = {
    "simple_tanh": SimpleRNNCell("tanh"),
    "simple_relu": SimpleRNNCell("relu"),
    "lstm": LSTMCell(),
    "gru": GRUCell(),
    "jordan": JordanCell(O, "tanh", "softmax"),
}


def _case(rng, cell):
    p = _params(rng, cell)
    x = rng.standard_normal((T, B, I))
    S = cell.state_size(H)
    states = tuple(0.3 * rng.standard_normal((B, S)) for _ in cell.state_names)
    return p, x, states


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_dropout", [False, True])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fast_path_equals_plain_steps(family, with_mask, with_dropout, rng):
    cell = FAMILIES[family]
    p, x, states = _case(rng, cell)
    S = cell.state_size(H)
    mask = rng.random((T, B)) > 0.3 if with_mask else None
    rmask = (rng.random((B, S)) > 0.5) * 2.0 if with_dropout else None

    outputs, finals, _ = cell.forward(p, x, states, mask=mask, recurrent_mask=rmask)

    s = states
    r = np.ones((B, S)) if rmask is None else rmask
    step = _dropped_step(cell)
    for t in range(T):
        new = step(p, x[t], s, r)
        s = (
            tuple(new)
            if mask is None
            else tuple(_carry(mask[t], n, o) for n, o in zip(new, s, strict=True))
        )
        np.testing.assert_allclose(outputs[t], s[0], rtol=1e-12, atol=1e-13)
    for a, b in zip(finals, s, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_layouts_and_keep_cache_give_the_same_numbers(family, rng):
    """layout "batch" is layout "time" transposed, forward and backward, to the bit; without a
    cache the outputs and final states are the same; the cache's states_at are the outputs."""
    cell = FAMILIES[family]
    p, x, states = _case(rng, cell)
    mask = rng.random((T, B)) > 0.3
    rmask = (rng.random((B, cell.state_size(H))) > 0.5) * 2.0
    d_out = rng.standard_normal((T, B, cell.output_size(H)))
    d_final = tuple(rng.standard_normal(s.shape) for s in states)
    y, finals, cache = cell.forward(p, x, states, mask=mask, recurrent_mask=rmask)
    dx, d_init, grads = cell.backward(cache, d_out, d_final)
    assert cache.layout == "time" and set(grads) == set(p)
    assert all(grads[k].shape == p[k].shape for k in p)

    swap = lambda a: np.ascontiguousarray(a.swapaxes(0, 1))  # noqa: E731
    y_b, finals_b, cache_b = cell.forward(
        p, swap(x), states, mask=swap(mask), recurrent_mask=rmask, layout="batch"
    )
    assert cache_b.layout == "batch"
    np.testing.assert_array_equal(y_b, swap(y))
    dx_b, d_init_b, grads_b = cell.backward(cache_b, swap(d_out), d_final)
    np.testing.assert_array_equal(dx_b, swap(dx))
    for a, b in zip((*finals_b, *d_init_b), (*finals, *d_init), strict=True):
        np.testing.assert_array_equal(a, b)
    for k in grads:
        np.testing.assert_array_equal(grads_b[k], grads[k])

    for layout, xx, mm in (("time", x, mask), ("batch", swap(x), swap(mask))):
        y_n, finals_n, none = cell.forward(
            p, xx, states, mask=mm, recurrent_mask=rmask, keep_cache=False, layout=layout
        )
        assert none is None
        np.testing.assert_array_equal(y_n, y if layout == "time" else swap(y))
        for a, b in zip(finals_n, finals, strict=True):
            np.testing.assert_array_equal(a, b)
    for t in (0, T - 1):
        np.testing.assert_array_equal(cell.states_at(cache, t)[0], y[t])
        np.testing.assert_array_equal(cell.states_at(cache_b, t)[0], y[t])
    # outputs in the batch layout are the caller's: editing them changes no gradient
    y_b[...] = 7.0
    np.testing.assert_array_equal(cell.backward(cache_b, swap(d_out), d_final)[0], dx_b)


def test_lstm_step_matches_equations_written_out(rng):
    """Independent of the package's sigmoid: the gate equations with np.exp."""
    cell = LSTMCell()
    p = _params(rng, cell)
    x, h, c = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = np.split(pre, 4, axis=1)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    h_new, c_out = cell.step(p, x, (h, c))
    np.testing.assert_allclose(c_out, c_new, rtol=1e-13)
    np.testing.assert_allclose(h_new, sig(o) * np.tanh(c_new), rtol=1e-13)


def test_fast_path_float32_stays_float32(rng):
    cell = LSTMCell()
    p = {k: v.astype(np.float32) for k, v in _params(rng, cell).items()}
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = np.zeros((B, H), np.float32)
    hs, (h, c), cache = cell.forward(p, x, (h0, h0))
    assert hs.dtype == h.dtype == c.dtype == np.float32
    dx, (dh, _dc), grads = cell.backward(cache, np.ones_like(hs), (None, None))
    assert dx.dtype == dh.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_local_derivatives_step_equals_the_reference_step(family, rng):
    """The online learners' step (local_derivatives) moves the state as `step` does."""
    cell = FAMILIES[family]
    p, x, states = _case(rng, cell)
    if not cell.has_local_derivatives:
        with pytest.raises(NotImplementedError, match="declares no local derivatives"):
            cell.local_derivatives(p, x[0], states)
        return
    d = cell.local_derivatives(p, x[0], states)
    np.testing.assert_allclose(
        d.state, np.concatenate(cell.step(p, x[0], states), axis=1), rtol=1e-12, atol=1e-14
    )
    G, S = cell.gates, d.state.shape[1]
    assert d.e_in.shape == d.e_rec.shape == (B, S, G)
    assert d.direct.shape == (B, S, len(cell.state_names))


def test_cells_declare_their_parameters_and_the_layers_build_them():
    for cell, layer in (
        (SimpleRNNCell(), SimpleRNN(H)),
        (LSTMCell(), LSTM(H)),
        (GRUCell(), GRU(H)),
        (JordanCell(O), Jordan(H, O)),
    ):
        layer.build((None, I))
        assert {k: v.shape for k, v in layer.params.items()} == cell.param_shapes(I, H)
        assert list(layer.params) == list(cell.param_specs(I, H))  # the same order
        assert layer.cell == cell and layer.state_names == cell.state_names
    assert LSTMCell().param_specs(I, H)["weight_hh"].blocks == 4
    assert JordanCell(O).state_size(H) == O and SimpleRNNCell().state_size(H) == H


def test_cell_options_are_validated_and_immutable():
    assert SimpleRNNCell(activation="relu").options() == {"activation": "relu"}
    assert JordanCell(3).options() == {
        "output_units": 3,
        "activation": "tanh",
        "output_activation": "tanh",
    }
    with pytest.raises(
        ValueError,
        match=r"SimpleRNNCell: expected activation in \['tanh', "
        r"'relu'\], got 'softmax'",
    ):
        SimpleRNNCell("softmax")
    with pytest.raises(ValueError, match="JordanCell: expected output_units to be a positive"):
        JordanCell(0)
    with pytest.raises(TypeError):
        LSTMCell(activation="relu")  # the LSTM has no options
    cell = SimpleRNNCell()
    with pytest.raises(AttributeError):
        cell.activation = "relu"


def test_forward_and_backward_reject_malformed_calls(rng):
    cell = GRUCell()
    p, x, states = _case(rng, cell)
    with pytest.raises(
        ValueError,
        match=r"GRUCell.forward: expected layout in \['time', "
        r"'batch'\], got 'tbi'",
    ):
        cell.forward(p, x, states, layout="tbi")
    with pytest.raises(ValueError, match=r"expected x of rank 3 \(B, T, I\), got \(6, 4\)"):
        cell.forward(p, x[:, 0], states, layout="batch")
    with pytest.raises(ValueError, match=r"expected 1 states \(h\), got 2"):
        cell.forward(p, x, states * 2)
    _, _, none = cell.forward(p, x, states, keep_cache=False)
    with pytest.raises(ValueError, match="expected the cache of a forward with keep_cache"):
        cell.backward(none, None, (None,))
    _, _, cache = cell.forward(p, x, states)
    with pytest.raises(ValueError, match=r"expected 1 final-state gradients \(h\), got 2"):
        cell.backward(cache, None, (None, None))


# -- the registry ------------------------------------------------------------------------------
def test_registry_names_classes_and_layers():
    assert {
        name: cls for name, cls in CELLS.items() if name in ("rnn", "lstm", "gru", "jordan")
    } == {"rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell, "jordan": JordanCell}
    assert get_cell("lstm") is LSTMCell and get_cell(GRUCell) is GRUCell
    assert get_cell(SimpleRNNCell("relu")) is SimpleRNNCell
    assert rnnlab.cells.CELLS is CELLS
    for name, layer in (("rnn", SimpleRNN), ("lstm", LSTM), ("gru", GRU), ("jordan", Jordan)):
        assert layer_for_cell(name) is layer and layer_for_cell(CELLS[name]) is layer
    assert layer_for_cell(LSTMCell()) is LSTM


def test_registry_errors_name_what_is_known():
    with pytest.raises(
        ValueError,
        match=r"unknown cell 'tree'; known cells: \[.*'gru'.*"
        r"'jordan'.*'lstm'.*'rnn'.*\]",
    ):
        get_cell("tree")
    with pytest.raises(ValueError, match="unknown cell 'simple'"):
        layer_for_cell("simple")
    with pytest.raises(TypeError, match="expected a cell name from"):
        get_cell(3)
    with pytest.raises(TypeError, match="expected a subclass of rnnlab.cells.Cell"):
        register(int)

    class Nameless(LSTMCell):
        pass

    with pytest.raises(ValueError, match="needs a class attribute `name`"):
        register(Nameless)

    class Impostor(LSTMCell):
        name = "lstm"

    with pytest.raises(ValueError, match="the name 'lstm' is taken by rnnlab.cells.lstm.LSTMCell"):
        register(Impostor)
    assert CELLS["lstm"] is LSTMCell
    assert issubclass(Impostor, Cell)
