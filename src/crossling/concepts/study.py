"""The latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024) on given token vectors.

:func:`run_concepts` takes, per language, the token representations of every analysed layer and the
word forms, plus translation dictionaries; per layer it clusters each language alone (for CALIGN, both
directions of every language pair with a dictionary) and each language set jointly (for COLAP).
It needs no model: extraction (``crossling.extraction.extract.word_vectors``) and the CLI feed it.
:func:`write_concepts_study` writes the tables, concept listings, figures and example concepts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossling._utils.io import atomic_path, atomic_write_text, write_table
from crossling._utils.progress import progress_bar
from crossling._utils.validation import check_count
from crossling.concepts.alignment import CalignResult, calign, translation_mapping
from crossling.concepts.clustering import Concepts, cluster_concepts, select_tokens
from crossling.concepts.dictionary import TranslationDictionary
from crossling.concepts.overlap import colap

__all__ = ["ConceptsStudy", "concept_listing", "run_concepts", "write_concepts_study"]

Dictionary = TranslationDictionary | Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class ConceptsStudy:
    """Results of :func:`run_concepts`.

    Attributes
    ----------
    calign : pandas.DataFrame
        One row per (layer, direction): ``layer, pair, direction, source, target, calign, n_aligned,
        n_eligible, n_source_concepts``.
    colap : pandas.DataFrame
        One row per (layer, language set): ``layer, languages, colap, n_overlapping, n_concepts``.
    clusterings : pandas.DataFrame
        One row per clustering: ``layer, clustering, backend, k, n_tokens, inertia, n_iter, converged, seed``.
    concepts : dict
        (layer, clustering name) -> :class:`Concepts`; the name is a language ("en") or a joined set ("en+de").
    alignments : dict
        (layer, source, target) -> :class:`CalignResult`.
    dictionaries : dict
        (source, target) -> translations used (source word -> best-first targets), for rendering examples.
    params : dict
        Every setting, the token selection per language (n before/after) and the layer ids.
    """

    calign: pd.DataFrame
    colap: pd.DataFrame
    clusterings: pd.DataFrame
    concepts: dict[tuple[int, str], Concepts]
    alignments: dict[tuple[int, str, str], CalignResult]
    dictionaries: dict[tuple[str, str], Mapping[str, Sequence[str]]]
    params: dict[str, Any] = field(default_factory=dict)


def run_concepts(
    vectors: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    forms: Mapping[str, Sequence[str]],
    dictionaries: Mapping[tuple[str, str], Dictionary],
    *,
    keep: Mapping[str, np.ndarray] | None = None,
    layer_ids: Sequence[int] | None = None,
    colap_sets: Sequence[Sequence[str]] | None = None,
    k: int = 600,
    backend: str = "auto",
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-4,
    min_count: int = 1,
    max_per_type: int | None = 15,
    theta_a: float = 0.8,
    n_best: int = 10,
    size_tolerance: float = 0.4,
    size_rule: str = "symmetric",
    min_types: int = 6,
    theta_o: float = 0.3,
    colap_by: str = "tokens",
    progress: bool = False,
) -> ConceptsStudy:
    """Run CALIGN and COLAP on every layer.

    Parameters
    ----------
    vectors : mapping of language to ndarray of shape (n_layers, n_words, d), or to a sequence of
        n_layers arrays of shape (n_words, d)
        Word representations per layer (e.g. the first output of ``crossling.extraction.extract.word_vectors``,
        or ``[store.vectors(layer) for layer in layers]`` of a vector store); every language must
        have the same n_layers and d. Memory-mapped arrays are read row-subset by row-subset, one
        layer at a time.
    forms : mapping of language to sequence of str, length n_words
        Word form of each row of ``vectors[language]``.
    dictionaries : mapping of (source, target) to TranslationDictionary or mapping
        One entry per CALIGN direction to compute; the language pairs are the unordered keys.
    keep : mapping of language to bool ndarray of shape (n_words,), optional
        Tokens that may be selected (default: all). The released scripts of Mousi et al. cluster only
        the tokens the word alignment links (``crossling concepts --aligned-only``); a language
        missing from the mapping keeps all its tokens.
    layer_ids : sequence of int, optional
        The layer number of each entry of the first axis of the vectors (default 0 .. n_layers-1).
    colap_sets : sequence of sequences of str, optional
        Language sets clustered jointly for COLAP (default: each language pair of ``dictionaries``).
    k, backend, seed, max_iter, tol
        Clustering settings (:func:`cluster_concepts`); the same k for single and joint clusterings.
    min_count, max_per_type
        Token selection per language (:func:`select_tokens`, seeded with ``seed``); the same tokens
        are used at every layer and in every joint clustering.
    theta_a, n_best, size_tolerance, size_rule, min_types
        CALIGN settings (:func:`calign`).
    theta_o, colap_by
        COLAP settings (:func:`colap`; ``colap_by`` is its ``by``).
    progress : bool, default False
        Show a progress bar over the clusterings.

    Returns
    -------
    ConceptsStudy
    """
    languages = list(vectors)
    n_layers, dim = _check_inputs(vectors, forms)
    layer_ids = list(range(n_layers)) if layer_ids is None else [int(x) for x in layer_ids]
    if len(layer_ids) != n_layers or len(set(layer_ids)) != n_layers:
        raise ValueError(f"layer_ids must give {n_layers} distinct layer numbers, got {layer_ids}")
    if not dictionaries and not colap_sets:
        raise ValueError("nothing to compute: give dictionaries (CALIGN) and/or colap_sets (COLAP)")
    directions = [tuple(key) for key in dictionaries]
    for direction in directions:
        _check_known(direction, languages)
    pairs = list(dict.fromkeys(tuple(sorted(d, key=languages.index)) for d in directions))
    sets = [tuple(s) for s in colap_sets] if colap_sets is not None else pairs
    for group in sets:
        _check_known(group, languages)
    for group in sets:
        if len(set(group)) < 2:
            raise ValueError(f"a COLAP language set needs at least two languages, got {group}")
    k = check_count("k", k, minimum=1)
    n_best = check_count("n_best", n_best, minimum=1)

    forms_arr = {lang: np.asarray(forms[lang], dtype=object) for lang in languages}
    allowed = _allowed_rows(keep or {}, forms_arr)
    selected = {
        lang: rows[select_tokens(forms_arr[lang][rows], min_count=min_count, max_per_type=max_per_type, seed=seed)]
        for lang, rows in allowed.items()
    }
    needed = {lang for d in directions for lang in d}
    for lang in needed:
        if selected[lang].size < k:
            raise ValueError(
                f"language {lang!r} has {selected[lang].size} tokens after selection (min_count={min_count}, "
                f"max_per_type={max_per_type}{', aligned tokens only' if keep and lang in keep else ''}), "
                f"fewer than k={k}: lower k or give more text"
            )
    translations = {d: translation_mapping(dictionaries[d], n_best, *d) for d in directions}
    cluster_opts = {"k": k, "backend": backend, "seed": seed, "max_iter": max_iter, "tol": tol}

    calign_rows, colap_rows, cluster_rows = [], [], []
    concepts: dict[tuple[int, str], Concepts] = {}
    alignments: dict[tuple[int, str, str], CalignResult] = {}
    n_clusterings = len(layer_ids) * (len(needed) + len(sets))
    bar = progress_bar(n_clusterings, "clustering", "clustering", enabled=progress)
    for li, layer in enumerate(layer_ids):
        for lang in [x for x in languages if x in needed]:
            rows = selected[lang]
            concepts[layer, lang] = cluster_concepts(
                np.asarray(vectors[lang][li])[rows], forms_arr[lang][rows], languages=lang, **cluster_opts
            )
            bar.update()
        for source, target in directions:
            res = calign(
                concepts[layer, source].types(source),
                concepts[layer, target].types(target),
                translations[source, target],
                theta_a=theta_a,
                n_best=n_best,
                size_tolerance=size_tolerance,
                size_rule=size_rule,
                min_types=min_types,
                source_lang=source,
                target_lang=target,
            )
            alignments[layer, source, target] = res
            pair = "-".join(sorted((source, target), key=languages.index))
            calign_rows.append(
                {
                    "layer": layer,
                    "pair": pair,
                    "direction": f"{source}->{target}",
                    "source": source,
                    "target": target,
                    "calign": res.calign,
                    "n_aligned": res.n_aligned,
                    "n_eligible": res.n_eligible,
                    "n_source_concepts": res.n_source_concepts,
                }
            )
        for group in sets:
            name = "+".join(group)
            X = np.concatenate([np.asarray(vectors[lang][li])[selected[lang]] for lang in group])
            words = np.concatenate([forms_arr[lang][selected[lang]] for lang in group])
            langs = np.concatenate([np.full(selected[lang].size, lang, dtype=object) for lang in group])
            joint = cluster_concepts(X, words, languages=langs, **cluster_opts)
            bar.update()
            concepts[layer, name] = joint
            res_o = colap(joint.labels, joint.languages, forms=joint.forms, k=k, theta_o=theta_o, by=colap_by,
                          language_order=group)
            colap_rows.append(
                {
                    "layer": layer,
                    "languages": name,
                    "colap": res_o.colap,
                    "n_overlapping": res_o.n_overlapping,
                    "n_concepts": res_o.n_concepts,
                }
            )
        for (lay, name), c in concepts.items():
            if lay == layer:
                cluster_rows.append(
                    {
                        "layer": layer,
                        "clustering": name,
                        "backend": c.backend,
                        "k": c.k,
                        "n_tokens": len(c.labels),
                        "inertia": c.inertia,
                        "n_iter": c.n_iter,
                        "converged": c.converged,
                        "seed": c.seed,
                    }
                )

    bar.close()
    params = {
        "layer_ids": layer_ids,
        "languages": languages,
        "dim": dim,
        "directions": [list(d) for d in directions],
        "colap_sets": [list(s) for s in sets],
        "clustering": {**cluster_opts, "min_count": min_count, "max_per_type": max_per_type,
                       "token_filter": sorted(keep) if keep else None},
        "tokens": {
            lang: {"n_words": int(forms_arr[lang].size), "n_allowed": int(allowed[lang].size),
                   "n_selected": int(selected[lang].size)} for lang in languages
        },
        "calign": {"theta_a": theta_a, "n_best": n_best, "size_tolerance": size_tolerance, "size_rule": size_rule,
                   "min_types": min_types},
        "colap": {"theta_o": theta_o, "by": colap_by},
        "dictionaries": {
            f"{s}->{t}": dictionaries[s, t].provenance if isinstance(dictionaries[s, t], TranslationDictionary)
            else {"source": "mapping", "n_words": len(dictionaries[s, t])}
            for s, t in directions
        },
    }
    return ConceptsStudy(
        calign=pd.DataFrame(calign_rows, columns=_CALIGN_COLUMNS),
        colap=pd.DataFrame(colap_rows, columns=_COLAP_COLUMNS),
        clusterings=pd.DataFrame(cluster_rows),
        concepts=concepts,
        alignments=alignments,
        dictionaries=translations,
        params=params,
    )


_CALIGN_COLUMNS = ["layer", "pair", "direction", "source", "target", "calign", "n_aligned", "n_eligible",
                   "n_source_concepts"]
_COLAP_COLUMNS = ["layer", "languages", "colap", "n_overlapping", "n_concepts"]


def _check_inputs(vectors: Mapping[str, np.ndarray], forms: Mapping[str, Sequence[str]]) -> tuple[int, int]:
    if not vectors:
        raise ValueError("no languages: vectors is empty")
    shapes = {}
    for lang, arr in vectors.items():
        layer_shapes = {np.shape(layer) for layer in arr} if not isinstance(arr, np.ndarray) else None
        if isinstance(arr, np.ndarray) and arr.ndim == 3:
            n_layers, n_words, dim = arr.shape
        elif layer_shapes is not None and len(arr) > 0 and len(layer_shapes) == 1 and len(next(iter(layer_shapes))) == 2:
            n_layers, (n_words, dim) = len(arr), next(iter(layer_shapes))
        else:
            got = arr.shape if isinstance(arr, np.ndarray) else sorted(layer_shapes or ())
            raise ValueError(f"vectors[{lang!r}] must have shape (n_layers, n_words, d) or be a sequence of "
                             f"(n_words, d) arrays of one shape, got {got}")
        if lang not in forms:
            raise ValueError(f"no word forms for language {lang!r}")
        if len(forms[lang]) != n_words:
            raise ValueError(f"language {lang!r}: {n_words} word vectors but {len(forms[lang])} forms")
        shapes[lang] = (n_layers, dim)
    if len(set(shapes.values())) != 1:
        raise ValueError(f"languages differ in (n_layers, d): {shapes}")
    return next(iter(shapes.values()))


def _allowed_rows(keep: Mapping[str, np.ndarray], forms: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per language, the row indices ``keep`` allows (all rows of a language it does not name)."""
    unknown = sorted(set(keep) - set(forms))
    if unknown:
        raise ValueError(f"keep names languages {unknown} that have no vectors; languages are {list(forms)}")
    out = {}
    for lang, words in forms.items():
        if lang not in keep:
            out[lang] = np.arange(words.size, dtype=np.int64)
            continue
        mask = np.asarray(keep[lang])
        if mask.dtype != bool or mask.shape != words.shape:
            raise ValueError(f"keep[{lang!r}] must be a bool array of shape {words.shape}, got {mask.dtype} {mask.shape}")
        out[lang] = np.flatnonzero(mask).astype(np.int64)
    return out


def _check_known(group: Sequence[str], languages: list[str]) -> None:
    missing = [lang for lang in group if lang not in languages]
    if missing:
        raise ValueError(f"languages {missing} (in {tuple(group)}) have no vectors; languages are {languages}")


def concept_listing(study: ConceptsStudy) -> pd.DataFrame:
    """Tidy listing of every clustering: ``layer, clustering, concept, language, word, count``."""
    frames = [c.counts().assign(layer=layer, clustering=name) for (layer, name), c in study.concepts.items()]
    cols = ["layer", "clustering", "concept", "language", "word", "count"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def write_concepts_study(
    study: ConceptsStudy, out_dir: str | os.PathLike, *, n_examples: int = 5, example_layer: int | None = None
) -> list[Path]:
    """Write the study's outputs into ``out_dir``.

    Files: ``calign`` and ``colap`` (tidy tables, parquet + csv), ``clusterings`` (one row per
    clustering), ``concepts.tsv`` and ``concepts.json`` (per concept its words by language with counts),
    ``calign.png`` and ``colap.png`` (against layer), ``aligned_examples.md`` (example aligned concepts
    of ``example_layer``, default the last layer, side by side), ``aligned_examples.png`` (a few of
    them drawn, when some concept is aligned) and ``params.json``.
    """
    from crossling.concepts.plots import aligned_examples_markdown, plot_aligned_examples, plot_calign, plot_colap

    out = Path(out_dir)
    written: list[Path] = []
    written += write_table(study.calign, out, "calign")
    written += write_table(study.colap, out, "colap")
    written += write_table(study.clusterings, out, "clusterings")
    listing = concept_listing(study)
    with atomic_path(out / "concepts.tsv") as tmp:
        listing.to_csv(tmp, sep="\t", index=False)
    written.append(out / "concepts.tsv")
    written.append(atomic_write_text(out / "concepts.json", json.dumps(_listing_json(listing), ensure_ascii=False)))
    if len(study.calign):
        written.append(plot_calign(study.calign, out / "calign.png"))
    if len(study.colap):
        written.append(plot_colap(study.colap, out / "colap.png"))
    layer = study.params["layer_ids"][-1] if example_layer is None else example_layer
    text = aligned_examples_markdown(study, layer=layer, n_examples=n_examples)
    written.append(atomic_write_text(out / "aligned_examples.md", text))
    figure = plot_aligned_examples(study, out / "aligned_examples.png", layer=layer)
    if figure is not None:
        written.append(figure)
    else:  # no drawable aligned concept: a figure left by an earlier run in this folder must not stay
        (out / "aligned_examples.png").unlink(missing_ok=True)
    params = json.dumps(study.params, indent=2, ensure_ascii=False, default=str)
    written.append(atomic_write_text(out / "params.json", params))
    return written


def _listing_json(listing: pd.DataFrame) -> list[dict[str, Any]]:
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
