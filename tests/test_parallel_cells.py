"""minGRU, minLSTM and the LRU (issue 17): the parallel scans equal the sequential step in
float64 (outputs and every gradient, T up to 4096) and float32, finite-difference gradient
checks for every family and mode, parity with a short PyTorch reference of the papers'
equations, masks, save/load, Bidirectional and the error paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import native
from rnnlab.cells import LRUCell, MinGRUCell, MinLSTMCell, scan
from rnnlab.gradcheck import assert_layer_gradients, relative_error
from rnnlab.layers import LRU, MinGRU, MinLSTM
from rnnlab.training.charlm import char_lm_cells

FAMILIES = {"mingru": MinGRUCell, "minlstm": MinLSTMCell, "lru": LRUCell}
LAYERS = {"mingru": MinGRU, "minlstm": MinLSTM, "lru": LRU}


def params_for(cell, I, H, rng, dtype=np.float64, scale=0.8):
    return {
        k: (scale * rng.standard_normal(s)).astype(dtype)
        for k, s in cell.param_shapes(I, H).items()
    }


def run(cell, params, x, states, mask, d_out, d_final):
    """Outputs, final states and every gradient of one forward/backward, in layout "batch"."""
    y, finals, cache = cell.forward(params, x, states, mask=mask, layout="batch")
    dx, d_init, grads = cell.backward(cache, d_out, d_final)
    return {"y": y, **{f"final{k}": f for k, f in enumerate(finals)}, "dx": dx,
            **{f"d_init{k}": d for k, d in enumerate(d_init)}, **grads}  # fmt: skip


def compare(a: dict, b: dict, tolerance: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        err = relative_error(a[key], b[key])
        assert err <= tolerance, f"{key}: relative error {err:.2e} > {tolerance:.0e}"


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("T", [1, 7, 300, 4096])
def test_parallel_equals_sequential_in_float64(name, T, rng):
    """Every output and gradient within 1e-9; the mask drops a stretch and a tail."""
    cls, B, I, H = FAMILIES[name], 2, 3, 4
    params = params_for(cls(), I, H, rng)
    x = rng.standard_normal((B, T, I))
    mask = np.ones((B, T), bool)
    mask[0, T // 3 : T // 2] = False
    mask[1, -(T // 4) :] = False
    states = tuple(rng.standard_normal((B, H)) for _ in cls.state_names)
    d_out = rng.standard_normal((B, T, H))
    d_final = tuple(rng.standard_normal((B, H)) for _ in cls.state_names)
    for m in (None, mask):
        seq = run(cls(mode="sequential"), params, x, states, m, d_out, d_final)
        par = run(cls(mode="parallel"), params, x, states, m, d_out, d_final)
        compare(seq, par, 1e-9)
        auto = run(cls(mode="auto"), params, x, states, m, d_out, d_final)  # B·H = 8: chunked
        compare(seq, auto, 1e-9)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_float32_modes_agree_within_1e_5(name, rng):
    """float32: the parallel scan, the NumPy loop and (minGRU/minLSTM) the compiled scan."""
    cls, B, T, I, H = FAMILIES[name], 3, 1000, 8, 32
    params = params_for(cls(), I, H, rng, np.float32, scale=0.3)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    mask = rng.random((B, T)) > 0.2
    states = tuple(0.5 * rng.standard_normal((B, H)).astype(np.float32) for _ in cls.state_names)
    d_out = rng.standard_normal((B, T, H)).astype(np.float32)
    d_final = tuple(np.ones((B, H), np.float32) for _ in cls.state_names)
    reference = run(cls(mode="parallel"), params, x, states, mask, d_out, d_final)
    native.set_enabled(False)
    try:
        loop = run(cls(mode="sequential"), params, x, states, mask, d_out, d_final)
    finally:
        native.set_enabled(True)
    compare(reference, loop, 1e-5)
    assert all(v.dtype == np.float32 for v in loop.values())
    if name != "lru" and native.serves("minimal", units=H):
        _, _, cache = cls(mode="auto").forward(params, x, states, mask=mask, layout="batch")
        assert type(cache).__name__ == "MinimalNativeCache"  # the compiled scan ran
        compare(reference, run(cls(), params, x, states, mask, d_out, d_final), 1e-5)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_gradient_checks_every_family_and_mode(name, mode, rng):
    x = rng.standard_normal((3, 6, 4))
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    mask[2, :2] = False
    for options in ({"return_sequences": True}, {"go_backwards": True, "return_state": True}):
        layer = LAYERS[name](6, mode=mode, dtype="float64", seed=0, **options)
        assert_layer_gradients(layer, x, mask=mask)
    layer = LAYERS[name](6, mode=mode, dtype="float64", seed=1, return_sequences=True)
    assert_layer_gradients(layer, x, initial_state=[rng.standard_normal((3, 6))
                                                    for _ in layer.state_names])  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_bidirectional_gradients(name, rng):
    x = rng.standard_normal((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    bi = rnnlab.Bidirectional(LAYERS[name](4, return_sequences=True, dtype="float64", seed=2))
    assert_layer_gradients(bi, x, mask=mask)


def test_the_log_space_scan_survives_what_would_underflow(rng):
    """a_t ≈ e^−30 at every step: cumulative products underflow after 3 steps, log-space and
    the two-level scan do not."""
    T, B, N = 600, 2, 3
    log_a = np.full((T, B, N), -30.0)
    log_b = rng.standard_normal((T, B, N))
    h0 = rng.standard_normal((B, N))
    a, b = np.exp(log_a), np.exp(log_b)
    expected = scan.sequential_scan(a, b, h0)
    np.testing.assert_allclose(scan.log_scan(log_a, log_b, h0, chunk=64), expected, rtol=1e-12)
    np.testing.assert_allclose(scan.chunked_scan(a, b, h0), expected, rtol=1e-12)
    assert np.all(np.isfinite(expected)) and np.allclose(expected[5:], b[5:], rtol=1e-12)


# -- PyTorch reference of the papers' equations --------------------------------------------------
def torch_min_gru(p, x, h):
    k, v = (x @ p["weight_ih"].T + p["bias_ih"]).chunk(2, dim=-1)
    z = torch.sigmoid(k)
    g = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    return (1 - z) * h + z * g


def torch_min_lstm(p, x, h):
    kf, ki, v = (x @ p["weight_ih"].T + p["bias_ih"]).chunk(3, dim=-1)
    f, i = torch.sigmoid(kf), torch.sigmoid(ki)
    g = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    return f / (f + i) * h + i / (f + i) * g


def torch_lru(p, x, h):
    lam = torch.exp(-torch.exp(p["nu_log"]) + 1j * torch.exp(p["theta_log"]))
    B = torch.complex(p["B_re"], p["B_im"])
    C = torch.complex(p["C_re"], p["C_im"])
    h = lam * h + torch.exp(p["gamma_log"]) * (x.to(B.dtype) @ B.T)
    return (h @ C.T).real + x @ p["D"].T, h


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_outputs_equal_a_torch_reference_of_the_papers_equations(name, rng):
    B, T, I, H = 3, 50, 5, 8
    layer = LAYERS[name](H, return_sequences=True, seed=0)  # float32, default mode
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    y = layer.forward(x)
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in layer.params.items()}
    xt = torch.tensor(x, dtype=torch.float64)
    h = torch.zeros(B, H // 2 if name == "lru" else H, dtype=torch.complex128 if name == "lru"
                    else torch.float64)  # fmt: skip
    outs = []
    for t in range(T):
        if name == "lru":
            out, h = torch_lru(p, xt[:, t], h)
        else:
            h = (torch_min_gru if name == "mingru" else torch_min_lstm)(p, xt[:, t], h)
            out = h
        outs.append(out)
    expected = torch.stack(outs, dim=1).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# -- masks, layers, files, errors --------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_padded_batch_equals_each_sequence_alone(name, rng):
    layer = LAYERS[name](6, return_sequences=True, return_state=True, dtype="float64", seed=3)
    x = rng.standard_normal((2, 9, 3))
    mask = np.ones((2, 9), bool)
    mask[1, 5:] = False
    y, *finals = layer.forward(x, mask=mask)
    alone, *alone_finals = layer.forward(x[1:, :5])
    np.testing.assert_allclose(y[1, :5], alone[0], rtol=1e-12)
    assert np.all(y[1, 5:] == 0.0)  # masked outputs are 0
    for f, g in zip(finals, alone_finals, strict=True):  # the state after the last valid step
        np.testing.assert_allclose(f[1], g[0], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_save_and_load_round_trip(name, rng, tmp_path):
    x = rng.standard_normal((16, 10, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    model = rnnlab.Sequential(
        [LAYERS[name](16, mode="sequential", seed=0), rnnlab.Dense(2, activation="softmax", seed=1)]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = rnnlab.load_model(tmp_path / "m.safetensors")
    assert type(loaded.layers[0]).__name__ == LAYERS[name].__name__
    assert loaded.layers[0].cell.mode == "sequential"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_lru_initialisation_is_the_papers_ring(rng):
    layer = LRU(400, r_min=0.5, r_max=0.9, max_phase=0.3, seed=0)
    layer.build((None, 7))
    radius = np.exp(-np.exp(layer.params["nu_log"].astype(np.float64)))
    phase = np.exp(layer.params["theta_log"].astype(np.float64))
    assert 0.5 - 1e-6 <= radius.min() and radius.max() <= 0.9 + 1e-6
    assert 0 < phase.min() and phase.max() <= 0.3 + 1e-6
    np.testing.assert_allclose(np.exp(layer.params["gamma_log"]), np.sqrt(1 - radius**2), rtol=1e-5)
    # uniform in area: |λ|² ~ U(r_min², r_max²), mean (0.25 + 0.81) / 2
    assert abs(np.mean(radius**2) - 0.53) < 0.03
    assert layer.get_config()["r_min"] == 0.5 and rnnlab.layer_from_config(layer.get_config())


def test_the_families_are_registered_and_train_as_char_models():
    assert {"mingru", "minlstm", "lru"} <= set(char_lm_cells())
    assert rnnlab.layers.layer_for_cell("mingru") is MinGRU
    assert rnnlab.layers.layer_for_cell(LRUCell) is LRU


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: MinGRU(4, mode="fast"), ValueError, r"expected mode in \['auto', 'parallel'"),
        (lambda: LRU(5), ValueError, "expected an even number of units"),
        (lambda: LRU(4, r_min=0.9, r_max=0.5), ValueError, "0 ≤ r_min < r_max < 1"),
        (lambda: MinLSTM(4, bias="keras"), NotImplementedError, "bias pair"),
    ],
)
def test_bad_options_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_recurrent_dropout_is_refused_with_the_reason(name, rng):
    layer = LAYERS[name](4, recurrent_dropout=0.3)
    with pytest.raises(ValueError, match="recurrent_dropout is not supported: the cell has no"):
        layer.forward(rng.standard_normal((2, 3, 3)), training=True)
    layer.forward(rng.standard_normal((2, 3, 3)))  # inference: no mask, fine


def test_a_cell_call_with_bad_shapes_says_what_it_expected(rng):
    params = params_for(MinGRUCell(), 3, 4, rng)
    with pytest.raises(ValueError, match=r"expected x of rank 3 \(T, B, I\)"):
        MinGRUCell().forward(params, rng.standard_normal((3, 4)), (np.zeros((3, 4)),))
    with pytest.raises(ValueError, match="expected 2 states"):
        LRUCell().forward(params_for(LRUCell(), 3, 4, rng), rng.standard_normal((2, 2, 3)),
                          (np.zeros((2, 4)),))  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("mode", ["parallel", "sequential", "auto"])
def test_the_scans_are_causal(name, mode, rng):
    """Changing x at step 5 leaves every output before it unchanged (float32: compiled scan)."""
    layer = LAYERS[name](32, mode=mode, return_sequences=True, seed=0)
    x = rng.standard_normal((2, 300, 3)).astype(np.float32)
    y = layer.forward(x)
    x[:, 5] += 1.0
    y2 = layer.forward(x)
    np.testing.assert_array_equal(y[:, :5], y2[:, :5])
    assert np.abs(y[:, 5] - y2[:, 5]).max() > 1e-3


# -- the bench and the experiment ----------------------------------------------------------------
def test_the_parallel_bench_matches_parameter_counts():
    from rnnlab import bench_parallel as bp

    target = bp.param_count("gru", 256)
    assert target == 3 * 256 * (128 + 256) + 6 * 256
    assert bp.equal_param_units("mingru", target) == 1152  # 2·1152·129 = 297,216
    assert bp.param_count("lru", 432) == 432**2 + 2 * 432 * 128 + 3 * 216
    with pytest.raises(ValueError, match="expected cells from"):
        bp.run_parallel_bench(("mingru", "transformer"))


def test_rnnlab_bench_cells_runs_the_parallel_bench(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from rnnlab import bench_parallel as bp
    from rnnlab.cli import main

    monkeypatch.setattr(bp, "LENGTHS", (16,))
    out = tmp_path / "p.json"
    result = CliRunner().invoke(
        main,
        ["bench", "--cells", "mingru,gru", "--repeats", "1", "--rounds", "1", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "| train | mingru | equal H | 256 |" in result.output
    assert "# mingru / gru step latency at B=1" in result.output
    assert "# mingru / gru training tokens/s at T=16, equal params" in result.output
    rows = __import__("json").loads(out.read_text())["records"]
    assert len(rows) == 2 * 2 + 2 * len(bp.STEP_BATCHES)
    assert all(r["ms"] > 0 and r["tokens_per_s"] > 0 for r in rows)
    assert out.is_file() and out.with_suffix(".png").stat().st_size > 1000
    bad = CliRunner().invoke(main, ["bench", "--cells", "mingru,xlstm"])
    assert bad.exit_code == 2 and "xlstm" in bad.output


def test_the_experiment_writes_its_folder(tmp_path):
    from rnnlab.datasets import text_file_corpus
    from rnnlab.experiments import parallel_rnn
    from rnnlab.training.charlm import CharLMSettings

    text = "\n".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(300))
    (tmp_path / "c.txt").write_text(text)
    base = CharLMSettings(batch_size=4, k1=16, segment_length=None, embedding=8)
    results = parallel_rnn.run(
        text_file_corpus(tmp_path / "c.txt"), 1.0, tmp_path / "out", models=("gru", "mingru"),
        base=base, eval_every=2,
    )  # fmt: skip
    on_disk = __import__("json").loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == results and results["task"] == "parallel-rnn"
    for name in ("gru", "mingru"):
        m = results["metrics"][name]
        assert m["tokens"] > 0 and np.isfinite(m["val_loss"]) and m["units"] % 16 == 0
        # equal parameter count: the nearest the LSTM(256) model's of any multiple of 16
        V = results["config"]["vocab_size"]
        target = parallel_rnn.model_params("lstm", 256, V, base)
        assert m["params"] == parallel_rnn.model_params(name, m["units"], V, base)
        for other in (m["units"] - 16, m["units"] + 16):
            gap = abs(parallel_rnn.model_params(name, other, V, base) - target)
            assert abs(m["params"] - target) <= gap
    assert results["config"]["equal_tokens"] == min(
        m["tokens"] for m in results["metrics"].values()
    )
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| gru |" in report and "At equal time the lowest validation loss is" in report
    for png in ("loss-vs-time.png", "loss-vs-tokens.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    with pytest.raises(ValueError, match="expected models from"):
        parallel_rnn.run(text_file_corpus(tmp_path / "c.txt"), 1.0, tmp_path, models=("rwkv",))


def test_probe_interpolation():
    from rnnlab.experiments.parallel_rnn import probe_at

    history = [{"tokens": 100, "val_loss": 3.0}, {"tokens": 300, "val_loss": 2.0}]
    assert probe_at(history, "tokens", 200) == 2.5
    assert probe_at(history, "tokens", 50) is None
