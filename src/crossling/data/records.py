"""The records every reader yields and every extraction consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Word", "MultiwordToken", "Sentence"]


@dataclass(slots=True)
class Word:
    """One syntactic word of a CoNLL-U sentence (a line with an integer ID).

    Not frozen: the frozen constructor was a third of the CoNLL-U reader's time.

    ``feats`` is the FEATS column parsed into a dict (``{}`` for ``_``); ``head`` is None for ``_``.
    """

    id: int
    form: str
    lemma: str
    upos: str
    xpos: str
    feats: dict[str, str]
    head: int | None
    deprel: str
    deps: str
    misc: str


@dataclass(frozen=True, slots=True)
class MultiwordToken:
    """A multiword-token range line (``3-4 du``): the surface form of syntactic words first..last."""

    first: int
    last: int
    form: str
    misc: str = "_"


@dataclass(slots=True)
class Sentence:
    """A sentence as the analyses see it.

    Attributes
    ----------
    lang : str
        ISO 639-1 code of the language.
    sent_id : str
        Identifier (``# sent_id``), unique within a corpus; parallel corpora align on it.
    words : list of Word
        The syntactic words, in order. Empty nodes (``5.1``) are not words and are not kept here.
    text : str or None
        The sentence text (``# text``), if known.
    comments : dict
        All ``# key = value`` comments (a bare ``# comment`` maps to "").
    multiword : list of MultiwordToken
        Surface forms of multiword-token ranges.
    source : str
        Where the sentence came from (file name), for error messages and provenance.
    line : int
        Line number of the sentence's first line in ``source`` (1-based), 0 when not from a file.
    """

    lang: str
    sent_id: str
    words: list[Word]
    text: str | None = None
    comments: dict[str, str] = field(default_factory=dict)
    multiword: list[MultiwordToken] = field(default_factory=list)
    source: str = ""
    line: int = 0

    @property
    def forms(self) -> list[str]:
        """The word forms, in order (the pre-tokenised input of word-level extraction)."""
        return [w.form for w in self.words]

    def __len__(self) -> int:
        return len(self.words)
