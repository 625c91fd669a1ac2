"""The texts the models learn from: read through a corpus spec, deduplicated, romanised, split and sampled.

:func:`read_texts` reads ``config.corpus`` with :func:`crossling.data.corpus.load_corpus`, each language on its
own (pre-training needs no translations), and keeps each sentence's text. :func:`prepare_corpus` removes exact
duplicates, optionally romanises (:func:`crossling.data.romanize.romanize_text`: segmented into words, each word
romanised, words separated by spaces, as the analysis romanises and feeds its words), holds out validation
texts per language and samples the rest across languages (:func:`crossling.data.sampling.sample_languages`).
Its record keeps, per language, the character counts of the training texts the models see (the
factorization's "distinct characters at 99.9%" is measured on them, as Zhao, Ziser and Cohen 2023 do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from crossling.data.records import Sentence
from crossling.data.romanize import CONVENTION, romanize_text
from crossling.data.sampling import sample_languages
from crossling.exceptions import ConfigError

if TYPE_CHECKING:
    from crossling.data.corpus import Corpus
    from crossling.models.pretrain.config import PretrainCorpusOptions

__all__ = ["PreparedCorpus", "corpus_texts", "prepare_corpus", "read_texts"]


def read_texts(config: PretrainCorpusOptions) -> tuple[Corpus, dict[str, list[str]]]:
    """Read the corpus of ``config`` and keep the text of every sentence (:func:`corpus_texts`).

    Each language is read on its own (``load_corpus(..., parallel=False)``): ``lohelp:`` keeps every
    translated paragraph of a language, not only those every language has, and a ``text:`` folder's
    ``LANG.txt`` files may differ in length. ``ud:`` reads the files of ``config.split`` (train by default).

    Parameters
    ----------
    config : PretrainCorpusOptions
        ``corpus``, ``languages``, ``split`` and ``limit``.

    Returns
    -------
    corpus : Corpus
        The sentences as read, per language in the order of ``config.languages`` (for the manifest's
        :func:`~crossling.data.corpus.corpus_record`), with what the reader left out (``skipped``).
    texts : dict of str to list of str
        Per language, the non-blank texts in the corpus's order.

    Raises
    ------
    CorpusSpecError
        For a spec that cannot be read or a language the corpus does not have.
    """
    from crossling.data.corpus import load_corpus

    corpus = load_corpus(config.corpus, config.languages, split=config.split, limit=config.limit, parallel=False,
                         lenient=config.lenient)
    corpus = corpus.select(config.languages)
    return corpus, corpus_texts(corpus)


def corpus_texts(corpus: Mapping[str, Sequence[Sentence]]) -> dict[str, list[str]]:
    """The text of each sentence, or its word forms joined by spaces when it has none; blank texts are left out.

    A LibreOffice Help paragraph's text is the paragraph, a text file's the line, a UD sentence's its
    ``# text`` comment (every UD treebank of the project's data has one for every sentence).

    Parameters
    ----------
    corpus : mapping of str to sequence of Sentence

    Returns
    -------
    dict of str to list of str
        Per language, in the corpus's order.
    """
    texts = {}
    for lang, sentences in corpus.items():
        candidates = (s.text if s.text is not None else " ".join(s.forms) for s in sentences)
        texts[lang] = [text for text in candidates if text.strip()]
    return texts


@dataclass
class PreparedCorpus:
    """Train and validation texts per language, with what was done to them.

    Attributes
    ----------
    train : dict of str to list of str
        What the models see (after sampling).
    validation : dict of str to list of str
        Held out from every model and disjoint from ``train`` as texts (duplicates are removed before the
        split).
    record : dict
        ``texts`` (read per language), ``duplicates_removed``, ``validation_texts``, ``romanized`` (the
        languages), ``romanization`` (:data:`crossling.data.romanize.CONVENTION`, when any language is
        romanised), ``sampling`` (:meth:`crossling.data.sampling.SampledCorpus.record`) and ``characters``
        (per language, of the training texts as sampled, repeats included: ``characters`` (non-whitespace
        occurrences), ``distinct``, ``coverage`` (0.999) and ``distinct_at_coverage``
        (:func:`crossling.data.languages.coverage_size`)).
    """

    train: dict[str, list[str]]
    validation: dict[str, list[str]]
    record: dict[str, Any]


_CHARACTER_COVERAGE = 0.999
"""Coverage of the distinct-character count recorded per language (Zhao, Ziser and Cohen 2023)."""


def _characters(texts: Sequence[str]) -> dict[str, Any]:
    from crossling.data.languages import count_characters, coverage_size

    counts = count_characters(texts)
    return {"characters": sum(counts.values()), "distinct": len(counts), "coverage": _CHARACTER_COVERAGE,
            "distinct_at_coverage": coverage_size(counts, coverage=_CHARACTER_COVERAGE) if counts else None}


def prepare_corpus(
    texts: Mapping[str, Sequence[str]],
    *,
    validation_items: int = 500,
    sampling: str = "equal",
    sample_size: int | None = None,
    alpha: float = 0.3,
    low_resource: Sequence[str] = (),
    low_resource_fraction: float = 0.1,
    romanize: Sequence[str] = (),
    seed: int = 0,
) -> PreparedCorpus:
    """Deduplicate, romanise, split off validation texts and sample the training texts.

    Whitespace runs become one space before duplicates are removed. Validation is split before sampling, so
    temperature upsampling never repeats a validation text into training and every model of an experiment is
    evaluated on the same held-out texts.

    Parameters
    ----------
    texts : mapping of str to sequence of str
        Texts per language.
    validation_items : int, default 500
        Held-out texts per language; a language needs at least twice as many distinct texts.
    sampling : {"equal", "temperature", "none"}, default "equal"
        See :func:`crossling.data.sampling.sample_languages`.
    sample_size : int, optional
        See :func:`crossling.data.sampling.sample_languages`.
    alpha : float, default 0.3
        Temperature sampling exponent.
    low_resource : sequence of str
        Languages cut to ``low_resource_fraction`` of their training texts.
    low_resource_fraction : float, default 0.1
    romanize : sequence of str
        Languages whose texts go through :func:`crossling.data.romanize.romanize_text`.
    seed : int, default 0
        Seed of the validation split (with each language's size) and of the sampling.

    Returns
    -------
    PreparedCorpus

    Raises
    ------
    ConfigError
        When a language has fewer than ``2 * validation_items`` distinct texts, or the sampling cannot be done
        (an ``equal`` sample size above the smallest language's training texts).
    """
    unique, removed = {}, {}
    for lang, items in texts.items():
        kept = list(dict.fromkeys(t for t in (" ".join(x.split()) for x in items) if t))
        if lang in romanize:
            kept = list(dict.fromkeys(romanize_text(t, lang) for t in kept))
        unique[lang], removed[lang] = kept, len(items) - len(kept)
        if len(kept) < 2 * validation_items:
            raise ConfigError(
                f"{lang}: {len(kept)} distinct texts, fewer than twice validation_items={validation_items}"
            )
    train, validation = {}, {}
    for lang, items in unique.items():
        perm = np.random.default_rng([seed, len(items), 1]).permutation(len(items))
        held = set(perm[:validation_items].tolist())
        validation[lang] = [t for i, t in enumerate(items) if i in held]
        train[lang] = [t for i, t in enumerate(items) if i not in held]
    try:
        sampled = sample_languages(
            train, strategy=sampling, size=sample_size, alpha=alpha, low_resource=low_resource,
            low_resource_fraction=low_resource_fraction, seed=seed,
        )
    except ValueError as error:  # a sample size the corpus cannot give, a low-resource language it lacks
        raise ConfigError(f"sampling: {error}") from None
    record = {
        "texts": {lang: len(items) for lang, items in texts.items()},
        "duplicates_removed": removed,
        "validation_texts": {lang: len(v) for lang, v in validation.items()},
        "romanized": list(romanize),
        **({"romanization": CONVENTION} if romanize else {}),
        "sampling": sampled.record(),
        "characters": {lang: _characters(items) for lang, items in sampled.items.items()},
    }
    return PreparedCorpus(train=sampled.items, validation=validation, record=record)
