"""Character vocabulary: characters <-> int32 ids, vectorised, saved as plain JSON.

    >>> vocab = CharVocab.from_text("hello world")
    >>> ids = vocab.encode("hello")                       # array([3, 2, 4, 4, 5], dtype=int32)
    >>> vocab.decode(ids)
    'hello'
    >>> CharVocab.from_config(vocab.to_config()) == vocab
    True

With `padding=True`, id 0 is reserved for padding (never produced by `encode`, dropped by
`decode`) and the characters take ids 1..len-1, e.g. for right-padded batches with a mask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from .._validation import check_bool, check_choice, describe

ERRORS = ("strict", "replace")


def _codepoints(text: str) -> np.ndarray:
    """Unicode code points of `text` as uint32 (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharVocab:
    """A fixed set of characters, each with an int32 id.

    Arguments:
        chars: the characters in id order (a string or an iterable of 1-character strings),
            no repeats.
        padding: reserve id 0 for padding; the characters then start at id 1.
    """

    def __init__(self, chars: str | Iterable[str], *, padding: bool = False) -> None:
        who = "CharVocab"
        if isinstance(chars, (bytes, bytearray)) or not isinstance(chars, (str, Iterable)):
            raise TypeError(
                f"{who}: expected the characters as a str or a list of "
                f"1-character strings, got {describe(chars)}"
            )
        chars = list(chars)
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"{who}: expected 1-character strings, got {c!r} at index {i}")
        if len(set(chars)) != len(chars):
            seen: set[str] = set()
            dup = next(c for c in chars if c in seen or seen.add(c))
            raise ValueError(f"{who}: characters must be distinct, {dup!r} occurs twice")
        self.padding = check_bool(padding, who, "padding")
        if not chars:
            raise ValueError(f"{who}: expected at least one character, got none")
        self._chars = chars
        self._offset = 1 if self.padding else 0
        points = _codepoints("".join(chars))  # (V,) in id order
        self._order = np.argsort(points, kind="stable")  # sorted position -> id
        self._sorted = points[self._order]
        self._table = np.concatenate([np.zeros(self._offset, "<u4"), points])  # id -> point

    @classmethod
    def from_text(cls, text: str, *, padding: bool = False) -> CharVocab:
        """The vocabulary of the sorted distinct characters of `text`."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.from_text: expected str, got {describe(text)}")
        if not text:
            raise ValueError("CharVocab.from_text: expected non-empty text, got ''")
        return cls(sorted(set(text)), padding=padding)

    @property
    def chars(self) -> str:
        """The characters in id order (without the padding slot)."""
        return "".join(self._chars)

    @property
    def padding_id(self) -> int | None:
        """0 when padding is reserved, else None."""
        return 0 if self.padding else None

    def __len__(self) -> int:
        """Number of ids, the padding id included: the size of an embedding or softmax."""
        return len(self._chars) + self._offset

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and char in self._chars

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharVocab):
            return NotImplemented
        return self._chars == other._chars and self.padding == other.padding

    def __hash__(self) -> int:
        return hash((tuple(self._chars), self.padding))

    def __repr__(self) -> str:
        return f"CharVocab({len(self._chars)} characters, padding={self.padding})"

    def encode(
        self, text: str, *, errors: str = "strict", replacement: str | None = None
    ) -> np.ndarray:
        """Ids of the characters of `text`, an int32 array of shape (len(text),).

        errors="strict" raises ValueError at the first unknown character (naming it and its
        position); errors="replace" maps unknown characters to `replacement`, which must be
        in the vocabulary.
        """
        who = "CharVocab.encode"
        if not isinstance(text, str):
            raise TypeError(f"{who}: expected str, got {describe(text)}")
        check_choice(errors, who, "errors", ERRORS)
        if errors == "replace":
            if not isinstance(replacement, str) or replacement not in self:
                raise ValueError(
                    f"{who}: errors='replace' needs replacement= a character of "
                    f"the vocabulary, got {replacement!r}"
                )
        elif replacement is not None:
            raise ValueError(f"{who}: replacement= only applies with errors='replace'")
        points = _codepoints(text)  # (N,)
        pos = np.searchsorted(self._sorted, points)  # (N,)
        pos_clipped = np.minimum(pos, len(self._sorted) - 1)
        known = self._sorted[pos_clipped] == points
        ids = (self._order[pos_clipped] + self._offset).astype(np.int32)
        if not known.all():
            first = int(np.argmin(known))
            if errors == "strict":
                unknown = int((~known).sum())
                raise ValueError(
                    f"{who}: character {text[first]!r} (U+{ord(text[first]):04X}) at position "
                    f"{first} is not in the vocabulary ({unknown} unknown character(s) in all); "
                    f"use errors='replace', replacement=... or build the vocabulary from this "
                    f"text"
                )
            ids[~known] = self._chars.index(replacement) + self._offset
        return ids

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids; padding ids (0 when reserved) are dropped."""
        who = "CharVocab.decode"
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"{who}: expected a 1-D sequence of int ids, got {describe(ids)}")
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{who}: expected integer ids, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"{who}: expected a 1-D sequence of ids, got shape {arr.shape}")
        bad = (arr < 0) | (arr >= len(self))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{who}: id {int(arr[i])} at position {i} is out of range [0, {len(self)})"
            )
        if self.padding:
            arr = arr[arr != 0]
        return self._table[arr].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_config(self) -> dict:
        """JSON-serialisable description: {"chars": [...characters in id order], "padding"}."""
        return {"chars": list(self._chars), "padding": self.padding}

    @classmethod
    def from_config(cls, config: dict) -> CharVocab:
        """Rebuild from `to_config()` output (also accepts it as a JSON string)."""
        who = "CharVocab.from_config"
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{who}: expected a JSON object, got invalid JSON: {err}"
                ) from None
        if not isinstance(config, dict) or not isinstance(config.get("chars"), list):
            raise ValueError(
                f"{who}: expected a dict with a 'chars' list (from to_config()), "
                f"got {describe(config)}"
            )
        unknown = set(config) - {"chars", "padding"}
        if unknown:
            raise ValueError(
                f"{who}: unexpected keys {sorted(unknown)}; expected 'chars' and 'padding'"
            )
        return cls(config["chars"], padding=config.get("padding", False))
