"""Bad input raises ValueError/TypeError naming the layer, what was expected and what came."""

import numpy as np
import pytest

import rnnlab
from helpers import RECURRENT

B, T, I, H = 2, 4, 3, 5


@pytest.fixture(params=list(RECURRENT))
def built(request, rng):
    layer = RECURRENT[request.param](H, name=f"my_{request.param}")
    layer.forward(rng.standard_normal((B, T, I)))
    return layer


def test_wrong_rank(built):
    with pytest.raises(
        ValueError,
        match=rf"'{built.name}'.*rank 3 \(batch, time, features\), "
        r"got shape \(4, 3\) \(rank 2\)",
    ):
        built.forward(np.zeros((T, I)))


def test_wrong_feature_size(built):
    with pytest.raises(
        ValueError,
        match=rf"'{built.name}'.*last dimension 3.*got shape "
        r"\(2, 4, 7\)",
    ):
        built.forward(np.zeros((B, T, 7)))


@pytest.mark.parametrize(
    "bad", [np.zeros((B, T, I), complex), np.full((B, T, I), "a"), np.empty((B, T, I), object)]
)
def test_wrong_dtype(built, bad):
    with pytest.raises(
        TypeError,
        match=rf"'{built.name}'.*expected a real numeric input, "
        rf"got dtype {bad.dtype}",
    ):
        built.forward(bad)


def test_not_an_array(built):
    with pytest.raises(TypeError, match="expected a NumPy array as input, got dict"):
        built.forward({"x": 1})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input(built, value):
    x = np.zeros((B, T, I))
    x[1, 2, 0] = value
    with pytest.raises(ValueError, match=rf"'{built.name}'.*NaN or Inf.*\(1, 2, 0\)"):
        built.forward(x)


def test_mask_wrong_type_dtype_shape(built):
    x = np.zeros((B, T, I))
    with pytest.raises(TypeError, match="mask of dtype bool.*got dtype int64"):
        built.forward(x, mask=np.ones((B, T), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\) = \(2, 4\), got \(2, 3\)"):
        built.forward(x, mask=np.ones((B, T - 1), dtype=bool))
    with pytest.raises(TypeError, match="mask as a bool NumPy array.*got list"):
        built.forward(x, mask=[[True] * T] * B)


def test_initial_state_errors(built):
    x = np.zeros((B, T, I))
    n = len(built.state_names)
    with pytest.raises(ValueError, match=f"initial_state as a list of {n} arrays"):
        built.forward(x, initial_state=[np.zeros((B, built.state_size))] * (n + 1))
    bad = [np.zeros((B, built.state_size + 1))] * n
    with pytest.raises(
        ValueError,
        match=rf"initial state {built.state_names[0]} of shape "
        rf"\(2, {built.state_size}\)",
    ):
        built.forward(x, initial_state=bad)
    nan_state = [np.full((B, built.state_size), np.nan)] * n
    with pytest.raises(ValueError, match="initial state .* contains NaN"):
        built.forward(x, initial_state=nan_state)


def test_backward_errors(built):
    y = built.forward(np.zeros((B, T, I)))
    with pytest.raises(ValueError, match=rf"expected dy of shape \(2, {built.output_size}\)"):
        built.backward(np.zeros((B, T, built.output_size)))
    with pytest.raises(ValueError, match="dy contains NaN"):
        built.backward(np.full_like(y, np.nan))
    with pytest.raises(ValueError, match="return_state=False"):
        built.backward(y, y)


def test_empty_sequences(built):
    with pytest.raises(ValueError, match="at least one sequence and one time step"):
        built.forward(np.zeros((B, 0, I)))


@pytest.mark.parametrize("kind", list(RECURRENT))
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True])
def test_bad_units(kind, units):
    with pytest.raises(ValueError, match=rf"expected units to be a positive int, got {units!r}"):
        RECURRENT[kind](units)


@pytest.mark.parametrize("kind", list(RECURRENT))
@pytest.mark.parametrize("key", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.2"])
def test_bad_dropout(kind, key, rate):
    with pytest.raises(ValueError, match=rf"expected {key} in \[0, 1\), got {rate!r}"):
        RECURRENT[kind](3, **{key: rate})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="SimpleRNN.*expected activation in \\['tanh', 'relu'\\]"):
        rnnlab.SimpleRNN(3, activation="softmax")
    with pytest.raises(TypeError, match="expected return_sequences to be True or False"):
        rnnlab.LSTM(3, return_sequences="yes")
    with pytest.raises(ValueError, match="expected kernel_initializer in"):
        rnnlab.GRU(3, kernel_initializer="he")
    with pytest.raises(TypeError, match="expected dtype 'float32' or 'float64', got 'float16'"):
        rnnlab.GRU(3, dtype="float16")
    with pytest.raises(ValueError, match="expected output_units to be a positive int"):
        rnnlab.Jordan(3, output_units=0)
    with pytest.raises(ValueError, match="expected merge_mode in"):
        rnnlab.Bidirectional(rnnlab.LSTM(3), merge_mode="max")
    with pytest.raises(TypeError, match="Bidirectional: expected a recurrent layer, got Dense"):
        rnnlab.Bidirectional(rnnlab.Dense(3))
    with pytest.raises(ValueError, match="Dropout .*expected rate in \\[0, 1\\)"):
        rnnlab.Dropout(1.0)
    with pytest.raises(ValueError, match="Dense .*expected units to be a positive int"):
        rnnlab.Dense(0)
    with pytest.raises(ValueError, match="expected name to be a non-empty str"):
        rnnlab.Dense(2, name="a.b")


def test_dense_errors(rng):
    dense = rnnlab.Dense(3, name="head")
    with pytest.raises(ValueError, match=r"Dense 'head': expected input of rank ≥ 2"):
        dense.forward(np.zeros(4))
    dense.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Dense 'head': expected input with last dimension 4"):
        dense.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="takes no initial_state"):
        dense.forward(np.zeros((2, 4)), initial_state=[np.zeros(2)])


def test_embedding_errors():
    emb = rnnlab.Embedding(5, 2, name="tokens")
    with pytest.raises(
        TypeError,
        match="Embedding 'tokens': expected integer token ids, got "
        "array of shape \\(2,\\) and dtype float64",
    ):
        emb.forward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected ids in \[0, 5\), got 5"):
        emb.forward(np.array([[1, 5]]))
    with pytest.raises(ValueError, match=r"expected ids in \[0, 5\), got -1"):
        emb.forward(np.array([[-1, 2]]))


def test_bidirectional_errors(rng):
    bi = rnnlab.Bidirectional(rnnlab.LSTM(3, return_state=True), name="bi")
    x = rng.standard_normal((B, T, I))
    with pytest.raises(
        ValueError, match="Bidirectional 'bi': expected initial_state as a list of 4 arrays"
    ):
        bi.forward(x, initial_state=[np.zeros((B, 3))] * 2)
    out = bi.forward(x)
    with pytest.raises(ValueError, match="expected 4 state gradients, got 1"):
        bi.backward(out[0], out[1])
    none_merge = rnnlab.Bidirectional(rnnlab.GRU(3, return_sequences=True), merge_mode=None)
    ys = none_merge.forward(x)
    with pytest.raises(ValueError, match="merge_mode=None: expected dy as a list"):
        none_merge.backward(ys[0])
