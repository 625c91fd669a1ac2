"""load_corpus: each language on its own (parallel=False) for commands that need no translations."""

from __future__ import annotations

import pytest

from crossling.data.corpus import load_corpus
from crossling.exceptions import AlignmentError


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
