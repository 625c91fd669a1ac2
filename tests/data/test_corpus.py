"""load_corpus: each language on its own (parallel=False) for commands that need no translations, and the
lenient option reaching every file reader."""

from __future__ import annotations

import re

import pytest

from crossling.data.corpus import load_corpus
from crossling.exceptions import AlignmentError, ConlluError, DataLossWarning, FileFormatError

WORD = "1\tcafe\u0301\tcafe\u0301\tNOUN\t_\t_\t0\troot\t_\t_"


@pytest.mark.parametrize("scheme", ["ud", "pud", "text"])
def test_lenient_reaches_the_readers(tmp_path, scheme):
    """A decomposed e-acute: an error naming file and line by default, normalised and counted when lenient."""
    if scheme == "text":
        path = tmp_path / "en.txt"
        path.write_text("cafe\u0301\n", encoding="utf-8")
        spec, error, line = f"text:{tmp_path}", FileFormatError, 1
    else:
        path = tmp_path / ("en_pud.conllu" if scheme == "pud" else "en_test-ud-test.conllu")
        path.write_text(f"# sent_id = 1\n{WORD}\n\n", encoding="utf-8")
        spec, error, line = f"{scheme}:{tmp_path}", ConlluError, 2
    with pytest.raises(error, match=re.escape(f"{path}:{line}: text not in Unicode NFC")):
        load_corpus(spec, ["en"])
    with pytest.warns(DataLossWarning, match=re.escape(f"{path}: the lenient reading changed the text")):
        corpus = load_corpus(spec, ["en"], lenient=True)
    assert corpus["en"][0].forms == ["caf\xe9"]


def test_text_folder_of_unequal_files_is_read_per_language(tmp_path):
    (tmp_path / "en.txt").write_text("The quick fox .\nA lazy dog .\nA third line\n")
    (tmp_path / "de.txt").write_text("Der schnelle Fuchs .\n")
    with pytest.raises(AlignmentError, match="differ in length"):
        load_corpus(f"text:{tmp_path}")
    corpus = load_corpus(f"text:{tmp_path}", parallel=False)
    assert {lang: [s.text for s in sentences] for lang, sentences in corpus.items()} == {
        "de": ["Der schnelle Fuchs ."], "en": ["The quick fox .", "A lazy dog .", "A third line"]}
    assert [s.sent_id for s in corpus["en"]] == ["1", "2", "3"] and corpus["en"][2].forms == ["A", "third", "line"]
    assert [len(s) for s in load_corpus(f"text:{tmp_path}", ["en"], limit=2, parallel=False)["en"]] == [4, 4]


def test_lohelp_passes_parallel_through(monkeypatch):
    calls = []
    monkeypatch.setattr("crossling.data.lohelp.read_lohelp",
                        lambda languages, cache_dir=None, *, parallel=True: calls.append(parallel) or {})
    load_corpus("lohelp:", ["de"])
    load_corpus("lohelp:", ["de"], parallel=False)
    assert calls == [True, False]
