"""The seq2seq task trainer: learning, exact resume, refusals, batching, decoding, model dirs."""

import json

import numpy as np
import pytest

from rnnlab import io
from rnnlab.seq2seq import Vocabulary
from rnnlab.tasks.run import Budget
from rnnlab.tasks.seq2seq_train import (
    Seq2SeqSettings,
    Seq2SeqTrainer,
    checkpoint_state,
    decode,
    epoch_batches,
    load_model_dir,
    save_model_dir,
)

SETTINGS = dict(embed_dim=12, units=24, batch_size=16, validate_every=10, learning_rate=1e-2)


def reversal(n, seed):
    """Strings of 3-6 letters; the target is the reversed string."""
    rng = np.random.default_rng(seed)
    src = [
        [str(c) for c in rng.choice(list("abcdefgh"), size=rng.integers(3, 7))] for _ in range(n)
    ]
    return src, [s[::-1] for s in src]


@pytest.fixture(scope="module")
def toy():
    train, valid = reversal(400, 0), reversal(60, 1)
    return train, valid, Vocabulary.build(train[0]), Vocabulary.build(train[1])


def trainer(toy, task="toy", **kw):
    train, valid, sv, tv = toy
    return Seq2SeqTrainer(task, Seq2SeqSettings(**{**SETTINGS, **kw}), sv, tv, train, valid)


def test_loss_falls_and_best_weights_are_kept(toy):
    t = trainer(toy)
    first = t.validation_loss()
    t.fit(Budget(60), max_steps=120)
    assert t.step == 120 and [h["step"] for h in t.history] == list(range(10, 121, 10))
    assert t.best_val_loss < 0.5 * first
    assert t.best_val_loss == min(h["val_loss"] for h in t.history)
    best = t.best_model()
    assert t.validation_loss(best) == pytest.approx(t.best_val_loss, rel=1e-6)


def test_resume_continues_to_the_same_weights(toy, tmp_path):
    full = trainer(toy, sampling_probability=0.3, patience=1).fit(Budget(60), max_steps=45)
    ckpt = tmp_path / "checkpoint.safetensors"
    part = trainer(toy, sampling_probability=0.3, patience=1)
    part.fit(Budget(60), max_steps=17, checkpoint=ckpt)
    assert checkpoint_state(ckpt)["step"] == 17
    train, valid, sv, tv = toy
    resumed = Seq2SeqTrainer.resume(ckpt, "toy", sv, tv, train, valid)
    resumed.fit(Budget(60, spent=resumed.seconds), max_steps=45)
    for key, value in full.model.params.items():
        assert np.array_equal(value, resumed.model.params[key]), key
    assert resumed.optimizer.learning_rate == full.optimizer.learning_rate
    assert full.optimizer.learning_rate < SETTINGS["learning_rate"]  # the schedule acted
    a, b = full.optimizer.get_state(), resumed.optimizer.get_state()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    scheduled = [h for h in resumed.history if h["step"] % 10 == 0]
    assert [h["val_loss"] for h in scheduled] == [h["val_loss"] for h in full.history[:4]]


def test_interrupted_run_writes_its_checkpoint(toy, tmp_path):
    class Stop:
        def update(self, step, **_):
            if step == 7:
                raise KeyboardInterrupt

        def close(self):
            pass

    ckpt = tmp_path / "c.safetensors"
    with pytest.raises(KeyboardInterrupt):
        trainer(toy).fit(Budget(60), progress=Stop(), checkpoint=ckpt)
    state = checkpoint_state(ckpt)
    assert (state["step"], state["task"]) == (7, "toy")
    train, valid, sv, tv = toy
    resumed = Seq2SeqTrainer.resume(ckpt, "toy", sv, tv, train, valid).fit(Budget(60), max_steps=12)
    full = trainer(toy).fit(Budget(60), max_steps=12)
    for key, value in full.model.params.items():
        assert np.array_equal(value, resumed.model.params[key]), key


def test_foreign_checkpoints_are_refused(toy, tmp_path):
    train, valid, sv, tv = toy
    ckpt = tmp_path / "c.safetensors"
    trainer(toy).fit(Budget(60), max_steps=2, checkpoint=ckpt)
    with pytest.raises(io.FormatError, match="task 'toy', not 'g2p'"):
        Seq2SeqTrainer.resume(ckpt, "g2p", sv, tv, train, valid)
    other = Vocabulary([*sv.itos[4:], "zz"])
    with pytest.raises(io.FormatError, match="another vocabulary: the source vocabulary has"):
        Seq2SeqTrainer.resume(ckpt, "toy", other, tv, train, valid)
    swapped = Vocabulary(list(reversed(tv.itos[4:])))
    with pytest.raises(io.FormatError, match="target vocabularies differ at token id 4"):
        Seq2SeqTrainer.resume(ckpt, "toy", sv, swapped, train, valid)
    junk = tmp_path / "junk.safetensors"
    io.save_checkpoint(junk, {"w": np.zeros(2)}, {"task": "toy"})
    with pytest.raises(io.FormatError, match="not a seq2seq checkpoint"):
        Seq2SeqTrainer.resume(junk, "toy", sv, tv, train, valid)


def test_epoch_batches_cover_each_pair_once_sorted_and_seeded():
    lengths = np.random.default_rng(0).integers(1, 30, size=1000)
    batches = epoch_batches(lengths, 8, seed=3, epoch=2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)
    again = epoch_batches(lengths, 8, seed=3, epoch=2)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    other = epoch_batches(lengths, 8, seed=3, epoch=3)
    assert any(not np.array_equal(x, y) for x, y in zip(batches, other, strict=False))
    spread = [lengths[b].max() - lengths[b].min() for b in batches]
    assert np.mean(spread) < 3  # length-bucketed: little padding


def test_decode_keeps_order_names_unknowns_and_matches_single_sources(toy):
    t = trainer(toy).fit(Budget(60), max_steps=60)
    _train, valid, sv, tv = toy
    sources = [*valid[0][:9], ["a", "qq", "b"]]
    many = decode(t.model, sv, tv, sources, beam_width=3, batch_size=4, return_attention=True)
    for src, hyp in zip(sources, many, strict=True):
        (one,) = decode(t.model, sv, tv, [src], beam_width=3, return_attention=True)
        assert one.tokens == hyp.tokens
        assert hyp.attention.shape == (len(hyp.tokens) + 1, len(src) + 1)
        np.testing.assert_allclose(hyp.attention.sum(axis=1), 1.0, rtol=1e-5)
    assert many[-1].unknown == ["qq"] and many[0].unknown == []
    greedy = decode(t.model, sv, tv, sources[:3])
    direct = t.model.greedy(sv.batch(sources[:3]))  # one padded batch, EOS appended
    assert [g.tokens for g in greedy] == [tv.decode(h.tokens) for h in direct]
    with pytest.raises(ValueError, match="source 1 is not a non-empty list"):
        decode(t.model, sv, tv, [["a"], []])
    with pytest.raises(ValueError, match="beam_width"):
        decode(t.model, sv, tv, [["a"]], beam_width=0)


def test_model_dir_round_trip_and_refusals(toy, tmp_path):
    t = trainer(toy).fit(Budget(60), max_steps=5)
    _train, _valid, sv, tv = toy
    save_model_dir(tmp_path, "toy", t.model, sv, tv, {"note": 1})
    model, sv2, tv2, extra = load_model_dir(tmp_path, "toy")
    assert sv2.itos == sv.itos and tv2.itos == tv.itos and extra == {"note": 1}
    for key, value in t.model.params.items():
        assert np.array_equal(value, model.params[key])
    with pytest.raises(io.FormatError, match="a model of task 'toy', not 'translate'"):
        load_model_dir(tmp_path, "translate")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_model_dir(tmp_path / "nope", "toy")
    other = trainer(toy, seed=5).fit(Budget(60), max_steps=1)
    other.model.save(tmp_path / "model.safetensors")  # a different model under the same json
    with pytest.raises(io.FormatError, match="sha256 differs"):
        load_model_dir(tmp_path, "toy")
    (tmp_path / "model.json").write_text(json.dumps({"nothing": 1}))
    with pytest.raises(io.FormatError, match="not a model description"):
        load_model_dir(tmp_path, "toy")


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"units": 0}, "units"),
        ({"attention": "cosine"}, "attention"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"lr_decay": 2.0}, "lr_decay"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_are_refused(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Seq2SeqSettings(**kw)


def test_bad_data_is_refused(toy):
    train, valid, sv, tv = toy
    s = Seq2SeqSettings(**SETTINGS)
    with pytest.raises(ValueError, match="as many training sources as targets"):
        Seq2SeqTrainer("toy", s, sv, tv, (train[0], train[1][:-1]), valid)
    with pytest.raises(ValueError, match="validation source 0 is not a non-empty list"):
        Seq2SeqTrainer("toy", s, sv, tv, train, (["abc"], [["a"]]))
    with pytest.raises(TypeError, match="Vocabulary"):
        Seq2SeqTrainer("toy", s, {"a": 1}, tv, train, valid)
    with pytest.raises(ValueError, match="unknown settings"):
        Seq2SeqSettings.from_config({"units": 3, "colour": "red"})


def test_output_bias_prior_starts_at_the_unigram_loss(toy):
    train, _, _, tv = toy
    plain, prior = trainer(toy), trainer(toy, output_bias_prior=True)
    counts = np.ones(len(tv))  # add-one smoothing
    for seq in train[1]:
        for token in [*seq, "<eos>"]:
            counts[tv.stoi[token]] += 1
    bias = prior.model.params["decoder.output.bias"].astype(np.float64)
    p = np.exp(bias - bias.max())
    np.testing.assert_allclose(p / p.sum(), counts / counts.sum(), rtol=1e-5)
    assert abs(bias.mean()) < 1e-5
    assert np.all(plain.model.params["decoder.output.bias"] == 0)
    assert prior.validation_loss() < plain.validation_loss()
