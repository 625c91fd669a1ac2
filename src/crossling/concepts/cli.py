"""``crossling concepts``: the latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024) end to end.

From a parallel corpus and a model to tables, figures and a report section:

1. read the corpus (:func:`crossling.data.corpus.load_corpus`); every language must have the same sentences;
2. extract word representations of every hidden state per language into cached vector stores
   (:func:`crossling.extraction.store.extract_to_store`; last sub-word by default, as the paper's toolkit);
3. translation dictionaries between the pivot language (English by default) and every other language,
   both directions, from eflomal word alignments of the same corpus (:mod:`crossling.concepts.dictionary`),
   unless the user supplies them (``--dictionary en-de=PATH``);
4. :func:`crossling.concepts.run_concepts` per layer and :func:`crossling.concepts.write_concepts_study`;
5. ``manifest.json`` (provenance) and ``report.json`` (the section ``crossling report`` renders).

The command function :func:`concepts_command` is registered on the main app as
``app.command("concepts")(concepts_command)``.
"""

from __future__ import annotations

import json
import platform
import re
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from crossling.concepts.study import ConceptsStudy
from crossling.config import (
    CommaList,
    LayerList,
    ModelOptions,
    resolve_layers,
)

__all__ = ["ConceptsConfig", "ConceptsRun", "run_concepts_study"]

_PAIR = re.compile(r"^([A-Za-z][\w]*)-([A-Za-z][\w]*)$")


class ConceptsConfig(ModelOptions):
    """Settings of ``crossling concepts`` (a YAML file with these keys, or the command's flags).

    CALIGN is computed between ``pivot`` and every other language, in both directions; COLAP on
    ``colap_sets`` (default: the same pairs, each clustered jointly). ``layers`` None means every
    hidden state; extraction always stores every hidden state (one forward pass), so later runs with
    other layers reuse the stores. ``dictionaries`` maps ``"src-tgt"`` to a TSV file
    (:meth:`TranslationDictionary.load`); every direction not given is estimated from eflomal word
    alignments of the corpus itself. ``aligned_only`` clusters only tokens the word alignment links
    (what the released scripts do; the paper's text clusters every token, the default here). Model loading
    and batching: :class:`~crossling.config.ModelOptions`.
    """

    model: str
    corpus: str
    languages: Optional[CommaList] = None
    pivot: str = "en"
    layers: LayerList = None
    limit: Optional[int] = None
    pooling: Literal["last", "mean", "first"] = "last"
    k: int = 600
    backend: Literal["auto", "sklearn", "faiss", "ward"] = "auto"
    seed: int = 0
    max_iter: int = 100
    tol: float = 1e-4
    min_count: int = 1
    max_per_type: Optional[int] = 15
    aligned_only: bool = False
    theta_a: float = 0.8
    n_best: int = 10
    size_tolerance: float = 0.4
    size_rule: Literal["symmetric", "one-sided"] = "symmetric"
    min_types: int = 6
    theta_o: float = 0.3
    colap_by: Literal["tokens", "types"] = "tokens"
    colap_sets: Optional[list[list[str]]] = None
    dictionaries: dict[str, Path] = Field(default_factory=dict, json_schema_extra={"flag": "dictionary"})
    symmetrisation: Literal["grow-diag-final", "intersection"] = "grow-diag-final"
    n_examples: int = 5
    example_layer: Optional[int] = None
    store_dir: Optional[Path] = None
    out: Path

    @field_validator("colap_sets", mode="before")
    @classmethod
    def _parse_sets(cls, value):
        """``"en+de,en+fr"`` (sets separated by commas, languages by "+"), or a list of lists."""
        if isinstance(value, str):
            return [[lang.strip() for lang in group.split("+") if lang.strip()] for group in value.split(",")
                    if group.strip()]
        return value

    @field_validator("dictionaries", mode="before")
    @classmethod
    def _parse_dictionaries(cls, value):
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
        for key in value:
            if not _PAIR.match(key):
                raise ValueError(f"dictionary key {key!r}: expected SRC-TGT language codes, e.g. en-de")
        return value

    @model_validator(mode="after")
    def _check(self):
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        for group in self.colap_sets or ():
            if len(set(group)) < 2:
                raise ValueError(f"a COLAP language set needs two or more languages, got {'+'.join(group)}")
        return self

    def directions(self, languages: Sequence[str]) -> list[tuple[str, str]]:
        """The CALIGN directions: pivot -> other and other -> pivot for every other language."""
        return [d for other in languages if other != self.pivot for d in ((self.pivot, other), (other, self.pivot))]


@dataclass(frozen=True)
class ConceptsRun:
    """What :func:`run_concepts_study` computed and wrote.

    Attributes
    ----------
    study : ConceptsStudy
    manifest : dict
        The provenance written to ``manifest.json``.
    out : Path
    files : list of Path
        Every file written.
    """

    study: ConceptsStudy
    manifest: dict
    out: Path
    files: list[Path] = field(default_factory=list)


def run_concepts_study(config: ConceptsConfig, *, progress: bool = True) -> ConceptsRun:
    """Run the study: corpus, cached extraction, dictionaries, CALIGN and COLAP per layer, outputs.

    Writes into ``config.out``: ``config.yaml``; the tables, listings, figures and examples of
    :func:`write_concepts_study`; ``summary`` (one row per layer, parquet + csv); ``dictionaries/*.tsv``
    (every dictionary used); ``manifest.json``; ``report.json``.

    Raises
    ------
    ValueError
        Fewer than two languages, a pivot that is not among them, sentences that do not pair up, a
        dictionary for an unknown pair, layers the model does not have.
    """
    from crossling._utils.io import atomic_write_text, write_table
    from crossling.concepts.study import run_concepts, write_concepts_study
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_store

    started = time.perf_counter()
    corpus = load_corpus(config.corpus, config.languages)
    if config.limit is not None:  # the first sentences of every language: parallel corpora stay aligned
        corpus = {lang: sentences[: config.limit] for lang, sentences in corpus.items()}
    languages = _order_languages(corpus, config.pivot)
    _check_parallel(corpus)
    directions = config.directions(languages)
    supplied = _supplied_directions(config.dictionaries, directions)
    colap_sets = [list(s) for s in config.colap_sets] if config.colap_sets else [list(d) for d in directions[::2]]
    unknown = sorted({lang for s in colap_sets for lang in s} - set(languages))
    if unknown:
        raise ValueError(f"COLAP sets name languages {unknown} that are not in the corpus run ({languages})")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config.write(out)

    lm = config.load_model(config.model)
    extraction = ExtractionOptions(level="word", pooling=config.pooling, batch_size=config.batch_size,
                                   max_length=config.max_length)
    store_root = Path(config.store_dir) if config.store_dir is not None else out / "stores"
    stores = {lang: extract_to_store(lm, corpus[lang], store_root, extraction, progress=progress)
              for lang in languages}
    identity = lm.identity()
    del lm  # clustering needs the memory (and the cores) more than the model
    extracted = time.perf_counter()

    layers = resolve_layers(config.layers, stores[config.pivot].layers)
    metas = {lang: store.meta for lang, store in stores.items()}
    dictionaries, alignments = _dictionaries(config, corpus, directions, supplied)
    keep = _aligned_tokens(alignments, metas, config.pivot) if config.aligned_only else None
    aligned = time.perf_counter()

    study = run_concepts(
        {lang: [stores[lang].vectors(layer) for layer in layers] for lang in languages},
        {lang: metas[lang]["form"].to_numpy(dtype=object) for lang in languages},
        dictionaries,
        keep=keep,
        layer_ids=layers,
        colap_sets=colap_sets,
        k=config.k,
        backend=config.backend,
        seed=config.seed,
        max_iter=config.max_iter,
        tol=config.tol,
        min_count=config.min_count,
        max_per_type=config.max_per_type,
        theta_a=config.theta_a,
        n_best=config.n_best,
        size_tolerance=config.size_tolerance,
        size_rule=config.size_rule,
        min_types=config.min_types,
        theta_o=config.theta_o,
        colap_by=config.colap_by,
        progress=progress,
    )
    clustered = time.perf_counter()
    files = write_concepts_study(study, out, n_examples=config.n_examples, example_layer=config.example_layer)
    summary = summary_table(study)
    files += write_table(summary, out, "summary")
    for (source, target), dictionary in dictionaries.items():
        files.append(dictionary.save(out / "dictionaries" / f"{source}-{target}.tsv"))

    manifest = {
        "study": "latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024)",
        "model": identity,
        "corpus": {"spec": config.corpus, "n_sentences": len(corpus[config.pivot]), "limit": config.limit},
        "languages": languages,
        "pivot": config.pivot,
        "layers": layers,
        "extraction": extraction.as_dict(),
        "stores": {lang: {"path": str(store.path), "key": store.manifest["key"],
                          "corpus_checksum": store.manifest["corpus_checksum"],
                          "n_sentences": store.manifest["n_sentences"], "n_words": store.n_rows,
                          "truncated_inputs": store.manifest["truncated_inputs"],
                          "words_without_vector": store.manifest["words_without_vector"],
                          "extraction_seconds": store.manifest["seconds"]}
                   for lang, store in stores.items()},
        "seed": config.seed,
        "example_layer": layers[-1] if config.example_layer is None else config.example_layer,
        "clustering": study.params["clustering"],
        "backends_used": sorted(set(study.clusterings["backend"])),
        "convergence": {"clusterings": len(study.clusterings),
                        "not_converged": int((study.clusterings["converged"] == False).sum()),  # noqa: E712
                        "n_iter_max": _max_or_none(study.clusterings["n_iter"])},
        "tokens": study.params["tokens"],
        "aligned_only": config.aligned_only,
        "calign": study.params["calign"],
        "colap": {**study.params["colap"], "sets": colap_sets},
        "dictionaries": {f"{s}-{t}": {"file": f"dictionaries/{s}-{t}.tsv", "n_source_words": len(d),
                                      "supplied": (s, t) in supplied, **d.provenance}
                         for (s, t), d in dictionaries.items()},
        "word_alignment": {
            "aligner": "eflomal (Östling and Tiedemann 2016), both directions, symmetrised",
            "symmetrisation": config.symmetrisation,
            "pairs": sorted("-".join(p) for p in alignments),
            "deterministic": False,
            "note": "eflomal's Gibbs samplers take no seed: a rerun can give slightly different links, hence "
                    "dictionaries and CALIGN; the dictionaries used are saved under dictionaries/ and can be "
                    "passed back with --dictionary SRC-TGT=PATH to reproduce these numbers exactly.",
        } if alignments else None,
        "seconds": {"extraction (this run)": round(extracted - started, 3),
                    "word alignment": round(aligned - extracted, 3),
                    "clustering and measures": round(clustered - aligned, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config.model_dump(mode="json"),
    }
    files.append(atomic_write_text(out / "manifest.json",
                                   json.dumps(manifest, indent=1, ensure_ascii=False, default=_json_default)))
    files.append(_write_report(study, out, identity, manifest))
    return ConceptsRun(study=study, manifest=manifest, out=out, files=files)


def summary_table(study: ConceptsStudy) -> pd.DataFrame:
    """One row per layer: CALIGN of every direction (``calign en->de`` ...) and COLAP of every set."""
    parts = []
    if len(study.calign):
        parts.append(study.calign.pivot(index="layer", columns="direction", values="calign")
                     .reindex(columns=list(dict.fromkeys(study.calign["direction"]))).add_prefix("calign "))
    if len(study.colap):
        parts.append(study.colap.pivot(index="layer", columns="languages", values="colap")
                     .reindex(columns=list(dict.fromkeys(study.colap["languages"]))).add_prefix("colap "))
    table = pd.concat(parts, axis=1).reset_index()
    table.columns.name = None
    return table


def _order_languages(corpus: Mapping[str, list], pivot: str) -> list[str]:
    languages = list(corpus)
    if len(languages) < 2:
        raise ValueError(f"the concept study compares languages: the corpus gave {languages} "
                         "(name at least two with --languages)")
    if pivot not in corpus:
        raise ValueError(f"pivot language {pivot!r} is not among the languages {languages} (set --pivot)")
    return [pivot] + [lang for lang in languages if lang != pivot]


def _check_parallel(corpus: Mapping[str, list]) -> None:
    """Every language must have the same number of sentences, paired in order (dictionaries need it)."""
    counts = {lang: len(sentences) for lang, sentences in corpus.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"the corpus is not parallel: sentences per language {counts}")


def _supplied_directions(paths: Mapping[str, Path], directions: list[tuple[str, str]]) -> dict[tuple[str, str], Path]:
    supplied = {}
    for key, path in paths.items():
        source, target = _PAIR.match(key).groups()  # type: ignore[union-attr]
        if (source, target) not in directions:
            raise ValueError(f"dictionary {key}: not a CALIGN direction of this run "
                             f"({', '.join(f'{s}-{t}' for s, t in directions)})")
        if not Path(path).is_file():
            raise ValueError(f"dictionary {key}: {path} does not exist")
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
                    supplied[source, target], source_lang=source, target_lang=target, n_best=config.n_best)
            else:
                dictionaries[source, target] = lexical_translations(
                    alignments[pivot, other], source_lang=source, target_lang=target, n_best=config.n_best,
                    reverse=source != pivot)
    return dictionaries, alignments


def _aligned_tokens(alignments, metas: Mapping[str, pd.DataFrame], pivot: str) -> dict[str, np.ndarray]:
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


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("crossling", "numpy", "scipy", "pandas", "scikit-learn", "faiss-cpu", "eflomal", "torch",
                    "transformers", "tokenizers", "matplotlib"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    if out["crossling"] == "not installed":
        import crossling

        out["crossling"] = crossling.__version__
    return out


def _write_report(study: ConceptsStudy, out: Path, identity: Mapping[str, Any], manifest: Mapping[str, Any]) -> Path:
    from crossling._utils.labels import model_label
    from crossling.report import write_section

    p = study.params
    calign, colap = p["calign"], p["colap"]
    figures = []
    if (out / "calign.png").is_file():
        figures.append({
            "file": "calign.png",
            "caption": "CALIGN against layer, per language pair and direction",
            "reading": (
                "The x axis is the layer (0 = the embedding output); the y axis is CALIGN, the percentage of one "
                f"language's concepts (K = {p['clustering']['k']} clusters of its word tokens, counting only concepts "
                f"with {calign['min_types']} or more distinct words) for which the other language has a concept "
                f"holding a translation of at least {calign['theta_a']:.0%} of its words, with a size within "
                f"{calign['size_tolerance']:.0%}. One colour per language pair; the solid line reads from the "
                "pivot language into the other, the dashed line back. A rise means that layer groups words "
                "the way their translations are grouped in the other language: its concepts are shared across "
                "languages rather than language-specific. The two directions can differ because each language's "
                "concepts are clustered separately and the dictionaries are not symmetric.")})
    if (out / "colap.png").is_file():
        figures.append({
            "file": "colap.png",
            "caption": "COLAP against layer, per jointly clustered language set",
            "reading": (
                "The x axis is the layer; the y axis is COLAP, the percentage of concepts, from clustering the "
                "word tokens of the languages together, in which at least two languages each make up "
                f"{colap['theta_o']:.0%} or more of the concept (counted by {colap['by']}). A rise means "
                "the layer places words of different languages in the same regions of its space (mixed, "
                "language-neutral concepts); near zero means every concept belongs to one language.")})
    if (out / "aligned_examples.png").is_file():
        figures.append({
            "file": "aligned_examples.png",
            "caption": f"Example aligned concepts at layer {manifest['example_layer']}",
            "reading": (
                "Each box pairs a concept of one language (left) with the concept of the other language it is "
                "aligned to (right), most frequent words first, with token counts; a tick marks a word whose "
                "translation (from the dictionary) is in the other concept. Such pairs are what CALIGN counts.")})
    tables = [{"file": "summary.parquet", "caption": "CALIGN and COLAP (%) per layer", "max_rows": 100},
              {"file": "calign.parquet", "caption": "CALIGN per layer and direction, with counts", "max_rows": 60},
              {"file": "colap.parquet", "caption": "COLAP per layer and language set, with counts", "max_rows": 60},
              {"file": "clusterings.parquet", "caption": "Every clustering: backend, tokens, inertia, convergence",
               "max_rows": 40}]
    tokens = ", ".join(f"{lang} {t['n_selected']}" for lang, t in p["tokens"].items())
    summary = (
        f"Latent concepts of {model_label(identity)}: the word tokens of "
        f"{manifest['corpus']['n_sentences']} parallel sentences per language ({tokens} tokens after capping each "
        f"word at {p['clustering']['max_per_type']} occurrences) are clustered into K = {p['clustering']['k']} "
        f"concepts at each of {len(p['layer_ids'])} layers ({', '.join(map(str, p['layer_ids']))}), one language "
        "at a time for CALIGN and jointly for COLAP; translations come from word alignments of the same "
        "corpus. Word vectors are the model's "
        f"{'last sub-word' if manifest['extraction']['pooling'] == 'last' else manifest['extraction']['pooling'] + ' pooled sub-words'}"
        " of each word.")
    return write_section(out, {"title": f"Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024): {model_label(identity)}",
                               "summary": summary, "figures": figures, "tables": tables,
                               "provenance": "manifest.json"})
