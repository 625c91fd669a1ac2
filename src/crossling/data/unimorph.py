"""UD features -> the 17 UniMorph categories of the joint-factorization study.

Zhao, Ziser and Cohen (2023), "A Joint Matrix Factorization Analysis of Multilingual Representations", probe
17 UniMorph dimensions (Sylak-Glassman 2016), reached from UD annotation through the conversion of McCarthy
et al. (2018), "Marrying Universal Dependencies and Universal Morphology" (github.com/unimorph/ud-compatibility,
file UD_UM/UD-UniMorph.tsv). :data:`UD_TO_UNIMORPH` below is that conversion table restricted to the rows
whose UniMorph value falls in one of the 17 dimensions, with the dimension of each value written out (the
conversion produces a flat tag bundle; the dimension is the UniMorph schema's).

Decisions, all following the conversion unless said otherwise:

- Part of Speech comes from UPOS alone (:data:`UPOS_TO_UNIMORPH`; PUNCT, SYM and X have no UniMorph POS).
  The conversion also emits POS values from VerbForm (Part -> V.PTCP, Conv/Gdv/Sup -> V.CVB, Ger/Vnoun ->
  V.MSDR); these are not used, so that each word has one POS label.
- Only VerbForm=Fin (FIN) and VerbForm=Inf (NFIN) give Finiteness.
- Tense=Pqp is PST+PRF in the conversion: here Tense=PST and Aspect=PRF. Tense=Imp is IPFV, an Aspect value.
- Case=Add is IN+ALL;LGSPEC1 in the conversion: Case=IN+ALL here (LGSPEC is not one of the 17).
- Voice=Rcp (RECP), Voice=Cau (CAUS) and Reflex=Yes (REFL) are Valency values in the UniMorph schema.
- Possession: Definite=Cons -> PSSD; possessor features give PSS + person + number, as the conversion builds
  them (Person[psor]=1|Number[psor]=Sing -> PSS1S; Gender[psor] does not enter the tag).
- A multi-valued UD feature (Case=Acc,Nom) becomes the UniMorph disjunction ``{ACC/NOM}`` (values in UD
  order, unmapped ones left out); when several features give values in one dimension for the same word,
  the value is their sorted ``;``-joined set (e.g. Aspect ``PFV;PRF``).
- UD values the conversion leaves without a UniMorph counterpart (Case=Del/Lat/Tem/Ter/Cau, Degree=Pos,
  Definite=Com, Mood=Des/Nec, Number=Coll/Count/Ptan, Poss=Yes, ...) and features outside the 17 dimensions
  (PronType, NumType, Evident, layered argument features, ...) carry no category. The language-specific
  ("clever") rules of the conversion are not applied: they tune the bundles to UniMorph's type-level
  lexicons, not the categories.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from crossling.data.records import Sentence
from crossling.exceptions import CategorySkippedWarning

__all__ = [
    "UNIMORPH_CATEGORIES",
    "UD_TO_UNIMORPH",
    "UPOS_TO_UNIMORPH",
    "CategoryIndex",
    "CategoryWords",
    "unimorph_features",
    "words_by_category",
]

UNIMORPH_CATEGORIES: tuple[str, ...] = (
    "Animacy", "Aspect", "Case", "Comparison", "Definiteness", "Finiteness", "Gender", "Mood", "Number",
    "Part of Speech", "Person", "Polarity", "Politeness", "Possession", "Tense", "Valency", "Voice",
)  # fmt: skip
"""The 17 categories of Zhao, Ziser and Cohen (2023), in their (alphabetical) order."""

_TABLE = """
UD feature=value   UniMorph dimension   UniMorph value
Animacy=Anim       Animacy              ANIM
Animacy=Hum        Animacy              HUM
Animacy=Inan       Animacy              INAN
Animacy=Nhum       Animacy              NHUM
Aspect=Hab         Aspect               HAB
Aspect=Imp         Aspect               IPFV
Aspect=Iter        Aspect               ITER
Aspect=Perf        Aspect               PFV
Aspect=Prog        Aspect               PROG
Aspect=Prosp       Aspect               PROSP
Tense=Imp          Aspect               IPFV
Tense=Pqp          Aspect               PRF
Case=Nom           Case                 NOM
Case=Acc           Case                 ACC
Case=Abs           Case                 ABS
Case=Erg           Case                 ERG
Case=Dat           Case                 DAT
Case=Gen           Case                 GEN
Case=Voc           Case                 VOC
Case=Loc           Case                 ESS
Case=Par           Case                 PRT
Case=Dis           Case                 DIST
Case=Ess           Case                 FRML
Case=Tra           Case                 TRANS
Case=Com           Case                 COM
Case=Abe           Case                 PRIV
Case=Ine           Case                 IN+ESS
Case=Ill           Case                 IN+ALL
Case=Ela           Case                 IN+ABL
Case=Add           Case                 IN+ALL
Case=All           Case                 AT+ALL
Case=Abl           Case                 AT+ABL
Case=Ade           Case                 AT+ESS
Case=Sup           Case                 ON+ESS
Case=Sub           Case                 ON+ALL
Case=Ben           Case                 BEN
Case=Cmp           Case                 COMPV
Case=Equ           Case                 EQTV
Case=Ins           Case                 INST
Degree=Abs         Comparison           AB
Degree=Cmp         Comparison           CMPR
Degree=Equ         Comparison           EQT
Degree=Sup         Comparison           SPRL
Definite=Ind       Definiteness         INDF
Definite=Spec      Definiteness         SPEC
Definite=Def       Definiteness         DEF
VerbForm=Fin       Finiteness           FIN
VerbForm=Inf       Finiteness           NFIN
Gender=Masc        Gender               MASC
Gender=Fem         Gender               FEM
Gender=Neut        Gender               NEUT
Gender=Com         Gender               MASC+FEM
Mood=Ind           Mood                 IND
Mood=Imp           Mood                 IMP
Mood=Cnd           Mood                 COND
Mood=Pot           Mood                 POT
Mood=Sub           Mood                 SBJV
Mood=Jus           Mood                 IMP
Mood=Prp           Mood                 PURP
Mood=Qot           Mood                 QUOT
Mood=Opt           Mood                 OPT
Mood=Adm           Mood                 ADM
Number=Sing        Number               SG
Number=Plur        Number               PL
Number=Dual        Number               DU
Number=Tri         Number               TRI
Number=Pauc        Number               PAUC
Number=Grpa        Number               GRPA
Number=Grpl        Number               GRPL
Number=Inv         Number               INVN
Person=0           Person               0
Person=1           Person               1
Person=2           Person               2
Person=3           Person               3
Person=4           Person               4
Polarity=Pos       Polarity             POS
Polarity=Neg       Polarity             NEG
Polite=Elev        Politeness           ELEV
Polite=Form        Politeness           FORM
Polite=Humb        Politeness           HUMB
Polite=Infm        Politeness           INFM
Definite=Cons      Possession           PSSD
Tense=Fut          Tense                FUT
Tense=Past         Tense                PST
Tense=Pres         Tense                PRS
Tense=Pqp          Tense                PST
Voice=Rcp          Valency              RECP
Voice=Cau          Valency              CAUS
Reflex=Yes         Valency              REFL
Voice=Act          Voice                ACT
Voice=Mid          Voice                MID
Voice=Pass         Voice                PASS
Voice=Antip        Voice                ANTIP
Voice=Dir          Voice                DIR
Voice=Inv          Voice                INV
"""


def _parse_table(table: str) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    mapping: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for row in table.strip().splitlines()[1:]:
        ud, dimension, value = row.split()
        feature, _, ud_value = ud.partition("=")
        mapping[feature, ud_value] = (*mapping.get((feature, ud_value), ()), (dimension, value))
    return mapping


UD_TO_UNIMORPH: dict[tuple[str, str], tuple[tuple[str, str], ...]] = _parse_table(_TABLE)
"""(UD feature, UD value) -> ((UniMorph dimension, UniMorph value), ...); see the module docstring."""

UPOS_TO_UNIMORPH: dict[str, str] = {
    "ADJ": "ADJ", "ADP": "ADP", "ADV": "ADV", "AUX": "V", "CCONJ": "CONJ", "DET": "DET", "INTJ": "INTJ",
    "NOUN": "N", "NUM": "NUM", "PART": "PART", "PRON": "PRO", "PROPN": "PROPN", "SCONJ": "CONJ", "VERB": "V",
}  # fmt: skip
"""UPOS -> UniMorph Part of Speech (McCarthy et al. 2018); PUNCT, SYM and X have none."""

_PSOR_PERSON = {"1": "1", "2": "2", "3": "3"}
_PSOR_NUMBER = {"Sing": "S", "Plur": "P", "Dual": "D"}


def unimorph_features(upos: str, feats: Mapping[str, str]) -> dict[str, str]:
    """The UniMorph categories one word carries, and their values.

    Parameters
    ----------
    upos : str
        The word's UPOS tag.
    feats : mapping of str to str
        Its UD FEATS (``Word.feats``).

    Returns
    -------
    dict of str to str
        Category (one of :data:`UNIMORPH_CATEGORIES`) -> UniMorph value, for the categories the word has.

    Examples
    --------
    >>> unimorph_features("AUX", {"Mood": "Ind", "Number": "Sing", "Person": "3", "Tense": "Pres", "VerbForm": "Fin"})
    {'Finiteness': 'FIN', 'Mood': 'IND', 'Number': 'SG', 'Part of Speech': 'V', 'Person': '3', 'Tense': 'PRS'}
    """
    return dict(_convert(upos, tuple(feats.items())))


@lru_cache(maxsize=1 << 16)
def _convert(upos: str, feats: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    values: dict[str, list[str]] = {}
    if upos in UPOS_TO_UNIMORPH:
        values["Part of Speech"] = [UPOS_TO_UNIMORPH[upos]]
    possessor: dict[str, str] = {}
    for feature, value in feats:
        if feature in ("Person[psor]", "Number[psor]", "Gender[psor]"):
            possessor[feature] = value
            continue
        per_dimension: dict[str, list[str]] = {}
        for part in value.split(","):
            for dimension, um in UD_TO_UNIMORPH.get((feature, part), ()):
                per_dimension.setdefault(dimension, []).append(um)
        for dimension, ums in per_dimension.items():
            values.setdefault(dimension, []).append(ums[0] if len(ums) == 1 else "{" + "/".join(ums) + "}")
    if possessor:
        person = _disjunction(possessor.get("Person[psor]"), _PSOR_PERSON)
        number = _disjunction(possessor.get("Number[psor]"), _PSOR_NUMBER)
        values.setdefault("Possession", []).append(f"PSS{person}{number}")
    return tuple(sorted((dim, ";".join(sorted(set(v)))) for dim, v in values.items()))


def _disjunction(value: str | None, codes: Mapping[str, str]) -> str:
    """A possessor feature's letter(s) inside a PSS tag: ``Sing`` -> ``S``, ``Plur,Sing`` -> ``{P/S}``."""
    if value is None:
        return ""
    letters = [codes[v] for v in value.split(",") if v in codes]
    if len(letters) < 2:
        return "".join(letters)
    return "{" + "/".join(letters) + "}"


@dataclass(frozen=True)
class CategoryIndex:
    """The words of a corpus that carry one category.

    The n words are in corpus order (by sentence, then by word); the arrays are aligned.

    Attributes
    ----------
    category : str
        The UniMorph category, one of :data:`UNIMORPH_CATEGORIES`.
    sentence_index : ndarray of int64, shape (n,)
        Position of the word's sentence in the input sequence.
    word_index : ndarray of int64, shape (n,)
        0-based position of the word in ``Sentence.words`` (its CoNLL-U ID minus 1).
    values : ndarray of str, shape (n,)
        The word's UniMorph value in this category (``"NOM"``, a disjunction ``"{ACC/NOM}"``, or several
        values joined by ``;``, see the module docstring).
    """

    category: str
    sentence_index: np.ndarray
    word_index: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def value_counts(self) -> dict[str, int]:
        """Number of words per value, most frequent first (ties by value).

        Returns
        -------
        dict of str to int
            UniMorph value -> number of words carrying it; the counts sum to ``len(self)``.
        """
        uniques, counts = np.unique(self.values, return_counts=True)
        return dict(sorted(zip(uniques.tolist(), counts.tolist()), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class CategoryWords:
    """Per category, the words that carry it, for one language; categories with too few words are skipped.

    Attributes
    ----------
    lang : str
        The language code of the sentences ("" when there were none).
    categories : dict of str to CategoryIndex
        The kept categories, in :data:`UNIMORPH_CATEGORIES` order.
    skipped : dict of str to str
        Category -> why it was left out (its word count against ``min_words``).
    min_words : int, default 100
        The fewest words a category needed to be kept.
    n_sentences, n_words : int
        Size of the input: sentences and syntactic words (including those that carry no category).
    """

    lang: str
    categories: dict[str, CategoryIndex]
    skipped: dict[str, str] = field(default_factory=dict)
    min_words: int = 100
    n_sentences: int = 0
    n_words: int = 0

    def __getitem__(self, category: str) -> CategoryIndex:
        return self.categories[category]

    def __contains__(self, category: object) -> bool:
        return category in self.categories


def words_by_category(sentences: Iterable[Sentence], *, min_words: int = 100) -> CategoryWords:
    """Index, per UniMorph category, the words of one language's sentences that carry it.

    Parameters
    ----------
    sentences : iterable of Sentence
        One language's corpus (e.g. a UD treebank).
    min_words : int, default 100
        A category carried by fewer words is skipped, as in Zhao, Ziser and Cohen (2023): it is left out of
        ``categories``, its reason is recorded in ``skipped`` and one :class:`CategorySkippedWarning` names
        every skipped category with its count.

    Returns
    -------
    CategoryWords
        The language, the index of each kept category, the skipped ones with their reason and the input size.

    Raises
    ------
    ValueError
        If the sentences are of more than one language or ``min_words`` < 1.

    Warns
    -----
    CategorySkippedWarning
        Once, naming every category with fewer than ``min_words`` words and its count.
    """
    if min_words < 1:
        raise ValueError(f"min_words must be at least 1, got {min_words}")
    hits: dict[str, tuple[list[int], list[int], list[str]]] = {c: ([], [], []) for c in UNIMORPH_CATEGORIES}
    langs: set[str] = set()
    n_sentences = n_words = 0
    for s_index, sentence in enumerate(sentences):
        langs.add(sentence.lang)
        n_sentences += 1
        n_words += len(sentence.words)
        for w_index, word in enumerate(sentence.words):
            for category, value in _convert(word.upos, tuple(word.feats.items())):
                s_list, w_list, v_list = hits[category]
                s_list.append(s_index)
                w_list.append(w_index)
                v_list.append(value)
    if len(langs) > 1:
        raise ValueError(f"words_by_category takes one language at a time, got {sorted(langs)}")
    lang = langs.pop() if langs else ""
    kept: dict[str, CategoryIndex] = {}
    skipped: dict[str, str] = {}
    for category, (s_list, w_list, v_list) in hits.items():
        if len(v_list) < min_words:
            skipped[category] = f"{len(v_list)} words carry it, fewer than min_words={min_words}"
            continue
        kept[category] = CategoryIndex(
            category, np.asarray(s_list, dtype=np.int64), np.asarray(w_list, dtype=np.int64), np.asarray(v_list)
        )
    if skipped:
        detail = ", ".join(f"{c} ({len(hits[c][2])})" for c in skipped)
        warnings.warn(
            f"language {lang!r}: {len(skipped)} categories have fewer than {min_words} words and are skipped: {detail}",
            CategorySkippedWarning,
            stacklevel=2,
        )
    return CategoryWords(lang, kept, skipped, min_words, n_sentences, n_words)
