"""rnnlab.preprocessing: pad_sequences and to_categorical (equal to Keras where installed),
TextVectorization and the legacy Tokenizer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from _keras import keras, requires_keras
from rnnlab.preprocessing import TextVectorization, Tokenizer, pad_sequences, to_categorical

SEQUENCES = [[1, 2, 3, 4], [5], [], [6, 7, 8, 9, 10, 11]]


def test_pad_sequences_semantics():
    out = pad_sequences(SEQUENCES)
    assert out.dtype == np.int32 and out.shape == (4, 6)
    assert out[0].tolist() == [0, 0, 1, 2, 3, 4] and out[2].tolist() == [0] * 6
    cut = pad_sequences(SEQUENCES, maxlen=3, padding="post", truncating="post", value=-1)
    assert cut.tolist() == [[1, 2, 3], [5, -1, -1], [-1, -1, -1], [6, 7, 8]]
    pre = pad_sequences(SEQUENCES, maxlen=3)
    assert pre[3].tolist() == [9, 10, 11] and pre[1].tolist() == [0, 0, 5]
    floats = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=-1.0)
    assert floats.dtype == np.float32 and floats.tolist() == [[-1.0, 0.5, 1.5]]
    vectors = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], padding="post")
    assert vectors.shape == (2, 2, 3) and vectors[1, 1].tolist() == [0, 0, 0]


@requires_keras
@pytest.mark.parametrize(
    ("maxlen", "padding", "truncating"),
    list(itertools.product([None, 2, 5, 9], ["pre", "post"], ["pre", "post"])),
)
def test_pad_sequences_equals_keras(maxlen, padding, truncating):
    kw = {"maxlen": maxlen, "padding": padding, "truncating": truncating, "value": 7}
    ours = pad_sequences(SEQUENCES, **kw)
    theirs = keras.utils.pad_sequences(SEQUENCES, **kw)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match=r"expected padding in \['pre', 'post'\], got 'mid'"):
        pad_sequences(SEQUENCES, padding="mid")
    with pytest.raises(ValueError, match="maxlen to be a positive int"):
        pad_sequences(SEQUENCES, maxlen=0)
    with pytest.raises(ValueError, match="expected a list of sequences"):
        pad_sequences("abc")
    with pytest.raises(ValueError, match="sequence 1 to be a list or array"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match=r"steps of shape \(2,\)"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="is a string but dtype is int32"):
        pad_sequences([[1]], value="x")


def test_to_categorical():
    out = to_categorical([0, 2, 1])
    assert out.dtype == np.float32
    assert out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert to_categorical(np.array([[1], [3]]), 5).shape == (2, 5)  # trailing 1 dropped
    seq = to_categorical(np.array([[0, 1, 2], [2, 2, 0]]), 4, dtype="float64")
    assert seq.shape == (2, 3, 4) and seq.dtype == np.float64
    assert seq.argmax(-1).tolist() == [[0, 1, 2], [2, 2, 0]]
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got -1 at index \(1,\)"):
        to_categorical([0, -1], 3)
    with pytest.raises(ValueError, match="got 3 at index"):
        to_categorical([3], 3)
    with pytest.raises(TypeError, match="integer class ids"):
        to_categorical([0.5, 1.0])
    with pytest.raises(ValueError, match="num_classes to be a positive int"):
        to_categorical([0], 0)


@requires_keras
def test_to_categorical_equals_keras():
    ids = np.random.default_rng(0).integers(0, 6, (4, 7))
    np.testing.assert_array_equal(to_categorical(ids), keras.utils.to_categorical(ids))
    np.testing.assert_array_equal(
        to_categorical(ids[:, :1], 9), keras.utils.to_categorical(ids[:, :1], 9)
    )


TEXTS = ["The cat sat on the mat.", "The dog sat!", "A cat, a hat; a cat."]


def test_text_vectorization_vocabulary_limit_and_oov():
    tv = TextVectorization(max_tokens=6, output_sequence_length=5)
    tv.adapt(TEXTS)
    # counts: a 3, cat 3, the 3 (first seen: the, cat, a), sat 2, ...
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "cat", "a", "sat"]
    assert tv.vocabulary_size() == 6
    ids = tv(["the cat sat on a dog", "cat"])
    assert ids.dtype == np.int64
    assert ids.tolist() == [[2, 3, 5, 1, 4], [3, 0, 0, 0, 0]]  # cut at the end, OOV = 1
    free = TextVectorization()
    free.adapt(TEXTS)
    assert free.vocabulary_size() == 2 + len(
        {
            w
            for t in TEXTS
            for w in t.lower()
            .replace(".", "")
            .replace("!", "")
            .replace(",", "")
            .replace(";", "")
            .split()
        }
    )
    assert free(["cat cat", "the"]).shape == (2, 2)  # the longest text of the call
    again = TextVectorization.from_config(tv.get_config())
    np.testing.assert_array_equal(again(TEXTS), tv(TEXTS))


def test_text_vectorization_options_and_errors():
    chars = TextVectorization(split="character", standardize=None)
    chars.set_vocabulary(["a", "b"])
    assert chars(["abc"]).tolist() == [[2, 3, 1]]
    with pytest.raises(NotImplementedError, match="output_mode='multi_hot'"):
        TextVectorization(output_mode="multi_hot")
    with pytest.raises(NotImplementedError, match="ngrams"):
        TextVectorization(ngrams=2)
    with pytest.raises(ValueError, match="expected standardize in"):
        TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match="max_tokens to be an int ≥ 3"):
        TextVectorization(max_tokens=2)
    with pytest.raises(TypeError, match="expected strings"):
        chars([1, 2])
    with pytest.raises(ValueError, match="exceed max_tokens=3"):
        TextVectorization(max_tokens=3, vocabulary=["a", "b"])


def test_tokenizer_num_words_and_oov_token():
    tok = Tokenizer(num_words=4, oov_token="<oov>")
    tok.fit_on_texts(TEXTS)
    assert list(tok.word_index)[:4] == ["<oov>", "the", "cat", "a"]
    assert tok.word_counts["cat"] == 3
    seqs = tok.texts_to_sequences(["the cat sat", "a zebra"])
    assert seqs == [[2, 3, 1], [1, 1]]  # "sat" has index 5 ≥ num_words: OOV
    assert tok.sequences_to_texts(seqs) == ["the cat <oov>", "<oov> <oov>"]
    plain = Tokenizer()
    plain.fit_on_texts(TEXTS)
    assert plain.texts_to_sequences(["the zebra"]) == [[1]]  # unknown words dropped
    assert pad_sequences(plain.texts_to_sequences(TEXTS)).shape == (3, 6)
    with pytest.raises(TypeError, match="oov_token to be a str"):
        Tokenizer(oov_token=1)
