"""Training recipes and the machinery under them.

    train_char_lm       a character language model on a text corpus, by truncated BPTT with
                        progress, checkpoints, resume and a final validation loss (charlm.py);
                        `rnnlab train`, `rnnlab demo` and the explorer run it
    train_sentiment     a sentence classifier on a SentimentDataset (sentiment.py)
    TBPTTTrainer        truncated BPTT(k1, k2) over parallel streams with carried state
                        (tbptt.py), on streams cut from documents by make_streams (streams.py)

Models with fixed-length samples train with `Sequential.fit` (rnnlab.model).
"""

from .charlm import CharLMRun, CharLMSettings, train_char_lm
from .sentiment import SentimentRun, SentimentSettings, train_sentiment
from .streams import Streams, make_streams
from .tbptt import Progress, TBPTTTrainer

__all__ = [
    "CharLMRun",
    "CharLMSettings",
    "Progress",
    "SentimentRun",
    "SentimentSettings",
    "Streams",
    "TBPTTTrainer",
    "make_streams",
    "train_char_lm",
    "train_sentiment",
]
