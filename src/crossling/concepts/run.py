"""``crossling concepts`` as a function: corpus and model in, tables, figures, manifest and report section out.

:func:`run_concepts` is the only place of the study that touches models, corpora and the disk:

1. read the parallel corpus (:func:`crossling.data.corpus.load_corpus`) and check every option against it
   (languages, pivot, dictionaries, sets, K against the words there are) before the model is loaded;
2. extract (or reuse) word representations of every hidden state per language into cached vector stores
   (:func:`crossling.extraction.run.extract_stores`; the last sub-word by default, as the paper's toolkit);
3. translation dictionaries between the pivot language (English by default) and every other language,
   both directions, from eflomal word alignments of the same corpus (:mod:`crossling.concepts.dictionary`),
   unless the user supplies them (``--dictionary en-de=PATH``);
4. :func:`crossling.concepts.study.compute_concepts` on the chosen layers;
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
from crossling.concepts.study import ConceptOptions, ConceptsResult, compute_concepts
from crossling.config import MODEL_PATH, CorpusOptions, LayerList, ModelOptions, StoreOptions, resolve_layers
from crossling.exceptions import AlignmentError, ConfigError
from crossling.pipeline import RunResult, write_run

__all__ = ["STUDY", "ConceptsConfig", "run_concepts", "write_concepts_tables"]

STUDY = "latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024)"

_PAIR = re.compile(r"^([A-Za-z]\w*)-([A-Za-z]\w*)$")


class ConceptsConfig(ModelOptions, CorpusOptions, StoreOptions, ConceptOptions):
    """Settings of ``crossling concepts`` (a YAML file with these keys, or the command's flags).

    CALIGN is computed between ``pivot`` and every other language, in both directions; COLAP on
    ``colap_sets``. Model loading and batching: :class:`~crossling.config.ModelOptions`; the corpus:
    :class:`~crossling.config.CorpusOptions`; the vector stores: :class:`~crossling.config.StoreOptions`;
    the clustering and the measures: :class:`~crossling.concepts.study.ConceptOptions`.

    Attributes
    ----------
    model : str
        Hugging Face model folder or hub id.
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
        Cluster only the tokens the word alignment links (as the released scripts); default every token
        (the paper's text).
    colap_sets : list of list of str, optional
        Language sets clustered jointly for COLAP: comma-separated sets of languages joined by ``-`` (or
        ``+``), e.g. ``en-de,en-de-fr``; default the pivot with each other language.
    dictionaries : dict of str to path
        ``SRC-TGT=PATH``: the dictionary TSV of one CALIGN direction (as a run writes under
        ``dictionaries/``); a direction not given is estimated from eflomal word alignments of the corpus.
    symmetrisation : {"grow-diag-final", "intersection"}, default "grow-diag-final"
        How the two directions of the word alignment are merged.
    n_examples : int, default 5
        Aligned concept pairs per direction in ``aligned_examples.md``.
    example_layer : int, optional
        Layer of the aligned examples (negative from the end); default the last layer analysed.
    out : path
        Folder for the tables, listings, dictionaries, figures, manifest and report section (replaced
        whole at the end of the run).
    """

    # ConceptOptions is frozen (a result records it); a run's settings stay assignable like every RunConfig
    model_config = ConfigDict(frozen=False)

    model: str = Field(json_schema_extra=MODEL_PATH)
    pivot: str = "en"
    layers: LayerList = None
    pooling: Literal["last", "mean", "first"] = "last"
    prefix: str = ""
    aligned_only: bool = False
    colap_sets: Optional[list[list[str]]] = None
    dictionaries: dict[str, Path] = Field(default={}, json_schema_extra={"flag": "dictionary"})
    symmetrisation: Literal[SYMMETRISATIONS] = "grow-diag-final"  # type: ignore[valid-type]
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

    @field_validator("dictionaries", mode="before")
    @classmethod
    def _parse_dictionaries(cls, value: object) -> object:
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

    def concept_options(self) -> ConceptOptions:
        """The clustering and measure settings of this run.

        Returns
        -------
        ConceptOptions
        """
        return self.subset(ConceptOptions)


def run_concepts(config: ConceptsConfig, *, progress: bool = True) -> RunResult[ConceptsResult]:
    """Run the study: corpus, cached extraction, dictionaries, CALIGN and COLAP per layer, outputs.

    Every option is checked before the model runs: the corpus must be parallel with two or more languages
    including the pivot, supplied dictionaries and COLAP sets must name its languages, K must not exceed
    the word tokens a language has to cluster, and the layers must exist in the model.

    Writes into ``config.out``: ``config.yaml``; ``calign``, ``colap``, ``clusterings`` and ``summary``
    (parquet + csv); ``concepts.tsv`` and ``concepts.json`` (every concept's words); ``aligned_examples.md``;
    ``dictionaries/SRC-TGT.tsv`` (every dictionary used); ``figures/*.png``; ``manifest.json`` (provenance)
    and ``report.json`` (the section of ``crossling report``).

    Parameters
    ----------
    config : ConceptsConfig
    progress : bool, default True
        Progress bars (or lines, off a terminal) for extraction and clustering.

    Returns
    -------
    RunResult
        ``result`` is the :class:`~crossling.concepts.study.ConceptsResult`.

    Raises
    ------
    CorpusSpecError
        For a corpus that cannot be parallel, or languages it lacks.
    AlignmentError
        When the languages do not have the same number of sentences.
    ConfigError
        For fewer than two languages, a pivot not among them, a dictionary of another direction or a
        missing file, a COLAP set of other languages, K above the tokens a language has, layers (or an
        example layer) the model does not have.
    ModelLoadError
        When the model cannot be loaded.
    """
    from crossling.data.corpus import check_parallel_spec, corpus_record, load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.run import extract_stores, stores_record, stores_skipped

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
    supplied = _supplied_directions(config.dictionaries, directions)
    colap_sets = [list(s) for s in config.colap_sets] if config.colap_sets else [list(d) for d in directions[::2]]
    unknown = sorted({lang for s in colap_sets for lang in s} - set(languages))
    if unknown:
        raise ConfigError(f"--colap-sets names languages {unknown} that are not in the run ({', '.join(languages)})")
    _check_k(config, corpus)

    with provenance.stage("loading the model"):
        lm = config.load_model(config.model)
    available = range(lm.n_hidden_states)
    layers = resolve_layers(config.layers, available)
    example_layer = layers[-1] if config.example_layer is None else resolve_layers(
        [config.example_layer], available, what="example_layer")[0]
    if example_layer not in layers:
        raise ConfigError(f"example_layer {config.example_layer} is not among the layers analysed {layers}")
    extraction = ExtractionOptions(level="word", pooling=config.pooling, batch_size=config.batch_size,
                                   max_length=config.max_length, prefix=config.prefix)
    with provenance.stage("extraction"):
        stores = extract_stores(lm, corpus, extraction, config.stores_root(), shard_size=config.shard_size,
                                progress=progress)
    identity = lm.identity()
    del lm  # clustering needs the memory (and the cores) more than the model

    metas = {lang: store.meta for lang, store in stores.items()}
    with provenance.stage("word alignment"):
        dictionaries, alignments = _dictionaries(config, corpus, directions, supplied)
        keep = _aligned_tokens(alignments, metas) if config.aligned_only else None
    with provenance.stage("clustering and measures"):
        result = compute_concepts(
            {lang: [stores[lang].vectors(layer) for layer in layers] for lang in languages},
            {lang: metas[lang]["form"].to_numpy(dtype=object) for lang in languages},
            dictionaries, options=config.concept_options(), keep=keep, layers=layers, colap_sets=colap_sets,
            progress=progress)

    settings = result.options.record()
    clusterings = result.clusterings
    provenance.record.update(
        models={"model": identity}, extraction=extraction.as_dict(), stores=stores_record(stores),
        corpus=corpus_record(config.corpus, corpus, split=config.split, limit=config.limit),
        seeds={"token_selection": config.seed, "clustering": config.seed},
        diagnostics={"convergence": {"clusterings": len(clusterings),
                                     "not_converged": int((clusterings["converged"] == False).sum()),  # noqa: E712
                                     "n_iter_max": _max_or_none(clusterings["n_iter"])},
                     "calign_undefined": int(result.calign["calign_percent"].isna().sum())},
        languages=languages, pivot=config.pivot, layers=result.layers, example_layer=example_layer,
        directions=[pair_label(s, t) for s, t in result.directions],
        clustering={**settings["clustering"], "token_filter": result.token_filter},
        backends_used=sorted(set(clusterings["backend"])), tokens=result.tokens, aligned_only=config.aligned_only,
        calign=settings["calign"], colap={**settings["colap"], "sets": [list(s) for s in result.colap_sets]},
        dictionaries={pair_label(s, t): {"file": f"dictionaries/{pair_label(s, t)}.tsv", "n_source_words": len(d),
                                         "supplied": (s, t) in supplied, **d.provenance}
                      for (s, t), d in dictionaries.items()},
        word_alignment={
            "aligner": "eflomal (Östling and Tiedemann 2016), both directions, symmetrised",
            "symmetrisation": config.symmetrisation,
            "pairs": sorted(pair_label(*p) for p in alignments),
            "deterministic": False,
            "note": "eflomal's Gibbs samplers take no seed: a rerun can give slightly different links, hence "
                    "dictionaries and CALIGN; the dictionaries used are saved under dictionaries/ and can be "
                    "passed back with --dictionary SRC-TGT=PATH to reproduce these numbers exactly.",
        } if alignments else None)
    for entry in [*corpus.skipped, *stores_skipped(stores)]:
        provenance.skip(**entry)

    def write(folder: Path) -> list[Path]:
        from crossling.concepts.plots import aligned_examples_markdown, write_concepts_figures
        from crossling.concepts.report import write_concepts_section

        files = write_concepts_tables(result, folder)
        text = aligned_examples_markdown(result, layer=example_layer, n_examples=config.n_examples)
        files.append(atomic_write_text(folder / "aligned_examples.md", text))
        files += [d.save(folder / "dictionaries" / f"{pair_label(s, t)}.tsv") for (s, t), d in dictionaries.items()]
        files += write_concepts_figures(result, folder / "figures", example_layer=example_layer)
        files.append(write_concepts_section(result, folder, identity, n_sentences=len(corpus[config.pivot]),
                                            pooling=config.pooling, example_layer=example_layer))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=result, manifest=provenance.record, out=Path(config.out), files=files)


def write_concepts_tables(result: ConceptsResult, folder: str | Path) -> list[Path]:
    """Write the result's tables and concept listings into ``folder``.

    ``calign``, ``colap``, ``clusterings`` and ``summary`` (:meth:`ConceptsResult.summary`) as parquet + csv;
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
             *write_table(result.clusterings, folder, "clusterings"), *write_table(result.summary(), folder, "summary")]
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


def _check_k(config: ConceptsConfig, corpus: Mapping[str, list]) -> None:
    """K against the word tokens each language can give: the corpus's words after the selection rule.

    The store holds at most the corpus's words (a word cut by truncation gets no vector), and the selection
    of a subset keeps at most what it keeps of the whole, so this count bounds the tokens clustered.
    """
    for lang, sentences in corpus.items():
        forms = [form for sentence in sentences for form in sentence.forms]
        n = select_tokens(forms, min_count=config.min_count, max_per_type=config.max_per_type).size
        if config.k > n:
            rules = ""
            if config.max_per_type is not None:
                rules += f", at most {config.max_per_type} occurrences of a word"
            if config.min_count > 1:
                rules += f", words seen fewer than {config.min_count} times left out"
            raise ConfigError(f"--k {config.k} is more than the {n} word tokens {lang} has to cluster ({len(forms)} "
                              f"words in {len(sentences)} sentences{rules}): lower --k or give more sentences")


def _supplied_directions(paths: Mapping[str, Path], directions: list[tuple[str, str]]) -> dict[tuple[str, str], Path]:
    """The user's dictionary files by direction, after checking each is a direction of the run and exists."""
    supplied = {}
    for key, path in paths.items():
        source, target = _PAIR.match(key).groups()  # type: ignore[union-attr]
        if (source, target) not in directions:
            raise ConfigError(f"dictionary {key}: not a CALIGN direction of this run "
                              f"({', '.join(pair_label(s, t) for s, t in directions)})")
        if not Path(path).is_file():
            raise ConfigError(f"dictionary {key}: {path} does not exist")
        supplied[source, target] = Path(path)
    return supplied


def _dictionaries(config: ConceptsConfig, corpus, directions, supplied):
    """Every direction's dictionary: loaded when supplied, else estimated from the pair's alignment.

    Returns the dictionaries by direction and the word alignments computed (by (pivot, other) pair).
    A pair is aligned when one of its directions is not supplied, or when ``aligned_only`` needs links.
    """
    from crossling.concepts.dictionary import TranslationDictionary, align_words, lexical_translations

    dictionaries, alignments = {}, {}
    for pivot, other in directions[::2]:
        pair_dirs = ((pivot, other), (other, pivot))
        if config.aligned_only or any(d not in supplied for d in pair_dirs):
            alignments[pivot, other] = align_words([s.forms for s in corpus[pivot]], [s.forms for s in corpus[other]],
                                                   symmetrisation=config.symmetrisation)
        for source, target in pair_dirs:
            if (source, target) in supplied:
                dictionaries[source, target] = TranslationDictionary.load(
                    supplied[source, target], source_lang=source, target_lang=target, n_best=config.n_best,
                    lenient=config.lenient)
            else:
                dictionaries[source, target] = lexical_translations(
                    alignments[pivot, other], source_lang=source, target_lang=target, n_best=config.n_best,
                    reverse=source != pivot)
    return dictionaries, alignments


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
