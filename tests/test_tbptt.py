"""Truncated BPTT over streams: stream layout, carried states, document resets, evaluation,
checkpoint/resume to bit-identical weights."""

import numpy as np
import pytest

import rnnlab
from rnnlab.training import TBPTTTrainer, make_streams

V = 7


def _model(seed=0, cell=rnnlab.LSTM, layers=1):
    stack = [rnnlab.Embedding(V, 4, dtype="float64", seed=seed, name="emb")]
    for i in range(layers):
        stack.append(
            cell(5, return_sequences=True, dtype="float64", seed=seed + 1 + i, name=f"rnn{i}")
        )
    stack.append(rnnlab.Dense(V, dtype="float64", seed=seed + 9, name="out"))
    model = rnnlab.Sequential(stack, seed=seed)
    model.build((None,))
    model.compile(
        optimizer=rnnlab.optimizers.Adam(0.01, global_clipnorm=1.0),
        loss=rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _docs(rng, lengths):
    return [rng.integers(0, V, size=n) for n in lengths]


def test_make_streams_layout(rng):
    docs = _docs(rng, [50, 7, 33, 2, 90])
    s = make_streams(docs, n_streams=3, k1=8)
    assert s.inputs.shape == s.targets.shape == s.valid.shape == s.starts.shape
    assert s.length % 8 == 0 and s.n_windows == s.length // 8
    assert s.n_tokens == sum(len(d) - 1 for d in docs)
    assert np.all(np.flatnonzero(s.starts.any(axis=0)) % 8 == 0)  # starts on window bounds
    # reading the valid pairs of the streams in order gives back every document's pairs
    pairs = np.concatenate(
        [np.stack([s.inputs[b][s.valid[b]], s.targets[b][s.valid[b]]]) for b in range(3)], axis=1
    )
    expected = np.concatenate([np.stack([d[:-1], d[1:]]) for d in docs], axis=1)
    np.testing.assert_array_equal(pairs, expected)
    assert np.all(s.inputs[~s.valid] == 0)


def test_make_streams_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        make_streams([], 2, 4)
    with pytest.raises(ValueError, match="1-D integer array"):
        make_streams([np.zeros(5)], 2, 4)
    with pytest.raises(ValueError, match="cannot fill 10 streams"):
        make_streams([np.arange(4)], 10, 4)
    with pytest.raises(ValueError, match="expected k1 to be a positive int"):
        make_streams([np.arange(4)], 1, 0)


def _states_by_full_forward(model, x):
    """States after every step of one uninterrupted forward from zero state."""
    recurrent = model.recurrent_layers()[0]
    model.forward(x)
    return recurrent


@pytest.mark.parametrize("k1,k2", [(4, 4), (4, 6), (4, 9), (5, 5)])
def test_carried_state_equals_uninterrupted_run(k1, k2, rng):
    doc = rng.integers(0, V, size=61)
    streams = make_streams([doc], n_streams=1, k1=k1)
    model = _model()
    trainer = TBPTTTrainer(model, k1, k2)
    model.optimizer.learning_rate = 0.0  # weights fixed: compare states only
    reference = _model()  # same seeds, same weights
    ref_layer = reference.recurrent_layers()[0]
    reference.forward(streams.inputs[:, : streams.length], mask=streams.valid)
    for window in range(streams.n_windows - 1):
        trainer.train_window(streams, window * k1)
        w_next = max(0, (window + 2) * k1 - k2)
        if w_next == 0:
            continue
        expected = ref_layer.state_at(w_next - 1)
        for got, want in zip(trainer.carry[0], expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_documents_start_from_zero_state(rng):
    a, b = _docs(rng, [13, 20])
    k1 = 4
    streams = make_streams([a, b], n_streams=1, k1=k1)
    model = _model()
    trainer = TBPTTTrainer(model, k1, k2=7)
    model.optimizer.learning_rate = 0.0
    start_b = int(np.flatnonzero(streams.starts[0])[1])
    outputs = {}
    for window in range(streams.n_windows):
        p = window * k1
        y, _, loss_mask = trainer.cursor.run(model, streams, p, training=False)
        if p == start_b:
            w = max(0, p + k1 - 7)
            outputs["b"] = y[0, p - w :]
            assert not loss_mask[0, : p - w].any()
    alone = _model().forward(b[None, :k1])
    np.testing.assert_allclose(outputs["b"], alone[0], rtol=1e-12, atol=1e-14)


def test_loss_counts_only_the_last_k1_positions(rng):
    doc = rng.integers(0, V, size=40)
    streams = make_streams([doc], n_streams=1, k1=4)
    model = _model()
    trainer = TBPTTTrainer(model, 4, k2=10)
    for window in range(3):
        p = window * 4
        _x, _step_mask, loss_mask, _, _targets = trainer.cursor.prepare(streams, p)
        w = max(0, p + 4 - 10)
        assert loss_mask.sum() == 4 and np.all(loss_mask[0, p - w :])
        loss, n = trainer.train_window(streams, p)
        assert n == 4 and np.isfinite(loss)


def test_evaluate_equals_one_long_forward(rng):
    docs = _docs(rng, [45])
    streams = make_streams(docs, n_streams=1, k1=8)
    model = _model()
    trainer = TBPTTTrainer(model, 8)
    got = trainer.evaluate(streams)
    y = _model().forward(streams.inputs, mask=streams.valid)
    want = model.loss(streams.targets, y, streams.valid)
    assert got == pytest.approx(want, rel=1e-12)


def test_training_reduces_loss_on_a_learnable_stream():
    pattern = np.tile(np.array([0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]), 40)
    streams = make_streams([pattern, pattern], n_streams=2, k1=12)
    model = _model()
    trainer = TBPTTTrainer(model, 12)
    before = trainer.evaluate(streams)
    trainer.fit(streams, epochs=15)
    after = trainer.evaluate(streams)
    assert after < 0.2 * before


@pytest.mark.parametrize("k2", [6, 10])
def test_resume_is_bit_identical(k2, rng):
    docs = _docs(rng, [80, 55, 31])
    streams = make_streams(docs, n_streams=2, k1=6)

    def fresh():
        m = _model(seed=3, cell=rnnlab.GRU, layers=2)
        m.layers[2].dropout = 0.3  # dropout draws from the layer's RNG: must resume exactly
        return TBPTTTrainer(m, 6, k2)

    straight = fresh()
    straight.fit(streams, epochs=2)
    interrupted = fresh()
    interrupted.fit(streams, max_steps=9)  # mid-epoch
    tensors, state = interrupted.state()
    resumed = fresh()
    resumed.model.optimizer.step(
        resumed.model.named_params(),
        {k: np.zeros_like(v) for k, v in resumed.model.named_params().items()},
    )  # perturb its state
    resumed.load_state({k: v.copy() for k, v in tensors.items()}, state)
    resumed.fit(streams, epochs=2)
    assert resumed.progress.steps == straight.progress.steps
    for key, value in straight.model.named_params().items():
        np.testing.assert_array_equal(resumed.model.named_params()[key], value, err_msg=key)


def test_trainer_errors():
    model = _model()
    with pytest.raises(ValueError, match="expected k2 ≥ k1 = 8"):
        TBPTTTrainer(model, 8, 4)
    backwards = rnnlab.Sequential(
        [
            rnnlab.Embedding(V, 3),
            rnnlab.GRU(3, return_sequences=True, go_backwards=True),
            rnnlab.Dense(V),
        ]
    )
    backwards.compile("adam", rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="reads backwards"):
        TBPTTTrainer(backwards, 4)
    uncompiled = rnnlab.Sequential([rnnlab.Dense(2)])
    with pytest.raises(RuntimeError, match="call compile\\(\\) before TBPTTTrainer"):
        TBPTTTrainer(uncompiled, 4)
    streams = make_streams([np.arange(V)], 1, k1=3)
    with pytest.raises(ValueError, match="aligned for k1 = 3"):
        TBPTTTrainer(model, 4).fit(streams)


def test_segment_length_adds_fresh_starts(rng):
    docs = _docs(rng, [100, 30])
    plain = make_streams(docs, n_streams=1, k1=4)
    seg = make_streams(docs, n_streams=1, k1=4, segment_length=25)
    assert plain.starts.sum() == 2
    assert seg.starts.sum() == 4 + 2  # 99 pairs -> 4 segments, 29 pairs -> 2
    assert seg.n_tokens == plain.n_tokens
    assert np.all(np.flatnonzero(seg.starts[0]) % 4 == 0)
    np.testing.assert_array_equal(seg.inputs[seg.valid], plain.inputs[plain.valid])
