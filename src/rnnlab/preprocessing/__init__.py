"""Keras' data preparation for sequence models: padding, one-hot targets, text to token ids.

    from rnnlab.preprocessing import TextVectorization, pad_sequences, to_categorical
    vectorize = TextVectorization(max_tokens=10_000, output_sequence_length=50)
    vectorize.adapt(train_texts)                  # vocabulary: "", "[UNK]", then by frequency
    x = vectorize(train_texts)                     # (N, 50) int64 ids, 0 = padding, 1 = OOV
    y = to_categorical(labels)                     # (N, classes) one-hot
    x = pad_sequences(list_of_id_lists, maxlen=50) # Keras' pre-padding and pre-truncation

The legacy `Tokenizer` (keras.preprocessing.text) is here too, for the tutorials that use it.
"""

from .sequence import pad_sequences
from .text import TextVectorization, Tokenizer
from .utils import to_categorical

__all__ = ["TextVectorization", "Tokenizer", "pad_sequences", "to_categorical"]
