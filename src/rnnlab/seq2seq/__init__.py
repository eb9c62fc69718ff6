"""Sequence to sequence: Encoder, Decoder (teacher forcing, scheduled sampling, attention with
input feeding), Seq2Seq (bridge, training, files), greedy and beam search decoding, and the
Vocabulary with PAD/BOS/EOS/OOV ids. docs/seq2seq.md has the equations and an example."""

from .decoder import ATTENTIONS, Decoder
from .encoder import Encoder
from .model import BRIDGES, Seq2Seq
from .search import Hypothesis, beam_search, greedy_decode, length_penalty
from .vocab import Vocabulary

__all__ = [
    "ATTENTIONS",
    "BRIDGES",
    "Decoder",
    "Encoder",
    "Hypothesis",
    "Seq2Seq",
    "Vocabulary",
    "beam_search",
    "greedy_decode",
    "length_penalty",
]
