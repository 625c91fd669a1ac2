"""Corpus readers and language data: CoNLL-U / PUD / parallel text, UD -> UniMorph categories, language metadata.

Every reader yields :class:`~crossling.data.records.Sentence` records; see each module for its format rules.
"""

from crossling.data.conllu import ConlluCounts, count_conllu, infer_lang, read_conllu
from crossling.data.languages import (
    DIVERSE_SET,
    GERMANIC,
    LOW_RESOURCE_SET,
    RELATED_SETS,
    ROMANCE,
    SLAVIC,
    DataSize,
    char_counts,
    char_coverage,
    count_characters,
    coverage_size,
    data_size,
    language_properties,
    language_table,
    type_token_ratio,
)
from crossling.data.parallel import read_parallel, read_parallel_tsv, read_xnli, whitespace_sentence
from crossling.data.pud import pud_files, pud_languages, read_pud
from crossling.data.records import MultiwordToken, Sentence, Word
from crossling.data.segment import segment_words
from crossling.data.unimorph import (
    UD_TO_UNIMORPH,
    UNIMORPH_CATEGORIES,
    UPOS_TO_UNIMORPH,
    CategoryIndex,
    CategoryWords,
    unimorph_features,
    words_by_category,
)

__all__ = [
    "CategoryIndex",
    "CategoryWords",
    "ConlluCounts",
    "DIVERSE_SET",
    "DataSize",
    "GERMANIC",
    "LOW_RESOURCE_SET",
    "MultiwordToken",
    "RELATED_SETS",
    "ROMANCE",
    "SLAVIC",
    "Sentence",
    "UD_TO_UNIMORPH",
    "UNIMORPH_CATEGORIES",
    "UPOS_TO_UNIMORPH",
    "Word",
    "char_counts",
    "char_coverage",
    "count_characters",
    "count_conllu",
    "coverage_size",
    "data_size",
    "infer_lang",
    "language_properties",
    "language_table",
    "pud_files",
    "pud_languages",
    "read_conllu",
    "read_parallel",
    "read_parallel_tsv",
    "read_xnli",
    "read_pud",
    "segment_words",
    "type_token_ratio",
    "unimorph_features",
    "whitespace_sentence",
    "words_by_category",
]
