"""The records every reader yields and every extraction consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Word", "MultiwordToken", "Sentence"]


@dataclass(slots=True)
class Word:
    """One syntactic word of a CoNLL-U sentence (a line with an integer ID).

    Not frozen: the frozen constructor was a third of the CoNLL-U reader's time. The columns are those of
    the CoNLL-U format (https://universaldependencies.org/format.html); a column left empty is ``"_"``.

    Attributes
    ----------
    id : int
        The ID column: the word's 1-based position in its sentence.
    form : str
        Word form or punctuation symbol, as written.
    lemma : str
        Lemma or stem (``"_"`` when not annotated).
    upos : str
        Universal part-of-speech tag (``NOUN``, ``VERB``, ...).
    xpos : str
        Language-specific part-of-speech tag.
    feats : dict of str to str
        The FEATS column parsed into feature -> value (``{"Case": "Nom", "Number": "Sing"}``); ``{}`` for ``_``.
        A multi-valued feature keeps its comma-separated value (``"Acc,Nom"``).
    head : int or None
        ID of the syntactic head, 0 for the root; None for ``_``.
    deprel : str
        Universal dependency relation to the head.
    deps : str
        Enhanced dependency graph, unparsed.
    misc : str
        Any other annotation (``SpaceAfter=No``, ...), unparsed.
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
    """A multiword-token range line (``3-4 du``): the surface form of syntactic words first..last.

    Attributes
    ----------
    first, last : int
        IDs of the first and last syntactic word the token spans (``first < last``, both inclusive).
    form : str
        The surface form of the token (``du`` for French ``de`` + ``le``).
    misc : str, default "_"
        The MISC column, unparsed.
    feats : dict of str to str, default {}
        The FEATS column: empty, or ``{"Typo": "Yes"}`` for a misspelt token (the only feature UD allows on
        a multiword token).
    """

    first: int
    last: int
    form: str
    misc: str = "_"
    feats: dict[str, str] = field(default_factory=dict)


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
