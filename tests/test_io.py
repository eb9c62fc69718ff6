"""rnnlab.io: model files, checkpoints, atomic writes; hostile and corrupt files are refused."""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import pickle
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import save as st_save

import rnnlab
from rnnlab import io
from rnnlab.io import FormatError
from rnnlab.model import Sequential as SEQUENTIAL


@pytest.fixture
def Sequential():
    return SEQUENTIAL


def model_config(dtype="float32"):
    layers = [
        rnnlab.LSTM(4, return_sequences=True, name="lstm", dtype=dtype, seed=1),
        rnnlab.Bidirectional(rnnlab.GRU(3, name="gru", dtype=dtype, seed=2), name="bidirectional"),
        rnnlab.Dense(2, name="dense", dtype=dtype, seed=3),
    ]
    return {
        "class_name": "Sequential",
        "name": "net",
        "layers": [l.get_config() for l in layers],
        "input_shape": [5, 3],
        "input_dtype": dtype,
    }


def make_model(Sequential, dtype="float32"):
    model = Sequential.from_config(model_config(dtype))
    rng = np.random.default_rng(0)
    for p in model.named_params().values():  # values that are not the initializer's
        p[...] = rng.standard_normal(p.shape)
    return model


def craft(path, tensors, metadata, *, checksum=True):
    """Write a safetensors file with any tensors and metadata (plus a valid sha256 if asked)."""
    metadata = dict(metadata)
    if checksum:  # the digest of what safetensors writes, whatever the dtypes
        header, data = split(st_save(tensors, metadata=metadata))
        del header["__metadata__"]
        specs = {n: (e["dtype"], e["shape"]) for n, e in header.items()}
        chunks = {n: data[slice(*e["data_offsets"])] for n, e in header.items()}
        metadata["sha256"] = io._digest(metadata, specs, chunks)
    pathlib.Path(path).write_bytes(st_save(tensors, metadata=metadata))


def craft_model(path, tensors, config):
    craft(
        path,
        tensors,
        {"format": "rnnlab.model", "format_version": "1", "config": json.dumps(config)},
    )


def split(blob: bytes):
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def join(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def rewrite_header(path, edit):
    """Apply edit(header) to the JSON header of the file at path, keeping the data."""
    header, data = split(pathlib.Path(path).read_bytes())
    edit(header)
    pathlib.Path(path).write_bytes(join(header, data))


@pytest.fixture
def saved(Sequential, tmp_path):
    model = make_model(Sequential)
    path = tmp_path / "model.safetensors"
    io.save_model(model, path)
    return model, path


def refused(path, match, loader=io.load_model):
    with pytest.raises(FormatError, match=match) as info:
        loader(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# -- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_round_trip_is_bit_identical(Sequential, tmp_path, dtype):
    model = make_model(Sequential, dtype)
    path = tmp_path / "m.safetensors"
    io.save_model(model, path)
    loaded = io.load_model(path)
    assert loaded is not model
    assert loaded.get_config() == model.get_config()
    want, got = model.named_params(), loaded.named_params()
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype == np.dtype(dtype)
        assert got[name].tobytes() == want[name].tobytes(), name


def test_model_file_layout(saved):
    model, path = saved
    info = io.inspect_file(path)
    names = [t["name"] for t in info["tensors"]]
    assert "lstm.weight_ih" in names and "bidirectional.forward_layer.weight_hh" in names
    assert sorted(names) == sorted(model.named_params())
    assert info["format"] == "rnnlab.model" and info["format_version"] == "1"
    assert info["config"] == model.get_config()
    assert info["file_size"] == os.path.getsize(path)
    assert info["total_parameters"] == sum(p.size for p in model.named_params().values())
    header, _ = split(path.read_bytes())
    meta = header["__metadata__"]
    assert set(meta) == {"format", "format_version", "config", "sha256"}
    assert json.loads(meta["config"]) == model.get_config()


def test_load_model_copies_into_the_models_arrays(Sequential, saved, monkeypatch):
    model, path = saved
    built = []
    real_from_config = Sequential.from_config.__func__

    def spy(cls, cfg):
        built.append(real_from_config(cls, cfg))
        return built[-1]

    monkeypatch.setattr(Sequential, "from_config", classmethod(spy))
    loaded = io.load_model(path)
    assert loaded is built[0]
    for name, p in loaded.named_params().items():
        np.testing.assert_array_equal(p, model.named_params()[name])


# -- hostile files: refused, and nothing from them runs ----------------------------------------
class Touch:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_the_pickle_payload_is_live(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Touch(marker)))
    assert marker.exists()  # so the next tests would notice if a loader unpickled


@pytest.mark.parametrize("loader", [io.load_model, io.load_checkpoint, io.inspect_file])
def test_pickle_is_refused_without_running_it(Sequential, tmp_path, loader):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"lstm.weight_ih": Touch(marker)}))
    refused(path, "header length .* is impossible .*pickle", loader)
    assert not marker.exists()


@pytest.mark.parametrize("loader", [io.load_model, io.load_checkpoint, io.inspect_file])
def test_npz_with_object_array_is_refused_without_running_it(Sequential, tmp_path, loader):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([Touch(marker)], dtype=object))
    refused(path, "header length .* is impossible .*npz", loader)
    assert not marker.exists()


def test_truncated_files_are_refused(saved, tmp_path):
    _, path = saved
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    cuts = {
        0: "at least 8 bytes",
        3: "at least 8 bytes",
        8: "header length",
        8 + n // 2: "header length",
        8 + n: "outside the data section",
        8 + n + 7: "outside the data section",
        len(blob) - 1: "outside the data section",
    }
    for cut, match in cuts.items():
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(blob[:cut])
        refused(bad, match)
        refused(bad, match, io.inspect_file)


def test_trailing_bytes_are_refused(saved, tmp_path):
    _, path = saved
    path.write_bytes(path.read_bytes() + b"\0")
    refused(path, "expected a data section of .* bytes")


def test_huge_header_length(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    refused(path, f"header length {2**62} is impossible")


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"{not json}   ", "header is not valid JSON"),
        (b'{"a": 1, ', "header is not valid JSON"),
        (b'{"\xff\xfe": 1}', "header is not valid UTF-8"),
        (b"[1, 2, 3]", "expected the header to be a JSON object"),
        (b'"text"', "expected the header to be a JSON object"),
        (b" {}", "expected the header to be a JSON object"),
        (b"{}", "expected a '__metadata__' object"),
        (b'{"__metadata__": "x"}', "expected a '__metadata__' object"),
        (b'{"__metadata__": {"format": 1}}', "every '__metadata__' value to be a string"),
        (b'{"__metadata__": {"format": "rnnlab.model"}, "__metadata__": {}}', "duplicate key"),
        (b'{"__metadata__": {"format": "x", "x": NaN}}', "not valid JSON .*NaN"),
        (b"{" * 100_000, "header is not valid JSON"),
    ],
)
def test_bad_headers(tmp_path, header, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    refused(path, match)
    refused(path, match, io.inspect_file)


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({}, "expected metadata format 'rnnlab.model', got None"),
        ({"format": "pt"}, "expected metadata format 'rnnlab.model', got 'pt'"),
        (
            {"format": "rnnlab.checkpoint", "format_version": "1", "state": "{}"},
            "got 'rnnlab.checkpoint' .*use load_checkpoint",
        ),
        (
            {"format": "rnnlab.model", "format_version": "2", "config": "{}"},
            "unsupported format_version '2'",
        ),
        ({"format": "rnnlab.model", "config": "{}"}, "unsupported format_version None"),
        ({"format": "rnnlab.model", "format_version": "1"}, "expected metadata keys"),
        (
            {"format": "rnnlab.model", "format_version": "1", "config": "{}", "extra": ""},
            "expected metadata keys",
        ),
    ],
)
def test_wrong_or_missing_metadata(saved, tmp_path, metadata, match):
    model, _ = saved
    path = tmp_path / "meta.safetensors"
    craft(path, model.named_params(), metadata, checksum="config" in metadata)
    refused(path, match)


def test_missing_checksum_and_bad_checksum(saved, tmp_path):
    model, path = saved
    meta = {
        "format": "rnnlab.model",
        "format_version": "1",
        "config": json.dumps(model.get_config()),
    }
    craft(tmp_path / "a.safetensors", model.named_params(), meta, checksum=False)
    refused(tmp_path / "a.safetensors", "expected metadata keys")
    craft(
        tmp_path / "b.safetensors", model.named_params(), {**meta, "sha256": "xyz"}, checksum=False
    )
    refused(tmp_path / "b.safetensors", "64 lowercase hex digits")
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1  # one bit of one weight
    path.write_bytes(bytes(blob))
    refused(path, "checksum mismatch")


def test_config_not_json_or_not_an_object(saved, tmp_path):
    model, _ = saved
    for config, match in [
        ("{oops", "config in the metadata is not valid JSON"),
        ("[1]", "expected config to be a JSON object, got list"),
    ]:
        path = tmp_path / "c.safetensors"
        craft(
            path,
            model.named_params(),
            {"format": "rnnlab.model", "format_version": "1", "config": config},
        )
        refused(path, match)


def test_unknown_layer_type(saved, tmp_path):
    model, _ = saved
    config = model.get_config()
    config["layers"][0]["class_name"] = "os.system"
    craft_model(tmp_path / "x.safetensors", model.named_params(), config)
    refused(tmp_path / "x.safetensors", "unknown layer type")


def test_bad_layer_config_and_unknown_model_class(saved, tmp_path):
    model, _ = saved
    config = model.get_config()
    config["layers"][2]["units"] = -1
    craft_model(tmp_path / "x.safetensors", model.named_params(), config)
    refused(tmp_path / "x.safetensors", "does not rebuild a model")
    config = {**model.get_config(), "class_name": ["Sequential"]}
    craft_model(tmp_path / "y.safetensors", model.named_params(), config)
    refused(tmp_path / "y.safetensors", r"unknown model class \['Sequential'\]")


def test_load_model_rebuilds_the_registered_classes_only(saved, tmp_path, monkeypatch):
    model, _ = saved
    assert io.MODEL_CLASSES["Sequential"] is SEQUENTIAL  # registered by rnnlab.model

    class Subclass(SEQUENTIAL):
        pass

    config = {**model.get_config(), "class_name": "Subclass"}
    craft_model(tmp_path / "sub.safetensors", model.named_params(), config)
    refused(tmp_path / "sub.safetensors", r"unknown model class 'Subclass'.*'Sequential'")
    monkeypatch.setitem(io.MODEL_CLASSES, "Subclass", Subclass)
    monkeypatch.setattr(
        Subclass,
        "from_config",
        classmethod(lambda cls, cfg: SEQUENTIAL.from_config({**cfg, "class_name": "Sequential"})),
    )
    assert isinstance(io.load_model(tmp_path / "sub.safetensors"), SEQUENTIAL)
    with pytest.raises(TypeError, match="expected a class with from_config"):
        io.register_model_class(object)


def test_shape_disagreeing_with_config(saved, tmp_path):
    model, _ = saved
    tensors = dict(model.named_params())
    tensors["dense.weight"] = np.zeros((3, 6), np.float32)  # the config says (2, 6)
    craft_model(tmp_path / "s.safetensors", tensors, model.get_config())
    refused(
        tmp_path / "s.safetensors",
        r"'dense.weight' disagrees .*expected float32 \(2, 6\), got float32 \(3, 6\)",
    )


def test_dtype_disagreeing_with_config(saved, tmp_path):
    model, _ = saved
    tensors = dict(model.named_params())
    tensors["lstm.bias_hh"] = tensors["lstm.bias_hh"].astype(np.float64)
    craft_model(tmp_path / "d.safetensors", tensors, model.get_config())
    refused(
        tmp_path / "d.safetensors",
        r"'lstm.bias_hh' disagrees .*expected float32 \(16,\), got float64 \(16,\)",
    )


def test_missing_tensor(saved, tmp_path):
    model, _ = saved
    tensors = dict(model.named_params())
    del tensors["bidirectional.backward_layer.weight_hh"]
    craft_model(tmp_path / "m.safetensors", tensors, model.get_config())
    refused(
        tmp_path / "m.safetensors",
        r"missing tensor 'bidirectional.backward_layer.weight_hh' .*float32 \(9, 3\)",
    )


def test_extra_tensor(saved, tmp_path):
    model, _ = saved
    tensors = {**model.named_params(), "dense.secret": np.zeros(2, np.float32)}
    craft_model(tmp_path / "e.safetensors", tensors, model.get_config())
    refused(tmp_path / "e.safetensors", "unexpected tensor 'dense.secret'")


@pytest.mark.parametrize(
    ("dtype", "code"), [(np.float16, "F16"), (np.int32, "I32"), (np.int64, "I64")]
)
def test_unsupported_dtypes(saved, tmp_path, dtype, code):
    model, _ = saved
    tensors = dict(model.named_params())
    tensors["dense.bias"] = tensors["dense.bias"].astype(dtype)
    craft_model(tmp_path / "t.safetensors", tensors, model.get_config())
    refused(
        tmp_path / "t.safetensors",
        f"tensor 'dense.bias': unsupported dtype '{code}' .*expected one of F32, F64",
    )


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: h["dense.bias"].update(data_offsets=[0, 8]), "span|overlap"),
        (
            lambda h: h["dense.bias"].update(data_offsets=[10**12, 10**12 + 8]),
            "outside the data section",
        ),
        (lambda h: h["dense.bias"].update(data_offsets=[8, 0]), "0 <= begin <= end"),
        (lambda h: h["dense.bias"].update(data_offsets=[-8, 0]), "0 <= begin <= end"),
        (lambda h: h["dense.bias"].update(data_offsets=[0]), "data_offsets"),
        (lambda h: h["dense.bias"].update(shape=[2, -1]), "non-negative ints"),
        (lambda h: h["dense.bias"].update(shape=[True, 2]), "non-negative ints"),
        (lambda h: h["dense.bias"].update(shape="2"), "non-negative ints"),
        (lambda h: h["dense.bias"].update(shape=[4]), "span 8 bytes, but F32 .* needs 16"),
        (lambda h: h["dense.bias"].update(extra=1), "expected an object with keys"),
        (lambda h: h.update(x=[1]), "tensor 'x': expected an object"),
    ],
)
def test_bad_tensor_entries(saved, tmp_path, edit, match):
    _, path = saved
    rewrite_header(path, edit)
    refused(path, match)
    refused(path, match, io.inspect_file)


def test_overlapping_tensors(tmp_path):
    a, b = np.ones(4, np.float32), np.zeros(4, np.float32)
    path = tmp_path / "o.safetensors"
    craft(
        path,
        {"a": a, "b": b},
        {"format": "rnnlab.checkpoint", "format_version": "1", "state": "{}"},
    )
    rewrite_header(path, lambda h: h["b"].update(data_offsets=[8, 24]))
    refused(path, "overlap|unused bytes", io.load_checkpoint)

    def same_bytes(h):
        h["b"]["data_offsets"] = list(h["a"]["data_offsets"])

    craft(
        path,
        {"a": a, "b": b},
        {"format": "rnnlab.checkpoint", "format_version": "1", "state": "{}"},
    )
    rewrite_header(path, same_bytes)
    refused(path, "tensors 'a' and 'b' overlap", io.load_checkpoint)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_in_a_file(saved, tmp_path, bad):
    model, _ = saved
    tensors = {k: v.copy() for k, v in model.named_params().items()}
    tensors["lstm.weight_hh"][3, 2] = bad
    craft_model(tmp_path / "n.safetensors", tensors, model.get_config())
    refused(tmp_path / "n.safetensors", r"'lstm.weight_hh' contains NaN or Inf .*\(3, 2\)")


def test_directory_empty_fifo_and_missing_paths(tmp_path):
    refused(tmp_path, "expected a regular file, got a directory")
    refused(tmp_path, "directory", io.inspect_file)
    (tmp_path / "empty").write_bytes(b"")
    refused(tmp_path / "empty", "at least 8 bytes, got 0 bytes")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        refused(tmp_path / "fifo", "not a regular file")  # refused without blocking on read
    # a missing path is not a format problem: FileNotFoundError, as from open()
    for loader in (io.load_model, io.load_checkpoint, io.inspect_file):
        with pytest.raises(FileNotFoundError, match="no such file"):
            loader(tmp_path / "absent.safetensors")


# -- saving: nothing non-finite, nothing half-written --------------------------------------------
def test_save_refuses_non_finite_weights_and_writes_nothing(saved, tmp_path):
    model, path = saved
    before = path.read_bytes()
    model.named_params()["dense.bias"][1] = np.nan
    for target in (path, tmp_path / "new.safetensors"):
        with pytest.raises(ValueError, match="'dense.bias' contains NaN or Inf"):
            io.save_model(model, target)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_save_refuses_bad_params_and_configs(saved, tmp_path):
    model, _ = saved

    class Wrapped:
        def __init__(self, params, config):
            self.params, self.config = params, config

        def named_params(self):
            return self.params

        def get_config(self):
            return self.config

    good = model.get_config()
    cases = [
        (Wrapped({"a": np.zeros(2, np.int64)}, good), TypeError, "dtype float32, float64"),
        (Wrapped({"a": [1.0]}, good), TypeError, "to be a NumPy array"),
        (Wrapped({"": np.zeros(2)}, good), ValueError, "non-empty str"),
        (Wrapped({"__metadata__": np.zeros(2)}, good), ValueError, "other than '__metadata__'"),
        (Wrapped({}, {"x": object()}), TypeError, "not JSON-serialisable"),
        (Wrapped({}, {"x": float("nan")}), ValueError, "not JSON-serialisable"),
        (Wrapped({}, {1: 2}), TypeError, "expected str keys"),
    ]
    for bad, error, match in cases:
        with pytest.raises(error, match=match):
            io.save_model(bad, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_failed_replace_leaves_old_file_and_no_temp(saved, tmp_path, monkeypatch):
    model, path = saved
    before = path.read_bytes()
    model.named_params()["dense.bias"][...] = 7.0

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        io.save_model(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_failure_while_writing_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    io.atomic_write(path, b"old content")
    with pytest.raises(RuntimeError, match="crash"):
        with io.atomic_open(path) as f:
            f.write(b"new, half")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"old content"

    def broken_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        io.atomic_write(path, b"new")
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_replaces_text_and_bytes_with_usual_permissions(tmp_path):
    path = tmp_path / "t.txt"
    io.atomic_write(path, "héllo")
    assert path.read_text(encoding="utf-8") == "héllo"
    io.atomic_write(path, b"bytes")
    assert path.read_bytes() == b"bytes"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(ValueError, match="mode 'wb' or 'w'"):
        with io.atomic_open(path, "ab"):
            pass
    assert os.listdir(tmp_path) == ["t.txt"]


# -- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_round_trip_restores_the_rng(tmp_path):
    rng = np.random.default_rng(2024)
    rng.random(17)
    tensors = {
        "adam.m": rng.standard_normal((3, 4)).astype(np.float32),
        "adam.v": rng.random(5),
        "step": np.array(12, np.int64),
        "order": rng.permutation(10).astype(np.int64),
        "mask": rng.random((2, 3)) > 0.5,
        "bytes": np.arange(5, dtype=np.uint8),
        "empty": np.zeros((0, 3), np.float32),
    }
    state = {
        "rng": rng.bit_generator.state,
        "epoch": 3,
        "position": 2**70 + 1,
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "name": "run-α",
        "done": False,
        "none": None,
        "numpy_int": np.int64(5),
    }
    assert state["rng"]["state"]["state"] >= 2**64  # a 128-bit int
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, tensors, state)
    got, got_state = io.load_checkpoint(path)
    assert got.keys() == tensors.keys()
    for name, want in tensors.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        assert got[name].tobytes() == want.tobytes()
        assert got[name].flags.writeable
    assert got_state == {**state, "numpy_int": 5}
    restored = np.random.default_rng()
    restored.bit_generator.state = got_state["rng"]
    np.testing.assert_array_equal(restored.random(8), rng.random(8))
    info = io.inspect_file(path)
    assert info["format"] == "rnnlab.checkpoint" and info["state"] == got_state
    assert {t["name"]: t["dtype"] for t in info["tensors"]}["mask"] == "BOOL"
    refused(path, "got 'rnnlab.checkpoint'")  # load_model refuses a checkpoint


def test_checkpoint_refuses_bad_inputs_and_writes_nothing(tmp_path):
    path = tmp_path / "c.safetensors"
    cases = [
        ({"x": np.array([1.0, np.inf])}, {}, ValueError, "'x' contains NaN or Inf"),
        ({"x": np.zeros(2, np.int32)}, {}, TypeError, "int64, uint8, bool, got int32"),
        ({"x": np.zeros(2, np.complex64)}, {}, TypeError, "got complex64"),
        ({}, {"a": np.zeros(2)}, TypeError, "not JSON-serialisable"),
        ({}, {"a": float("inf")}, ValueError, "not JSON-serialisable"),
        ({}, {"a": {1: 2}}, TypeError, "expected str keys"),
        ({}, [1, 2], TypeError, "expected state to be a dict"),
        ([np.zeros(1)], {}, TypeError, "expected a dict of arrays"),
    ]
    for tensors, state, error, match in cases:
        with pytest.raises(error, match=match):
            io.save_checkpoint(path, tensors, state)
    assert not path.exists()


def test_checkpoint_with_non_finite_or_bad_bool_data_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    meta = {"format": "rnnlab.checkpoint", "format_version": "1", "state": "{}"}
    craft(path, {"x": np.array([1.0, np.nan])}, meta)
    refused(path, r"'x' contains NaN or Inf .*\(1,\)", io.load_checkpoint)
    craft(path, {"s": np.array(np.inf, np.float32)}, meta)
    refused(path, r"'s' contains NaN or Inf .*index \(\)", io.load_checkpoint)
    header, _ = split(st_save({"b": np.array([True, False])}, metadata=meta))
    specs = {"b": ("BOOL", [2])}
    header["__metadata__"]["sha256"] = io._digest(meta, specs, {"b": b"\x01\x07"})
    (tmp_path / "b.safetensors").write_bytes(join(header, b"\x01\x07"))
    refused(tmp_path / "b.safetensors", "BOOL bytes 0 or 1", io.load_checkpoint)
    craft(path, {}, {**meta, "state": "[]"})
    refused(path, "expected state to be a JSON object", io.load_checkpoint)


# -- properties ----------------------------------------------------------------------------------
DTYPES = [np.float32, np.float64, np.int64, np.uint8, np.bool_]


@st.composite
def tensor_dicts(draw):
    names = draw(
        st.lists(
            st.text(min_size=1, max_size=6).filter(lambda s: s != "__metadata__"),
            max_size=5,
            unique=True,
        )
    )
    out = {}
    for name in names:
        dtype = draw(st.sampled_from(DTYPES))
        elements = (
            st.floats(
                allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64
            )
            if np.dtype(dtype).kind == "f"
            else None
        )
        out[name] = draw(
            hnp.arrays(
                dtype,
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                elements=elements,
            )
        )
    return out


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(tensors=tensor_dicts(), state=st.dictionaries(st.text(), json_values, max_size=4))
def test_checkpoint_round_trip_property(tensors, state):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.safetensors")
        io.save_checkpoint(path, tensors, state)
        got, got_state = io.load_checkpoint(path)
    assert got_state == state
    assert got.keys() == tensors.keys()
    for name, want in tensors.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        assert got[name].tobytes() == want.tobytes()


def _model_blob() -> tuple[bytes, dict, dict]:
    """A valid small model file, its params and config (built once)."""
    if not hasattr(_model_blob, "cache"):
        with tempfile.TemporaryDirectory() as tmp:
            model = make_model(SEQUENTIAL)
            path = os.path.join(tmp, "m.safetensors")
            io.save_model(model, path)
            blob = pathlib.Path(path).read_bytes()
        _model_blob.cache = (blob, model.named_params(), model.get_config())
    return _model_blob.cache


@given(data=st.data())
def test_corrupt_model_file_loads_identically_or_raises_format_error(data):
    blob, params, config = _model_blob()
    corrupt = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3), label="n_edits")):
        # favour the length prefix and header, where structure lives
        pos = data.draw(st.integers(0, len(blob) - 1) | st.integers(0, 300), label="pos")
        corrupt[pos] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.booleans(), label="resize"):
        corrupt = corrupt[: data.draw(st.integers(0, len(corrupt)), label="cut")]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.safetensors")
        pathlib.Path(path).write_bytes(bytes(corrupt))
        with contextlib.suppress(FormatError):  # reads only the header: no checksum there
            io.inspect_file(path)
        try:
            model = io.load_model(path)
        except FormatError:
            return
    assert model.get_config() == config
    got = model.named_params()
    assert got.keys() == params.keys()
    for name in params:
        assert got[name].tobytes() == params[name].tobytes()


@st.composite
def raw_checkpoints(draw):
    """Files with random, mostly plausible tensor entries and a valid checksum."""
    entries, position = {}, 0
    for name in draw(st.lists(st.sampled_from("abcde"), max_size=4, unique=True)):
        dtype = draw(st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "F16", "I32", 3]))
        shape = draw(st.lists(st.integers(-1, 3), max_size=3))
        itemsize = {"F64": 8, "I64": 8, "F32": 4, "U8": 1, "BOOL": 1}.get(dtype, 2)
        size = draw(st.sampled_from([itemsize * math.prod(shape)] * 3) | st.integers(-1, 30))
        begin = position + draw(st.sampled_from([0, 0, 0, -4, 4]))
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + size]}
        position = begin + size
    data = draw(st.binary(min_size=max(position, 0), max_size=max(position, 0) + 2))
    meta = {"format": "rnnlab.checkpoint", "format_version": "1", "state": "{}"}
    specs = {n: (e["dtype"], e["shape"]) for n, e in entries.items()}
    chunks = {
        n: data[max(e["data_offsets"][0], 0) : max(e["data_offsets"][1], 0)]
        for n, e in entries.items()
    }
    meta["sha256"] = io._digest(meta, specs, chunks)
    return join({"__metadata__": meta, **entries}, data)


@given(blob=raw_checkpoints())
def test_header_checks_are_at_least_as_strict_as_safetensors(blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.safetensors")
        pathlib.Path(path).write_bytes(blob)
        try:
            tensors, _ = io.load_checkpoint(path)
        except FormatError as err:
            assert "safetensors refused" not in str(err)  # our checks caught it first
            return
    header, _ = split(blob)
    assert {n: list(a.shape) for n, a in tensors.items()} == {
        n: e["shape"] for n, e in header.items() if n != "__metadata__"
    }
