"""Corpus specifications: one string names a corpus for every command.

=====================  ====================================================================================
``pud:DIR``            Parallel UD: ``DIR/<lang>_pud.conllu.gz`` for each language, aligned by ``sent_id``.
``ud:PATH``            UD CoNLL-U: a file, or a folder of treebanks (``<lang>_<code>-<split>.conllu[.gz]``);
                       ``split`` picks train/test/all files of each language in a folder.
``text:PATH``          Plain text, one segment per line: a file (one language), or a folder of ``<lang>.txt``
                       files aligned line by line (parallel).
``lohelp:``            LibreOffice Help, parallel paragraphs fetched from Debian's packages (needs apt).
=====================  ====================================================================================
"""

from __future__ import annotations

from crossling.exceptions import CorpusSpecError

from pathlib import Path
from typing import Sequence

from crossling.data.records import Sentence

__all__ = ["load_corpus", "corpus_name"]

SCHEMES = ("pud", "ud", "text", "lohelp")


_NAMES = {"pud": "Parallel UD", "ud": "UD", "text": "text", "lohelp": "LibreOffice Help"}


def corpus_name(spec: str) -> str:
    """A readable name of a corpus spec for titles: ``"lohelp:"`` -> "LibreOffice Help",
    ``"pud:/data/ud/pud"`` -> "Parallel UD (pud)", ``"text:corpora/wiki"`` -> "text (wiki)"."""
    scheme, _, location = spec.partition(":")
    name = _NAMES.get(scheme, scheme)
    return f"{name} ({Path(location).name})" if location and scheme != "lohelp" else name


def load_corpus(spec: str, languages: Sequence[str] | None = None, *, split: str = "all") -> dict[str, list[Sentence]]:
    """Read the corpus named by ``spec`` into sentences per language.

    Parameters
    ----------
    spec : str
        ``scheme:location`` (see the module docstring).
    languages : sequence of str, optional
        ISO 639-1 codes to keep; default every language the corpus has (``text:FILE`` needs exactly one).
    split : {"all", "train", "test", "dev"}, default "all"
        Which files of a UD treebank folder to read.

    Returns
    -------
    dict
        Language -> sentences, in the corpus's order (parallel corpora: aligned across languages).
    """
    scheme, sep, location = spec.partition(":")
    if not sep or scheme not in SCHEMES:
        raise CorpusSpecError(f"corpus {spec!r}: expected one of {', '.join(s + ':...' for s in SCHEMES)}")
    if scheme == "lohelp":
        from crossling.data.lohelp import read_lohelp

        if not languages:
            raise CorpusSpecError("lohelp: name the languages (e.g. --languages en,de,fr)")
        return read_lohelp(list(languages), location or None)
    path = Path(location)
    if not path.exists():
        raise CorpusSpecError(f"corpus {spec!r}: {path} does not exist")
    if scheme == "pud":
        from crossling.data.pud import read_pud

        return read_pud(path, languages)
    if scheme == "ud":
        return _read_ud(path, languages, split)
    return _read_text(path, languages)


def _read_ud(path: Path, languages: Sequence[str] | None, split: str) -> dict[str, list[Sentence]]:
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
        by_lang.setdefault(lang, []).extend(read_conllu(file, lang=lang))
    missing = sorted(set(languages or ()) - set(by_lang))
    if missing:
        raise CorpusSpecError(f"ud:{path}: no {split} CoNLL-U files for {', '.join(missing)}")
    return by_lang


def _read_text(path: Path, languages: Sequence[str] | None) -> dict[str, list[Sentence]]:
    from crossling.data.parallel import read_parallel

    if path.is_file():
        if not languages or len(languages) != 1:
            raise CorpusSpecError(f"text:{path} is one file: name its one language with --languages")
        return read_parallel({languages[0]: path})
    files = {p.stem: p for p in sorted(path.glob("*.txt"))}
    if languages:
        missing = sorted(set(languages) - set(files))
        if missing:
            raise CorpusSpecError(f"text:{path}: no {', '.join(m + '.txt' for m in missing)}")
        files = {lang: files[lang] for lang in languages}
    if not files:
        raise CorpusSpecError(f"text:{path}: no <lang>.txt files")
    return read_parallel(files)
