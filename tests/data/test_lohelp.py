"""LibreOffice Help corpus: page parsing, package unpacking, caching, untranslated filter, alignment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from crossling.data import lohelp
from crossling.data.corpus import load_corpus
from crossling.data.lohelp import fetch_lohelp, lohelp_package, parse_help_page, read_lohelp
from crossling.exceptions import LohelpError

PAGE = """<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>T</title></head><body>
<div id="DisplayArea">
<p id="bm_module" dir="auto"></p>
<a name="bm_id1"></a><h1 id="hd_id1" dir="auto"><a name="x"></a>{title}</h1>
<p id="par_id10" class="paragraph">Press <span id="swlnsys_1" class="switchinline"><span hidden="true" class="MAC">Command
</span><span hidden="true">Ctrl</span></span>+F6  to   switch.</p>
<div class="notetext"><p id="par_id11" dir="auto">{note}<br>second line &amp; more
</div>
<table><tr><td><p id="par_id12">{cell}</p></td><td><p id="MediaType_x">text/html</p></td></tr></table>
<ul><li><p id="N0432" class="listitem">{item}</p></li></ul>
<p id="par_id10">duplicate id, dropped</p>
<p>no id, not a unit</p>
</div></body></html>"""

TEXTS = {
    "en": dict(title="Title", note="A note", cell="Cell text", item="Item"),
    "de": dict(title="Titel", note="Ein Hinweis", cell="Cell text", item="Eintrag"),  # cell untranslated
    "fr": dict(title="Titre", note="Une note", cell="Texte de cellule", item="Élément"),
}


def test_parse_help_page_units_and_rules():
    units = parse_help_page(PAGE.format(lang="en", **TEXTS["en"]))
    assert units == [
        ("hd_id1", "Title"),
        ("par_id10", "Press Ctrl+F6 to switch."),  # default variant of the switch, whitespace collapsed
        ("par_id11", "A note second line & more"),  # implicit end of <p> at </div>; <br> is a space
        ("par_id12", "Cell text"),  # MediaType_ cells and bm_ anchors are not units
        ("N0432", "Item"),
    ]


def test_package_names():
    assert lohelp_package("en") == "libreoffice-help-en-us"
    assert lohelp_package("zh") == "libreoffice-help-zh-cn"
    assert lohelp_package("pt-br") == "libreoffice-help-pt-br"
    assert lohelp_package("de") == "libreoffice-help-de"
    with pytest.raises(ValueError, match="not a language code"):
        lohelp_package("German")


def _build_deb(root: Path, lang: str, folder: str, pages: dict[str, str]) -> Path:
    tree = root / f"tree-{lang}"
    package = lohelp_package(lang)
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1:7.4-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    )
    for name, html in pages.items():
        path = tree / "usr/share/libreoffice/help" / folder / "text" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    debs = root / "cache" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = debs / f"{package}_1%3a7.4-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture
def fake_cache(tmp_path):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not available")
    folders = {"en": "en-US", "de": "de", "fr": "fr"}
    for lang, texts in TEXTS.items():
        second = "" if lang == "fr" else f'<p id="par_only">{texts["item"]} only</p>'
        _build_deb(tmp_path, lang, folders[lang], {
            "swriter/a.html": PAGE.format(lang=lang, **texts),
            "scalc/b.html": f'<html><body><p id="par_b1">{texts["title"]} B</p>{second}</body></html>',
        })
    return tmp_path / "cache"


def test_fetch_parses_package_and_caches(fake_cache, monkeypatch):
    paths = fetch_lohelp(["de"], fake_cache)
    df = pd.read_parquet(paths["de"])
    assert list(df.columns) == ["file", "par_id", "text"]
    assert set(df["file"]) == {"text/swriter/a", "text/scalc/b"}
    assert len(df) == 5 + 2
    assert df.attrs["package"] == "libreoffice-help-de_1:7.4-1_all"

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(lohelp, "_parse_package", fail)
    assert fetch_lohelp(["de"], fake_cache) == paths


def test_read_lohelp_drops_untranslated_and_aligns(fake_cache):
    corpus = read_lohelp(["de", "fr"], fake_cache)
    # "Cell text" is untranslated in de (equal to en): dropped, and with it from the parallel set;
    # par_only is missing in fr.
    ids = [s.sent_id for s in corpus["de"]]
    assert ids == [s.sent_id for s in corpus["fr"]]
    assert "text/swriter/a#par_id12" not in ids and "text/scalc/b#par_only" not in ids
    assert "text/swriter/a#hd_id1" in ids
    by_id = {s.sent_id: s for s in corpus["fr"]}
    assert by_id["text/swriter/a#par_id11"].text == "Une note second line & more"
    first = corpus["de"][0]
    assert first.lang == "de" and first.forms == first.text.split() and first.words[0].id == 1
    assert corpus["de"][0].source == "libreoffice-help-de_1:7.4-1_all"

    loose = read_lohelp(["de", "fr"], fake_cache, parallel=False)
    assert "text/scalc/b#par_only" in [s.sent_id for s in loose["de"]]
    assert "text/swriter/a#par_id12" not in [s.sent_id for s in loose["de"]]
    assert "text/swriter/a#par_id12" in [s.sent_id for s in loose["fr"]]
    kept = read_lohelp(["de"], fake_cache, drop_untranslated=False)
    assert "text/swriter/a#par_id12" in [s.sent_id for s in kept["de"]]


def test_clear_error_without_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(lohelp.shutil, "which", lambda name: None)
    with pytest.raises(LohelpError, match="apt-get"):
        fetch_lohelp(["de"], tmp_path)


@pytest.mark.slow
def test_real_packages_are_parallel():
    """The real Debian packages (fetched once into the default cache): sizes and shared ids."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available")
    corpus = read_lohelp(["de", "fi"])
    assert len(corpus["de"]) == len(corpus["fi"]) > 15_000
    assert all(a.sent_id == b.sent_id for a, b in zip(corpus["de"], corpus["fi"]))
    loose = read_lohelp(["de"], parallel=False)["de"]
    megabytes = sum(len(s.text.encode()) for s in loose) / 1e6
    assert len(loose) > 40_000 and 3 < megabytes < 8


def test_every_paragraph_left_out_is_counted_with_its_reason(fake_cache):
    units = {lang: len(pd.read_parquet(path)) for lang, path in fetch_lohelp(["de", "fr"], fake_cache).items()}
    for parallel in (True, False):
        corpus = read_lohelp(["de", "fr"], fake_cache, parallel=parallel)
        for lang in ("de", "fr"):
            counted = sum(e["count"] for e in corpus.skipped if e["language"] == lang)
            assert len(corpus[lang]) + counted == units[lang]  # kept + counted = every unit of the package
    corpus = read_lohelp(["de", "fr"], fake_cache)
    reasons = {(e["language"], e["reason"].split(":")[0]): e["count"] for e in corpus.skipped}
    # par_id10 is the same text in every language; de leaves "Cell text" (par_id12) untranslated, so fr's
    # par_id12 has no German side; par_only has no French side.
    assert reasons == {("de", "untranslated"): 2, ("fr", "untranslated"): 1, ("de", "not parallel"): 1,
                       ("fr", "not parallel"): 1}
    assert all(e["what"] == "paragraph" for e in corpus.skipped)
    loaded = load_corpus("lohelp:" + str(fake_cache), ["de", "fr"], limit=2)
    assert loaded.skipped == corpus.skipped and [len(s) for s in loaded.values()] == [2, 2]
