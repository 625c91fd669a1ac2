"""One self-contained HTML report of a run: figures embedded, tables, readings, provenance.

A run folder holds one sub-folder per study. Each study describes what the report should show in a
``report.json`` beside its results::

    {"title": "Cross-lingual similarity",
     "summary": "what was done, in a sentence or two",
     "figures": [{"file": "figures/anc.png", "caption": "...", "reading": "what the axes are, what a rise means"}],
     "tables": [{"file": "similarity.parquet", "caption": "...", "max_rows": 40}],
     "provenance": "manifest.json"}

:func:`write_report` turns every such section into HTML with the figures inlined as base64 PNG (no external
request of any kind), the tables rendered from the parquet files, and the provenance file shown in full.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from crossling._utils.io import atomic_write_text
from crossling.exceptions import ReportError

__all__ = ["format_number", "write_report", "write_section"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d2733;line-height:1.5}
h1{border-bottom:3px solid #3b6ea5;padding-bottom:.3em}h2{margin-top:2.2em;color:#24476b}
figure{margin:1.5em 0;padding:1em;background:#f7f9fb;border-radius:8px}
figure img{max-width:100%;height:auto;display:block;margin:auto}
figcaption{font-weight:600;margin-top:.6em}.reading{color:#3d4b5c;margin:.3em 0 0}
table{border-collapse:collapse;font-size:.85em;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #d5dde6;padding:.25em .6em;text-align:right}th{background:#e9eff5}
td:first-child,th:first-child{text-align:left}caption{caption-side:top;text-align:left;font-weight:600;padding:.4em 0}
details{margin:1em 0}pre{background:#f3f5f7;padding:1em;overflow-x:auto;font-size:.8em}
nav a{margin-right:1em}
"""


def write_section(study_dir: str | os.PathLike, section: dict) -> Path:
    """Write a study's ``report.json`` (atomically); the figure and table files must exist.

    Parameters
    ----------
    study_dir : path-like
        The study's result folder; file names in ``section`` are relative to it.
    section : dict
        ``title``, ``summary``, ``figures`` (``file``, ``caption``, ``reading``), ``tables`` (``file``,
        ``caption``, ``max_rows``), ``provenance`` (see the module docstring).

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        When a figure or table file of the section does not exist.
    """
    study_dir = Path(study_dir)
    for item in section.get("figures", []) + section.get("tables", []):
        if not (study_dir / item["file"]).is_file():
            raise ReportError(f"{study_dir / item['file']} does not exist")
    return atomic_write_text(study_dir / "report.json", json.dumps(section, indent=1, ensure_ascii=False))


def _figure(study_dir: Path, item: dict) -> str:
    data = base64.b64encode((study_dir / item["file"]).read_bytes()).decode("ascii")
    alt = html.escape(item.get("caption", item["file"]))
    reading = f'<p class="reading">{html.escape(item["reading"])}</p>' if item.get("reading") else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{alt}</figcaption>{reading}</figure>")


def format_number(value: float) -> str:
    """One format for every number in a report: four significant digits, thousands separated.

    Fixed-point between 0.001 and one million (``0.1250``, ``12.35``, ``1,234``), scientific outside that
    range (``1.235e-05``), ``NaN`` and ``inf`` as such.

    Parameters
    ----------
    value : float

    Returns
    -------
    str
    """
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    size = abs(value)
    if size == 0:
        return "0"
    if size < 1e-3 or size >= 1e6:
        return f"{value:.3e}"
    decimals = max(0, 3 - math.floor(math.log10(size)))
    return f"{value:,.{decimals}f}"


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return format_number(float(value))
    if value is None:
        return ""
    return html.escape(str(value))


def _table(study_dir: Path, item: dict) -> str:
    path = study_dir / item["file"]
    source = f"{study_dir.name}/{item['file']}"
    df = pd.read_parquet(path)
    max_rows = int(item.get("max_rows", 50))
    note = "" if len(df) <= max_rows else f" (first {max_rows} of {len(df)} rows; all in {path.name})"
    caption = html.escape(item.get("caption", path.name)) + html.escape(note)
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>"
                   for row in df.head(max_rows).itertuples(index=False, name=None))
    return (f'<table class="data" data-source="{html.escape(source)}"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def write_report(run_dir: str | os.PathLike, *, out: str | os.PathLike | None = None, title: str = "crossling report",
                 order: Sequence[str] | None = None) -> Path:
    """Write ``report.html`` for every study section found in ``run_dir``.

    Parameters
    ----------
    run_dir : path
        A run folder: its sub-folders (and the folder itself) with a ``report.json`` become sections.
    out : path, optional
        Where to write; default ``run_dir/report.html``.
    title : str, default "crossling report"
    order : sequence of str, optional
        Sub-folder names whose sections come first, in this order; the other sections follow in name order.
        Default: the ``sections`` list of ``run_dir/run.json`` when there is one (``crossling demo`` writes
        it, in the order the run made them), else name order.

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    ReportError
        When no sub-folder of ``run_dir`` (nor the folder itself) has a ``report.json``.
    """
    run_dir = Path(run_dir)
    if order is None:
        record = run_dir / "run.json"
        order = json.loads(record.read_text(encoding="utf-8")).get("sections", []) if record.is_file() else []
    rank = {name: i for i, name in enumerate(order)}
    sections = sorted((p.parent for p in run_dir.glob("*/report.json")),
                      key=lambda folder: (rank.get(folder.name, len(rank)), folder.name)) + (
        [run_dir] if (run_dir / "report.json").is_file() else [])
    if not sections:
        raise ReportError(f"{run_dir}: no study results (no */report.json)")
    parts, nav = [], []
    for study_dir in sections:
        section = json.loads((study_dir / "report.json").read_text(encoding="utf-8"))
        anchor = html.escape(study_dir.name)
        nav.append(f'<a href="#{anchor}">{html.escape(section["title"])}</a>')
        parts.append(f'<section id="{anchor}"><h2>{html.escape(section["title"])}</h2>')
        if section.get("summary"):
            parts.append(f"<p>{html.escape(section['summary'])}</p>")
        parts.extend(_figure(study_dir, item) for item in section.get("figures", []))
        parts.extend(_table(study_dir, item) for item in section.get("tables", []))
        if section.get("provenance"):
            text = (study_dir / section["provenance"]).read_text(encoding="utf-8")
            parts.append(f"<details><summary>Provenance: what made these numbers ({html.escape(section['provenance'])})"
                         f"</summary><pre>{html.escape(text)}</pre></details>")
        parts.append("</section>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
            f"<h1>{html.escape(title)}</h1><p>Run folder <code>{html.escape(str(run_dir))}</code>, written "
            f"{time.strftime('%Y-%m-%d %H:%M')}.</p><nav>{''.join(nav)}</nav>{''.join(parts)}</body></html>")
    return atomic_write_text(Path(out) if out else run_dir / "report.html", page)
