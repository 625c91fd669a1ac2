"""What the models' pre-training records say, for the factorization run: data, losses and romanisation.

A model folder made by ``crossling pretrain`` holds a ``training_record.json``
(:mod:`crossling.models.pretrain.trainer`) with its held-out loss and the unigram baseline's per language and,
under ``experiment.corpus``, the preparation record of its texts (:mod:`crossling.models.pretrain.corpus`):
the character counts of the training texts and how they were romanised. The run reads it to

- measure "distinct characters at 99.9%" on the pre-training data, as Zhao, Ziser and Cohen (2023) do
  (:func:`pretraining_characters`; a folder without the record, e.g. a hub model, falls back to the corpus);
- say when a model did not beat its unigram baseline (:func:`model_caveats`): its signatures then describe a
  model that has not learnt the language, and the report says so;
- check that pre-training and analysis romanised the same languages the same way (:func:`romanization_caveats`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossling.data.romanize import CONVENTION

__all__ = ["model_caveats", "pretraining_characters", "read_training_record", "romanization_caveats"]


def read_training_record(model: str | Path) -> dict[str, Any] | None:
    """The ``training_record.json`` of a model folder, or None (a hub id, or a folder without one).

    Parameters
    ----------
    model : str or path
        The model as given to the run (a folder or a hub id).

    Returns
    -------
    dict or None
    """
    path = Path(model) / "training_record.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pretraining_characters(record: Mapping[str, Any] | None, languages: Sequence[str]) -> dict[str, int]:
    """Distinct characters covering 99.9% of each language's pre-training text, where the record has them.

    Parameters
    ----------
    record : mapping or None
        A training record (:func:`read_training_record`).
    languages : sequence of str

    Returns
    -------
    dict of str to int
        Language -> the count ``experiment.corpus.characters[lang].distinct_at_coverage``; languages the record
        does not cover (or no record, or one written before records kept character counts) are absent.
    """
    corpus = ((record or {}).get("experiment") or {}).get("corpus") or {}
    characters = corpus.get("characters") or {}
    return {lang: int(characters[lang]["distinct_at_coverage"]) for lang in languages
            if characters.get(lang, {}).get("distinct_at_coverage") is not None}


def model_caveats(records: Mapping[str, Mapping[str, Any] | None], languages: Mapping[str, Sequence[str]]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Held-out loss against the unigram baseline of each model with a record; a caveat for each that lost.

    Parameters
    ----------
    records : mapping of str to (mapping or None)
        Model role (e.g. ``"experimental"``, ``"control/de"``) -> its training record.
    languages : mapping of str to sequence of str
        Model role -> the analysed languages it reads.

    Returns
    -------
    table : list of dict
        One row per (model, language) with a record: ``model``, ``language``, ``val_loss``, ``unigram_loss``
        (nats), ``below_unigram`` (unigram minus model loss: positive when the model beats the baseline).
    caveats : list of str
        One sentence per model that did not beat its unigram baseline on some language, naming them.
    """
    rows, caveats = [], []
    for role, record in records.items():
        if record is None:
            continue
        lost = []
        for lang in languages[role]:
            if lang not in record.get("val_loss", {}):
                continue
            val, unigram = float(record["val_loss"][lang]), float(record["unigram_loss"][lang])
            rows.append({"model": role, "language": lang, "val_loss": val, "unigram_loss": unigram,
                         "below_unigram": unigram - val})
            if val >= unigram:
                lost.append(f"{lang} ({val:.2f} against {unigram:.2f} nats)")
        if lost:
            caveats.append(f"The {role} model did not beat its unigram baseline on held-out text for "
                           f"{', '.join(lost)}: it has not learnt more than word frequencies there, so its "
                           "signatures describe an undertrained model; read them with care.")
    return rows, caveats


def romanization_caveats(record: Mapping[str, Any] | None, romanize: Sequence[str],
                         languages: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Compare how the experimental model's pre-training text and the analysis romanised each language.

    Parameters
    ----------
    record : mapping or None
        The experimental model's training record.
    romanize : sequence of str
        The languages the analysis romanises.
    languages : sequence of str
        The analysed languages.

    Returns
    -------
    summary : dict
        ``analysis`` (languages), ``convention`` (:data:`crossling.data.romanize.CONVENTION` when any),
        ``pretraining`` (languages romanised in pre-training, None without a record) and
        ``pretraining_convention`` (the record's, None when it predates the convention's record).
    caveats : list of str
        One sentence per mismatch: a language romanised on one side only, or a pre-training text romanised
        without a recorded convention (syllables of a sentence joined with no space, so the analysis's words
        are text the model never saw).
    """
    corpus = ((record or {}).get("experiment") or {}).get("corpus")
    summary: dict[str, Any] = {"analysis": list(romanize), "convention": CONVENTION if romanize else None,
                               "pretraining": None, "pretraining_convention": None}
    if corpus is None:
        return summary, []
    pretrained = [lang for lang in corpus.get("romanized", []) if lang in languages]
    summary.update(pretraining=pretrained, pretraining_convention=corpus.get("romanization"))
    caveats = []
    one_side = sorted(set(pretrained) ^ set(romanize))
    if one_side:
        caveats.append(f"Romanisation differs between pre-training ({pretrained or 'none'}) and analysis "
                       f"({list(romanize) or 'none'}) for {one_side}: the model reads a script it was not trained on.")
    if pretrained and corpus.get("romanization") != CONVENTION:
        caveats.append(f"The pre-training text of {pretrained} was romanised without the recorded convention (a "
                       "sentence's syllables joined without spaces), the analysis romanises word by word with spaces: "
                       "the model never saw the analysed words' boundaries; pre-train again for a like-for-like "
                       "comparison.")
    return summary, caveats
