"""load_corpus: the lenient option reaches every file reader."""

from __future__ import annotations

import re

import pytest

from crossling.data.corpus import load_corpus
from crossling.exceptions import ConlluError, DataLossWarning, FileFormatError

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
