"""Issue 11 §3: the default site is self-contained. Mermaid ships with ordinance (pinned, with
its licence, in the wheel), the theme uses system fonts, and no built page names a script,
style sheet, font or image outside the site. The browser test (tests/test_browser.py) shows the
same with every request out of the site blocked."""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from engine import Policy
from engine.tools.docsgen import MERMAID_JS, VENDOR, build_docs


@pytest.fixture(scope="module")
def site(policy: Policy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site-offline")
    build_docs(policy, out)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q"], cwd=out,
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out


def test_the_vendored_mermaid_is_the_pinned_one_with_its_licence() -> None:
    notes = (VENDOR / "README.md").read_text("utf-8")
    (pinned,) = re.findall(r"sha256: ([0-9a-f]{64})", notes)
    assert hashlib.sha256((VENDOR / "mermaid.min.js").read_bytes()).hexdigest() == pinned
    assert (VENDOR / "mermaid.LICENSE").read_text("utf-8").startswith("The MIT License")


def test_the_config_loads_nothing_from_outside(site: Path) -> None:
    config = yaml.load((site / "mkdocs.yml").read_text("utf-8"), yaml.BaseLoader)
    assert config["theme"]["font"] == "false"  # system fonts, not Google's
    assert config["extra_javascript"] == [MERMAID_JS]
    assert (site / "docs" / MERMAID_JS).read_bytes() == (VENDOR / "mermaid.min.js").read_bytes()
    assert (site / "site" / "vendor" / "mermaid.LICENSE.txt").is_file()  # served beside it


class _Assets(html.parser.HTMLParser):
    """What a page makes the browser fetch: scripts, style sheets, images, frames, fonts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.urls.append(a["src"] or "")
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical",):
            self.urls.append(a["href"] or "")


def test_no_built_page_fetches_from_outside(site: Path) -> None:
    pages = sorted((site / "site").rglob("*.html"))
    assert len(pages) > 150
    outside = []
    for page in pages:
        parser = _Assets()
        parser.feed(page.read_text("utf-8"))
        outside += [f"{page}: {u}" for u in parser.urls if urlparse(u).scheme or u.startswith("//")]
    assert outside == []


def test_the_wheel_carries_mermaid_and_its_licence(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "engine/tools/vendor/mermaid.min.js" in names
    assert "engine/tools/vendor/mermaid.LICENSE" in names
