"""Open an HTML file in a real headless Chromium and report what a person would see."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageView:
    console_errors: list[str]
    image_sizes: list[tuple[int, int]]
    tables: list[dict]  # {"source": parquet file name, "header": [...], "rows": [[cell text, ...], ...]}
    failed_requests: list[str]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def view(html_file: Path, screenshot: Path | None = None) -> PageView:
    """Load ``html_file`` in headless Chromium with a fresh profile; collect errors, images and tables."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(Path(html_file).resolve().as_uri(), wait_until="load")
        sizes = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
        tables = page.evaluate("""Array.from(document.querySelectorAll('table[data-source]')).map(t => ({
            source: t.dataset.source,
            header: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim()),
            rows: Array.from(t.querySelectorAll('tbody tr'))
                .map(r => Array.from(r.cells).map(c => c.textContent.trim()))
        }))""")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        context.close()
    return PageView(errors, [tuple(s) for s in sizes], tables, failed)


def assert_tables_match(view_: PageView, run_dir: Path) -> int:
    """Every rendered table's cells equal its parquet file's values (numbers as the report formats them).

    A table's ``data-source`` is ``<study folder>/<file>``, relative to the run folder's parent.
    """
    import pandas as pd

    from crossling.report import format_number

    checked = 0
    for table in view_.tables:
        df = pd.read_parquet(run_dir / table["source"])
        assert table["header"] == [str(c) for c in df.columns]
        for cells, row in zip(table["rows"], df.itertuples(index=False, name=None)):
            for cell, value in zip(cells, row):
                if isinstance(value, float) or value is None:
                    assert cell == ("" if value is None else format_number(value)), (table["source"], cell, value)
                else:
                    assert cell == str(value), (table["source"], cell, value)
                checked += 1
    return checked
