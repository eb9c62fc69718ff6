"""The benchmark harness: records, tables, JSON per CPU model, regression warnings, the CLI, and
the reference (torch) kept out of the package. No timings are asserted — only that the bench
measures and reports what it says."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from _torch import requires_torch
from rnnlab import bench, native_tuning
from rnnlab.cli import main

SRC = Path(bench.__file__).resolve().parent

# A reference in NumPy: the harness works with any file defining load(), torch or not.
FAKE_REFERENCE = """
import numpy as np

class Reference:
    name = "numpyref"
    version = "0.1"

    def layer_call(self, cell, x, dy, hidden, train):
        w = np.ones((x.shape[2], hidden), np.float32)
        return lambda: (x @ w) * (2.0 if train else 1.0)

    def gemm_call(self, a, b):
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
        return lambda: np.matmul(a, b, out=out)

def load():
    return Reference()
"""

INTEL = {
    "model_name": "Intel(R) Xeon(R) Processor",
    "vendor": "GenuineIntel",
    "family": 6,
    "model": 207,
    "isa": {"avx512f": True},
    "l2_kib": 2048,
}
AMD = {
    "model_name": "AMD EPYC 9B45",
    "vendor": "AuthenticAMD",
    "family": 26,
    "model": 2,
    "isa": {"avx512f": True},
    "l2_kib": 1024,
}


@pytest.fixture
def fake_reference(tmp_path):
    path = tmp_path / "numpy_reference.py"
    path.write_text(FAKE_REFERENCE)
    return path


def test_run_records_every_combination(fake_reference):
    reference = bench.load_reference(fake_reference)
    records = bench.run(
        cells=("rnn", "gru"),
        configs=("C4",),
        modes=("train", "inference"),
        reference=reference,
        repeats=1,
        peak=100.0,
    )
    assert [(r.cell, r.mode) for r in records] == [
        ("rnn", "train"),
        ("rnn", "inference"),
        ("gru", "train"),
        ("gru", "inference"),
    ]
    for r in records:
        flops = bench.gemm_flops(r.cell, r.shape, r.mode)
        assert r.shape == bench.CONFIGS["C4"] and r.rnnlab_ms > 0 and r.torch_ms > 0
        assert r.rnnlab_tokens_per_s == pytest.approx(1 * 256 / (r.rnnlab_ms / 1e3))
        assert r.torch_tokens_per_s == pytest.approx(1 * 256 / (r.torch_ms / 1e3))
        assert r.gflops == pytest.approx(flops / (r.rnnlab_ms / 1e3) / 1e9)
        assert r.torch_gflops == pytest.approx(flops / (r.torch_ms / 1e3) / 1e9)
        assert r.peak_fraction == pytest.approx(r.gflops / 100.0)
        assert r.torch_peak_fraction == pytest.approx(r.torch_gflops / 100.0)
        assert r.ratio == pytest.approx(r.torch_ms / r.rnnlab_ms)
    table = bench.to_markdown(records, "numpyref")
    assert table.count("\n") == len(records) + 1 and "numpyref ms" in table


def test_rnnlab_alone_leaves_the_reference_columns_empty():
    (r,) = bench.run(cells=("lstm",), configs=("C4",), modes=("inference",), repeats=1, peak=50.0)
    assert r.torch_ms is r.ratio is r.torch_gflops is r.torch_peak_fraction is None
    assert r.peak_fraction == pytest.approx(r.gflops / 50.0)
    assert bench.to_markdown([r]).endswith("% / — |")


def test_flop_counts():
    B, T, I, H = bench.CONFIGS["C2"]
    assert bench.gemm_flops("lstm", (B, T, I, H), "inference") == 2 * B * T * 4 * H * (I + H)
    assert bench.gemm_flops("gru", (B, T, I, H), "train") == 3 * 2 * B * T * 3 * H * (I + H)


def test_gemm_peak_is_the_best_of_every_gemm_measured(fake_reference):
    peaks = bench.gemm_peak(bench.load_reference(fake_reference), n=64, repeats=1)
    expected = {"numpy", "numpyref", "peak"} | ({"rnnlab"} if bench.native.available() else set())
    assert set(peaks) == expected
    assert peaks["peak"] == max(v for k, v in peaks.items() if k != "peak") > 0
    assert set(bench.gemm_peak(None, n=64, repeats=1)) == expected - {"numpyref"}


# -- torch stays out of the package --------------------------------------------------------------
def _imports_torch(tree: ast.AST) -> list[int]:
    """Lines that import torch: import statements, importlib.import_module / __import__."""
    lines = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names = [str(node.args[0].value)]
        if any(name == "torch" or name.startswith("torch.") for name in names):
            lines.append(node.lineno)
    return lines


def test_the_torch_import_finder_finds_imports():
    code = (
        "import os\nimport torch.nn as nn\nfrom torch import mm\nimportlib.import_module('torch')"
    )
    assert _imports_torch(ast.parse(code)) == [2, 3, 4]
    assert _imports_torch(ast.parse("import torchvision_like_name_not_torch\nx = 'torch'")) == []


def test_no_module_of_the_package_imports_torch():
    modules = sorted(SRC.rglob("*.py"))
    assert SRC / "bench.py" in modules
    found = {
        str(p.relative_to(SRC)): _imports_torch(ast.parse(p.read_text(), str(p))) for p in modules
    }
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_bench_against_none_never_loads_torch():
    code = textwrap.dedent("""
        import sys
        from rnnlab.cli import main
        main(["bench", "--against", "none", "--cells", "rnn", "--configs", "C4",
              "--modes", "inference", "--repeats", "1", "--rounds", "1"],
             standalone_mode=False)
        print("torch loaded:", "torch" in sys.modules)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "| rnn | C4 (1, 256, 64, 128) | inference |" in result.stdout
    assert result.stdout.strip().endswith("torch loaded: False")


@requires_torch
def test_the_source_tree_reference_is_torch():
    reference = bench.load_reference()
    import torch

    assert bench.DEFAULT_REFERENCE.is_file() and bench.DEFAULT_REFERENCE.parent.name == "benchmarks"
    assert reference.name == "torch" and reference.version == torch.__version__
    (r,) = bench.run(
        cells=("rnn",),
        configs=("C4",),
        modes=("inference",),
        reference=reference,
        repeats=1,
        peak=100.0,
    )
    assert r.torch_ms > 0 and r.ratio == pytest.approx(r.torch_ms / r.rnnlab_ms)
    assert bench.environment(reference)["reference"] == {
        "name": "torch",
        "version": torch.__version__,
    }


def test_reference_errors(tmp_path):
    with pytest.raises(bench.ReferenceUnavailable, match="no reference file at"):
        bench.load_reference(tmp_path / "missing.py")
    broken = tmp_path / "needs_a_missing_library.py"
    broken.write_text("import a_library_that_is_not_installed_here\n")
    with pytest.raises(bench.ReferenceUnavailable, match="cannot be imported here"):
        bench.load_reference(broken)
    no_load = tmp_path / "no_load.py"
    no_load.write_text("x = 1\n")
    with pytest.raises(TypeError, match="expected a function load"):
        bench.load_reference(no_load)
    partial = tmp_path / "partial.py"
    partial.write_text("class R:\n    name = 'r'\n\ndef load():\n    return R()\n")
    with pytest.raises(TypeError, match="without \\['version', 'layer_call', 'gemm_call'\\]"):
        bench.load_reference(partial)


def test_cli_times_rnnlab_alone_when_the_reference_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DEFAULT_REFERENCE", tmp_path / "site-packages" / "x.py")
    monkeypatch.setattr(bench, "gemm_peak", lambda reference=None: {"numpy": 9.0, "peak": 9.0})
    args = [
        "bench",
        "--cells",
        "rnn",
        "--configs",
        "C4",
        "--modes",
        "inference",
        "--repeats",
        "1",
        "--rounds",
        "1",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "the reference is unavailable: no reference file at" in result.output
    assert "reference none" in result.output and "| rnn | C4" in result.output


def test_cli_with_a_reference_file(tmp_path, fake_reference, monkeypatch):
    monkeypatch.setattr(bench, "gemm_peak", lambda reference=None: {"numpy": 9.0, "peak": 9.0})
    args = [
        "bench",
        "--cells",
        "lstm",
        "--configs",
        "C4",
        "--modes",
        "train",
        "--repeats",
        "1",
        "--rounds",
        "1",
        "--reference",
        str(fake_reference),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "reference numpyref 0.1" in result.output and "numpyref ms" in result.output
    (row,) = [line for line in result.output.splitlines() if line.startswith("| lstm")]
    assert "—" not in row
    result = CliRunner().invoke(main, [*args, "--against", "none"])
    assert result.exit_code == 2 and "cannot go with --against none" in result.output


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected cells from"):
        bench.run(cells=("lstmx",), repeats=1, peak=1.0)
    with pytest.raises(ValueError, match="expected configs from"):
        bench.run(configs=("C9",), repeats=1, peak=1.0)
    with pytest.raises(ValueError, match="expected modes from"):
        bench.run(modes=("training",), repeats=1, peak=1.0)
    with pytest.raises(ValueError, match="expected a GEMM peak > 0"):
        bench.run(cells=("rnn",), configs=("C4",), repeats=1, peak=0.0)
    result = CliRunner().invoke(main, ["bench", "--cells", "lstm,tcn"])
    assert result.exit_code == 2 and "expected a comma-separated list" in result.output


# -- the machine and one JSON per CPU model -------------------------------------------------------
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse avx avx2 fma avx512f avx512dq avx512bw avx512vl amx_bf16 amx_tile

processor\t: 1
vendor_id\t: SomethingElse
"""


def test_cpu_info_from_cpuinfo_and_sysfs(tmp_path):
    for index, (level, size) in enumerate([("1", "48K"), ("2", "2048K"), ("3", "105M")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "level").write_text(level + "\n")
        (folder / "size").write_text(size + "\n")
    cpu = bench.cpu_info(CPUINFO, tmp_path)
    assert cpu["model_name"] == "Intel(R) Xeon(R) Processor" and cpu["vendor"] == "GenuineIntel"
    assert (cpu["family"], cpu["model"], cpu["l2_kib"]) == (6, 207, 2048)
    assert cpu["isa"] == {
        "avx2": True,
        "fma": True,
        "avx512f": True,
        "avx512bw": True,
        "avx512vl": True,
        "amx_tile": True,
        "amx_bf16": True,
        "amx_int8": False,
    }
    assert bench.cpu_slug(cpu) == "intel-xeon-6-207"
    assert "family 6 model 207" in bench.describe_cpu(cpu) and "L2 2048 KiB" in bench.describe_cpu(
        cpu
    )
    unknown = bench.cpu_info("", tmp_path / "none")
    assert unknown["family"] is None and unknown["isa"] == {} and unknown["l2_kib"] is None
    assert bench.cpu_slug(unknown)


def test_cpu_slugs_and_models():
    assert bench.cpu_slug(AMD) == "amd-epyc-26-2"
    assert bench.same_cpu(INTEL, dict(INTEL, l2_kib=4096))
    assert not bench.same_cpu(INTEL, AMD) and not bench.same_cpu(INTEL, None)
    assert not bench.same_cpu(INTEL, dict(INTEL, model=143))  # Sapphire Rapids: another model
    named = {"model_name": "AMD EPYC (Zen 5)", "vendor": "AuthenticAMD", "family": None}
    assert bench.same_cpu(named, dict(named)) and not bench.same_cpu(named, AMD)


def test_environment_names_cpu_blas_and_openblas_variables(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    env = bench.environment()
    assert env["openblas_env"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["blas"] and env["numpy"] and env["reference"] is None
    assert env["cpu"] == bench.cpu_info() and len(env["date"]) == 10
    assert len(env["load_average"]) == 3 and min(env["load_average"]) >= 0


def _records(tokens_per_s: float, ratio: float | None = None) -> list[bench.Record]:
    return [
        bench.Record(
            "rnn",
            "C4",
            (1, 256, 64, 128),
            "inference",
            1.0,
            None,
            ratio,
            tokens_per_s,
            None,
            1.0,
            0.1,
        )
    ]


def _save(path, records, cpu):
    env = dict(bench.environment(), cpu=cpu)
    bench.save_json(path, records, env, {"numpy": 10.0, "peak": 10.0})


def test_json_records_the_peaks_and_the_cpu(tmp_path):
    path = tmp_path / "r.json"
    _save(path, _records(100.0), INTEL)
    data = json.loads(path.read_text())
    assert data["gemm_peaks_gflops"] == {"numpy": 10.0, "peak": 10.0}
    assert data["gemm_peak_gflops"] == 10.0
    assert bench.recorded_cpu(path) == INTEL
    assert bench.recorded_cpu(tmp_path / "missing.json") is None


def test_one_json_per_cpu_model(tmp_path):
    assert bench.output_path(tmp_path, INTEL) == tmp_path / "bench-intel-xeon-6-207.json"
    amd_file = tmp_path / "bench-amd.json"
    _save(amd_file, _records(100.0), AMD)
    with pytest.raises(ValueError, match="holds the results of AMD EPYC 9B45"):
        bench.output_path(amd_file, INTEL)
    assert bench.output_path(amd_file, AMD) == amd_file


def test_regressions_compare_with_the_same_cpu_model(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "SOURCE_ROOT", tmp_path / "checkout")  # not the real results
    _save(tmp_path / "bench-amd.json", _records(400.0, 2.0), AMD)  # a faster machine
    assert bench.find_baseline(tmp_path / "new.json", INTEL, _records(100.0), None) is None
    _save(tmp_path / "bench-intel.json", _records(200.0, 1.0), INTEL)
    baseline = bench.find_baseline(tmp_path / "new.json", INTEL, _records(100.0), None)
    assert baseline == tmp_path / "bench-intel.json"
    (warning,) = bench.regressions(_records(100.0), baseline)
    assert "50% below the 200 recorded in" in warning
    (warning,) = bench.regressions(_records(300.0, 0.5), baseline)
    assert "ratio to the reference 0.50 is below the 1.00" in warning
    assert bench.regressions(_records(190.0, 0.95), baseline) == []
    assert bench.regressions(_records(100.0), tmp_path / "missing.json") == []
    other_rows = [bench.Record(**{**vars(_records(1.0)[0]), "config": "C1"})]
    assert bench.find_baseline(tmp_path / "new.json", INTEL, other_rows, None) is None
    kept = tmp_path / "checkout" / "benchmarks" / "results"  # the source tree's results
    kept.mkdir(parents=True)
    _save(kept / "bench-intel-xeon-6-207.json", _records(200.0), INTEL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert bench.find_baseline(elsewhere / "x.json", INTEL, _records(1.0), None) == (
        kept / "bench-intel-xeon-6-207.json"
    )


def test_baseline_has_the_same_kernel_path(tmp_path, monkeypatch):
    """A `bench --isa avx2` run is compared with AVX2 figures, never with the AVX-512 ones."""
    monkeypatch.setattr(bench, "SOURCE_ROOT", tmp_path / "checkout")
    env = bench.environment()
    for name, path in (("avx512.json", "avx512"), ("avx2.json", "avx2")):
        kernels = dict(env["rnnlab_kernels"] or {}, path=path)
        bench.save_json(
            tmp_path / name, _records(100.0), dict(env, cpu=INTEL, rnnlab_kernels=kernels), 1.0
        )
    new = tmp_path / "new.json"
    assert bench.find_baseline(new, INTEL, _records(1.0), "avx2") == tmp_path / "avx2.json"
    assert bench.find_baseline(new, INTEL, _records(1.0), "avx512") == tmp_path / "avx512.json"
    assert bench.find_baseline(new, INTEL, _records(1.0), "generic") is None


def test_cli_writes_json_named_by_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "SOURCE_ROOT", tmp_path / "checkout")
    monkeypatch.setattr(bench, "gemm_peak", lambda reference=None: {"numpy": 9.0, "peak": 9.0})
    args = [
        "bench",
        "--cells",
        "rnn",
        "--configs",
        "C4",
        "--modes",
        "inference",
        "--repeats",
        "1",
        "--rounds",
        "1",
        "--against",
        "none",
        "--json",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "no earlier results of this CPU model" in result.output
    out = bench.results_path(tmp_path, bench.cpu_info())
    assert "| rnn | C4" in result.output and "GEMM peak" in result.output
    data = json.loads(out.read_text())
    assert data["records"][0]["cell"] == "rnn" and data["environment"]["cpu"] == bench.cpu_info()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and f"compared with {out}" in again.output
    other = tmp_path / "other.json"
    _save(other, _records(1.0), {**AMD, "model": 999})
    refused = CliRunner().invoke(main, [*args[:-1], str(other)])
    assert refused.exit_code == 2 and "holds the results of" in refused.output


def test_sweep_and_scaling_plot(tmp_path, fake_reference):
    reference = bench.load_reference(fake_reference)
    records = bench.run(
        cells=("rnn",),
        configs=("T=16", "T=32"),
        modes=("inference",),
        reference=reference,
        repeats=1,
        peak=100.0,
    )
    assert [r.shape for r in records] == [(32, 16, 128, 256), (32, 32, 128, 256)]
    path = tmp_path / "sweep.json"
    bench.save_json(path, records, bench.environment(), 100.0)
    out = tmp_path / "scaling.png"
    bench.plot_scaling([path], out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    plain = tmp_path / "plain.json"
    bench.save_json(
        plain,
        bench.run(cells=("rnn",), configs=("C4",), modes=("inference",), repeats=1, peak=1.0),
        bench.environment(),
        1.0,
    )
    with pytest.raises(ValueError, match="no sweep records"):
        bench.plot_scaling([plain], tmp_path / "x.png")


# -- benchmarks/profile_phases.py: the kernel timers ----------------------------------------------
def _script(name: str):
    """A module of benchmarks/ (not a package), loaded by path."""
    import importlib.util

    path = bench.SOURCE_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@requires_torch
@pytest.mark.skipif(not bench.native.available(), reason="compiled kernels unavailable")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_profile_phases_times_every_kernel_call(cell):
    profile = _script("profile_phases")
    real = bench.native._kernels
    timer = profile.KernelPhases()
    timer.install()
    try:
        assert bench.native._kernels is not real
        reference = profile.torch_reference.TorchReference(threads=1)
        ours, _ = profile.layer_calls(cell, (4, 6, 8, 16), True, reference)
        ours()  # packs and caches the weights once
        phases = timer.measure(ours)
        untimed = timer.measure(lambda: bench.native._kernels.cpu_supported())  # not in a cell
    finally:
        timer.uninstall()
    assert bench.native._kernels is real
    kernels = {k: v for k, v in phases.items() if k not in ("outside", "instrumented")}
    expected = {"loop fwd", "loop bwd", "dW GEMM", "dx GEMM"}
    if cell == "lstm" and native_tuning.lstm_dx_in_loop(bench.native.tuning().tuning, 16, 8):
        expected.remove("dx GEMM")  # dx_t = δ_t W_ih in the backward loop (its tuning's rule)
    assert expected <= set(kernels)
    assert profile.UNATTRIBUTED not in kernels
    assert all(v > 0 for v in kernels.values())
    # the parts are differences of the same clock's readings: equal sums can differ in the last
    # bits, so the bound allows float rounding (not time)
    parts = sum(kernels.values()) + phases["outside"]
    assert parts <= phases["instrumented"] * (1 + 1e-9) + 1e-12
    assert set(untimed) == {"outside", "instrumented"}


@requires_torch
def test_profile_phase_rules():
    profile = _script("profile_phases")
    rule = profile.phase_of
    assert rule("pack_t", ["forward"], "") == "packing"
    assert rule("lstm_backward", ["backward"], "") == "loop bwd"
    assert rule("gemm", ["StepMatmul.__call__", "backward"], "") == "loop bwd"
    assert rule("gemm", ["StepMatmul.__call__", "forward_inference"], "") == "loop fwd"
    assert rule("gemm", ["input_projection", "_input_side", "forward"], "") == "input GEMM"
    assert rule("gemm", ["weight_grad", "gated_grads", "backward"], "") == "dW GEMM"
    assert rule("gemm", ["gated_grads", "backward"], "") == "dx GEMM"
    assert rule("gemm", ["backward"], "    dx = native.gemm(d_pre, w_ih, I)") == "dx GEMM"
    assert rule("gemm", ["backward"], "    native._kernels.gemm(4 * H, n, T * B, d_t,") == "dW GEMM"
    assert rule("same", ["forward"], "") == "checks (same)"
    assert rule("gemm", [], "") == profile.UNATTRIBUTED
