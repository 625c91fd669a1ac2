"""Parallel Universal Dependencies (PUD): the same 1000 sentences annotated in every language.

PUD sentences are aligned by ``# sent_id``, never by position: files may list the ids in different orders
(Icelandic does), and a file missing a sentence would silently shift every later pair. The files are read by
:func:`~crossling.data.conllu.read_conllu`, strictly unless ``lenient=True`` (see :mod:`crossling.data.conllu`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from crossling.data.conllu import read_conllu
from crossling.data.records import Sentence
from crossling.exceptions import AlignmentError

__all__ = ["pud_languages", "pud_files", "read_pud"]

_PUD_FILE = re.compile(r"([a-z]{2,3})_pud\.conllu(\.gz)?")
_REFERENCE = "en"


def pud_files(pud_dir: str | os.PathLike) -> dict[str, Path]:
    """Language code -> PUD file (``<iso>_pud.conllu`` or ``<iso>_pud.conllu.gz``) in ``pud_dir``, sorted by code.

    Other files in the folder are ignored; the files are not opened.

    Parameters
    ----------
    pud_dir : path-like
        Folder of PUD treebank files (not searched recursively).

    Returns
    -------
    dict of str to Path
        ISO code (2-3 lower-case letters) -> its file, sorted by code; empty when the folder has none.

    Raises
    ------
    FileNotFoundError
        If ``pud_dir`` is not a folder.
    ValueError
        If a language has both a plain and a compressed file (which one is meant would be a guess).
    """
    pud_dir = Path(pud_dir)
    if not pud_dir.is_dir():
        raise FileNotFoundError(f"PUD folder {pud_dir} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(pud_dir.iterdir()):
        match = _PUD_FILE.fullmatch(path.name)
        if match is None:
            continue
        lang = match.group(1)
        if lang in found:
            raise ValueError(f"{pud_dir}: two PUD files for {lang!r}: {found[lang].name} and {path.name}")
        found[lang] = path
    return dict(sorted(found.items()))


def pud_languages(pud_dir: str | os.PathLike) -> list[str]:
    """The language codes that have a PUD file in ``pud_dir``, sorted.

    Parameters
    ----------
    pud_dir : path-like
        Folder of PUD treebank files.

    Returns
    -------
    list of str
        The codes of :func:`pud_files`, sorted.

    Raises
    ------
    FileNotFoundError
        If ``pud_dir`` is not a folder.
    ValueError
        If a language has both a plain and a compressed file.
    """
    return list(pud_files(pud_dir))


def read_pud(
    pud_dir: str | os.PathLike, languages: Sequence[str] | None = None, *, lenient: bool = False
) -> dict[str, list[Sentence]]:
    """Read PUD treebanks and align their sentences by ``sent_id``.

    Parameters
    ----------
    pud_dir : path-like
        Folder of ``<iso>_pud.conllu[.gz]`` files.
    languages : sequence of str, optional
        Languages to read, in the order of the result. Default: every language in ``pud_dir``, sorted.
    lenient : bool, default False
        Read the files leniently (:func:`~crossling.data.conllu.read_conllu`: whitespace, NFC and FEATS order
        repaired and counted in a warning instead of raising).

    Returns
    -------
    dict of str to list of Sentence
        For every language, its sentences in the reference order: English's file order when English is
        among ``languages``, otherwise the first language's. Sentence ``k`` of every language has the same
        ``sent_id``.

    Raises
    ------
    FileNotFoundError
        If ``pud_dir`` is not a folder, or a requested language has no PUD file (the message lists the
        available ones).
    AlignmentError
        If the languages do not share exactly the reference's sent_ids; the message names every language
        that misses ids or has extra ones, with the counts and a few examples.
    ValueError
        If ``languages`` is empty or repeats a language, or a language has both a plain and a compressed file.
    ConlluError
        If a file is malformed (see :func:`~crossling.data.conllu.read_conllu`), including a ``sent_id`` repeated
        within a file.
    """
    files = pud_files(pud_dir)
    languages = list(files) if languages is None else list(languages)
    if not languages or len(set(languages)) != len(languages):
        raise ValueError(f"languages must be non-empty and distinct, got {languages}")
    absent = [lang for lang in languages if lang not in files]
    if absent:
        raise FileNotFoundError(f"no PUD file in {pud_dir} for {absent}; available: {list(files)}")
    by_id = {lang: {s.sent_id: s for s in read_conllu(files[lang], lang=lang, lenient=lenient)} for lang in languages}
    reference = _REFERENCE if _REFERENCE in languages else languages[0]
    order = list(by_id[reference])
    problems = []
    for lang in languages:
        missing = [i for i in order if i not in by_id[lang]]
        extra = [i for i in by_id[lang] if i not in by_id[reference]]
        if missing:
            problems.append(
                f"{lang} misses {len(missing)} of the {len(order)} sent_ids of {reference} (e.g. {missing[:3]})"
            )
        if extra:
            problems.append(f"{lang} has {len(extra)} sent_ids that {reference} lacks (e.g. {extra[:3]})")
    if problems:
        raise AlignmentError(f"PUD files in {pud_dir} are not parallel: " + "; ".join(problems))
    return {lang: [by_id[lang][i] for i in order] for lang in languages}
