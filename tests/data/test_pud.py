"""PUD: alignment by sent_id on the real data, and the errors of files that are not parallel."""

from __future__ import annotations

import re

import pytest

from crossling.data import pud_languages, read_conllu, read_pud
from crossling.exceptions import AlignmentError, ConlluError, DataLossWarning

PUD_LANGUAGES = "ar cs de en es fi fr gl hi id is it ja ko pl pt ru sv th tr zh".split()


def test_all_pud_languages_align_by_sent_id(data_dir):
    pud = data_dir / "ud" / "pud"
    assert pud_languages(pud) == PUD_LANGUAGES
    aligned = read_pud(pud)
    assert list(aligned) == PUD_LANGUAGES
    english_order = [s.sent_id for s in read_conllu(pud / "en_pud.conllu.gz")]
    assert len(english_order) == 1000 == len(set(english_order))
    for lang, sentences in aligned.items():
        assert [s.sent_id for s in sentences] == english_order, lang
        assert all(s.lang == lang for s in sentences)
    # Icelandic lists the same ids in another order; aligning by position would pair different sentences.
    icelandic = list(read_conllu(pud / "is_pud.conllu.gz"))
    file_order = [s.sent_id for s in icelandic]
    assert file_order != english_order and sorted(file_order) == sorted(english_order)
    moved = next(k for k, (a, b) in enumerate(zip(file_order, english_order)) if a != b)
    by_id = {s.sent_id: s for s in icelandic}
    assert aligned["is"][moved].text == by_id[english_order[moved]].text != icelandic[moved].text


def test_reference_order_is_english_or_the_first_language(data_dir):
    pud = data_dir / "ud" / "pud"
    english_order = [s.sent_id for s in read_conllu(pud / "en_pud.conllu.gz")]
    icelandic_order = [s.sent_id for s in read_conllu(pud / "is_pud.conllu.gz")]
    with_english = read_pud(pud, ["is", "en"])
    assert list(with_english) == ["is", "en"]
    assert [s.sent_id for s in with_english["is"]] == english_order
    without = read_pud(pud, ["is", "de"])
    assert [s.sent_id for s in without["de"]] == icelandic_order


def _pud_file(folder, lang, ids):
    lines = []
    for i in ids:
        lines += [f"# sent_id = {i}", f"# text = {lang} {i}", f"1\t{lang}{i}\t_\tX\t_\t_\t0\troot\t_\t_", ""]
    (folder / f"{lang}_pud.conllu").write_text("\n".join(lines) + "\n")


def test_missing_and_extra_ids_are_named_with_counts(tmp_path):
    _pud_file(tmp_path, "en", ["a", "b", "c", "d"])
    _pud_file(tmp_path, "de", ["d", "c", "b", "a"])
    _pud_file(tmp_path, "fr", ["a", "b"])
    _pud_file(tmp_path, "it", ["a", "b", "c", "d", "e"])
    assert [s.text for s in read_pud(tmp_path, ["de", "en"])["de"]] == ["de a", "de b", "de c", "de d"]
    with pytest.raises(AlignmentError, match=r"fr misses 2 of the 4 sent_ids of en \(e\.g\. \['c', 'd'\]\)"):
        read_pud(tmp_path)
    with pytest.raises(AlignmentError, match=r"it has 1 sent_ids that en lacks \(e\.g\. \['e'\]\)"):
        read_pud(tmp_path, ["en", "it"])
    with pytest.raises(FileNotFoundError, match=r"\['xx'\]; available: \['de', 'en', 'fr', 'it'\]"):
        read_pud(tmp_path, ["en", "xx"])
    with pytest.raises(ValueError, match="distinct"):
        read_pud(tmp_path, ["en", "en"])


def test_plain_and_gzip_file_for_one_language_is_ambiguous(tmp_path):
    _pud_file(tmp_path, "en", ["a"])
    (tmp_path / "en_pud.conllu.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="two PUD files for 'en'"):
        pud_languages(tmp_path)


def test_files_are_read_strictly_unless_lenient(tmp_path):
    _pud_file(tmp_path, "en", ["a", "b"])
    _pud_file(tmp_path, "de", ["a", "b"])
    de = tmp_path / "de_pud.conllu"
    de.write_text(de.read_text().replace("# text = de a", "# text = de a\u0308"), encoding="utf-8")
    with pytest.raises(ConlluError, match=re.escape(f"{de}:2: text not in Unicode NFC at column 13")):
        read_pud(tmp_path)
    with pytest.warns(DataLossWarning, match=r"de_pud\.conllu: the lenient reading changed the text: 1 x text not in"):
        aligned = read_pud(tmp_path, lenient=True)
    assert aligned["de"][0].text == "de \xe4"
    de.write_bytes(b"")
    with pytest.raises(ConlluError, match=re.escape(f"{de}:1: no sentences: the file is empty")):
        read_pud(tmp_path)
