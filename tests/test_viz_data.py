"""The explorer's data contract (rnnlab.viz.data) and its models (rnnlab.viz.models).

Shapes and keys as the web side expects them, and numbers checked against the engine computed
another way: the layers' own whole-sequence backward, finite differences, rnnlab.generate.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

import rnnlab
from rnnlab import losses
from rnnlab.generate import generate, sampling_distribution
from rnnlab.viz import data
from rnnlab.viz import models as models_mod
from rnnlab.viz.models import ExplorerModels


@pytest.fixture(scope="module")
def models():
    return ExplorerModels.for_tests()


def floats_in(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from floats_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from floats_in(v)


def check_json(result: dict, view: str) -> None:
    assert result["view"] == view
    text = json.dumps(result, allow_nan=False)  # plain JSON types, no NaN/Inf
    assert json.loads(text) == result
    for x in floats_in(result):
        assert float(f"{x:.5g}") == x  # rounded to 5 significant digits


def one_hot(ids, V):
    x = np.zeros((1, len(ids), V))
    x[0, np.arange(len(ids)), ids] = 1.0
    return x


def elman64(model):
    """float64 copies of the Elman model's SimpleRNN and Dense."""
    rnn, dense = model.layers
    r = rnnlab.SimpleRNN(rnn.units, return_sequences=True, dtype="float64")
    d = rnnlab.Dense(dense.units, dtype="float64")
    r.build((None, rnn.input_shape[-1]))
    d.build((rnn.units,))
    for src, dst in ((rnn, r), (dense, d)):
        for k, v in src.params.items():
            dst.params[k][...] = v
    return r, d


def elman_loss_and_grads(model, vocab, text):
    """Σ_t CE of next-character prediction and the layers' whole-sequence gradients."""
    r, d = elman64(model)
    ids = vocab.encode(text)
    x, y = one_hot(ids[:-1], len(vocab)), ids[1:][None].astype(np.int64)
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    value, dz = ce.value_and_grad(y, d.forward(r.forward(x)))
    T = y.shape[1]
    r.backward(d.backward(dz * T))
    return value * T, {
        "W_xh": r.grads["weight_ih"],
        "W_hh": r.grads["weight_hh"],
        "W_hy": d.grads["weight"],
    }


def elman_loss(model, vocab, text, key, w):
    r, d = elman64(model)
    target = {
        "W_xh": r.params["weight_ih"],
        "W_hh": r.params["weight_hh"],
        "W_hy": d.params["weight"],
    }[key]
    target[...] = w
    ids = vocab.encode(text)
    ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    z = d.forward(r.forward(one_hot(ids[:-1], len(vocab))))
    return ce(ids[1:][None].astype(np.int64), z) * (len(ids) - 1)


# -- the catalogue ---------------------------------------------------------------------------------
def test_views_and_dispatch(models):
    assert data.VIEWS == (
        "unroll",
        "hidden-state",
        "weight-sharing",
        "generation",
        "vanishing-gradients",
        "bptt-flow",
        "attention",
        "forecast",
    )
    for view in data.VIEWS:
        result = data.compute(view, models, {})
        check_json(result, view)
        assert result == data.FUNCTIONS[view](models)
    assert data.parameters("generation") == {
        "prime": "ROMEO:",
        "temperature": 0.8,
        "seed": 0,
        "steps": 80,
    }
    assert data.parameters("vanishing-gradients")["cells"] == ["rnn", "lstm", "gru"]


@pytest.mark.parametrize(
    "view, params, match",
    [
        ("nope", {}, "unknown view"),
        ("unroll", {"txt": "a"}, r"unknown parameter\(s\) \['txt'\]"),
        ("unroll", {"text": ""}, "unroll: expected text of 1 to 64 characters, got 0"),
        ("unroll", {"text": "x" * 300}, "expected text of 1 to 64 characters, got 300"),
        ("unroll", {"text": "héllo"}, r"character 'é' \(U\+00E9\) at position 1"),
        ("unroll", {"text": 5}, "expected text to be a string"),
        ("hidden-state", {"text": "..."}, "at least one word"),
        ("hidden-state", {"text": "a " * 61}, "at most 60 words, got 61"),
        ("hidden-state", {"text": "a" * 301}, "1 to 300 characters"),
        ("weight-sharing", {"text": "a"}, "2 to 64 characters"),
        ("generation", {"prime": ""}, "prime of 1 to 64"),
        ("generation", {"temperature": 3.5}, r"temperature to be a number in \[0, 3\]"),
        ("generation", {"temperature": float("nan")}, "temperature"),
        ("generation", {"temperature": True}, "temperature"),
        ("generation", {"steps": 0}, r"steps to be an int in \[1, 200\]"),
        ("generation", {"steps": 201}, "steps"),
        ("generation", {"steps": 2.0}, "steps"),
        ("generation", {"seed": -1}, "seed"),
        ("generation", {"seed": "x"}, "seed to be an int"),
        ("vanishing-gradients", {"cells": []}, "non-empty list"),
        ("vanishing-gradients", {"cells": ["rnn", "tree"]}, "expected cells from"),
        ("vanishing-gradients", {"cells": ["rnn", "rnn"]}, "distinct"),
        ("vanishing-gradients", {"cells": 5}, "non-empty list"),
        ("vanishing-gradients", {"init": "he"}, "init in"),
        ("vanishing-gradients", {"clip": 0.0}, "clip > 0"),
        ("vanishing-gradients", {"clip": -1.0}, "clip"),
        ("vanishing-gradients", {"spectral_radius": 3.5}, r"spectral_radius .* \[0.1, 3\]"),
        ("vanishing-gradients", {"spectral_radius": 0.05}, "spectral_radius"),
        ("vanishing-gradients", {"length": 4}, r"length to be an int in \[5, 200\]"),
        ("vanishing-gradients", {"length": 201}, "length"),
        ("vanishing-gradients", {"units": 3}, r"units to be an int in \[4, 128\]"),
        ("vanishing-gradients", {"units": 129}, "units"),
        ("bptt-flow", {"text": "h"}, "2 to 12 characters"),
        ("bptt-flow", {"text": "hello world!!"}, "2 to 12 characters, got 13"),
    ],
)
def test_bad_parameters_raise_value_error(models, view, params, match):
    with pytest.raises(ValueError, match=match):
        data.compute(view, models, params)


def test_compute_converts_strings_from_a_query(models):
    a = data.compute("generation", models, {"temperature": "0.5", "steps": "3", "seed": "2"})
    b = data.generation(models, temperature=0.5, steps=3, seed=2)
    assert a == b
    v = data.compute(
        "vanishing-gradients",
        models,
        {"cells": "rnn, gru", "clip": "none", "length": "6", "spectral_radius": "1.5"},
    )
    assert [s["cell"] for s in v["series"]] == ["rnn", "gru"] and v["length"] == 6
    with pytest.raises(ValueError, match="expected steps to be an int"):
        data.compute("generation", models, {"steps": "many"})
    with pytest.raises(ValueError, match="expected the parameters as an object"):
        data.compute("unroll", models, ["text"])
    with pytest.raises(TypeError, match="expected ExplorerModels"):
        data.unroll(object())
    with pytest.raises(ValueError, match="non-empty list"):  # a str is no list of cells
        data.vanishing_gradients(models, cells="rnn")


# -- 1. unroll -------------------------------------------------------------------------------------
def test_unroll(models):
    r = data.unroll(models, text="to be")
    check_json(r, "unroll")
    rnn, dense = models.char_rnn.layers
    H, V = rnn.units, len(models.char_vocab)
    assert r["tokens"] == list("to be") and r["hidden_size"] == H and r["vocab_size"] == V
    assert [(m["name"], m["shape"]) for m in r["matrices"]] == [
        ("W_xh", [H, V]),
        ("W_hh", [H, H]),
        ("W_hy", [V, H]),
    ]
    assert r["matrices"][1]["norm"] == pytest.approx(
        np.linalg.norm(rnn.params["weight_hh"]), rel=1e-4
    )
    hs = rnn.forward(one_hot(models.char_vocab.encode("to be"), V))[0]
    logits = dense.forward(hs)
    assert len(r["steps"]) == 5
    for t, step in enumerate(r["steps"]):
        assert step["t"] == t and step["token"] == "to be"[t]
        np.testing.assert_allclose(step["h"], hs[t], rtol=1e-4, atol=1e-6)
        p = sampling_distribution(logits[t], 1.0)
        assert len(step["top"]) == 5
        ps = [item["p"] for item in step["top"]]
        assert ps == sorted(ps, reverse=True) and sum(ps) <= 1
        assert step["top"][0]["char"] == models.char_vocab.decode([int(np.argmax(p))])
        assert ps[0] == pytest.approx(p.max(), rel=1e-4)


# -- 2. hidden state -------------------------------------------------------------------------------
def test_hidden_state_running_prediction_is_the_model_on_each_prefix(models):
    r = data.hidden_state(models, text="The movie was GREAT, zzyzx!")
    check_json(r, "hidden-state")
    assert r["words"] == ["the", "movie", "was", "great", "zzyzx", "!"]
    assert r["known"] == [True, True, True, True, False, False]
    assert r["units"] == 8 and r["label_names"] == ["negative", "positive"]
    assert np.array(r["h"]).shape == (6, 8)
    ids, _ = models.word_vocab.encode(r["words"])
    for t in range(len(ids)):
        p = models.sentiment.forward(ids[None, : t + 1])[0, 0]  # the model on the prefix
        assert r["prediction"][t] == pytest.approx(float(p), rel=1e-4, abs=1e-6)
        assert 0 < r["prediction"][t] < 1


# -- 3. parameter sharing --------------------------------------------------------------------------
def test_weight_sharing_contributions_sum_to_the_layer_backward(models):
    text = "to be or not"
    r = data.weight_sharing(models, text=text)
    check_json(r, "weight-sharing")
    T = len(text) - 1
    loss, grads = elman_loss_and_grads(models.char_rnn, models.char_vocab, text)
    assert r["tokens"] == list(text)
    assert r["loss"] == pytest.approx(loss, rel=1e-4)
    assert r["params_shared"] == models.char_rnn.count_params()
    assert r["params_untied"] == T * r["params_shared"]
    H, V = 16, len(models.char_vocab)
    shapes = {"W_xh": [H, V], "W_hh": [H, H], "W_hy": [V, H]}
    for m in r["matrices"]:
        assert m["shape"] == shapes[m["name"]]
        assert len(m["step_norms"]) == len(m["preview_steps"]) == T
        assert m["total_norm"] == pytest.approx(np.linalg.norm(grads[m["name"]]), rel=1e-4)
        assert m["sum_check"] < 1e-12
        blocks = np.array(m["preview_steps"])
        assert (
            blocks.shape[1:]
            == {"W_xh": (8, len(set(text[:-1]))), "W_hh": (8, 8), "W_hy": (len(set(text[1:])), 8)}[
                m["name"]
            ]
        )
        np.testing.assert_allclose(blocks.sum(axis=0), m["preview_total"], rtol=1e-3, atol=1e-5)
        assert len(m["preview_rows"]) == blocks.shape[1]
        assert len(m["preview_cols"]) == blocks.shape[2]
    by_name = {m["name"]: m for m in r["matrices"]}
    assert by_name["W_hh"]["step_norms"][0] == 0  # h_{-1} = 0: step 0 adds nothing to W_hh
    # the W_xh block shows the input characters' columns: 't', 'o', ' ', 'b', 'e', 'r', 'n'
    assert by_name["W_xh"]["preview_cols"] == ["t", "o", "␣", "b", "e", "r", "n"]


def test_weight_sharing_total_matches_finite_differences(models):
    text = "abcab"
    r = data.weight_sharing(models, text=text)
    w = models.char_rnn.layers[0].params["weight_hh"].astype(np.float64)
    eps = 1e-6
    fd = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        fd[idx] = (
            elman_loss(models.char_rnn, models.char_vocab, text, "W_hh", wp)
            - elman_loss(models.char_rnn, models.char_vocab, text, "W_hh", wm)
        ) / (2 * eps)
    total = next(m for m in r["matrices"] if m["name"] == "W_hh")["total_norm"]
    assert total == pytest.approx(np.linalg.norm(fd), rel=1e-4)


# -- 4. generation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.0, 0.3, 1.0, 2.5])
def test_generation_samples_like_rnnlab_generate(models, temperature):
    r = data.generation(models, prime="ROMEO:", temperature=temperature, seed=7, steps=30)
    check_json(r, "generation")
    expected = generate(models.char_lm, models.char_lm_vocab, "ROMEO:", 30, temperature, seed=7)
    assert r["text"] == expected
    assert r["prime"] == "ROMEO:" and r["temperature"] == temperature and r["seed"] == 7
    assert [s["sampled"] for s in r["steps"]] == list(expected)
    assert [s["input"] for s in r["steps"]] == [":", *expected[:-1]]
    check_probabilities(models.char_lm, models.char_lm_vocab, r, temperature)


def check_probabilities(model, vocab, r, temperature):
    """Each step's top-10 are the sampling distribution of the logits after prime + text."""
    ids = vocab.encode(r["prime"] + r["text"][:-1])
    first = model.layers[0]
    x = (
        ids[None].astype(np.int64)
        if isinstance(first, rnnlab.Embedding)
        else one_hot(ids, len(vocab))
    )
    logits = model.forward(x)[0, len(r["prime"]) - 1 :]  # one row per generation step
    for t, step in enumerate(r["steps"]):
        p = sampling_distribution(logits[t].astype(np.float64), temperature)
        ps = [item["p"] for item in step["probs"]]
        assert len(ps) == 10 and ps == sorted(ps, reverse=True)
        assert sum(ps) <= 1 + 1e-4
        np.testing.assert_allclose(ps, np.sort(p)[::-1][:10], rtol=1e-3, atol=1e-6)
        assert len(step["h"]) <= 32 and step["h_norm"] >= 0
        if temperature == 0:
            assert ps[0] == 1.0 and step["probs"][0]["char"] == step["sampled"]


def test_generation_with_the_one_hot_char_rnn(models):
    m = ExplorerModels(models.char_rnn, models.tiny_rnn, models.sentiment, models.char_rnn)
    r = data.generation(m, prime="to be", temperature=0.9, seed=1, steps=12)
    assert r == data.generation(m, prime="to be", temperature=0.9, seed=1, steps=12)
    check_probabilities(m.char_rnn, m.char_vocab, r, 0.9)
    assert len(r["steps"][0]["h"]) == 16


# -- 5. vanishing gradients ------------------------------------------------------------------------
def test_vanishing_gradients_shapes_and_last_norm(models):
    r = data.vanishing_gradients(models, length=20, units=8)
    check_json(r, "vanishing-gradients")
    assert r["length"] == 20 and r["spectral_radius"] == 1.0
    assert [(s["cell"], s["init"]) for s in r["series"]] == [
        ("rnn", "orthogonal"),
        ("lstm", "orthogonal"),
        ("gru", "orthogonal"),
    ]
    for s in r["series"]:
        assert len(s["norms"]) == 20
        assert s["norms"][-1] == pytest.approx(1.0)  # ∂(u·h_T)/∂h_T = u, a unit vector
    assert data.vanishing_gradients(None, length=20, units=8) == r  # no models needed


@pytest.mark.parametrize("init", ["orthogonal", "random"])
def test_gated_cells_keep_gradients_longer_than_a_contracting_rnn(models, init):
    r = data.vanishing_gradients(models, init=init, spectral_radius=0.5, length=60)
    first = {s["cell"]: s["norms"][0] for s in r["series"]}
    assert first["rnn"] < 1e-15
    assert first["lstm"] > 1e6 * first["rnn"]
    assert first["gru"] > 1e6 * first["rnn"]


@pytest.mark.parametrize("init", ["orthogonal", "random"])
def test_rnn_gradients_explode_with_spectral_radius_above_one(models, init):
    norms = {
        g: data.vanishing_gradients(models, cells=["rnn"], init=init, spectral_radius=g, length=40)[
            "series"
        ][0]["norms"]
        for g in (0.8, 2.5)
    }
    assert norms[2.5][0] > 10.0  # grows going back in time
    assert norms[2.5][0] > norms[2.5][-1]
    assert norms[0.8][0] < 1e-3  # shrinks
    clipped = data.vanishing_gradients(
        models, cells=["rnn"], init=init, spectral_radius=2.5, length=40, clip=1.0
    )["series"][0]["norms"]
    assert max(clipped) <= 1.0 + 1e-9


def test_vanishing_gradients_match_the_whole_sequence_layer(models):
    """The unrolled step copies backpropagate exactly as the whole-sequence layer does: the
    gradient they carry back to the initial state equals the layer's initial_state_grads."""
    from rnnlab.viz.data import _fresh_layer
    from rnnlab.viz.unrolled import step_backward, step_copies, unroll_forward

    for cell in (rnnlab.cells.SimpleRNNCell, rnnlab.cells.LSTMCell, rnnlab.cells.GRUCell):
        layer = _fresh_layer(cell, 6, "random", 1.3, seed=3)
        x = np.random.default_rng(0).standard_normal((1, 9, data.VANISHING_INPUTS))
        u = np.random.default_rng(1).standard_normal((1, 6))
        outputs = layer.forward(x)
        layer.backward(u, *([None] * (len(outputs) - 1)))
        full = layer.initial_state_grads
        steps = step_copies(layer, 9)
        unroll_forward(steps, x)
        d = [u] + [np.zeros((1, 6))] * (len(outputs) - 2)
        for t in range(8, -1, -1):
            d = step_backward(steps[t], d)
        for a, b in zip(d, full, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


# -- 6. BPTT flow ----------------------------------------------------------------------------------
def test_bptt_flow_numbers_are_simple_rnn_backward(models):
    text = "hello"
    r = data.bptt_flow(models, text=text)
    check_json(r, "bptt-flow")
    T, H = len(text) - 1, models.tiny_rnn.layers[0].units
    assert r["tokens"] == list(text) and r["hidden_size"] == H <= 6
    assert [f["t"] for f in r["forward"]] == list(range(T))
    assert [b["t"] for b in r["backward"]] == list(range(T - 1, -1, -1))
    loss, grads = elman_loss_and_grads(models.tiny_rnn, models.tiny_vocab, text)
    assert sum(f["loss"] for f in r["forward"]) == pytest.approx(loss, rel=1e-4)
    final = r["final"]
    for key in ("W_xh", "W_hh", "W_hy"):
        assert final[f"d{key}_norm"] == pytest.approx(np.linalg.norm(grads[key]), rel=1e-4)
    assert final["check_vs_layer_backward"] < 1e-12
    # the accumulated norms end at the whole gradient's norm
    assert r["backward"][-1]["dW_xh_accum_norm"] == pytest.approx(final["dW_xh_norm"], rel=1e-4)
    assert r["backward"][-1]["dW_hh_accum_norm"] == pytest.approx(final["dW_hh_norm"], rel=1e-4)
    hs = {f["t"]: np.array(f["h"]) for f in r["forward"]}
    for b in r["backward"]:
        dh = np.array(b["dh"])
        assert len(dh) == H and len(b["delta"]) == H
        np.testing.assert_allclose(
            dh, np.add(b["dh_from_output"], b["dh_from_next"]), rtol=1e-3, atol=1e-6
        )
        # δ_t = dh_t ⊙ (1 − h_t²) (tanh), from the engine's bias gradient of step t
        np.testing.assert_allclose(b["delta"], dh * (1 - hs[b["t"]] ** 2), rtol=2e-3, atol=1e-6)
        # step t's W_xh contribution δ_t x_tᵀ with one-hot x_t has norm ‖δ_t‖
        assert b["dW_xh_step_norm"] == pytest.approx(np.linalg.norm(b["delta"]), rel=1e-3)
    assert r["backward"][0]["dh_from_next"] == [0.0] * H  # nothing after the last step
    assert r["backward"][-1]["dW_hh_step_norm"] == 0.0  # h_{-1} = 0


# -- models ----------------------------------------------------------------------------------------
def test_for_tests_is_fast_and_deterministic():
    t0 = time.perf_counter()
    a = ExplorerModels.for_tests()
    assert time.perf_counter() - t0 < 1.0
    b = ExplorerModels.for_tests()
    for view in data.VIEWS:
        assert data.compute(view, a, {}) == data.compute(view, b, {})
    assert set(a.describe()) == {"char_rnn", "tiny_rnn", "sentiment", "char_lm"}
    json.dumps(a.describe())


def test_models_are_validated(models):
    with pytest.raises(ValueError, match="at most 6 hidden units"):
        ExplorerModels(models.char_rnn, models.char_rnn, models.sentiment, models.char_lm)
    with pytest.raises(ValueError, match="one-hot → SimpleRNN"):
        ExplorerModels(models.char_lm, models.tiny_rnn, models.sentiment, models.char_lm)
    with pytest.raises(ValueError, match="Embedding\\(mask_zero\\)"):
        ExplorerModels(models.char_rnn, models.tiny_rnn, models.char_lm, models.char_lm)
    bare = rnnlab.Sequential(
        [rnnlab.Embedding(5, 3), rnnlab.LSTM(4, return_sequences=True), rnnlab.Dense(5)]
    )
    bare.build((None,))
    with pytest.raises(ValueError, match="no character vocabulary"):
        ExplorerModels(models.char_rnn, models.tiny_rnn, models.sentiment, bare)


def seed_cache(home, models):
    folder = home / "explorer"
    folder.mkdir(parents=True)
    for key, name in models_mod.FILES.items():
        getattr(models, key).save(folder / name)
    return folder


def test_load_or_train_uses_the_cache_and_a_given_model(tmp_path, models, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = seed_cache(tmp_path / "home", models)
    lines = []
    loaded = ExplorerModels.load_or_train(home=tmp_path / "home", log=lines.append)
    assert "cached" in loaded.sources["char_rnn"] and "char_rnn" in loaded.sources["char_lm"]
    assert data.unroll(loaded, text="hi") == data.unroll(models, text="hi")
    assert any("ready" in line for line in lines) and not any("train" in line for line in lines)

    models.char_lm.save(tmp_path / "lm.safetensors")
    given = ExplorerModels.load_or_train(
        tmp_path / "lm.safetensors", home=tmp_path / "home", log=None
    )
    assert given.sources["char_lm"] == str(tmp_path / "lm.safetensors")
    assert data.generation(given, steps=5) == data.generation(models, steps=5)

    demo = tmp_path / "results" / "demo"
    demo.mkdir(parents=True)
    models.char_lm.save(demo / "model.safetensors")
    found = ExplorerModels.load_or_train(home=tmp_path / "home", log=lines.append)
    assert "demo" in found.sources["char_lm"]
    assert any("the demo's" in line for line in lines)

    with pytest.raises(ValueError, match="budget_seconds"):
        ExplorerModels.load_or_train(home=tmp_path / "home", budget_seconds=1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(models_mod.FILES.values())


def test_a_stale_or_broken_cache_file_is_retrained(tmp_path, models, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = seed_cache(tmp_path / "home", models)
    (folder / "tiny_rnn.safetensors").write_bytes(b"not a model")
    calls = []

    def fake_train(
        corpus, units, seconds, seed=0, log=None, vocab=None, name="char_rnn", embedding=32
    ):
        calls.append((name, units))
        return models.tiny_rnn

    monkeypatch.setattr(models_mod, "train_char_rnn", fake_train)
    monkeypatch.setattr("rnnlab.datasets.load_shakespeare", lambda **kw: None)
    lines = []
    loaded = ExplorerModels.load_or_train(home=tmp_path / "home", log=lines.append)
    assert calls == [("tiny_rnn", models_mod.TINY_UNITS)]
    assert any("cannot use the cached" in line for line in lines)
    assert "trained now" in loaded.sources["tiny_rnn"]
    assert (
        rnnlab.load_model(folder / "tiny_rnn.safetensors").count_params()
        == models.tiny_rnn.count_params()
    )


@pytest.mark.network
def test_load_or_train_from_scratch_within_budget(tmp_path, monkeypatch):
    """The real thing, smaller: fetch both datasets, train the three models, cache them."""
    monkeypatch.chdir(tmp_path)
    lines = []
    t0 = time.perf_counter()
    trained = ExplorerModels.load_or_train(
        home=tmp_path / "home", budget_seconds=20, log=lines.append
    )
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, lines  # 20 s on an idle 2-core machine; CI may be busier
    info = trained.describe()
    assert info["char_rnn"]["units"] == models_mod.CHAR_RNN_UNITS
    assert info["tiny_rnn"]["units"] == models_mod.TINY_UNITS
    assert info["char_rnn"]["validation_loss"] < math.log(info["char_rnn"]["vocab_size"])
    assert info["sentiment"]["validation_accuracy"] > 0.6
    for view in data.VIEWS:
        check_json(data.compute(view, trained, {}), view)
    t0 = time.perf_counter()
    again = ExplorerModels.load_or_train(home=tmp_path / "home", log=None)
    assert time.perf_counter() - t0 < 5
    assert all("cached" in again.sources[k] for k in models_mod.FILES)
    positive = data.hidden_state(again, text="a wonderful , moving and beautiful film")
    negative = data.hidden_state(again, text="a dull , boring and awful mess")
    assert positive["prediction"][-1] > negative["prediction"][-1]
