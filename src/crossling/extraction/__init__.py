"""Extraction: one forward pass per batch, all hidden states pooled to words or sentences, cached on disk.

- :mod:`crossling.extraction.extract`: batching, word alignment by the tokenizer's word ids, pooling
  (:func:`word_vectors`, :func:`sentence_vectors`, :func:`iter_batches`);
- :mod:`crossling.extraction.store`: the on-disk vector store, its cache key and resumable extraction
  (:class:`VectorStore`, :func:`extract_to_store`);
- :mod:`crossling.extraction.run`: a corpus to one store per language, as every study does it, and the
  ``crossling extract`` command's configuration and run.

Names load on first use, so that a command's ``--help`` does not import torch.
"""

from importlib import import_module

__all__ = [
    "Batch",
    "ExtractConfig",
    "ExtractionOptions",
    "ExtractionStats",
    "VectorStore",
    "encode",
    "extract_stores",
    "extract_to_store",
    "iter_batches",
    "iter_sentence_batches",
    "iter_word_batches",
    "run_extract",
    "sentence_vectors",
    "stores_record",
    "stores_skipped",
    "word_vectors",
]

_HOME = {"VectorStore": "store", "extract_to_store": "store", "ExtractConfig": "run", "extract_stores": "run",
         "run_extract": "run", "stores_record": "run", "stores_skipped": "run"}


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module(f"crossling.extraction.{_HOME.get(name, 'extract')}"), name)
    raise AttributeError(f"module 'crossling.extraction' has no attribute {name!r}")
