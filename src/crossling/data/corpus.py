"""Corpus specifications: one string names a corpus for every command.

=====================  ====================================================================================
``pud:DIR``            Parallel UD: ``DIR/<lang>_pud.conllu.gz`` for each language, aligned by ``sent_id``.
``ud:PATH``            UD CoNLL-U: a file, or a folder of treebanks (``<lang>_<code>-<split>.conllu[.gz]``);
                       ``split`` picks train/test/all files of each language in a folder.
``text:PATH``          Plain text, one segment per line: a file (one language), or a folder of ``<lang>.txt``
                       files aligned line by line (parallel).
``tsv:FILE``           One TSV whose header names the languages, one translation unit per row (XNLI 15-way).
``xnli:DIR[#COLUMN]``  One XNLI-style TSV per language (``*.<lang>.tsv``, a header, examples translated row by
                       row): the ``hypo`` column (hypotheses, as Del and Fishel 2022), or the one named.
``lohelp:``            LibreOffice Help, parallel paragraphs fetched from Debian's packages (needs apt); with
                       ``parallel=False`` every translated paragraph of each language.
=====================  ====================================================================================
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from crossling.data.records import Sentence
from crossling.exceptions import AlignmentError, CorpusSpecError, FileFormatError

__all__ = ["PARALLEL_SCHEMES", "SCHEMES", "Corpus", "check_parallel_spec", "corpus_checksum", "corpus_name",
           "corpus_record", "drop_blank", "load_corpus"]

SCHEMES = ("pud", "ud", "text", "lohelp", "tsv", "xnli")
#: Schemes whose languages are translations of each other, row by row.
PARALLEL_SCHEMES = ("pud", "text", "lohelp", "tsv", "xnli")


_NAMES = {"pud": "Parallel UD", "ud": "UD", "text": "text", "tsv": "parallel TSV", "xnli": "XNLI",
          "lohelp": "LibreOffice Help"}


class Corpus(dict):
    """Language -> sentences, as read, and what reading left out.

    A plain ``dict`` of sentence lists (every caller that indexes it by language keeps working) with one
    attribute more, ``skipped``: an entry ``{"what", "reason", "count", "language"}`` for every kind of unit a
    reader dropped (LibreOffice Help paragraphs left untranslated, or missing in another language of a
    parallel read; sentences without words or text), which a run copies into its manifest's ``skipped``.

    Parameters
    ----------
    sentences : mapping of str to list of Sentence, optional
    skipped : iterable of dict, optional

    Attributes
    ----------
    skipped : list of dict
        What was left out, by language and reason, with counts.
    """

    def __init__(self, sentences: Mapping[str, list[Sentence]] | None = None,
                 skipped: Sequence[Mapping[str, Any]] = ()):
        super().__init__(sentences or {})
        self.skipped: list[dict[str, Any]] = [dict(entry) for entry in skipped]

    def select(self, languages: Sequence[str]) -> Corpus:
        """These languages, in this order, with what was left out of them.

        Parameters
        ----------
        languages : sequence of str
            Languages of the corpus.

        Returns
        -------
        Corpus

        Raises
        ------
        KeyError
            For a language the corpus does not have.
        """
        return Corpus({lang: self[lang] for lang in languages},
                      [entry for entry in self.skipped if entry.get("language") in languages])


def corpus_name(spec: str) -> str:
    """A readable name of a corpus spec for titles.

    ``"lohelp:"`` -> "LibreOffice Help", ``"pud:/data/ud/pud"`` -> "Parallel UD (pud)",
    ``"text:corpora/wiki"`` -> "text (wiki)".

    Parameters
    ----------
    spec : str

    Returns
    -------
    str
    """
    scheme, _, location = spec.partition(":")
    name = _NAMES.get(scheme, scheme)
    location, _, column = location.partition("#")
    suffix = f", {column}" if column else ""
    return f"{name} ({Path(location).name}{suffix})" if location and scheme != "lohelp" else name


def check_parallel_spec(spec: str, study: str) -> None:
    """Refuse a corpus that cannot be parallel before any work is done.

    Parameters
    ----------
    spec : str
    study : str
        The study's name, for the message.

    Raises
    ------
    CorpusSpecError
        For a ``ud:`` spec (treebanks of different sentences) or a single ``text:`` file.
    """
    scheme, _, location = spec.partition(":")
    if scheme == "ud":
        raise CorpusSpecError(f"corpus {spec!r}: {study} compares translations, and UD treebanks are not parallel; "
                              "use pud:DIR, text:DIR (aligned LANG.txt files), tsv:FILE, xnli:DIR or lohelp:")
    if scheme == "text" and Path(location).is_file():
        raise CorpusSpecError(f"corpus {spec!r} is one file: {study} needs a folder of aligned LANG.txt files")


def load_corpus(spec: str, languages: Sequence[str] | None = None, *, split: str = "all",
                limit: int | None = None, parallel: bool = True, lenient: bool = False) -> dict[str, list[Sentence]]:
    """Read the corpus named by ``spec`` into sentences per language.

    Parameters
    ----------
    spec : str
        ``scheme:location`` (see the module docstring).
    languages : sequence of str, optional
        ISO 639-1 codes to keep; default every language the corpus has (``text:FILE`` needs exactly one).
    split : {"all", "train", "test", "dev"}, default "all"
        Which files of a UD treebank folder to read.
    limit : int, optional
        Keep the first ``limit`` sentences of each language (parallel corpora stay aligned).
    parallel : bool, default True
        False reads each language on its own, for a command that needs no translations (pre-training):
        ``lohelp:`` keeps every translated paragraph of each language rather than those all the languages
        share, and the ``LANG.txt`` files of a ``text:`` folder may differ in length. ``pud:`` is aligned and
        ``ud:`` unaligned either way.
    lenient : bool, default False
        Read the files leniently: repair what can be repaired without a guess (whitespace around CoNLL-U
        columns, text not in NFC, unsorted FEATS; see :mod:`crossling.data.conllu` and
        :mod:`crossling.data.textfile`), with a :class:`~crossling.exceptions.DataLossWarning` per file that
        counts the repairs. ``lohelp:`` builds its text itself and ignores it.

    Returns
    -------
    Corpus
        Language -> sentences, in the corpus's order (parallel corpora: aligned across languages), with
        ``skipped``: what the reader left out and why (LibreOffice Help: untranslated paragraphs, and those
        not in every language of a parallel read). Sentences past ``limit`` are not counted there: the
        manifest's corpus section records the limit.

    Raises
    ------
    CorpusSpecError
        For an unknown scheme, a location that does not exist, a language the corpus does not have, or a
        TSV without the column or languages asked for.
    FileFormatError
        For a file that breaks its format (``file:line: what is wrong``; a CoNLL-U file raises the subclass
        :class:`~crossling.exceptions.ConlluError`).
    AlignmentError
        When the files of a parallel corpus differ in length.
    """
    corpus = _read(spec, languages, split, parallel, lenient)
    skipped = corpus.skipped if isinstance(corpus, Corpus) else []
    if limit is not None:
        corpus = {lang: sentences[:limit] for lang, sentences in corpus.items()}
    return Corpus(corpus, skipped)


def _read(spec: str, languages: Sequence[str] | None, split: str, parallel: bool,
          lenient: bool) -> dict[str, list[Sentence]]:
    scheme, sep, location = spec.partition(":")
    if not sep or scheme not in SCHEMES:
        raise CorpusSpecError(f"corpus {spec!r}: expected one of {', '.join(s + ':...' for s in SCHEMES)}")
    if scheme == "lohelp":
        from crossling.data.lohelp import read_lohelp

        if not languages:
            raise CorpusSpecError("lohelp: name the languages (e.g. --languages en,de,fr)")
        return read_lohelp(list(languages), location or None, parallel=parallel)
    location, _, column = location.partition("#") if scheme == "xnli" else (location, "", "")
    path = Path(location)
    if not path.exists():
        raise CorpusSpecError(f"corpus {spec!r}: {path} does not exist")
    if scheme == "pud":
        from crossling.data.pud import pud_files, read_pud

        available = list(pud_files(path))
        absent = [lang for lang in languages or () if lang not in available]
        if absent:
            raise CorpusSpecError(f"corpus {spec!r} has no {', '.join(absent)}; it has {', '.join(available)}")
        return read_pud(path, languages, lenient=lenient)
    if scheme == "ud":
        return _read_ud(path, languages, split, lenient)
    if scheme in ("tsv", "xnli"):
        return _read_tsv(spec, scheme, path, languages, column or "hypo", lenient)
    return _read_text(path, languages, parallel, lenient)


def _read_tsv(spec: str, scheme: str, path: Path, languages: Sequence[str] | None,
              column: str, lenient: bool) -> dict[str, list[Sentence]]:
    from crossling.data.parallel import read_parallel_tsv, read_xnli

    try:
        if scheme == "xnli":
            return read_xnli(path, languages, column=column, lenient=lenient)
        corpus = read_parallel_tsv(path, lenient=lenient)
    except (AlignmentError, FileFormatError):
        raise
    except (FileNotFoundError, ValueError) as error:
        raise CorpusSpecError(f"corpus {spec!r}: {error}") from None
    absent = [lang for lang in languages or () if lang not in corpus]
    if absent:
        raise CorpusSpecError(f"corpus {spec!r} has no {', '.join(absent)}; it has {', '.join(corpus)}")
    return {lang: corpus[lang] for lang in languages} if languages else corpus


def drop_blank(corpus: Corpus, *, aligned: bool) -> Corpus:
    """The corpus without its blank sentences (no words and no text but whitespace), each counted.

    A blank line of a text file is kept by the reader as a sentence without words, so that line k stays
    line k in every language; a command that needs a vector per sentence cannot embed it.

    Parameters
    ----------
    corpus : Corpus
    aligned : bool
        True for a parallel corpus read by position: a unit blank in any language is dropped from every
        language, so the lists stay aligned. False: each language loses only its own blank sentences.

    Returns
    -------
    Corpus
        The same languages, with one ``skipped`` entry more per language that lost sentences
        (``what="sentence"``).
    """
    def blank(sentence: Sentence) -> bool:
        return not sentence.words and not (sentence.text or "").strip()

    skipped = list(corpus.skipped)
    if aligned:
        gone = {k for sentences in corpus.values() for k, s in enumerate(sentences) if blank(s)}
        kept = {lang: [s for k, s in enumerate(sentences) if k not in gone] for lang, sentences in corpus.items()}
        reason = "blank, or its translation is: a parallel unit is dropped from every language"
    else:
        kept = {lang: [s for s in sentences if not blank(s)] for lang, sentences in corpus.items()}
        reason = "blank: no words and no text"
    skipped += [{"what": "sentence", "reason": reason, "language": lang, "count": len(corpus[lang]) - len(kept[lang])}
                for lang in corpus if len(kept[lang]) < len(corpus[lang])]
    return Corpus(kept, skipped)


def corpus_checksum(sentences: Sequence[Sentence]) -> str:
    """sha256 over what extraction reads of each sentence: language, id, text and word forms.

    Parameters
    ----------
    sentences : sequence of Sentence

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    for s in sentences:
        digest.update(json.dumps([s.lang, s.sent_id, s.text, s.forms], ensure_ascii=False).encode())
    return digest.hexdigest()


def corpus_record(spec: str, corpus: Mapping[str, Sequence[Sentence]], *, split: str = "all",
                  limit: int | None = None) -> dict[str, Any]:
    """The provenance of a corpus as read: spec, name, split, limit, and per language its size and checksum.

    Parameters
    ----------
    spec : str
    corpus : mapping of language to sentences
    split : str, default "all"
    limit : int, optional

    Returns
    -------
    dict
        The ``corpus`` section of a manifest.
    """
    return {
        "spec": spec, "name": corpus_name(spec), "split": split, "limit": limit, "languages": list(corpus),
        "sentences": {lang: len(sentences) for lang, sentences in corpus.items()},
        "words": {lang: sum(len(s.words) for s in sentences) for lang, sentences in corpus.items()},
        "checksums": {lang: corpus_checksum(sentences) for lang, sentences in corpus.items()},
    }


def _read_ud(path: Path, languages: Sequence[str] | None, split: str, lenient: bool) -> dict[str, list[Sentence]]:
    from crossling.data.conllu import infer_lang, read_conllu

    if path.is_file():
        files = [path]
    else:
        pattern = "*.conllu*" if split == "all" else f"*-{split}.conllu*"
        files = sorted(p for p in path.glob(pattern) if p.name.endswith((".conllu", ".conllu.gz")))
    by_lang: dict[str, list[Sentence]] = {}
    for file in files:
        lang = infer_lang(file)
        if languages and lang not in languages:
            continue
        by_lang.setdefault(lang, []).extend(read_conllu(file, lang=lang, lenient=lenient))
    missing = sorted(set(languages or ()) - set(by_lang))
    if missing:
        raise CorpusSpecError(f"ud:{path}: no {split} CoNLL-U files for {', '.join(missing)}")
    return by_lang


def _read_text(path: Path, languages: Sequence[str] | None, parallel: bool,
               lenient: bool) -> dict[str, list[Sentence]]:
    from crossling.data.parallel import read_parallel

    if path.is_file():
        if not languages or len(languages) != 1:
            raise CorpusSpecError(f"text:{path} is one file: name its one language with --languages")
        return read_parallel({languages[0]: path}, lenient=lenient)
    files = {p.stem: p for p in sorted(path.glob("*.txt"))}
    if languages:
        missing = sorted(set(languages) - set(files))
        if missing:
            raise CorpusSpecError(f"text:{path}: no {', '.join(m + '.txt' for m in missing)}")
        files = {lang: files[lang] for lang in languages}
    if not files:
        raise CorpusSpecError(f"text:{path}: no <lang>.txt files")
    if not parallel:
        return {lang: read_parallel({lang: file}, lenient=lenient)[lang] for lang, file in files.items()}
    return read_parallel(files, lenient=lenient)
