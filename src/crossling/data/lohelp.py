"""LibreOffice Help: an offline, paragraph-parallel multilingual corpus from Debian packages.

Debian ships the LibreOffice help pages translated into 30+ languages as ``libreoffice-help-<lang>``
packages (MPL-2.0). Each package holds the same ~2,500 HTML pages under
``usr/share/libreoffice/help/<LANG>/text/...``; every translatable paragraph and heading carries an id
(``<p id="par_id3163802">``, ``<h2 id="hd_id981586595097630">``, ``<p id="N0432">``) that is the same in
every language, so ``(page, id)`` aligns paragraphs across languages.

:func:`fetch_lohelp` downloads a package with ``apt-get download`` (no installation, no dependencies),
streams its files out of the archive with ``dpkg-deb --fsys-tarfile`` (nothing is unpacked to disk) and
caches the parsed paragraphs as one parquet file per language (columns ``file``, ``par_id``, ``text``), so
the second call is instant. :func:`read_lohelp` turns the cache into :class:`~crossling.data.records.Sentence`
records, dropping paragraphs left untranslated (text equal to the English one) and, by default, keeping
only the paragraphs present in every requested language, in the same order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd

from crossling._utils.io import atomic_path
from crossling._utils.paths import crossling_home
from crossling.data.corpus import Corpus
from crossling.data.parallel import whitespace_sentence
from crossling.data.records import Sentence
from crossling.exceptions import LohelpError

__all__ = [
    "lohelp_package",
    "default_cache_dir",
    "parse_help_page",
    "fetch_lohelp",
    "read_lohelp",
]

# ISO 639-1 codes whose Debian package carries a region (the bare code has no package).
_REGION = {"en": "en-us", "zh": "zh-cn", "pt": "pt"}
# Translatable units: paragraphs and headings with an id (par_id..., hd_id..., N0432, lang_id...). Bookmark
# anchors (bm_*) are empty and the filter table's MediaType_/FilterName_/APIName_ cells are not translated.
_UNIT_TAGS = frozenset("p h1 h2 h3 h4 h5 h6".split())
_NOT_UNIT_ID = re.compile(r"^(bm_|MediaType_|FilterName_|APIName_)")
# Elements that end an open <p> implicitly (HTML's optional end tag), and elements without content.
_BLOCK = frozenset(
    "address article aside blockquote div dl dt dd fieldset figure footer form h1 h2 h3 h4 h5 h6 header "
    "hr li main nav ol p pre section table tbody td th thead tr ul".split()
)
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_SPACE = re.compile(r"\s+")
_HELP_ROOT = "usr/share/libreoffice/help/"
_SCHEMA_VERSION = 1  # bump when parsing changes, so stale caches are rebuilt


def lohelp_package(lang: str) -> str:
    """Debian package name holding the help pages of ``lang``.

    Parameters
    ----------
    lang : str
        An ISO 639 code of 2-3 lower-case letters (``"de"``) or a Debian suffix with region (``"pt-br"``,
        ``"zh-tw"``); ``en`` maps to ``en-us`` and ``zh`` to ``zh-cn``, whose bare codes have no package.

    Returns
    -------
    str
        ``"libreoffice-help-<suffix>"``, e.g. ``"libreoffice-help-de"``. Whether Debian has that package is
        not checked here (:func:`fetch_lohelp` finds out).

    Raises
    ------
    ValueError
        If ``lang`` is not 2-3 lower-case letters, optionally followed by ``-`` and 2 lower-case letters.
    """
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z]{2})?", lang):
        raise ValueError(f"not a language code: {lang!r} (expected e.g. 'de', 'pt-br')")
    return f"libreoffice-help-{_REGION.get(lang, lang)}"


def default_cache_dir() -> Path:
    """``$CROSSLING_HOME/lohelp``, else ``~/.cache/crossling/lohelp`` (the same root as the imported models).

    Returns
    -------
    Path
        The folder; not created here.
    """
    return crossling_home() / "lohelp"


@dataclass(frozen=True, slots=True)
class _Unit:
    par_id: str
    text: str


class _PageParser(HTMLParser):
    """Collects the text of every paragraph or heading whose id marks a translatable unit.

    Rules (from the structure of the help pages):
    - capture ends at the element's end tag, at the end tag of an enclosing element, or at the start of
      a block element (HTML closes ``<p>`` implicitly; some pages rely on it);
    - inside ``<span class="switchinline">`` only the default variant is kept: hidden spans with a
      class (``MAC``, ``WRITER``, ``UNIX``...) are the platform- or module-specific alternatives;
    - ``<br>`` is a space; whitespace runs collapse to one space.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.units: list[_Unit] = []
        self._id: str | None = None
        self._tag = ""
        self._open: list[tuple[str, bool]] = []  # tags opened inside the capture, and "skip their text"
        self._parts: list[str] = []

    def _finish(self) -> None:
        if self._id is not None:
            text = _SPACE.sub(" ", "".join(self._parts)).strip()
            self.units.append(_Unit(self._id, text))
        self._id, self._open, self._parts = None, [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._id is not None and tag in _BLOCK:
            self._finish()
        if self._id is None:
            ident = dict(attrs).get("id") or ""
            if tag in _UNIT_TAGS and ident and not _NOT_UNIT_ID.match(ident):
                self._id, self._tag = ident, tag
            return
        if tag == "br":
            self._parts.append(" ")
        if tag in _VOID:
            return
        a = dict(attrs)
        self._open.append((tag, "hidden" in a and bool(a.get("class"))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._id is not None and tag == "br":
            self._parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._id is None:
            return
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return
        # The unit's own end tag, or an enclosing element closing (implicit end of the unit).
        self._finish()

    def handle_data(self, data: str) -> None:
        if self._id is not None and not any(skip for _, skip in self._open):
            self._parts.append(data)

    def close(self) -> None:
        super().close()
        self._finish()


def parse_help_page(html: str) -> list[tuple[str, str]]:
    """Paragraphs and headings of one help page, as ``(id, text)`` in document order.

    Units are ``<p>`` and ``<h1>``..``<h6>`` elements with an id, except empty bookmark anchors
    (``bm_*``) and the untranslated cells of the file-filter table (``MediaType_*``, ``FilterName_*``,
    ``APIName_*``). Empty units are dropped, and when a page repeats an id (a section embedded twice) only
    the first occurrence is kept, so ids are unique within a page.

    Parameters
    ----------
    html : str
        The text of one help page.

    Returns
    -------
    list of tuple of (str, str)
        ``(id, text)`` per unit, in document order; ``text`` has its whitespace runs collapsed to one space and
        is stripped, ``<br>`` counts as a space, and of the platform-specific variants of a
        ``switchinline`` span only the default one is kept.
    """
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    seen: set[str] = set()
    out = []
    for unit in parser.units:
        if unit.text and unit.par_id not in seen:
            seen.add(unit.par_id)
            out.append((unit.par_id, unit.text))
    return out


def _require_tools() -> None:
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise LohelpError(
            f"the LibreOffice Help corpus needs Debian's package tools, and {', '.join(missing)} is not on PATH "
            "(a Debian or Ubuntu machine is required to fetch it; a cache folder filled on such a machine "
            "can be copied and used anywhere)"
        )


def _download(package: str, deb_dir: Path) -> Path:
    found = sorted(deb_dir.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    _require_tools()
    deb_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=deb_dir) as tmp:
        proc = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if proc.returncode != 0 or len(debs) != 1:
            hint = ""
            if "Unable to locate package" in proc.stderr:
                hint = " (unknown package: run `apt-get update`, and check `apt-cache search libreoffice-help`)"
            raise LohelpError(f"`apt-get download {package}` failed{hint}: {proc.stderr.strip()[-500:]}")
        target = deb_dir / debs[0].name
        os.replace(debs[0], target)
    return target


def _iter_pages(deb: Path) -> Iterator[tuple[str, str, str]]:
    """``(help language folder, page path relative to it, html)`` for every page in the package."""
    _require_tools()
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not (member.isfile() and name.startswith(_HELP_ROOT) and name.endswith(".html")):
                    continue
                folder, _, page = name[len(_HELP_ROOT):].partition("/")
                if not page.startswith("text/"):
                    continue
                fh = tar.extractfile(member)
                assert fh is not None
                yield folder, page.removesuffix(".html"), fh.read().decode("utf-8")
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise LohelpError(f"`dpkg-deb --fsys-tarfile {deb}` failed: {err.strip()[-500:]}")


def _parse_package(deb: Path) -> pd.DataFrame:
    rows: list[tuple[str, str, str]] = []
    for _, page, html in _iter_pages(deb):
        rows.extend((page, par_id, text) for par_id, text in parse_help_page(html))
    if not rows:
        raise LohelpError(f"{deb.name}: no help pages with paragraph ids found")
    df = pd.DataFrame(rows, columns=["file", "par_id", "text"])
    # The package file name carries its version: the corpus's provenance, read back by read_lohelp.
    df.attrs["package"] = deb.stem.replace("%3a", ":")
    return df


def _cache_path(cache_dir: Path, lang: str) -> Path:
    return cache_dir / f"{lang}.v{_SCHEMA_VERSION}.parquet"


def fetch_lohelp(languages: Iterable[str], cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download and parse the help pages of ``languages``, caching one parquet table per language.

    Parameters
    ----------
    languages : iterable of str
        Language codes (see :func:`lohelp_package`).
    cache_dir : path-like, optional
        Cache folder; default :func:`default_cache_dir`. It receives the ``.deb`` files under ``debs/``
        and ``<lang>.v<N>.parquet`` with columns ``file`` (page path such as
        ``text/swriter/guide/table_insert``), ``par_id`` and ``text``, in document order, all units
        (including untranslated ones; :func:`read_lohelp` filters).

    Returns
    -------
    dict of str to Path
        Language code -> parquet path, one per distinct language, in the order given. Tables already in the
        cache are not fetched again (and need no Debian tools).

    Raises
    ------
    ValueError
        If a language is not a valid code (:func:`lohelp_package`).
    LohelpError
        If apt-get or dpkg-deb is missing (a non-Debian machine), the package is unknown, the download or
        the unpacking fails, or the package holds no help page with paragraph ids.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out: dict[str, Path] = {}
    for lang in dict.fromkeys(languages):
        path = _cache_path(cache, lang)
        if not path.is_file():
            deb = _download(lohelp_package(lang), cache / "debs")
            df = _parse_package(deb)
            with atomic_path(path) as tmp:
                df.to_parquet(tmp, index=False)
        out[lang] = path
    return out


def read_lohelp(
    languages: Sequence[str],
    cache_dir: str | os.PathLike | None = None,
    *,
    parallel: bool = True,
    drop_untranslated: bool = True,
) -> dict[str, list[Sentence]]:
    """The LibreOffice Help paragraphs of ``languages`` as sentence records.

    Parameters
    ----------
    languages : sequence of str
        Language codes (see :func:`lohelp_package`).
    cache_dir : path-like, optional
        See :func:`fetch_lohelp`; missing languages are fetched.
    parallel : bool, default True
        Keep only the units present (after filtering) in every requested language, in the same order in
        each list, so ``result[a][i]`` and ``result[b][i]`` are translations with the same ``sent_id``.
        With False each language keeps all its units.
    drop_untranslated : bool, default True
        Drop a non-English unit whose text equals the English unit with the same id: an untranslated
        fallback (this also drops genuinely identical strings such as product names). English is
        fetched for this even when not requested.

    Returns
    -------
    Corpus
        Language -> list of :class:`~crossling.data.records.Sentence` (one per paragraph or heading, in
        document order, that of the first language when ``parallel``; a language listed twice is read once),
        with ``sent_id = "<file>#<id>"``, ``text`` the paragraph text, ``words`` its words
        (:func:`crossling.data.parallel.whitespace_sentence`: whitespace tokens, segmented words for Chinese
        and Japanese), ``source`` the Debian package file name with its version
        (``libreoffice-help-de_4:7.4.7-1+deb12u14_all``). Its ``skipped`` counts, per language, the paragraphs
        dropped as untranslated and those dropped for not being in every language (``parallel``).

    Raises
    ------
    ValueError
        If ``languages`` is empty, or a code is not valid (:func:`lohelp_package`).
    LohelpError
        If a language not yet cached cannot be fetched (see :func:`fetch_lohelp`).
    """
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise ValueError("no languages given")
    needed = languages + (["en"] if drop_untranslated and "en" not in languages else [])
    paths = fetch_lohelp(needed, cache_dir)
    tables = {lang: pd.read_parquet(paths[lang]) for lang in needed}
    tables_attrs = {lang: tables[lang].attrs.get("package", lohelp_package(lang)) for lang in needed}
    skipped = []
    if drop_untranslated:
        english = tables["en"].rename(columns={"text": "en_text"})
        for lang in languages:
            if lang == "en":
                continue
            df = tables[lang].merge(english, on=["file", "par_id"], how="left")
            tables[lang] = df.loc[df["text"] != df["en_text"], ["file", "par_id", "text"]]
            skipped.append(_skip(lang, len(df) - len(tables[lang]), "untranslated: the same text as the English "
                                 "paragraph with its id"))
    if parallel:
        keys = None
        for lang in languages:
            k = set(zip(tables[lang]["file"], tables[lang]["par_id"]))
            keys = k if keys is None else keys & k
        for lang in languages:
            df = tables[lang]
            keep = [key in keys for key in zip(df["file"], df["par_id"])]
            tables[lang] = df.loc[keep]
            skipped.append(_skip(lang, len(df) - len(tables[lang]), "not parallel: missing or untranslated in "
                                 f"another language of the run ({', '.join(languages)})"))
        # Document order of the first language, applied to all, so lists align index by index.
        first = tables[languages[0]]
        order = {key: i for i, key in enumerate(zip(first["file"], first["par_id"]))}
        for lang in languages:
            df = tables[lang]
            rank = [order[key] for key in zip(df["file"], df["par_id"])]
            tables[lang] = df.assign(_rank=rank).sort_values("_rank", kind="stable")
    out = {}
    for lang in languages:
        df, package = tables[lang], tables_attrs[lang]
        out[lang] = [
            whitespace_sentence(t, lang=lang, sent_id=f"{f}#{p}", source=package)
            for f, p, t in zip(df["file"], df["par_id"], df["text"])
        ]
    return Corpus(out, [entry for entry in skipped if entry["count"]])


def _skip(lang: str, count: int, reason: str) -> dict[str, object]:
    return {"what": "paragraph", "reason": reason, "count": int(count), "language": lang}
