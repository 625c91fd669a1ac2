"""``crossling concepts`` as a function: corpus and model in, tables, figures, manifest and report section out.

:func:`run_concepts` is the only place of the study that touches models, corpora and the disk:

1. read the parallel corpus (:func:`crossling.data.corpus.load_corpus`) and check every option against it
   (languages, pivot, dictionaries, sets, K against the words there are, also in the held-out halves)
   before a model is loaded;
2. extract (or reuse) word representations of every hidden state per language into cached vector stores
   (:func:`crossling.extraction.run.extract_stores`; the last sub-word by default, as the paper's toolkit),
   for the model and, when given, its base model; with ``stacks="encoder-decoder"`` the pivot language is
   read by the encoder and every other language by the decoder, conditioned on the pivot's parallel
   sentence and reading its own tokens shifted right (teacher forcing);
3. translation dictionaries between the pivot language (English by default) and every other language,
   both directions, from eflomal word alignments of the same corpus (:mod:`crossling.concepts.dictionary`),
   one alignment replicate per seed, each cached by a key (:mod:`crossling.concepts.alignment_cache`), so
   the same command with the same ``--seed`` gives the same dictionaries and the same CALIGN; for the
   held-out variant, also from a seeded random half of the sentences, whose other half gives the concepts;
   unless the user supplies them (``--dictionary en-de=PATH``, ``--moses-dictionary en-de=PATH``);
4. :func:`crossling.concepts.study.compute_concepts` on the chosen layers and seeds, per model;
5. write tables, concept listings, dictionaries, figures, ``manifest.json`` and ``report.json``
   (:func:`crossling.pipeline.write_run`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator

from crossling._utils.io import atomic_path, atomic_write_text, write_table
from crossling._utils.labels import pair_label
from crossling._utils.provenance import Provenance
from crossling.concepts.clustering import select_tokens
from crossling.concepts.dictionary import SYMMETRISATIONS
from crossling.concepts.study import ConceptOptions, ConceptsResult, HeldOut, compute_concepts, merge_results
from crossling.config import (
    MODEL_PATH,
    CorpusOptions,
    EngineOptions,
    LayerList,
    ModelOptions,
    StoreOptions,
    resolve_layers,
)
from crossling.exceptions import AlignmentError, ConfigError
from crossling.pipeline import RunResult, write_run

__all__ = ["STUDY", "ConceptsConfig", "heldout_halves", "run_concepts", "write_concepts_tables"]

STUDY = "latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024)"

_PAIR = re.compile(r"^([A-Za-z]\w*)-([A-Za-z]\w*)$")


def _parse_dictionary_paths(value: object) -> object:
    """``["en-de=PATH", ...]`` (the repeatable flag) or a mapping ``{"en-de": PATH}``."""
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        parsed = {}
        for item in value:
            key, sep, path = str(item).partition("=")
            if not sep or not path:
                raise ValueError(f"dictionary {item!r}: expected SRC-TGT=PATH, e.g. en-de=dict/en-de.tsv")
            if key.strip() in parsed:
                raise ValueError(f"dictionary {key.strip()!r} is given twice")
            parsed[key.strip()] = path.strip()
        value = parsed
    for key in value:  # type: ignore[union-attr]
        if not _PAIR.match(key):
            raise ValueError(f"dictionary key {key!r}: expected SRC-TGT language codes, e.g. en-de")
    return value


class ConceptsConfig(ModelOptions, CorpusOptions, StoreOptions, EngineOptions, ConceptOptions):
    """Settings of ``crossling concepts`` (a YAML file with these keys, or the command's flags).

    CALIGN is computed between ``pivot`` and every other language, in both directions; COLAP on
    ``colap_sets``. Model loading and batching: :class:`~crossling.config.ModelOptions`; the corpus:
    :class:`~crossling.config.CorpusOptions`; the vector stores: :class:`~crossling.config.StoreOptions`;
    where the extraction, the clusterings and the alignments run: :class:`~crossling.config.EngineOptions`;
    the clustering and the measures: :class:`~crossling.concepts.study.ConceptOptions`.

    Attributes
    ----------
    model : str
        Hugging Face model folder or hub id.
    base_model : str, optional
        A second model analysed in the same run on the same tokens, dictionaries and seeds, e.g. the
        pre-trained base of a fine-tuned ``model``; its rows are labelled ``base`` and its lines are dotted.
    stacks : {"encoder", "encoder-decoder"}, default "encoder"
        ``encoder``: every language through the encoder (or the model itself). ``encoder-decoder``
        (encoder-decoder models such as T5): the pivot through the encoder and every other language through
        the decoder, conditioned on the pivot's parallel sentence and reading its own words shifted right
        (teacher forcing), so CALIGN and COLAP compare encoder and decoder concepts.
    pivot : str, default "en"
        Language compared with every other one: CALIGN from it into each other language and back.
    layers : list of int, optional
        Hidden states to analyse: ``all`` (default) or comma-separated indices (0 = the embedding output,
        negative from the end). Extraction always stores every hidden state, so later runs reuse it.
    pooling : {"last", "mean", "first"}, default "last"
        A word's vector from its sub-words: the last one (as the paper's toolkit), their mean, or the first.
    prefix : str, default ""
        Text put before every sentence (E5 models: ``passage: ``); its words give context but no vector.
    aligned_only : bool, default False
        Cluster only the tokens the word alignment (of the first seed) links, as the released scripts, for
        CALIGN; default every token (the paper's text). The COLAP clusterings always take every token.
    colap_sets : list of list of str, optional
        Language sets clustered jointly for COLAP: comma-separated sets of languages joined by ``-`` (or
        ``+``), e.g. ``en-de,en-de-fr``; default the pivot with each other language.
    dictionaries : dict of str to path
        ``SRC-TGT=PATH``: the dictionary TSV of one CALIGN direction (as a run writes under
        ``dictionaries/``), used for every seed; a direction not given is estimated from eflomal word
        alignments of the corpus.
    moses_dictionaries : dict of str to path
        ``SRC-TGT=PATH``: a Moses lexical table (``lex.f2e`` for the direction f -> e: ``e f w(e|f)``
        lines) as the dictionary of one CALIGN direction, used for every seed.
    symmetrisation : {"grow-diag-final", "intersection"}, default "grow-diag-final"
        How the two directions of the word alignment are merged.
    realign : bool, default True
        Each seed gets its own word-alignment replicate (eflomal samples differently each time), so the seed
        range covers the dictionary's noise too; off, every seed uses the first seed's alignment.
    heldout : bool, default True
        Also compute CALIGN with dictionaries from a seeded random half of the sentences and concepts from
        the other half (K // 2 concepts), so no sentence gives both a translation and a concept (not with
        supplied dictionaries).
    alignment_dir : path, optional
        Cache of word alignments, by key (corpus, aligner, settings, replicate); default
        ``$CROSSLING_HOME/alignments``. A cached replicate is reused, which makes a run reproducible.
    threads : int, optional
        CPU threads of each clustering (BLAS, and the OpenMP of faiss and scikit-learn's K-means; with
        ``--engine ray`` each clustering task reserves as many CPUs). Default 1: on clustering problems of
        this size thread start-up and contention cost more than they save (one thread was 7x faster than two
        on this project's shared 2-core machine); none: the libraries' defaults.
    n_examples : int, default 5
        Aligned concept pairs per direction, and overlapping concepts per set, in the examples.
    example_layer : int, optional
        Layer of the examples (negative from the end); default the last layer analysed.
    out : path
        Folder for the tables, listings, dictionaries, figures, manifest and report section (replaced
        whole at the end of the run).
    """

    # ConceptOptions is frozen (a result records it); a run's settings stay assignable like every RunConfig
    model_config = ConfigDict(frozen=False)

    model: str = Field(json_schema_extra=MODEL_PATH)
    base_model: Optional[str] = Field(default=None, json_schema_extra=MODEL_PATH)
    stacks: Literal["encoder", "encoder-decoder"] = "encoder"
    pivot: str = "en"
    layers: LayerList = None
    pooling: Literal["last", "mean", "first"] = "last"
    prefix: str = ""
    aligned_only: bool = False
    colap_sets: Optional[list[list[str]]] = None
    dictionaries: dict[str, Path] = Field(default={}, json_schema_extra={"flag": "dictionary"})
    moses_dictionaries: dict[str, Path] = Field(default={}, json_schema_extra={"flag": "moses-dictionary"})
    symmetrisation: Literal[SYMMETRISATIONS] = "grow-diag-final"  # type: ignore[valid-type]
    realign: bool = True
    heldout: bool = True
    alignment_dir: Optional[Path] = None
    threads: Optional[int] = Field(default=1, ge=1)
    n_examples: int = Field(default=5, ge=1)
    example_layer: Optional[int] = None
    out: Path

    @field_validator("colap_sets", mode="before")
    @classmethod
    def _parse_sets(cls, value: object) -> object:
        """``"en-de,en-de-fr"`` or ``"en+de"`` (sets separated by commas), a list of such labels, or of lists."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)):
            value = [[lang for lang in re.split(r"[+-]", item.strip()) if lang] if isinstance(item, str) else item
                     for item in value if not isinstance(item, str) or item.strip()]
        return value

    @field_validator("colap_sets")
    @classmethod
    def _two_languages(cls, value: list[list[str]] | None) -> list[list[str]] | None:
        for group in value or ():
            if len(set(group)) < 2:
                raise ValueError(f"a COLAP language set needs two or more languages, got {pair_label(*group)}")
        return value

    @field_validator("dictionaries", "moses_dictionaries", mode="before")
    @classmethod
    def _parse_dictionaries(cls, value: object) -> object:
        return _parse_dictionary_paths(value)

    def concept_options(self) -> ConceptOptions:
        """The clustering and measure settings of this run.

        Returns
        -------
        ConceptOptions
        """
        return self.subset(ConceptOptions)

    def replicates(self) -> dict[int, int]:
        """The word-alignment replicate of every seed: its own seed, or the first seed's without ``realign``.

        Returns
        -------
        dict of int to int
        """
        return {seed: seed if self.realign else self.seed for seed in self.concept_options().seeds()}


def heldout_halves(n_sentences: int, replicate: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded random split of the held-out variant: (concept half, dictionary half) of sentence indices.

    A permutation of 0 .. n-1 drawn with ``numpy.random.default_rng(replicate)``; its first floor(n / 2)
    entries are the concept half, the rest the dictionary half; both sorted.

    Parameters
    ----------
    n_sentences : int
        Sentences of the parallel corpus.
    replicate : int
        The alignment replicate (seed) the split belongs to.

    Returns
    -------
    tuple of ndarray of int64
    """
    order = np.random.default_rng(replicate).permutation(n_sentences)
    half = n_sentences // 2
    return np.sort(order[:half]).astype(np.int64), np.sort(order[half:]).astype(np.int64)


def run_concepts(config: ConceptsConfig, *, progress: bool = True) -> RunResult[ConceptsResult]:
    """Run the study: corpus, cached extraction, dictionaries, CALIGN and COLAP per layer and seed, outputs.

    Every option is checked before a model runs: the corpus must be parallel with two or more languages
    including the pivot, supplied dictionaries and COLAP sets must name its languages, K must not exceed
    the word tokens a language has to cluster (K // 2 in a held-out half), and the layers must exist in the
    model (and in the base model, with the same count).

    Writes into ``config.out``: ``config.yaml``; ``calign``, ``colap`` (seed means with the controls),
    ``calign_seeds``, ``colap_seeds`` (per seed), ``clusterings``, ``summary`` and, with sweeps, ``sweeps``
    (parquet + csv); ``concepts.tsv`` and ``concepts.json`` (every concept's words, first seed);
    ``aligned_examples.md`` and ``overlap_examples.md``; ``dictionaries/SRC-TGT.tsv`` (the first seed's: what
    ``--dictionary`` reproduces), ``dictionaries/seed-S/SRC-TGT.tsv`` (the other seeds') and
    ``dictionaries/heldout/seed-S/SRC-TGT.tsv`` (the held-out halves'); ``figures/*.png``; ``manifest.json``
    (provenance) and ``report.json`` (the section of ``crossling report``).

    Parameters
    ----------
    config : ConceptsConfig
    progress : bool, default True
        Progress bars (or lines, off a terminal) for extraction and clustering.

    Returns
    -------
    RunResult
        ``result`` is the :class:`~crossling.concepts.study.ConceptsResult` (both models' rows with
        ``base_model``).

    Raises
    ------
    CorpusSpecError
        For a corpus that cannot be parallel, or languages it lacks.
    AlignmentError
        When the languages do not have the same number of sentences.
    ConfigError
        For fewer than two languages, a pivot not among them, a dictionary of another direction, given
        twice or a missing file, a COLAP set of other languages, K above the tokens a language has, layers
        (or an example layer) the model does not have, a base model with another number of layers, or
        ``stacks="encoder-decoder"`` with a model that has no decoder.
    ModelLoadError
        When a model cannot be loaded.
    """
    from crossling.data.corpus import check_parallel_spec, corpus_record, load_corpus
    from crossling.extraction.run import stores_record, stores_skipped

    provenance = Provenance(STUDY, "crossling concepts", config.model_dump(mode="json"))
    check_parallel_spec(config.corpus, "the concept study")
    if config.languages:
        _order_languages(config.languages, config.pivot)
    with provenance.stage("reading the corpus"):
        corpus = load_corpus(config.corpus, config.languages, split=config.split, limit=config.limit,
                             lenient=config.lenient)
    languages = _order_languages(list(corpus), config.pivot)
    corpus = corpus.select(languages)
    _check_parallel(corpus)
    directions = [d for other in languages[1:] for d in ((config.pivot, other), (other, config.pivot))]
    supplied = _supplied_directions(config, directions)
    colap_sets = [list(s) for s in config.colap_sets] if config.colap_sets else [list(d) for d in directions[::2]]
    unknown = sorted({lang for s in colap_sets for lang in s} - set(languages))
    if unknown:
        raise ConfigError(f"--colap-sets names languages {unknown} that are not in the run ({', '.join(languages)})")
    heldout = config.heldout and not supplied
    if config.heldout and supplied:
        provenance.skip("held-out variant", "dictionaries were supplied: their sentences cannot be held out")
    n_sentences = len(corpus[config.pivot])
    _check_k(config, corpus, heldout)

    with config.open_engine() as engine:
        stores, identities, layers, example_layer, extraction = _extract_models(config, corpus, provenance, progress,
                                                                                engine)
        with provenance.stage("word alignment"):
            dictionaries, alignments, reuse = _dictionaries(config, corpus, directions, supplied)
            halves = _heldout(config, corpus, directions, n_sentences) if heldout else None
        options = config.concept_options()
        results = []
        with provenance.stage("clustering and measures"):
            for role, role_stores in stores.items():
                role_metas = {lang: store.meta for lang, store in role_stores.items()}
                results.append(compute_concepts(
                    {lang: [role_stores[lang].vectors(layer) for layer in layers] for lang in languages},
                    {lang: role_metas[lang]["form"].to_numpy(dtype=object) for lang in languages},
                    [dictionaries[seed] for seed in options.seeds()], options=options,
                    sentences={lang: role_metas[lang]["sentence_index"].to_numpy() for lang in languages},
                    heldout=None if halves is None else [halves[seed] for seed in options.seeds()],
                    keep=_aligned_tokens(alignments[config.seed], role_metas) if config.aligned_only else None,
                    layers=layers, colap_sets=colap_sets, model=role, progress=progress, threads=config.threads,
                    engine=engine))
        engine_record = engine.record()
    result = merge_results(results)

    settings = options.record()
    clusterings = result.clusterings
    flat_stores = {f"{role}/{lang}" if role != "model" else lang: store
                   for role, role_stores in stores.items() for lang, store in role_stores.items()}
    provenance.record["engine"] = {**engine_record, "clustering_threads": config.threads}
    provenance.record.update(
        models=identities, extraction=extraction,
        stores=stores_record(flat_stores),
        corpus=corpus_record(config.corpus, corpus, split=config.split, limit=config.limit),
        seeds={"token_selection": config.seed, "clustering": config.seed},
        replicates={"seeds": options.seeds(), "realign": config.realign,
                    "alignment_replicate": {str(s): r for s, r in config.replicates().items()}},
        diagnostics={"convergence": {"clusterings": len(clusterings),
                                     "not_converged": int((clusterings["converged"] == False).sum()),  # noqa: E712
                                     "n_iter_max": _max_or_none(clusterings["n_iter"])},
                     "empty_concepts": int(clusterings["n_empty"].sum()),
                     "calign_undefined": int(result.calign["calign_percent"].isna().sum())},
        languages=languages, pivot=config.pivot, stacks=config.stacks, layers=result.layers,
        example_layer=example_layer, directions=[pair_label(s, t) for s, t in result.directions],
        clustering={**settings["clustering"], "token_filter": result.token_filter},
        backends_used=sorted(set(clusterings["backend"])), tokens=result.tokens, aligned_only=config.aligned_only,
        calign=settings["calign"], colap={**settings["colap"], "sets": [list(s) for s in result.colap_sets]},
        readings=settings["readings"], sweeps=settings["sweeps"],
        heldout=None if halves is None else {
            "k": result.heldout_k, "split": "seeded random halves of the sentences (numpy default_rng(replicate))",
            "n_concept_sentences": n_sentences // 2, "n_dictionary_sentences": n_sentences - n_sentences // 2},
        dictionaries={pair_label(s, t): {"file": f"dictionaries/{pair_label(s, t)}.tsv", "n_source_words": len(d),
                                         "supplied": (s, t) in supplied, **d.provenance}
                      for (s, t), d in dictionaries[config.seed].items()},
        word_alignment={
            "aligner": "eflomal (Östling and Tiedemann 2016), both directions, symmetrised",
            "symmetrisation": config.symmetrisation,
            "pairs": sorted({pair_label(*p) for per in alignments.values() for p in per}),
            "deterministic": False,
            "cache": str(config.alignment_dir or _default_alignment_dir()),
            "replicates": reuse,
            "note": "eflomal's Gibbs samplers seed themselves from /dev/urandom and take no seed. Each seed's "
                    "alignment is therefore a replicate cached by a key over the corpus, the aligner, its "
                    "settings and the replicate number: the same command with the same --seed reuses it and "
                    "gives the same dictionaries and CALIGN; without the cache a rerun draws new replicates "
                    "(their spread is part of the seed range). The dictionaries used are saved under "
                    "dictionaries/ and can be passed back with --dictionary SRC-TGT=PATH.",
        } if alignments[config.seed] else None)
    for entry in [*corpus.skipped, *stores_skipped(flat_stores)]:
        provenance.skip(**entry)

    def write(folder: Path) -> list[Path]:
        from crossling.concepts.plots import (
            aligned_examples_markdown,
            overlap_examples_markdown,
            write_concepts_figures,
        )
        from crossling.concepts.report import write_concepts_section

        files = write_concepts_tables(result, folder)
        text = aligned_examples_markdown(result, layer=example_layer, n_examples=config.n_examples)
        files.append(atomic_write_text(folder / "aligned_examples.md", text))
        text = overlap_examples_markdown(result, layer=example_layer, n_examples=config.n_examples)
        files.append(atomic_write_text(folder / "overlap_examples.md", text))
        files += _save_dictionaries(folder / "dictionaries", config, dictionaries, halves)
        files += write_concepts_figures(result, folder / "figures", example_layer=example_layer)
        files.append(write_concepts_section(result, folder, identities["model"], n_sentences=n_sentences,
                                            pooling=config.pooling, example_layer=example_layer,
                                            base=identities.get("base"), stacks=config.stacks))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=result, manifest=provenance.record, out=Path(config.out), files=files)


def write_concepts_tables(result: ConceptsResult, folder: str | Path) -> list[Path]:
    """Write the result's tables and concept listings into ``folder``.

    ``calign``, ``colap``, ``calign_seeds``, ``colap_seeds``, ``clusterings``, ``summary``
    (:meth:`ConceptsResult.summary`) and, when swept, ``sweeps`` as parquet + csv;
    ``concepts.tsv`` (:meth:`ConceptsResult.listing`: one row per concept, language and word) and
    ``concepts.json`` (one record per concept: ``layer, clustering, concept, n_tokens, n_types`` and its
    words by language with their counts).

    Parameters
    ----------
    result : ConceptsResult
    folder : path-like

    Returns
    -------
    list of Path
    """
    folder = Path(folder)
    files = [*write_table(result.calign, folder, "calign"), *write_table(result.colap, folder, "colap"),
             *write_table(result.calign_seeds, folder, "calign_seeds"),
             *write_table(result.colap_seeds, folder, "colap_seeds"),
             *write_table(result.clusterings, folder, "clusterings"), *write_table(result.summary(), folder, "summary")]
    if len(result.sweeps):
        files += write_table(result.sweeps, folder, "sweeps")
    listing = result.listing()
    with atomic_path(folder / "concepts.tsv") as tmp:
        listing.to_csv(tmp, sep="\t", index=False)
    files.append(folder / "concepts.tsv")
    files.append(atomic_write_text(folder / "concepts.json", json.dumps(_listing_records(listing), ensure_ascii=False)))
    return files


def _listing_records(listing: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per concept of the listing, its words grouped by language."""
    records: dict[tuple[int, str, int], dict[str, Any]] = {}
    for layer, name, concept, lang, word, count in listing.itertuples(index=False):
        key = (int(layer), name, int(concept))
        rec = records.get(key)
        if rec is None:
            rec = records[key] = {"layer": key[0], "clustering": name, "concept": key[2], "n_tokens": 0,
                                  "n_types": 0, "words": {}}
        rec["words"].setdefault(lang, {})[word] = int(count)
        rec["n_tokens"] += int(count)
        rec["n_types"] += 1
    return list(records.values())


def _order_languages(languages: Sequence[str], pivot: str) -> list[str]:
    """The pivot first, then the others in their order; two or more languages, the pivot among them."""
    languages = list(languages)
    if len(languages) < 2:
        raise ConfigError(f"the concept study compares languages: got {languages} (name at least two with "
                          "--languages)")
    if pivot not in languages:
        raise ConfigError(f"pivot language {pivot!r} is not among the languages {languages} (set --pivot)")
    return [pivot] + [lang for lang in languages if lang != pivot]


def _check_parallel(corpus: Mapping[str, list]) -> None:
    """Every language must have the same number of sentences, paired in order (dictionaries need it)."""
    counts = {lang: len(sentences) for lang, sentences in corpus.items()}
    if len(set(counts.values())) != 1:
        raise AlignmentError(f"the corpus is not parallel: sentences per language {counts}")


def _check_k(config: ConceptsConfig, corpus: Mapping[str, list], heldout: bool) -> None:
    """K against the word tokens each language can give: the corpus's words after the selection rule.

    The store holds at most the corpus's words (a word cut by truncation gets no vector), and the selection
    of a subset keeps at most what it keeps of the whole, so this count bounds the tokens clustered. The
    held-out variant clusters the words of one half of the sentences into K // 2 concepts; a K sweep clusters
    the whole corpus with each of its values.
    """
    n_sentences = len(next(iter(corpus.values())))
    halves = [heldout_halves(n_sentences, r)[0] for r in sorted(set(config.replicates().values()))] if heldout else []
    for lang, sentences in corpus.items():
        parts = [("--k", "", config.k, sentences)]
        parts += [("--sweep-k", "", k, sentences) for k in config.sweep_k]
        parts += [("--k", " in a held-out half", max(1, config.k // 2), [sentences[i] for i in half])
                  for half in halves]
        for flag, where, k, chosen in parts:
            forms = [form for sentence in chosen for form in sentence.forms]
            n = select_tokens(forms, min_count=config.min_count, max_per_type=config.max_per_type).size
            if k > n:
                rules = ""
                if config.max_per_type is not None:
                    rules += f", at most {config.max_per_type} occurrences of a word"
                if config.min_count > 1:
                    rules += f", words seen fewer than {config.min_count} times left out"
                given = config.k if flag == "--k" else k
                raise ConfigError(f"{flag} {given} is more than the {n} word tokens {lang} has to cluster{where} "
                                  f"({len(forms)} words in {len(chosen)} sentences{rules}): lower {flag} or give "
                                  "more sentences" + (" (or --no-heldout)" if where else ""))


def _supplied_directions(config: ConceptsConfig, directions: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """The user's dictionary files by direction, as (format, path), after checking each is a direction of the
    run, given once and exists."""
    supplied: dict[tuple[str, str], tuple] = {}
    for kind, paths in (("tsv", config.dictionaries), ("moses", config.moses_dictionaries)):
        for key, path in paths.items():
            source, target = _PAIR.match(key).groups()  # type: ignore[union-attr]
            if (source, target) not in directions:
                raise ConfigError(f"dictionary {key}: not a CALIGN direction of this run "
                                  f"({', '.join(pair_label(s, t) for s, t in directions)})")
            if (source, target) in supplied:
                raise ConfigError(f"dictionary {key} is given both as a TSV and as a Moses table")
            if not Path(path).is_file():
                raise ConfigError(f"dictionary {key}: {path} does not exist")
            supplied[source, target] = (kind, Path(path))
    return supplied


def _check_stacks(config: ConceptsConfig, lm, role: str) -> None:
    """``stacks="encoder-decoder"`` needs an encoder-decoder model whose two stacks have as many layers."""
    if config.stacks != "encoder-decoder":
        return
    if lm.kind != "encoder-decoder":
        raise ConfigError(f"--stacks encoder-decoder needs an encoder-decoder model; the {role} is a {lm.kind}")
    cfg = lm.model.config
    encoder, decoder = cfg.num_layers, getattr(cfg, "num_decoder_layers", None) or cfg.num_layers
    if encoder != decoder:
        raise ConfigError(f"the {role}'s encoder has {encoder} layers and its decoder {decoder}: "
                          "--stacks encoder-decoder compares them layer by layer")


def _extract_models(config: ConceptsConfig, corpus, provenance: Provenance, progress: bool, engine):
    """The stores of the model (and base model) by role, their identities, the layers analysed, the example
    layer and the extraction record; the layers are checked against each model right after it loads."""
    models = {"model": config.model, **({"base": config.base_model} if config.base_model else {})}
    stores, identities, layers, example_layer = {}, {}, None, None
    for role, name in models.items():
        with provenance.stage(f"loading the {role}"):
            lm = config.load_model(name)
        _check_stacks(config, lm, role)
        available = range(lm.n_hidden_states)
        chosen = resolve_layers(config.layers, available)
        if layers is None:
            layers = chosen
            example_layer = layers[-1] if config.example_layer is None else resolve_layers(
                [config.example_layer], available, what="example_layer")[0]
            if example_layer not in layers:
                raise ConfigError(f"example_layer {config.example_layer} is not among the layers analysed {layers}")
        elif chosen != layers:
            raise ConfigError(f"the base model has {lm.n_hidden_states} hidden states, the model another count: "
                              "both must have the layers analysed")
        with provenance.stage(f"extraction ({role})"):
            stores[role], extraction = _extract(config, lm, corpus, progress, engine)
        identities[role] = lm.identity()
        del lm  # clustering needs the memory (and the cores) more than the model
    return stores, identities, layers, example_layer, extraction


def _extract(config: ConceptsConfig, lm, corpus, progress: bool, engine):
    """The stores of one model (the pivot through the encoder, the others through the decoder with
    ``stacks="encoder-decoder"``) and the extraction record."""
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.run import extract_stores

    common = dict(level="word", pooling=config.pooling, batch_size=config.batch_size, max_length=config.max_length,
                  prefix=config.prefix)
    encoder = ExtractionOptions(**common)
    if config.stacks == "encoder":
        stores = extract_stores(lm, corpus, encoder, config.stores_root(), shard_size=config.shard_size,
                                progress=progress, engine=engine)
        return stores, encoder.as_dict()
    decoder = ExtractionOptions(**common, stack="decoder", decoder_shift=True)
    pivot = {config.pivot: corpus[config.pivot]}
    others = {lang: sentences for lang, sentences in corpus.items() if lang != config.pivot}
    stores = {**extract_stores(lm, pivot, encoder, config.stores_root(), shard_size=config.shard_size,
                               progress=progress, engine=engine),
              **extract_stores(lm, others, decoder, config.stores_root(), shard_size=config.shard_size,
                               progress=progress, sources=corpus[config.pivot], engine=engine)}
    return {lang: stores[lang] for lang in corpus}, {"encoder": encoder.as_dict(), "decoder": decoder.as_dict(),
                                                     "decoder_source": config.pivot}


def _default_alignment_dir() -> Path:
    from crossling.concepts.alignment_cache import default_alignment_dir

    return default_alignment_dir()


def _dictionaries(config: ConceptsConfig, corpus, directions, supplied):
    """Every seed's dictionaries by direction: loaded when supplied, else estimated from the pair's alignment
    replicate of that seed (cached).

    Returns the dictionaries by seed and direction, the alignments computed by seed and (pivot, other) pair,
    and what the cache did (pair -> replicate -> key and whether it was reused). A pair is aligned when one
    of its directions is not supplied, or when ``aligned_only`` needs links.
    """
    from crossling.concepts.alignment_cache import cached_alignment
    from crossling.concepts.dictionary import TranslationDictionary, lexical_translations, load_moses_lexicon

    loaded = {}
    for (source, target), (kind, path) in supplied.items():
        loaded[source, target] = (TranslationDictionary.load(path, source_lang=source, target_lang=target,
                                                              n_best=config.n_best, lenient=config.lenient)
                                  if kind == "tsv" else
                                  load_moses_lexicon(path, source_lang=source, target_lang=target,
                                                     n_best=config.n_best))
    cache = config.alignment_dir or _default_alignment_dir()
    dictionaries, alignments, reuse = {}, {}, {}
    for seed, replicate in config.replicates().items():
        dictionaries[seed], alignments[seed] = {}, {}
        for pivot, other in directions[::2]:
            pair_dirs = ((pivot, other), (other, pivot))
            if config.aligned_only or any(d not in supplied for d in pair_dirs):
                alignment, reused = cached_alignment(
                    [s.forms for s in corpus[pivot]], [s.forms for s in corpus[other]], cache_dir=cache,
                    replicate=replicate, symmetrisation=config.symmetrisation, name=pair_label(pivot, other))
                alignments[seed][pivot, other] = alignment
                reuse.setdefault(pair_label(pivot, other), {})[str(replicate)] = {
                    "key": alignment.params["cache_key"], "reused": reused}
            for source, target in pair_dirs:
                dictionaries[seed][source, target] = loaded.get((source, target)) or lexical_translations(
                    alignments[seed][pivot, other], source_lang=source, target_lang=target, n_best=config.n_best,
                    reverse=source != pivot)
    return dictionaries, alignments, reuse


def _heldout(config: ConceptsConfig, corpus, directions, n_sentences: int) -> dict[int, HeldOut]:
    """Per seed, the held-out variant: the concept half and the dictionaries of the other half (from cached
    alignment replicates of that half)."""
    from crossling.concepts.alignment_cache import cached_alignment
    from crossling.concepts.dictionary import lexical_translations

    cache = config.alignment_dir or _default_alignment_dir()
    out = {}
    for seed, replicate in config.replicates().items():
        concept_half, dictionary_half = heldout_halves(n_sentences, replicate)
        dictionaries = {}
        for pivot, other in directions[::2]:
            alignment, _ = cached_alignment(
                [corpus[pivot][i].forms for i in dictionary_half], [corpus[other][i].forms for i in dictionary_half],
                cache_dir=cache, replicate=replicate, symmetrisation=config.symmetrisation,
                name=f"{pair_label(pivot, other)}-half")
            for source, target in ((pivot, other), (other, pivot)):
                dictionaries[source, target] = lexical_translations(
                    alignment, source_lang=source, target_lang=target, n_best=config.n_best, reverse=source != pivot)
        out[seed] = HeldOut(concept_half, dictionaries)
    return out


def _save_dictionaries(folder: Path, config: ConceptsConfig, dictionaries, halves) -> list[Path]:
    """The first seed's dictionaries at the top, the other seeds' under ``seed-S/``, the held-out halves' under
    ``heldout/seed-S/``."""
    files = []
    for i, (seed, per_direction) in enumerate(dictionaries.items()):
        where = folder if i == 0 else folder / f"seed-{seed}"
        files += [d.save(where / f"{pair_label(s, t)}.tsv") for (s, t), d in per_direction.items()]
        if halves is not None:
            files += [d.save(folder / "heldout" / f"seed-{seed}" / f"{pair_label(s, t)}.tsv")
                      for (s, t), d in halves[seed].dictionaries.items()]
    return files


def _aligned_tokens(alignments, metas: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per language, which stored words a word alignment links (the pivot: linked in any of its pairs)."""
    linked: dict[str, set[tuple[int, int]]] = {lang: set() for lang in metas}
    for (source, target), alignment in alignments.items():
        for k, links in enumerate(alignment.links):
            linked[source].update((k, int(i)) for i in links[:, 0])
            linked[target].update((k, int(j)) for j in links[:, 1])
    keep = {}
    for lang, meta in metas.items():
        rows = zip(meta["sentence_index"].to_numpy(), meta["word_index"].to_numpy())
        keep[lang] = np.fromiter(((int(s), int(w)) in linked[lang] for s, w in rows), dtype=bool, count=len(meta))
    return keep


def _max_or_none(values: pd.Series) -> int | None:
    values = values.dropna()
    return int(values.max()) if len(values) else None
