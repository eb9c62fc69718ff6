"""Model files, training checkpoints and atomic writes. No pickle, no code from files, ever.

On disk, both kinds of file are one safetensors container (https://github.com/huggingface/safetensors):

    bytes [0, 8)           N, the header length, unsigned 64-bit little-endian (N ≤ 100,000,000)
    bytes [8, 8 + N)       the header: a UTF-8 JSON object starting with "{", padded with spaces
    bytes [8 + N, end)     the data section: every tensor's bytes, little-endian, C order

    header = {"__metadata__": {str: str},
              "<tensor name>": {"dtype": "F32", "shape": [4, 3], "data_offsets": [begin, end]},
              ...}

data_offsets are relative to the data section; the tensors tile it exactly (no gap, no overlap,
nothing after the last one); end − begin = itemsize(dtype) × prod(shape).

    model file        tensors "<layer name>.<param name>" (dtypes F32, F64), e.g. "lstm.weight_ih",
                      "bidirectional.forward_layer.weight_hh"; metadata:
                      format = "rnnlab.model", format_version = "1",
                      config = json.dumps(model.get_config()), sha256 (below)
    checkpoint        any tensor names (dtypes F32, F64, I64, U8, BOOL; 0-d allowed); metadata:
                      format = "rnnlab.checkpoint", format_version = "1",
                      state = json.dumps(state), sha256 (below)

sha256 is the hex SHA-256 of the canonical JSON (sorted keys, separators "," and ":", ASCII)
of {"metadata": metadata without sha256, "tensors": {name: {"dtype": ..., "shape": [...]}}},
followed by each tensor's bytes in sorted name order. It makes any corruption of names, shapes,
config, state or values an error instead of silently different weights.

Loading validates the header (every rule above) before safetensors sees a byte, then the
checksum, then (models) the config against the tensors, then finiteness of every float tensor.
Anything wrong raises FormatError (a ValueError) naming the file, what was expected and what
came. A path that does not exist raises FileNotFoundError (it is not a format problem); other
OS errors (permissions...) propagate unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import stat
import struct
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import numpy as np

MODEL_FORMAT = "rnnlab.model"
CHECKPOINT_FORMAT = "rnnlab.checkpoint"
SUPPORTED_VERSIONS = ("1",)
MAX_HEADER_BYTES = 100_000_000  # also safetensors' own limit (a little under 100 MiB)

# safetensors dtype name <-> NumPy dtype (little-endian)
_DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {dt: code for code, dt in _DTYPES.items()}
# per format: allowed tensor dtypes and the metadata key that holds the JSON payload
_FORMATS = {
    MODEL_FORMAT: (("F32", "F64"), "config"),
    CHECKPOINT_FORMAT: (("F32", "F64", "I64", "U8", "BOOL"), "state"),
}


class FormatError(ValueError):
    """A file that is not a valid rnnlab model or checkpoint (malformed, corrupt or unsafe)."""


#: the model classes a file may name in config["class_name"]; rnnlab.model registers
#: Sequential when it is imported (this module imports no model code: no import cycle)
MODEL_CLASSES: dict[str, type] = {}


def register_model_class(cls: type) -> type:
    """Let load_model rebuild files whose config names `cls.__name__`, by cls.from_config(config).

    The class needs `from_config(config)`, `get_config()` and `named_params()`. Returns `cls`,
    so it works as a class decorator.
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "from_config", None)):
        raise TypeError(
            f"register_model_class: expected a class with from_config(), got {cls!r:.80}"
        )
    MODEL_CLASSES[cls.__name__] = cls
    return cls


# -- atomic writes ------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", *, encoding: str = "utf-8") -> Iterator[Any]:
    """Open a temp file next to `path` for writing; on success it replaces `path` atomically.

    The temp file is flushed and fsync'ed, moved onto `path` with os.replace, and the directory
    is fsync'ed. If the block raises (or the process dies), `path` keeps its old content and
    the temp file is removed: readers see the old file or the new one, never a partial one.
    mode is "wb" or "w" (text, `encoding`).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: expected mode 'wb' or 'w', got {mode!r}")
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for a plain open()
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write(path, data: bytes | str) -> None:
    """Write bytes (or UTF-8 text) to `path` atomically (see atomic_open)."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)


# -- public API ---------------------------------------------------------------------------------
def save_model(model, path) -> None:
    """Write `model` (params and config) to one safetensors file at `path`, atomically.

    Raises ValueError (nothing written) if a parameter is NaN/Inf, TypeError if a parameter is
    not float32/float64 or the config is not JSON-serialisable.
    """
    config = _dumps(model.get_config(), "save_model: model config")
    tensors = _prepare(model.named_params(), "save_model", _FORMATS[MODEL_FORMAT][0])
    _write(path, tensors, {"format": MODEL_FORMAT, "format_version": "1", "config": config})


def load_model(path):
    """Read a file written by save_model: validate everything, rebuild the model, copy weights.

    Raises FormatError for a malformed, corrupt or unsafe file (see the module docstring),
    FileNotFoundError if `path` does not exist.
    """
    where = os.fspath(path)
    metadata, entries, blob = _read_verified(path, MODEL_FORMAT)
    config = _loads(metadata["config"], where, "config")
    kind = config.get("class_name")
    if not isinstance(kind, str) or kind not in MODEL_CLASSES:
        raise FormatError(
            f"{where}: unknown model class {kind!r} in the config "
            f"(expected one of {sorted(MODEL_CLASSES)})"
        )
    try:
        model = MODEL_CLASSES[kind].from_config(config)
    except Exception as err:  # untrusted config: any failure to rebuild is the file's fault
        raise FormatError(
            f"{where}: config does not rebuild a model (unknown layer type or "
            f"bad layer config): {type(err).__name__}: {err}"
        ) from err
    expected = model.named_params()
    for name in expected:
        if name not in entries:
            raise FormatError(
                f"{where}: missing tensor {name!r} (the config expects {_describe(expected[name])})"
            )
    for name, entry in entries.items():
        if name not in expected:
            raise FormatError(
                f"{where}: unexpected tensor {name!r} ({entry['dtype']} "
                f"{tuple(entry['shape'])}), not a parameter of the config's model"
            )
        want = expected[name]
        got = (_DTYPES[entry["dtype"]].name, tuple(entry["shape"]))
        if (want.dtype.name, want.shape) != got:
            raise FormatError(
                f"{where}: tensor {name!r} disagrees with the config (expected "
                f"{_describe(want)}, got {got[0]} {got[1]})"
            )
    arrays = _decode(blob, where)
    for name, param in expected.items():
        param[...] = arrays[name]
    return model


def save_checkpoint(path, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
    """Write a training checkpoint atomically: named arrays and a JSON-serialisable `state`.

    tensors: float32, float64, int64, uint8 or bool arrays (0-d allowed), finite floats.
    state: a dict of JSON values (ints of any size, e.g. PCG64 states, round-trip exactly;
    NumPy scalars are stored as Python numbers; keys must be str).
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"save_checkpoint: expected state to be a dict, got {type(state).__name__}")
    text = _dumps(dict(state), "save_checkpoint: state")
    arrays = _prepare(tensors, "save_checkpoint", _FORMATS[CHECKPOINT_FORMAT][0])
    _write(path, arrays, {"format": CHECKPOINT_FORMAT, "format_version": "1", "state": text})


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by save_checkpoint -> (tensors, state). Same validation as load_model."""
    where = os.fspath(path)
    metadata, _, blob = _read_verified(path, CHECKPOINT_FORMAT)
    state = _loads(metadata["state"], where, "state")
    return _decode(blob, where), state


def inspect_file(path) -> dict[str, Any]:
    """Validated summary of a model or checkpoint file, without reading the tensor data.

    Returns {"path", "format", "format_version", "file_size", "tensors": [{"name", "dtype",
    "shape"}] in name order, "total_parameters", "sha256", and "config" (models) or "state"
    (checkpoints), parsed}. The checksum and the values are checked only by the loaders.
    """
    where = os.fspath(path)
    with _open_regular(path) as f:
        metadata, entries, data_start, data_len = _read_header(f, where, None)
    fmt = metadata["format"]
    key = _FORMATS[fmt][1]
    return {
        "path": where,
        "format": fmt,
        "format_version": metadata["format_version"],
        "file_size": data_start + data_len,
        "tensors": [
            {"name": n, "dtype": e["dtype"], "shape": tuple(e["shape"])}
            for n, e in sorted(entries.items())
        ],
        "total_parameters": sum(math.prod(e["shape"]) for e in entries.values()),
        "sha256": metadata["sha256"],
        key: _loads(metadata[key], where, key),
    }


# -- writing ------------------------------------------------------------------------------------
def _json_default(value):
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(
        f"expected JSON values (dict, list, str, int, float, bool, None), "
        f"got {type(value).__name__}"
    )


def _check_keys(value, who: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{who}: expected str keys, got {key!r}")
            _check_keys(item, who)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_keys(item, who)


def _dumps(value, who: str) -> str:
    _check_keys(value, who)
    try:
        return json.dumps(value, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{who} is not JSON-serialisable: {err}") from None


def _prepare(tensors: Mapping[str, np.ndarray], who: str, codes) -> dict[str, np.ndarray]:
    """Check names, dtypes and finiteness; return C-contiguous little-endian copies."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{who}: expected a dict of arrays, got {type(tensors).__name__}")
    out = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(
                f"{who}: expected tensor names to be non-empty str other than "
                f"'__metadata__', got {name!r}"
            )
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{who}: expected tensor {name!r} to be a NumPy array, got {type(value).__name__}"
            )
        code = _CODES.get(
            value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype
        )
        if code not in codes:
            allowed = ", ".join(_DTYPES[c].name for c in codes)
            raise TypeError(
                f"{who}: expected tensor {name!r} of dtype {allowed}, got {value.dtype}"
            )
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{who}: tensor {name!r} contains NaN or Inf; nothing was written")
        out[name] = np.array(value, dtype=_DTYPES[code], order="C", copy=True)
    return out


def _digest(
    metadata: Mapping[str, str],
    specs: Mapping[str, tuple[str, list[int]]],
    chunks: Mapping[str, Any],
) -> str:
    """The sha256 metadata entry (see the module docstring)."""
    head = {
        "metadata": {k: v for k, v in metadata.items() if k != "sha256"},
        "tensors": {n: {"dtype": d, "shape": list(s)} for n, (d, s) in specs.items()},
    }
    h = hashlib.sha256(json.dumps(head, sort_keys=True, separators=(",", ":")).encode("ascii"))
    for name in sorted(chunks):
        h.update(chunks[name])
    return h.hexdigest()


def _write(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    from safetensors.numpy import save

    specs = {n: (_CODES[a.dtype], list(a.shape)) for n, a in tensors.items()}
    metadata = {**metadata, "sha256": _digest(metadata, specs, tensors)}
    atomic_write(path, save(tensors, metadata=metadata))


# -- reading ------------------------------------------------------------------------------------
def _open_regular(path):
    where = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise FormatError(f"{where}: expected a regular file, got {what}")
    return open(path, "rb")


def _sniff(prefix: bytes) -> str:
    if prefix.startswith(b"PK"):
        return " (this looks like a zip/.npz archive; rnnlab reads safetensors files only)"
    if prefix.startswith(b"\x80") or prefix.startswith(b"\x93NUMPY"):
        return " (this looks like a pickle or .npy file; rnnlab reads safetensors files only)"
    return ""


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_json(text: str):
    """Strict JSON: no NaN/Infinity, no duplicate keys; errors are ValueError/RecursionError."""
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)


def _loads(text: str, where: str, what: str) -> dict[str, Any]:
    try:
        value = _parse_json(text)
    except (ValueError, RecursionError) as err:
        raise FormatError(f"{where}: {what} in the metadata is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise FormatError(
            f"{where}: expected {what} to be a JSON object, got {type(value).__name__}"
        )
    return value


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _read_header(f, where: str, fmt: str | None):
    """Read and validate the header of the open file `f`, positioned at 0.

    fmt: the expected format, or None for either. Returns (metadata, entries, data_start,
    data_len): entries maps tensor name -> {"dtype", "shape", "data_offsets"}; the data section
    is bytes [data_start, data_start + data_len) of the file and is not read here.
    """
    size = os.fstat(f.fileno()).st_size

    def fail(msg: str) -> NoReturn:
        raise FormatError(f"{where}: {msg}")

    prefix = f.read(8)
    if len(prefix) < 8:
        fail(f"expected a safetensors file of at least 8 bytes, got {len(prefix)} bytes")
    (n,) = struct.unpack("<Q", prefix)
    if n > min(size - 8, MAX_HEADER_BYTES):
        fail(
            f"header length {n} is impossible (expected at most "
            f"{min(size - 8, MAX_HEADER_BYTES)} for a file of {size} bytes){_sniff(prefix)}"
        )
    raw = f.read(n)
    if len(raw) != n:
        fail(f"file truncated inside the header (expected {n} bytes, got {len(raw)})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        fail(f"header is not valid UTF-8 ({err})")
    if not text.startswith("{"):
        fail(f"expected the header to be a JSON object starting with '{{', got {text[:20]!r}")
    try:
        header = _parse_json(text)
    except (ValueError, RecursionError) as err:
        fail(f"header is not valid JSON ({err})")
    if not isinstance(header, dict):
        fail(f"expected the header to be a JSON object, got {type(header).__name__}")

    # metadata: format, version, payload, checksum
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict):
        fail(f"expected a '__metadata__' object in the header, got {metadata!r:.60}")
    if not all(isinstance(v, str) for v in metadata.values()):
        fail("expected every '__metadata__' value to be a string")
    got = metadata.get("format")
    if got not in _FORMATS or (fmt is not None and got != fmt):
        want = fmt or " or ".join(map(repr, _FORMATS))
        hint = {
            MODEL_FORMAT: " (a model file: use load_model)",
            CHECKPOINT_FORMAT: " (a training checkpoint: use load_checkpoint)",
        }.get(got, "")
        fail(f"expected metadata format {want!r}, got {got!r}{hint}")
    if metadata.get("format_version") not in SUPPORTED_VERSIONS:
        fail(
            f"unsupported format_version {metadata.get('format_version')!r} "
            f"(this rnnlab reads {', '.join(SUPPORTED_VERSIONS)})"
        )
    codes, payload = _FORMATS[got]
    required = {"format", "format_version", payload, "sha256"}
    if set(metadata) != required:
        fail(f"expected metadata keys {sorted(required)}, got {sorted(metadata)}")
    digest = metadata["sha256"]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        fail(f"expected metadata sha256 to be 64 lowercase hex digits, got {digest!r:.80}")

    # tensor entries, then the tiling of the data section
    data_len = size - 8 - n
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            fail(
                f"tensor {name!r}: expected an object with keys dtype, shape, data_offsets, "
                f"got {entry!r:.80}"
            )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in codes:
            fail(
                f"tensor {name!r}: unsupported dtype {dtype!r} (expected one of {', '.join(codes)})"
            )
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            fail(
                f"tensor {name!r}: expected shape to be a list of non-negative ints, "
                f"got {shape!r:.80}"
            )
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            fail(
                f"tensor {name!r}: expected data_offsets [begin, end] with "
                f"0 <= begin <= end, got {offsets!r:.80}"
            )
        nbytes = _DTYPES[dtype].itemsize * math.prod(shape)
        if offsets[1] - offsets[0] != nbytes:
            fail(
                f"tensor {name!r}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes, "
                f"but {dtype} {tuple(shape)} needs {nbytes}"
            )
        if offsets[1] > data_len:
            fail(
                f"tensor {name!r}: data_offsets {offsets} lie outside the data section of "
                f"{data_len} bytes (file truncated?)"
            )
    position, previous = 0, None
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = entry["data_offsets"]
        if begin < position:
            fail(f"tensors {previous!r} and {name!r} overlap (data_offsets {begin} < {position})")
        if begin > position:
            fail(f"unused bytes [{position}, {begin}) in the data section before tensor {name!r}")
        position, previous = end, name
    if position != data_len:
        fail(
            f"expected a data section of {position} bytes (the tensors' total), "
            f"got {data_len} bytes"
        )
    return metadata, header, 8 + n, data_len


def _read_verified(path, fmt: str) -> tuple[dict[str, str], dict[str, dict], bytes]:
    """Read the whole file; validate its header and checksum -> (metadata, entries, bytes)."""
    where = os.fspath(path)
    with _open_regular(path) as f:
        metadata, entries, data_start, data_len = _read_header(f, where, fmt)
        f.seek(0)
        blob = f.read()
    if len(blob) != data_start + data_len:
        raise FormatError(f"{where}: the file changed while it was read")
    data = memoryview(blob)[data_start:]
    chunks = {n: data[e["data_offsets"][0] : e["data_offsets"][1]] for n, e in entries.items()}
    specs = {n: (e["dtype"], e["shape"]) for n, e in entries.items()}
    digest = _digest(metadata, specs, chunks)
    if digest != metadata["sha256"]:
        raise FormatError(
            f"{where}: checksum mismatch (expected sha256 {metadata['sha256']}, "
            f"got {digest}): the file is corrupt"
        )
    for name, e in entries.items():
        if e["dtype"] == "BOOL" and bytes(chunks[name]).translate(None, b"\x00\x01"):
            raise FormatError(f"{where}: tensor {name!r}: expected BOOL bytes 0 or 1")
    return metadata, entries, blob


def _decode(blob: bytes, where: str) -> dict[str, np.ndarray]:
    """Hand the validated bytes to safetensors; refuse non-finite floats."""
    from safetensors.numpy import load

    try:
        arrays = load(blob)
    except Exception as err:  # validated above; this is a safety net
        raise FormatError(f"{where}: safetensors refused the file: {err}") from err
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise FormatError(
                f"{where}: tensor {name!r} contains NaN or Inf "
                f"(first at index {bad}); expected finite values"
            )
        if not arr.flags.writeable:
            arrays[name] = arr.copy()
    return arrays


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype.name} {a.shape}"
