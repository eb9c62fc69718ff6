"""Text to token ids: TextVectorization (Keras 3) and the legacy Tokenizer (keras.preprocessing).

TextVectorization's vocabulary: id 0 = "" (padding), id 1 = "[UNK]" (out of vocabulary), then the
tokens of `adapt`'s texts by falling count (ties: first seen first), at most max_tokens entries
in all. Texts are standardised ("lower_and_strip_punctuation": lower case, Keras' punctuation
set removed) and split on whitespace; each becomes a row of ids, padded with 0 or cut at the END
to output_sequence_length (or to the longest text of the call).

Tokenizer: word_index counts from 1 (0 is left for padding), the oov_token (if any) first, then
words by falling count; texts_to_sequences keeps words with an index below num_words, maps the
others to the OOV index, or drops them when there is no oov_token.
"""

from __future__ import annotations

import numbers
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._validation import check_bool, describe

#: Keras' DEFAULT_STRIP_REGEX: the punctuation "lower_and_strip_punctuation" removes
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
_STRIP = re.compile("[" + re.escape(PUNCTUATION) + "]")
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
PAD, OOV = "", "[UNK]"


def _texts(data, who: str) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, np.ndarray):
        data = data.ravel().tolist() if data.dtype.kind in "UO" else None
    if not isinstance(data, Iterable):
        raise TypeError(f"{who}: expected a string or a list of strings, got {describe(data)}")
    texts = list(data)
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{who}: expected strings, got {describe(bad[0])}")
    return texts


class TextVectorization:
    """Strings -> rows of token ids (keras.layers.TextVectorization, output_mode="int").

    Arguments: max_tokens (vocabulary size including "" and "[UNK]"; None = no limit),
    standardize ("lower_and_strip_punctuation" | "lower" | "strip_punctuation" | None | a
    function str -> str), split ("whitespace" | "character" | None | a function str -> list),
    output_sequence_length (None: the longest text of each call), vocabulary (a list of tokens
    to use instead of adapt; "" and "[UNK]" are put first). Not supported
    (NotImplementedError): output_mode other than "int", ngrams, pad_to_max_tokens.
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable | None = "lower_and_strip_punctuation",
        split: str | Callable | None = "whitespace",
        ngrams=None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: list[str] | None = None,
        name: str | None = None,
    ):
        who = "TextVectorization"
        if output_mode != "int":
            raise NotImplementedError(
                f"{who}: output_mode={output_mode!r} is not supported "
                f"(only 'int': rows of token ids)"
            )
        if ngrams is not None:
            raise NotImplementedError(f"{who}: ngrams are not supported")
        if pad_to_max_tokens:
            raise NotImplementedError(f"{who}: pad_to_max_tokens is not supported")
        for value, what, known in (
            (standardize, "standardize", STANDARDIZE),
            (split, "split", SPLIT),
        ):
            if not (value is None or callable(value) or value in known):
                raise ValueError(
                    f"{who}: expected {what} in {list(known)}, None or a function, got {value!r}"
                )
        self.max_tokens = _positive_or_none(max_tokens, who, "max_tokens", least=3)
        self.output_sequence_length = _positive_or_none(
            output_sequence_length, who, "output_sequence_length"
        )
        self.standardize, self.split, self.name = standardize, split, name
        self._vocab: list[str] = [PAD, OOV]
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def tokens(self, text: str) -> list[str]:
        """The tokens of one text after standardize and split."""
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize is not None:
            if "lower" in self.standardize:
                text = text.lower()
            if "strip" in self.standardize:
                text = _STRIP.sub("", text)
        if callable(self.split):
            return list(self.split(text))
        if self.split == "whitespace":
            return text.split()
        if self.split == "character":
            return list(text)
        return [text]

    def adapt(self, data) -> None:
        """Build the vocabulary from texts: tokens by falling count, at most max_tokens − 2."""
        counts = Counter(
            tok for text in _texts(data, "TextVectorization.adapt") for tok in self.tokens(text)
        )
        counts.pop(PAD, None)
        counts.pop(OOV, None)
        ranked = sorted(counts, key=lambda tok: -counts[tok])  # stable: ties keep first-seen
        limit = None if self.max_tokens is None else self.max_tokens - 2
        self._set([PAD, OOV, *ranked[:limit]])

    def set_vocabulary(self, vocabulary: list[str]) -> None:
        """Use these tokens (without "" and "[UNK]", or starting with them)."""
        tokens = _texts(vocabulary, "TextVectorization.set_vocabulary")
        if tokens[:2] == [PAD, OOV]:
            tokens = tokens[2:]
        if PAD in tokens or OOV in tokens or len(set(tokens)) != len(tokens):
            raise ValueError(
                "TextVectorization.set_vocabulary: expected distinct tokens "
                "other than '' and '[UNK]' (they take ids 0 and 1)"
            )
        if self.max_tokens is not None and len(tokens) + 2 > self.max_tokens:
            raise ValueError(
                f"TextVectorization.set_vocabulary: {len(tokens)} tokens + 2 "
                f"exceed max_tokens={self.max_tokens}"
            )
        self._set([PAD, OOV, *tokens])

    def _set(self, vocab: list[str]) -> None:
        self._vocab = vocab
        self._index = {tok: i for i, tok in enumerate(vocab)}

    def get_vocabulary(self) -> list[str]:
        return list(self._vocab)

    def vocabulary_size(self) -> int:
        return len(self._vocab)

    def __call__(self, data) -> np.ndarray:
        """Token ids (N, L) int64: 0 = padding, 1 = out of vocabulary."""
        rows = [
            [self._index.get(tok, 1) for tok in self.tokens(text)]
            for text in _texts(data, "TextVectorization")
        ]
        length = self.output_sequence_length or max((len(r) for r in rows), default=0)
        out = np.zeros((len(rows), length), dtype=np.int64)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, : len(row)] = row
        return out

    def get_config(self) -> dict[str, Any]:
        for value, what in ((self.standardize, "standardize"), (self.split, "split")):
            if callable(value):
                raise TypeError(
                    f"TextVectorization.get_config: a function as {what} cannot be saved as JSON"
                )
        return {
            "max_tokens": self.max_tokens,
            "standardize": self.standardize,
            "split": self.split,
            "output_sequence_length": self.output_sequence_length,
            "vocabulary": self._vocab[2:],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TextVectorization:
        return cls(**cfg)


class Tokenizer:
    """Words -> ids, keras.preprocessing.text.Tokenizer's behaviour (the legacy API).

    Arguments: num_words (keep the num_words − 1 most frequent words; None = all), filters
    (characters removed), lower, split (the separator), char_level, oov_token (a word for the
    index of unknown words, index 1).
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n',
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
    ):
        who = "Tokenizer"
        self.num_words = _positive_or_none(num_words, who, "num_words")
        for value, what in ((filters, "filters"), (split, "split")):
            if not isinstance(value, str):
                raise TypeError(f"{who}: expected {what} to be a str, got {describe(value)}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise TypeError(
                f"{who}: expected oov_token to be a str or None, got {describe(oov_token)}"
            )
        self.filters, self.split, self.oov_token = filters, split, oov_token
        self.lower = check_bool(lower, who, "lower")
        self.char_level = check_bool(char_level, who, "char_level")
        self.word_counts: dict[str, int] = {}
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def words(self, text: str) -> list[str]:
        """keras' text_to_word_sequence (or the characters, with char_level)."""
        if self.lower:
            text = text.lower()
        if self.char_level:
            return list(text)
        text = text.translate(str.maketrans(self.filters, self.split * len(self.filters)))
        return [w for w in text.split(self.split) if w]

    def fit_on_texts(self, texts) -> None:
        """Count words and give them indices 1, 2, ... by falling count (the OOV token first)."""
        for text in _texts(texts, "Tokenizer.fit_on_texts"):
            for w in self.words(text):
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
        ranked = sorted(self.word_counts, key=lambda w: -self.word_counts[w])
        if self.oov_token is not None:
            ranked = [self.oov_token, *(w for w in ranked if w != self.oov_token)]
        self.word_index = {w: i for i, w in enumerate(ranked, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}

    def _keeps(self, index: int) -> bool:
        return self.num_words is None or index < self.num_words

    def texts_to_sequences(self, texts) -> list[list[int]]:
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for text in _texts(texts, "Tokenizer.texts_to_sequences"):
            row = []
            for w in self.words(text):
                i = self.word_index.get(w)
                if i is not None and self._keeps(i):
                    row.append(i)
                elif oov is not None:
                    row.append(oov)
            out.append(row)
        return out

    def sequences_to_texts(self, sequences) -> list[str]:
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for seq in sequences:
            words = []
            for i in seq:
                i = int(i)
                if i in self.index_word and self._keeps(i):
                    words.append(self.index_word[i])
                elif oov is not None:
                    words.append(self.oov_token)
            out.append(("" if self.char_level else " ").join(words))
        return out


def _positive_or_none(value, who: str, name: str, least: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{who}: expected {name} to be an int ≥ {least} or None, got {value!r}")
    return int(value)
