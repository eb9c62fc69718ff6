"""The choice of kernel path (rnnlab.native_paths): the best path the CPU runs by default,
RNNLAB_ISA / native.use_isa to force one, refusals that say why, and `rnnlab bench --isa`'s
switches for both sides. The paths' arithmetic is tested in test_native*.py, once per path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnlab import bench_isa, native, native_paths

NO_AVX512 = {"avx512f": False, "avx512dq": False, "avx512bw": False, "avx512vl": False}


@pytest.fixture
def restore_path():
    default = native.isa()
    yield
    native.use_isa(default)


@pytest.fixture
def avx2_only_cpu(monkeypatch):
    """The CPU's features as an AVX2 machine (no AVX-512) reports them."""
    features = {f: True for f in native_paths.FEATURES} | NO_AVX512
    monkeypatch.setattr(native_paths, "_features", features)
    monkeypatch.delenv(native_paths.ENV, raising=False)  # the default choice, not a forced one


def test_default_is_the_best_path_this_cpu_runs(monkeypatch):
    monkeypatch.delenv(native_paths.ENV, raising=False)
    runs = native_paths.runnable()
    assert runs == [isa for isa in native_paths.ISAS if native_paths.why_not_runs(isa) is None]
    choice = native_paths.choose()
    assert (choice.isa, choice.reason) == (runs[0], "the best path this CPU runs")
    assert choice.module.ISA == runs[0] and choice.module.cpu_supported()
    assert "generic" in runs  # built without -m flags: runs on any CPU
    assert native_paths.why_not_runs("generic") is None


def test_cpu_features_and_requirements():
    features = native_paths.cpu_features()
    assert set(features) == set(native_paths.FEATURES)
    assert all(isinstance(v, bool) for v in features.values())
    for isa in native_paths.ISAS:
        runs = native_paths.why_not_runs(isa) is None
        assert runs == all(features[f] for f in native_paths.REQUIRES[isa])
    ident = native_paths.cpu_id()
    assert set(ident) == {"vendor", "family", "model"}


def test_environment_and_argument_choose_a_path(monkeypatch):
    monkeypatch.setenv(native_paths.ENV, "generic")
    assert native_paths.choose().isa == "generic"
    assert native_paths.choose().reason == "RNNLAB_ISA=generic"
    monkeypatch.setenv(native_paths.ENV, "off")
    off = native_paths.choose()
    assert (off.isa, off.module, off.reason) == (None, None, "disabled by RNNLAB_ISA=off")
    assert native_paths.choose("generic").reason == "use_isa('generic')"  # argument over env
    monkeypatch.setenv(native_paths.ENV, "sse9")
    with pytest.raises(ValueError, match=r"RNNLAB_ISA=sse9: expected one of \['avx512', 'avx2'"):
        native_paths.choose()
    with pytest.raises(ValueError, match="expected an instruction-set path"):
        native_paths.built("neon")


def test_a_path_the_cpu_cannot_run_is_refused_with_the_reason(avx2_only_cpu, monkeypatch):
    assert native_paths.why_not_runs("avx512") == "the CPU has no avx512f, avx512dq"
    assert native_paths.runnable() == ["avx2", "generic"]
    assert native_paths.choose().isa == "avx2"  # the best of what this CPU runs
    refused = native_paths.choose("avx512")
    assert refused.isa is None
    assert refused.reason == "use_isa('avx512') refused: the CPU has no avx512f, avx512dq"
    with pytest.raises(RuntimeError, match="refused: the CPU has no avx512f"):
        native_paths.choose("avx512", strict=True)
    with pytest.raises(RuntimeError, match="cannot run here: the CPU has no avx512f"):
        native_paths.load("avx512")
    monkeypatch.setenv(native_paths.ENV, "avx512")
    with pytest.warns(RuntimeWarning, match="RNNLAB_ISA=avx512 refused: the CPU has no avx512f"):
        choice = native_paths.default()
    assert choice.module is None


def test_use_isa_switches_and_refusals_keep_the_path(restore_path, avx2_only_cpu):
    native.use_isa("generic")
    assert native.isa() == "generic" and native._kernels.ISA == "generic" and native.available()
    with pytest.raises(RuntimeError, match="use_isa.'avx512'. refused: the CPU has no avx512f"):
        native.use_isa("avx512")
    assert native.isa() == "generic"
    native.use_isa("off")
    assert not native.available() and native.why_not("gemm") == "disabled by use_isa('off')"
    assert not native.serves("lstm", units=16)
    native.use_isa("avx2")
    assert native.serves("lstm", units=16) and native._kernels.VECTOR_FLOATS == 8
    line = native.describe()
    assert line.startswith("path avx2 (use_isa('avx2')); paths: avx512 (the CPU has no avx512f")
    assert "avx2 (runs), generic (runs)" in line


def test_the_environment_variable_is_read_at_import():
    code = "from rnnlab import native; print(native.isa(), native.why_not('gemm'))"
    env = {**os.environ, "RNNLAB_ISA": "generic"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["generic", "None"], out.stderr
    env["RNNLAB_ISA"] = "off"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "None disabled by RNNLAB_ISA=off", out.stderr
    env["RNNLAB_ISA"] = "avx1024"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "RNNLAB_ISA=avx1024: expected one of" in out.stderr


def test_bench_isa_sets_both_sides(monkeypatch, restore_path):
    for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert bench_isa.force("avx2") == bench_isa.REFERENCE_ENV["avx2"]
    assert native.isa() == "avx2" and os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert bench_isa.reference_env() == bench_isa.REFERENCE_ENV["avx2"]
    with pytest.raises(ValueError, match=r"expected one of \['avx512', 'avx2', 'generic'\]"):
        bench_isa.force("avx")
    monkeypatch.setitem(sys.modules, "torch", object())
    with pytest.raises(RuntimeError, match="torch is already loaded"):
        bench_isa.force("generic")
    assert native.isa() == "avx2"  # a refusal changes nothing
