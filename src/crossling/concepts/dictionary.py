"""Translation dictionaries: N-best lexical translations p(t | s) from word alignments of a parallel corpus.

Mousi, Durrani, Dalvi et al. (2024) align the parallel corpus with fast_align, symmetrise with Moses and
keep, for every source word ``s``, its N best translations by

    p(t | s) = count(s, t) / count(s),        count(s) = sum_t count(s, t),

where ``count(s, t)`` is the number of alignment links between a token of form ``s`` and a token of form
``t`` over the corpus (unaligned tokens do not count, so the probabilities of a word sum to one). Their
dictionary script was not released; here the aligner is eflomal (Östling and Tiedemann 2016), run in both
directions, and the two directions are merged by a symmetrisation heuristic:

- ``"grow-diag-final"`` (default; the default of Moses' ``train-model.perl``, Koehn et al. 2005): start
  from the intersection, grow it with union links adjacent (also diagonally) to an existing link whose
  source or target word is still unaligned, then add the remaining directional links that touch an
  unaligned word;
- ``"intersection"``: links found in both directions only (high precision, low recall).

eflomal cannot read a sentence of 1024 tokens or more (it writes it as empty, so the pair would get no
link): :func:`align_words` cuts both sides of such a pair to the same share of their length, the longer
side to 1023 tokens, counts the pairs and tokens cut and warns.

A dictionary can also be read from a TSV file a user supplies (:meth:`TranslationDictionary.load`) or from
a Moses lexical translation table (:func:`load_moses_lexicon`).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossling._utils.io import atomic_write_text
from crossling._utils.validation import check_choice, check_count
from crossling.data.textfile import Repairs, read_lines
from crossling.exceptions import DataLossWarning, FileFormatError

__all__ = [
    "SYMMETRISATIONS",
    "TranslationDictionary",
    "WordAlignment",
    "align_words",
    "build_dictionaries",
    "lexical_translations",
    "load_moses_lexicon",
    "symmetrise",
]

SYMMETRISATIONS = ("grow-diag-final", "intersection")
EFLOMAL_MAX_TOKENS = 1023
"""Longest sentence eflomal aligns: it writes a sentence of 1024 tokens or more as empty."""
MOSES_COLUMNS = ("target-source", "source-target")

_COLUMNS = ("source", "target", "prob", "count")
# The 8-neighbourhood of Koehn's grow-diag step, in the order Moses visits it.
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


@dataclass(frozen=True)
class WordAlignment:
    """Symmetrised word alignment of a tokenised parallel corpus.

    Attributes
    ----------
    source, target : tuple of tuple of str
        The sentences, as token lists, in corpus order.
    links : tuple of ndarray
        One int array of shape (m_i, 2) per sentence pair: (source index, target index), sorted.
    symmetrisation : str
        The heuristic that merged the two directions (one of :data:`SYMMETRISATIONS`).
    aligner : str
        Aligner name and version.
    params : dict
        The aligner's settings; the number of sentence pairs skipped because one side was empty
        (``n_skipped_empty``); the pairs cut to eflomal's limit (``n_truncated_pairs``) and the source and
        target tokens cut off (``n_source_tokens_cut``, ``n_target_tokens_cut``: they have no link).
    """

    source: tuple[tuple[str, ...], ...]
    target: tuple[tuple[str, ...], ...]
    links: tuple[np.ndarray, ...]
    symmetrisation: str
    aligner: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TranslationDictionary:
    """N-best lexical translations from ``source_lang`` into ``target_lang``.

    Attributes
    ----------
    source_lang, target_lang : str
    table : pandas.DataFrame
        Columns ``source, target, prob, count``; the rows of one source word are contiguous and ordered
        best first (``prob`` and ``count`` are NaN / -1 for a user dictionary that gives none).
    n_best : int
        At most this many translations are kept per source word.
    provenance : dict
        What produced the dictionary (aligner, symmetrisation, corpus size, or the file it was read from).
    """

    source_lang: str
    target_lang: str
    table: pd.DataFrame
    n_best: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.table.columns) != list(_COLUMNS):
            raise ValueError(f"dictionary table must have columns {list(_COLUMNS)}, got {list(self.table.columns)}")
        check_count("n_best", self.n_best, minimum=1)
        if self.table.duplicated(["source", "target"]).any():
            pair = self.table.loc[self.table.duplicated(["source", "target"]), ["source", "target"]].iloc[0]
            raise ValueError(f"dictionary lists the pair ({pair['source']!r}, {pair['target']!r}) twice")

    def __len__(self) -> int:
        return int(self.table["source"].nunique())

    def as_mapping(self, n_best: int | None = None) -> dict[str, tuple[str, ...]]:
        """Map each source word to its best ``n_best`` translations, best first.

        Parameters
        ----------
        n_best : int, optional
            Translations per word; default all kept (``self.n_best``).

        Returns
        -------
        dict of str to tuple of str
        """
        n = self.n_best if n_best is None else check_count("n_best", n_best, minimum=1)
        kept = self.table.groupby("source", sort=False).head(n)
        return {s: tuple(g) for s, g in kept.groupby("source", sort=False)["target"]}

    def translations(self, word: str) -> tuple[str, ...]:
        """The kept translations of ``word``, best first.

        Parameters
        ----------
        word : str

        Returns
        -------
        tuple of str
            Empty when ``word`` is not in the dictionary.
        """
        return tuple(self.table.loc[self.table["source"] == word, "target"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dictionary as TSV (``# key=value`` comment lines with its provenance, then a header).

        Parameters
        ----------
        path : path-like

        Returns
        -------
        Path

        Raises
        ------
        ValueError
            When a word contains a tab or a newline (the file could not be read back).
        """
        for col in ("source", "target"):
            bad = self.table[col].str.contains(r"[\t\n\r]", regex=True)
            if bad.any():
                raise ValueError(f"{col} word {self.table[col][bad].iloc[0]!r} contains a tab or newline")
        lines = [
            f"# source_lang={self.source_lang}",
            f"# target_lang={self.target_lang}",
            f"# n_best={self.n_best}",
            f"# provenance={json.dumps(self.provenance, ensure_ascii=False, sort_keys=True)}",
            "\t".join(_COLUMNS),
        ]
        for s, t, p, c in self.table.itertuples(index=False):
            lines.append(f"{s}\t{t}\t{'' if np.isnan(p) else repr(float(p))}\t{'' if c < 0 else int(c)}")
        return atomic_write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        source_lang: str | None = None,
        target_lang: str | None = None,
        n_best: int | None = None,
        lenient: bool = False,
    ) -> "TranslationDictionary":
        """Read a dictionary TSV: one ``source<TAB>target[<TAB>prob[<TAB>count]]`` per line.

        The file may start with comment lines, ``#`` and no tab (the ``# key=value`` ones written by
        :meth:`save` restore the languages, ``n_best`` and the provenance), then a header line
        ``source<TAB>target...``. From the first entry (or the header) on, every line is an entry, so a word
        that starts with ``#`` is read as a word (a line that starts with ``#`` but has a tab is an entry
        anywhere); empty lines are skipped. Without a ``prob`` column the file order ranks a word's
        translations (earlier is better); with it they are ordered by decreasing probability (file order
        breaks ties). Keyword arguments override the comments; ``n_best`` defaults to the file's value, else 10.

        The file is read like every input of crossling (:mod:`crossling.data.textfile`: UTF-8 in NFC, a
        byte-order mark at the start and CRLF line ends allowed), and a field may not have whitespace at
        either end.

        Parameters
        ----------
        path : path-like
            The TSV file (plain or gzip-compressed).
        source_lang, target_lang : str, optional
            The languages; default: the file's ``# source_lang=`` and ``# target_lang=`` comments.
        n_best : int, optional
            Translations kept per source word; default the file's ``# n_best=``, else 10.
        lenient : bool, default False
            Remove whitespace around fields, skip lines of only whitespace, normalise text to NFC and remove
            stray byte-order marks instead of raising, counted in one
            :class:`~crossling.exceptions.DataLossWarning`.

        Returns
        -------
        TranslationDictionary
            ``provenance`` is the file's, plus ``loaded_from``.

        Raises
        ------
        FileFormatError
            ``file:line: what is wrong`` (a ``ValueError``): a line without 2 to 4 fields, an empty word, a
            probability that is not a number in [0, 1], a count that is not a non-negative integer, a pair
            listed twice, a bad ``n_best`` or ``provenance`` comment, a file without entries, and (unless
            ``lenient``) whitespace around a field or a line of only whitespace; invalid UTF-8, text not in
            NFC (unless ``lenient``), a corrupt gzip stream.
        ValueError
            If the languages are neither given nor named by the file.
        FileNotFoundError
            If there is no file at ``path``.
        """
        path = Path(path)
        repairs = Repairs(path)
        meta: dict[str, tuple[str, int]] = {}
        rows: list[tuple[str, str, float, int]] = []
        first_seen: dict[tuple[str, str], int] = {}
        preamble = True  # comments and the header come before the first entry
        lineno = 0
        for lineno, raw in enumerate(read_lines(path, lenient=lenient, repairs=repairs), start=1):
            if not raw:
                continue
            if raw.isspace():
                if not lenient:
                    raise FileFormatError(f"{path}:{lineno}: a line of only whitespace {raw!r}")
                repairs.add("line of only whitespace", lineno)
                continue
            if preamble and raw.startswith("#") and "\t" not in raw:
                key, sep, value = raw[1:].partition("=")
                if sep:
                    meta[key.strip()] = (value.strip(), lineno)
                continue
            fields = raw.split("\t")
            if preamble and 2 <= len(fields) <= 4 and tuple(fields) == _COLUMNS[: len(fields)]:
                preamble = False
                continue
            preamble = False
            row = _parse_row(fields, path, lineno, lenient, repairs)
            if row[:2] in first_seen:
                raise FileFormatError(
                    f"{path}:{lineno}: the pair ({row[0]!r}, {row[1]!r}) is listed twice "
                    f"(first at line {first_seen[row[:2]]})"
                )
            first_seen[row[:2]] = lineno
            rows.append(row)
        if not rows:
            raise FileFormatError(f"{path}:{max(lineno, 1)}: no dictionary entries")
        src_lang = source_lang or meta.get("source_lang", ("", 0))[0]
        tgt_lang = target_lang or meta.get("target_lang", ("", 0))[0]
        if not src_lang or not tgt_lang:
            raise ValueError(f"{path}: give source_lang and target_lang (the file does not name them)")
        if n_best is not None:
            n = n_best
        elif "n_best" in meta:
            text, at = meta["n_best"]
            if not (text.isascii() and text.isdigit() and int(text) >= 1):
                raise FileFormatError(f"{path}:{at}: n_best {text!r} is not a positive integer")
            n = int(text)
        else:
            n = 10
        provenance: dict[str, Any] = {}
        if "provenance" in meta:
            text, at = meta["provenance"]
            try:
                provenance = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FileFormatError(f"{path}:{at}: the provenance comment is not JSON ({exc})") from None
            if not isinstance(provenance, dict):
                raise FileFormatError(f"{path}:{at}: the provenance comment is not a JSON object")
        repairs.warn()
        table = pd.DataFrame(rows, columns=list(_COLUMNS))
        order = np.arange(len(table))
        # Words keep the order of their first line; within a word, higher probability first (a missing
        # probability ranks last), then file order.
        table = table.assign(
            _first=pd.Series(order).groupby(table["source"]).transform("min").to_numpy(),
            _neg=(-table["prob"]).fillna(np.inf),
            _order=order,
        ).sort_values(["_first", "_neg", "_order"])
        table = table.groupby("source", sort=False).head(n)[list(_COLUMNS)].reset_index(drop=True)
        provenance = {**provenance, "loaded_from": str(path)}
        return cls(src_lang, tgt_lang, _typed(table), n, provenance)


def _parse_row(
    fields: list[str], path: Path, lineno: int, lenient: bool, repairs: Repairs
) -> tuple[str, str, float, int]:
    if not 2 <= len(fields) <= 4:
        raise FileFormatError(f"{path}:{lineno}: expected 2 to 4 tab-separated fields, got {len(fields)}")
    for k, text in enumerate(fields):
        if text != text.strip():
            if not lenient:
                raise FileFormatError(
                    f"{path}:{lineno}: whitespace around the {_COLUMNS[k]} field {text!r} "
                    "(a lenient reading removes it)"
                )
            fields[k] = text.strip()
            repairs.add("whitespace around a field", lineno)
    source, target = fields[0], fields[1]
    if not source or not target:
        raise FileFormatError(f"{path}:{lineno}: empty source or target word")
    prob, count = np.nan, -1
    if len(fields) > 2 and fields[2] != "":
        try:
            prob = float(fields[2])
        except ValueError:
            raise FileFormatError(f"{path}:{lineno}: probability {fields[2]!r} is not a number") from None
        if not 0.0 <= prob <= 1.0:
            raise FileFormatError(f"{path}:{lineno}: probability {prob} is outside [0, 1]")
    if len(fields) > 3 and fields[3] != "":
        if not (fields[3].isascii() and fields[3].lstrip("-").isdigit()):
            raise FileFormatError(f"{path}:{lineno}: count {fields[3]!r} is not an integer")
        count = int(fields[3])
        if count < 0:
            raise FileFormatError(f"{path}:{lineno}: negative count {count}")
    return source, target, prob, count


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({"source": object, "target": object, "prob": np.float64, "count": np.int64})


def symmetrise(
    forward: set[tuple[int, int]] | Sequence[tuple[int, int]],
    reverse: set[tuple[int, int]] | Sequence[tuple[int, int]],
    n_source: int,
    n_target: int,
    *,
    method: str = "grow-diag-final",
) -> np.ndarray:
    """Merge the two directional alignments of one sentence pair.

    Parameters
    ----------
    forward, reverse : collections of (source index, target index)
        Links of the source-to-target and target-to-source models, both written source first.
    n_source, n_target : int
        Sentence lengths.
    method : {"grow-diag-final", "intersection"}
        See the module docstring (Koehn, Axelrod et al. 2005, "Edinburgh system description").

    Returns
    -------
    ndarray of shape (m, 2), int64
        The merged links, sorted.

    Raises
    ------
    ValueError
        For an unknown method, or a link outside the sentence pair.
    """
    check_choice("method", method, SYMMETRISATIONS)
    fwd, rev = set(map(tuple, forward)), set(map(tuple, reverse))
    for name, links in (("forward", fwd), ("reverse", rev)):
        for i, j in links:
            if not (0 <= i < n_source and 0 <= j < n_target):
                raise ValueError(f"{name} link ({i}, {j}) is outside a {n_source} x {n_target} sentence pair")
    aligned = fwd & rev
    if method == "grow-diag-final":
        union = fwd | rev
        src_done = {i for i, _ in aligned}
        tgt_done = {j for _, j in aligned}
        grew = True
        while grew:
            grew = False
            for i, j in sorted(aligned):
                for di, dj in _NEIGHBOURS:
                    link = (i + di, j + dj)
                    if link in union and link not in aligned and (link[0] not in src_done or link[1] not in tgt_done):
                        aligned.add(link)
                        src_done.add(link[0])
                        tgt_done.add(link[1])
                        grew = True
        for directional in (fwd, rev):
            for i, j in sorted(directional):
                if i not in src_done or j not in tgt_done:
                    aligned.add((i, j))
                    src_done.add(i)
                    tgt_done.add(j)
    return np.array(sorted(aligned), dtype=np.int64).reshape(-1, 2)


def align_words(
    source: Sequence[Sequence[str]],
    target: Sequence[Sequence[str]],
    *,
    symmetrisation: str = "grow-diag-final",
    model: int = 3,
    n_samplers: int = 3,
    rel_iterations: float = 1.0,
) -> WordAlignment:
    """Word-align a tokenised parallel corpus with eflomal in both directions and symmetrise.

    Parameters
    ----------
    source, target : sequence of sequence of str
        Parallel sentences as token lists (same number of sentences). Pairs with an empty side are
        kept but get no links (eflomal cannot read them); their number is recorded in ``params``. A pair
        with a side of 1024 tokens or more is cut proportionally (see the module docstring); the tokens
        cut off get no link.
    symmetrisation : {"grow-diag-final", "intersection"}, default "grow-diag-final"
    model : {1, 2, 3}, default 3
        eflomal's model: IBM1, HMM, HMM with fertility.
    n_samplers : int, default 3
        Independent Gibbs samplers whose link marginals eflomal averages.
    rel_iterations : float, default 1.0
        Number of sampling iterations relative to eflomal's default.

    Returns
    -------
    WordAlignment

    Raises
    ------
    ValueError
        For an unknown symmetrisation, sides with different numbers of sentences, or no pair with words on
        both sides.
    ImportError
        When eflomal is not installed.
    RuntimeError
        When eflomal returns another number of link lines than sentence pairs.

    Warns
    -----
    DataLossWarning
        When pairs are cut to eflomal's sentence length limit (with the counts).

    Notes
    -----
    eflomal takes no seed, so links (and the dictionary) may differ slightly between runs; this is
    recorded in ``params["deterministic"] = False``. eflomal lowercases tokens to build its vocabulary;
    the links index the original tokens, so the dictionary keeps the original forms.
    """
    check_choice("symmetrisation", symmetrisation, SYMMETRISATIONS)
    eflomal = _import_eflomal()
    if len(source) != len(target):
        raise ValueError(f"parallel corpus has {len(source)} source but {len(target)} target sentences")
    src = tuple(tuple(map(str, s)) for s in source)
    tgt = tuple(tuple(map(str, t)) for t in target)
    usable = [k for k in range(len(src)) if src[k] and tgt[k]]
    if not usable:
        raise ValueError("no sentence pair has words on both sides: nothing to align")
    # eflomal splits lines on whitespace: a form containing a space (allowed in UD) is glued for it only.
    def line(tokens: tuple[str, ...]) -> str:
        return " ".join("\u2581".join(tok.split()) or "\u2581" for tok in tokens)

    cut = {k: _eflomal_lengths(len(src[k]), len(tgt[k])) for k in usable}
    truncated = [k for k in usable if cut[k] != (len(src[k]), len(tgt[k]))]
    src_cut = sum(len(src[k]) - cut[k][0] for k in truncated)
    tgt_cut = sum(len(tgt[k]) - cut[k][1] for k in truncated)
    if truncated:
        warnings.warn(
            f"{len(truncated)} sentence pairs have a side longer than eflomal's {EFLOMAL_MAX_TOKENS} tokens: both "
            f"sides were cut to the same share of their length ({src_cut} source and {tgt_cut} target tokens get "
            "no link)",
            DataLossWarning,
            stacklevel=2,
        )
    aligner = eflomal.Aligner(model=model, n_samplers=n_samplers, rel_iterations=rel_iterations)
    with tempfile.TemporaryDirectory(prefix="crossling-eflomal-") as tmp:
        fwd_path, rev_path = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
        aligner.align(
            [line(src[k][: cut[k][0]]) for k in usable],
            [line(tgt[k][: cut[k][1]]) for k in usable],
            links_filename_fwd=fwd_path,
            links_filename_rev=rev_path,
            quiet=True,
        )
        fwd_lines = Path(fwd_path).read_text(encoding="utf-8").splitlines()
        rev_lines = Path(rev_path).read_text(encoding="utf-8").splitlines()
    if len(fwd_lines) != len(usable) or len(rev_lines) != len(usable):
        raise RuntimeError(f"eflomal returned {len(fwd_lines)}/{len(rev_lines)} link lines for {len(usable)} sentences")
    links: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)] * len(src)
    for k, f_line, r_line in zip(usable, fwd_lines, rev_lines):
        links[k] = symmetrise(
            _parse_links(f_line), _parse_links(r_line), len(src[k]), len(tgt[k]), method=symmetrisation
        )
    params = {
        "model": model,
        "n_samplers": n_samplers,
        "rel_iterations": rel_iterations,
        "n_pairs": len(src),
        "n_skipped_empty": len(src) - len(usable),
        "n_truncated_pairs": len(truncated),
        "n_source_tokens_cut": src_cut,
        "n_target_tokens_cut": tgt_cut,
        "deterministic": False,
    }
    return WordAlignment(src, tgt, tuple(links), symmetrisation, f"eflomal {metadata.version('eflomal')}", params)


def _eflomal_lengths(n_source: int, n_target: int) -> tuple[int, int]:
    """The lengths a pair is cut to for eflomal: unchanged when both fit, else the longer side to the limit
    and the other to the same share of its length (at least one token)."""
    longest = max(n_source, n_target)
    if longest <= EFLOMAL_MAX_TOKENS:
        return n_source, n_target
    return (max(1, n_source * EFLOMAL_MAX_TOKENS // longest), max(1, n_target * EFLOMAL_MAX_TOKENS // longest))


def _parse_links(text: str) -> list[tuple[int, int]]:
    return [tuple(map(int, pair.split("-"))) for pair in text.split()]  # type: ignore[misc]


def _import_eflomal():
    try:
        import eflomal
    except ImportError as err:
        raise ImportError(
            "building a translation dictionary needs the word aligner eflomal: `pip install eflomal` "
            "(or pass a dictionary TSV with TranslationDictionary.load)"
        ) from err
    return eflomal


def lexical_translations(
    alignment: WordAlignment,
    *,
    source_lang: str,
    target_lang: str,
    n_best: int = 10,
    reverse: bool = False,
) -> TranslationDictionary:
    """Estimate p(t | s) = count(s, t) / count(s) from aligned links and keep the ``n_best`` per word.

    Parameters
    ----------
    alignment : WordAlignment
    source_lang, target_lang : str
        Languages of the dictionary's source and target side (after ``reverse``).
    n_best : int, default 10
        Translations kept per source word (the paper's N).
    reverse : bool, default False
        Estimate the target-to-source dictionary p(s | t) from the same links.

    Returns
    -------
    TranslationDictionary
        Ties in probability are broken by the target form (so the result is deterministic).

    Raises
    ------
    ValueError
        When ``n_best`` is below 1 or the alignment has no links.
    """
    n_best = check_count("n_best", n_best, minimum=1)
    src_sents, tgt_sents = (alignment.target, alignment.source) if reverse else (alignment.source, alignment.target)
    pairs_s: list[str] = []
    pairs_t: list[str] = []
    for s_toks, t_toks, links in zip(src_sents, tgt_sents, alignment.links):
        s_idx, t_idx = (links[:, 1], links[:, 0]) if reverse else (links[:, 0], links[:, 1])
        pairs_s.extend(s_toks[i] for i in s_idx)
        pairs_t.extend(t_toks[j] for j in t_idx)
    if not pairs_s:
        raise ValueError("the alignment has no links: cannot estimate translations")
    counts = pd.DataFrame({"source": pairs_s, "target": pairs_t}).value_counts().rename("count").reset_index()
    counts["prob"] = counts["count"] / counts.groupby("source")["count"].transform("sum")
    counts = counts.sort_values(["source", "count", "target"], ascending=[True, False, True], kind="stable")
    table = counts.groupby("source", sort=False).head(n_best)[list(_COLUMNS)].reset_index(drop=True)
    provenance = {
        "aligner": alignment.aligner,
        "symmetrisation": alignment.symmetrisation,
        "aligner_params": alignment.params,
        "n_links": len(pairs_s),
        "estimator": "count(s,t)/count(s) over symmetrised links",
    }
    return TranslationDictionary(source_lang, target_lang, _typed(table), n_best, provenance)


def load_moses_lexicon(
    path: str | os.PathLike,
    *,
    source_lang: str,
    target_lang: str,
    n_best: int = 10,
    columns: str = "target-source",
) -> TranslationDictionary:
    """Read a Moses lexical translation table (``lex.e2f`` / ``lex.f2e``) as a dictionary.

    Moses' ``train-model.perl`` (step 4) writes one ``word word probability`` line per pair, separated by
    single spaces, the translation first: ``lex.f2e`` holds ``e f w(e|f)``, the translations of the
    foreign words f into e. So the dictionary from f into e is read from ``lex.f2e`` with the default
    ``columns="target-source"``. Lines pairing a word with Moses' ``NULL`` (no counterpart) are skipped;
    a source word's translations are ranked by decreasing probability, ties by the target word, and the
    ``n_best`` first are kept.

    Parameters
    ----------
    path : path-like
        The table (UTF-8 text).
    source_lang, target_lang : str
        Languages of the dictionary's source and target side.
    n_best : int, default 10
        Translations kept per source word.
    columns : {"target-source", "source-target"}, default "target-source"
        Which word comes first on a line: Moses' order (the translation first), or the source first.

    Returns
    -------
    TranslationDictionary
        ``count`` is -1 (the table gives none); the provenance names the file and the lines skipped.

    Raises
    ------
    ValueError
        For a line without exactly three space-separated fields, a probability that is not a number in
        [0, 1], a pair listed twice, a table without any pair, or an unknown ``columns``.
    """
    n_best = check_count("n_best", n_best, minimum=1)
    columns = check_choice("columns", columns, MOSES_COLUMNS)
    path = Path(path)
    rows: list[tuple[str, str, float]] = []
    n_null = 0
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        fields = raw.split(" ")
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise ValueError(f"{path}:{lineno}: expected 'word word probability' separated by single spaces")
        first, second, prob_text = fields
        try:
            prob = float(prob_text)
        except ValueError:
            raise ValueError(f"{path}:{lineno}: probability {prob_text!r} is not a number") from None
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"{path}:{lineno}: probability {prob} is outside [0, 1]")
        source, target = (second, first) if columns == "target-source" else (first, second)
        if "NULL" in (source, target):
            n_null += 1
            continue
        rows.append((source, target, prob))
    if not rows:
        raise ValueError(f"{path}: no word pair (a Moses lexical table has 'word word probability' lines)")
    table = pd.DataFrame(rows, columns=["source", "target", "prob"]).assign(count=-1)
    table = table.sort_values(["source", "prob", "target"], ascending=[True, False, True], kind="stable")
    table = table.groupby("source", sort=False).head(n_best)[list(_COLUMNS)].reset_index(drop=True)
    provenance = {"loaded_from": str(path), "format": "Moses lexical table", "columns": columns,
                  "n_null_lines_skipped": n_null}
    return TranslationDictionary(source_lang, target_lang, _typed(table), n_best, provenance)


def build_dictionaries(
    source: Sequence[Sequence[str]],
    target: Sequence[Sequence[str]],
    *,
    source_lang: str,
    target_lang: str,
    n_best: int = 10,
    symmetrisation: str = "grow-diag-final",
) -> tuple[TranslationDictionary, TranslationDictionary]:
    """Align a parallel corpus once and return both dictionaries, source->target and target->source.

    Parameters
    ----------
    source, target : sequence of sequence of str
        Parallel sentences as token lists (see :func:`align_words`).
    source_lang, target_lang : str
        Their languages.
    n_best : int, default 10
        Translations kept per word.
    symmetrisation : {"grow-diag-final", "intersection"}, default "grow-diag-final"

    Returns
    -------
    tuple of TranslationDictionary
        (source -> target, target -> source).
    """
    alignment = align_words(source, target, symmetrisation=symmetrisation)
    forward = lexical_translations(alignment, source_lang=source_lang, target_lang=target_lang, n_best=n_best)
    backward = lexical_translations(
        alignment, source_lang=target_lang, target_lang=source_lang, n_best=n_best, reverse=True
    )
    return forward, backward
