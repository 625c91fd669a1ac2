"""Every file a run leaves is readable as the user's umask says, like any other file they write.

Temporary files are created private (``mkstemp``: 0600) and safetensors writes its files 0600; before the fix
``report.html``, every table and figure and the weights of a pre-trained model were 0600 whatever the umask.
"""

from __future__ import annotations

import os
import stat

import pytest
from tiny_models import build_tiny

from crossling.report import write_report
from crossling.similarity.run import SimilarityConfig, run_similarity

MASK = 0o027  # the owner writes, the group reads, others get nothing


@pytest.fixture
def group_umask():
    old = os.umask(MASK)
    yield
    os.umask(old)


def _modes(root):
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")] if not p.is_symlink()}


def test_a_run_and_its_report_follow_the_umask(tmp_path, group_umask):
    model = build_tiny("bert", tmp_path / "model")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for lang, words in (("en", "the cat sees a dog"), ("de", "die katze sieht einen hund")):
        (corpus / f"{lang}.txt").write_text("\n".join(" ".join(words.split()[: 2 + i % 4]) + f" {i}"
                                                      for i in range(40)) + "\n")
    config = SimilarityConfig(model=str(model), corpus=f"text:{corpus}", indices=["cka"], store_dir=tmp_path / "stores",
                              out=tmp_path / "run" / "similarity")
    run_similarity(config, progress=False)
    report = write_report(tmp_path / "run")
    written = {**_modes(tmp_path / "run"), **_modes(tmp_path / "stores")}
    wrong = {str(p.relative_to(tmp_path)): oct(mode) for p, mode in written.items()
             if mode != (0o777 if p.is_dir() else 0o666) & ~MASK and not p.name.endswith(".lock")}
    assert wrong == {}
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    assert any(p.suffix == ".npy" for p in written) and any(p.suffix == ".png" for p in written)
