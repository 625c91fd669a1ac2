"""A corpus to one vector store per language, as every study does it, and the ``crossling extract`` command.

:func:`extract_stores` is the one place where a run turns sentences into cached vector stores: every study
calls it, so the cache key, the store folder and what the manifest says about the stores
(:func:`stores_record`) are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from crossling._utils.provenance import Provenance, write_json
from crossling.config import MODEL_PATH, CorpusOptions, EngineOptions, LayerList, ModelOptions, resolve_layers
from crossling.data.records import Sentence

if TYPE_CHECKING:  # the store pulls in torch, which a command line must not load to print its help
    from crossling.engine import Engine
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import VectorStore
    from crossling.models.loading import LoadedModel

__all__ = ["ExtractConfig", "extract_stores", "run_extract", "stores_record", "stores_skipped"]


def extract_stores(lm: LoadedModel, corpus: Mapping[str, Sequence[Sentence]], options: ExtractionOptions,
                   store_dir: str | Path, *, shard_size: int = 256, progress: bool = True,
                   sources: Sequence[Sentence] | None = None, engine: Engine | None = None
                   ) -> dict[str, VectorStore]:
    """Extract (or reuse) one store per language of ``corpus`` under ``store_dir``.

    Every unfinished shard of every language is one task of one stage
    (:func:`~crossling.extraction.store.extract_to_stores`): on a Ray engine, a pool of model actors runs them
    while the driver writes the stores.

    Parameters
    ----------
    lm : LoadedModel
        Loaded on the driver (tokenisation, cache keys; the local engine's forward passes).
    corpus : mapping of language to sentences
    options : ExtractionOptions
    store_dir : path
        Folder of the stores; each store's folder name is its cache key, so runs share it safely.
    shard_size : int, default 256
        Sentences per shard (the unit of a task and the unit an interrupted extraction resumes from).
    progress : bool, default True
    sources : sequence of Sentence, optional
        Decoder stack of an encoder-decoder model: what the encoder reads for each sentence of every
        language (a parallel corpus's source-language side), so the decoder states are source-conditioned.
    engine : Engine, optional
        Where the forward passes run (:func:`crossling.engine.open_engine`); default this process.

    Returns
    -------
    dict of str to VectorStore
        In the corpus's language order.
    """
    from crossling.extraction.store import extract_to_stores

    return extract_to_stores(lm, corpus, store_dir, options, shard_size=shard_size, progress=progress, engine=engine,
                             sources=None if sources is None else dict.fromkeys(corpus, sources))


def stores_record(stores: Mapping[str, VectorStore]) -> dict[str, Any]:
    """What a manifest says about the stores a run read: folder, cache key, size and what extraction lost.

    Parameters
    ----------
    stores : mapping of name (a language, or ``"role/language"``) to VectorStore

    Returns
    -------
    dict
        Name -> ``path, key, corpus_checksum, dtype, device, n_sentences, n_rows, truncated_inputs,
        words_truncated, words_empty, words_without_vector, extraction_seconds``.
    """
    return {name: {"path": str(store.path), "key": store.manifest["key"],
                   "corpus_checksum": store.manifest["corpus_checksum"],
                   "dtype": store.manifest["model"]["dtype"], "device": store.manifest["model"]["device"],
                   "n_sentences": store.manifest["n_sentences"], "n_rows": store.n_rows,
                   "truncated_inputs": store.manifest["truncated_inputs"],
                   "words_truncated": store.manifest["words_truncated"],
                   "words_empty": store.manifest["words_empty"],
                   "words_without_vector": store.manifest["words_without_vector"],
                   "extraction_seconds": store.manifest["seconds"]}
            for name, store in stores.items()}


def stores_skipped(stores: Mapping[str, VectorStore]) -> list[dict[str, Any]]:
    """What extraction left out of each store, as entries of a manifest's ``skipped`` list.

    Parameters
    ----------
    stores : mapping of name (a language, or ``"role/language"``) to VectorStore

    Returns
    -------
    list of dict
        ``what, reason, count, store`` for each non-zero count: words cut (wholly or in part) by truncation
        and words without a token (word level), inputs truncated (sentence level: their vectors read only
        the first ``max_length`` tokens).
    """
    entries = []
    for name, store in stores.items():
        m = store.manifest
        limit = m["max_length"]
        if m["options"]["level"] == "word":
            counts = [("word", f"cut by truncation at {limit} tokens, wholly or in part: no vector",
                       m["words_truncated"]),
                      ("word", "the tokenizer gives it no token (e.g. only zero-width characters): no vector",
                       m["words_empty"])]
        else:
            counts = [("sentence tail", f"sentence longer than {limit} tokens: its vector reads only the first "
                       f"{limit}", m["truncated_inputs"])]
        entries += [{"what": what, "reason": reason, "count": int(count), "store": name}
                    for what, reason, count in counts if count]
    return entries


class ExtractConfig(ModelOptions, CorpusOptions, EngineOptions):
    """Settings of ``crossling extract``.

    Attributes
    ----------
    model : str
        Hugging Face model folder or hub id.
    layers : list of int, optional
        Hidden states to store: ``all`` (default) or comma-separated indices, 0 = the embedding output,
        negative counting from the end.
    level : {"word", "sentence"}, default "word"
        ``word``: UD words aligned to their sub-words; ``sentence``: one vector per sentence.
    pooling : {"mean", "first", "last"}, default "mean"
        Sub-words of a word, or tokens of a sentence (mean over the non-special tokens).
    prefix : str, default ""
        Text put before every sentence (E5 models: ``passage: ``).
    stack : {"encoder", "decoder"}, default "encoder"
        Which stack of an encoder-decoder model (T5) to read.
    decoder_shift : bool, default False
        The decoder reads the tokens shifted right by one, as in training.
    shard_size : int, default 256
        Sentences per store shard, the unit an interrupted extraction resumes from.
    out : path
        Folder for the stores (one per language), ``stores.json``, ``config.yaml`` and ``manifest.json``.
    """

    model: str = Field(json_schema_extra=MODEL_PATH)
    layers: LayerList = None
    level: Literal["word", "sentence"] = "word"
    pooling: Literal["mean", "first", "last"] = "mean"
    prefix: str = ""
    stack: Literal["encoder", "decoder"] = "encoder"
    decoder_shift: bool = False
    shard_size: int = Field(default=256, ge=1)
    out: Path


def run_extract(config: ExtractConfig, *, progress: bool = True) -> dict[str, VectorStore]:
    """Extract every language of the corpus into its own store under ``config.out``.

    Parameters
    ----------
    config : ExtractConfig
    progress : bool, default True

    Returns
    -------
    dict of str to VectorStore

    Raises
    ------
    CorpusSpecError
        When the corpus cannot be read.
    ModelLoadError
        When the model cannot be loaded.
    ConfigError
        When a layer does not exist in the model.
    """
    from crossling.data.corpus import corpus_record, drop_blank, load_corpus
    from crossling.extraction.extract import ExtractionOptions

    provenance = Provenance("extraction", "crossling extract", config.model_dump(mode="json"))
    with provenance.stage("reading the corpus"):
        corpus = load_corpus(config.corpus, config.languages, split=config.split, limit=config.limit,
                             lenient=config.lenient)
        if config.level == "sentence":  # a blank line has no sentence vector: left out, counted in the manifest
            corpus = drop_blank(corpus, aligned=False)
    with provenance.stage("loading the model"):
        lm = config.load_model(config.model)
    resolve_layers(config.layers, range(lm.n_hidden_states))  # before any work: a bad layer fails here
    options = ExtractionOptions(
        level=config.level, pooling=config.pooling, layers=None if config.layers is None else tuple(config.layers),
        batch_size=config.batch_size, max_length=config.max_length, prefix=config.prefix, stack=config.stack,
        decoder_shift=config.decoder_shift)
    config.out.mkdir(parents=True, exist_ok=True)
    config.write(config.out)
    with provenance.stage("extraction"), config.open_engine() as engine:
        stores = extract_stores(lm, corpus, options, config.out, shard_size=config.shard_size, progress=progress,
                                engine=engine)
        provenance.record["engine"] = engine.record()
    write_json(config.out / "stores.json", {lang: store.path.name for lang, store in stores.items()})
    provenance.record.update(models={"model": lm.identity()}, extraction=options.as_dict(),
                             corpus=corpus_record(config.corpus, corpus, split=config.split, limit=config.limit),
                             stores=stores_record(stores))
    for entry in [*corpus.skipped, *stores_skipped(stores)]:
        provenance.skip(**entry)
    provenance.write(config.out)
    return stores
