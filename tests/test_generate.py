"""Sampling: the distribution's options, determinism for a seed, constant-memory streaming."""

import numpy as np
import pytest

import rnnlab
from rnnlab.generate import generate, sample_steps, sampling_distribution, stream


class _Vocab:
    chars = "abcdefg\n"

    def encode(self, text):
        return np.array([self.chars.index(c) for c in text])

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)

    def __len__(self):
        return len(self.chars)


def _model(softmax=False):
    V = len(_Vocab.chars)
    return rnnlab.Sequential(
        [
            rnnlab.Embedding(V, 4, seed=0),
            rnnlab.LSTM(6, return_sequences=True, seed=1),
            rnnlab.Dense(V, activation="softmax" if softmax else None, seed=2),
        ]
    )


def test_temperature_top_k_top_p():
    z = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    np.testing.assert_allclose(sampling_distribution(z), [0.5, 0.3, 0.15, 0.05])
    np.testing.assert_array_equal(sampling_distribution(z, temperature=0), [1, 0, 0, 0])
    hot = sampling_distribution(z, temperature=2.0)
    np.testing.assert_allclose(
        hot, np.sqrt([0.5, 0.3, 0.15, 0.05]) / np.sqrt([0.5, 0.3, 0.15, 0.05]).sum()
    )
    np.testing.assert_allclose(sampling_distribution(z, top_k=2), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(sampling_distribution(z, top_p=0.8), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(
        sampling_distribution(z, top_p=0.81), np.array([0.5, 0.3, 0.15, 0]) / 0.95
    )
    for bad in (dict(temperature=-1), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)):
        with pytest.raises(ValueError, match="expected"):
            sampling_distribution(z, **bad)


def test_same_seed_same_text_and_prime_matters():
    model, vocab = _model(), _Vocab()
    a = generate(model, vocab, "abc", 50, seed=7)
    assert a == generate(model, vocab, "abc", 50, seed=7)
    assert len(a) == 50 and set(a) <= set(vocab.chars)
    assert a != generate(model, vocab, "abc", 50, seed=8)
    assert generate(model, vocab, "abc", 30, temperature=0) == generate(
        model, vocab, "abc", 30, temperature=0, seed=99
    )


def test_streaming_equals_full_forward():
    """Feeding tokens one at a time with carried state gives the one-shot forward's outputs."""
    model, vocab = _model(softmax=True), _Vocab()
    text = generate(model, vocab, "ab", 20, temperature=0)
    ids = vocab.encode("ab" + text)
    full = model.forward(ids[None, :-1])[0]  # (T, V)
    greedy = np.argmax(full[1:], axis=-1)
    np.testing.assert_array_equal(greedy, ids[2:])
    assert all(not layer.stateful for layer in model.recurrent_layers())  # restored


def test_stream_is_lazy_and_validates():
    model, vocab = _model(), _Vocab()
    it = stream(model, vocab, "a", 10**9, seed=0)
    assert len(next(it)) == 1  # a generator: nothing computed ahead
    with pytest.raises(ValueError, match="non-empty priming text"):
        next(stream(model, vocab, "", 5))
    with pytest.raises(ValueError, match="expected length ≥ 0"):
        next(stream(model, vocab, "a", -1))


def test_sample_steps_record_what_each_draw_came_from():
    """Each step: the character read, the hidden state after it (that of a one-shot forward
    over the prime and the samples so far), the distribution of that forward's last logits."""
    model, vocab = _model(), _Vocab()
    steps = list(sample_steps(model, vocab, "abc", 12, temperature=0.7, seed=3))
    text = "".join(s.text for s in steps)
    assert text == generate(model, vocab, "abc", 12, temperature=0.7, seed=3)
    assert [s.t for s in steps] == list(range(12))
    assert [s.input for s in steps] == ["c", *text[:-1]]
    lstm = model.layers[1]
    for s in steps:
        assert vocab.decode([s.token]) == s.text and s.probabilities[s.token] > 0
        read = vocab.encode("abc" + text[: s.t])[None]
        with rnnlab.no_grad():
            logits = model.forward(read)[0, -1].astype(np.float64)
            h = lstm.forward(model.layers[0].forward(read))[0, -1]
        np.testing.assert_allclose(
            s.probabilities, sampling_distribution(logits, 0.7), rtol=1e-4, atol=1e-7
        )
        np.testing.assert_allclose(s.hidden, h, rtol=1e-4, atol=1e-6)
        assert s.hidden.shape == (6,) and s.hidden.dtype == np.float64


def test_sample_steps_read_one_hot_models_and_restore_the_layers_when_closed():
    V = len(_Vocab.chars)
    model = rnnlab.Sequential(
        [rnnlab.SimpleRNN(5, return_sequences=True, seed=4), rnnlab.Dense(V, seed=5)]
    )
    model.build((None, V))
    vocab = _Vocab()
    text = generate(model, vocab, "ab", 15, temperature=0)
    x = np.eye(V, dtype=np.float32)[vocab.encode("ab" + text)][None, :-1]  # (1, T, V)
    np.testing.assert_array_equal(np.argmax(model.forward(x)[0, 1:], axis=-1), vocab.encode(text))
    layer = model.layers[0]
    it = sample_steps(model, vocab, "ab", 100, seed=0)
    next(it)
    assert layer.stateful and layer.states is not None  # carrying state mid-generation
    it.close()
    assert not layer.stateful and layer.states is None
    with pytest.raises(TypeError, match="sample_steps: expected a Sequential"):
        next(sample_steps(object(), vocab, "a", 3))
