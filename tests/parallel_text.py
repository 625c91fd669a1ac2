"""A small word-for-word parallel corpus (en/de text files) with its two dictionaries, for end-to-end runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EN = "the cat dog sees a big small house tree runs red old new blue bird fish eats drinks water bread".split()
DE = "der katze hund sieht ein gross klein haus baum lauft rot alt neu blau vogel fisch isst trinkt wasser brot".split()


def write_parallel_text(folder: Path, n_lines: int = 120, seed: int = 7) -> Path:
    """``en.txt`` and ``de.txt`` (lines of 3-9 words, each the word-for-word translation of the other) and the
    dictionaries ``en-de.tsv`` and ``de-en.tsv`` in ``folder``; returns ``folder``."""
    rng = np.random.default_rng(seed)
    lines = [rng.integers(len(EN), size=rng.integers(3, 10)) for _ in range(n_lines)]
    (folder / "en.txt").write_text("\n".join(" ".join(EN[i] for i in line) for line in lines) + "\n")
    (folder / "de.txt").write_text("\n".join(" ".join(DE[i] for i in line) for line in lines) + "\n")
    (folder / "en-de.tsv").write_text("".join(f"{e}\t{d}\n" for e, d in zip(EN, DE)))
    (folder / "de-en.tsv").write_text("".join(f"{d}\t{e}\n" for e, d in zip(EN, DE)))
    return folder
