"""pad_sequences: a list of sequences of different lengths -> one array (Keras' semantics)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._validation import check_choice, describe


def pad_sequences(
    sequences: Sequence,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
) -> np.ndarray:
    """Pad (and cut) each sequence to `maxlen` steps: an array (N, maxlen, *step shape).

    maxlen: None = the longest sequence. truncating "pre" drops the first steps of a longer
    sequence (keeps its last maxlen), "post" drops its last steps; padding "pre" puts `value`
    before the sequence, "post" after it. Every step must have the same shape (scalars, or
    e.g. feature vectors); empty sequences give a row of padding. As in Keras, the defaults
    pad and cut at the start: an RNN then reads the real steps last.
    """
    who = "pad_sequences"
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence | np.ndarray):
        raise ValueError(f"{who}: expected a list of sequences, got {describe(sequences)}")
    check_choice(padding, who, "padding", ("pre", "post"))
    check_choice(truncating, who, "truncating", ("pre", "post"))
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen <= 0
    ):
        raise ValueError(f"{who}: expected maxlen to be a positive int or None, got {maxlen!r}")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: expected a NumPy dtype, got {dtype!r}") from None
    if isinstance(value, str) and out_dtype.kind not in "USO":
        raise ValueError(
            f"{who}: value {value!r} is a string but dtype is {out_dtype.name}; "
            f"use dtype=object or a str dtype"
        )
    rows = []
    step_shape = None
    for i, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise ValueError(
                f"{who}: expected sequence {i} to be a list or array, got {describe(seq)}"
            )
        row = np.asarray(seq, dtype=out_dtype if out_dtype.kind != "O" else None)
        if row.ndim == 0:
            raise ValueError(f"{who}: sequence {i} is a scalar, expected a sequence")
        if len(row):
            if step_shape is None:
                step_shape = row.shape[1:]
            elif row.shape[1:] != step_shape:
                raise ValueError(
                    f"{who}: sequence {i} has steps of shape {row.shape[1:]}, "
                    f"sequences before it {step_shape}"
                )
        rows.append(row)
    step_shape = () if step_shape is None else step_shape
    length = max((len(r) for r in rows), default=0) if maxlen is None else int(maxlen)
    out = np.full((len(rows), length, *step_shape), value, dtype=out_dtype)
    for i, row in enumerate(rows):
        if not len(row) or not length:
            continue
        cut = row[-length:] if truncating == "pre" else row[:length]
        if padding == "post":
            out[i, : len(cut)] = cut
        else:
            out[i, length - len(cut) :] = cut
    return out
