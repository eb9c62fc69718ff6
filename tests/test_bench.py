"""The benchmark harness: records, tables, JSON, regression warnings, the CLI. No timings are
asserted — only that the bench measures and reports what it says."""

import json

import pytest
from click.testing import CliRunner

from rnnlab import bench
from rnnlab.cli import main


def test_run_records_every_combination():
    records = bench.run(cells=("rnn", "gru"), configs=("C4",), modes=("train", "inference"),
                        against_torch=True, repeats=1, peak=100.0)
    assert [(r.cell, r.mode) for r in records] == [("rnn", "train"), ("rnn", "inference"),
                                                  ("gru", "train"), ("gru", "inference")]
    for r in records:
        assert r.shape == bench.CONFIGS["C4"] and r.rnnlab_ms > 0
        assert r.rnnlab_tokens_per_s == pytest.approx(1 * 256 / (r.rnnlab_ms / 1e3))
        assert r.gflops == pytest.approx(bench.gemm_flops(r.cell, r.shape, r.mode)
                                         / (r.rnnlab_ms / 1e3) / 1e9)
        assert r.peak_fraction == pytest.approx(r.gflops / 100.0)
        if r.torch_ms is not None:
            assert r.ratio == pytest.approx(r.torch_ms / r.rnnlab_ms)
    table = bench.to_markdown(records)
    assert table.count("\n") == len(records) + 1


def test_flop_counts():
    B, T, I, H = bench.CONFIGS["C2"]
    assert bench.gemm_flops("lstm", (B, T, I, H), "inference") == 2 * B * T * 4 * H * (I + H)
    assert bench.gemm_flops("gru", (B, T, I, H), "train") == 3 * 2 * B * T * 3 * H * (I + H)


def test_regression_warnings(tmp_path):
    records = bench.run(cells=("rnn",), configs=("C4",), modes=("inference",),
                        against_torch=False, repeats=1, peak=100.0)
    path = tmp_path / "last.json"
    bench.save_json(path, records, bench.environment(), 100.0)
    assert bench.regressions(records, path) == []
    data = json.loads(path.read_text())
    data["records"][0]["rnnlab_tokens_per_s"] *= 2  # the past was twice as fast
    path.write_text(json.dumps(data))
    (warning,) = bench.regressions(records, path)
    assert "50% below" in warning
    assert bench.regressions(records, tmp_path / "missing.json") == []


def test_environment_names_blas_and_openblas_variables(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    env = bench.environment()
    assert env["openblas_env"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["blas"] and env["numpy"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected cells from"):
        bench.run(cells=("lstmx",), repeats=1, peak=1.0)
    with pytest.raises(ValueError, match="expected configs from"):
        bench.run(configs=("C9",), repeats=1, peak=1.0)
    result = CliRunner().invoke(main, ["bench", "--cells", "lstm,tcn"])
    assert result.exit_code == 2 and "expected a comma-separated list" in result.output


def test_cli_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--cells", "rnn", "--configs", "C4",
                                       "--modes", "inference", "--repeats", "1",
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "| rnn | C4" in result.output and "GEMM peak" in result.output
    assert json.loads(out.read_text())["records"][0]["cell"] == "rnn"


def test_sweep_and_scaling_plot(tmp_path):
    records = bench.run(cells=("rnn",), configs=("T=16", "T=32"), modes=("inference",),
                        against_torch=True, repeats=1, peak=100.0)
    assert [r.shape for r in records] == [(32, 16, 128, 256), (32, 32, 128, 256)]
    path = tmp_path / "sweep.json"
    bench.save_json(path, records, bench.environment(), 100.0)
    out = tmp_path / "scaling.png"
    bench.plot_scaling([path], out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no sweep records"):
        plain = tmp_path / "plain.json"
        bench.save_json(plain, bench.run(cells=("rnn",), configs=("C4",), modes=("inference",),
                                         against_torch=False, repeats=1, peak=1.0),
                        bench.environment(), 1.0)
        bench.plot_scaling([plain], tmp_path / "x.png")
