"""Issue 9, point 4: case text cannot drive a terminal or a Markdown report.

Case files are untrusted: JSON and escaped YAML strings let control characters through, and
``Policy.evaluate(dict)`` gets anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from engine import Policy
from engine.cli import main
from engine.render import render_markdown, render_text
from tests.conftest import ROOT

SCRIPT = "<script>window.__pwned=1</script>"
EXAMPLE = ROOT / "examples" / "kent-co-and-permit.yaml"


# 4. Terminal and Markdown injection --------------------------------------------------------------


def _json_case(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.update(changes)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(data, default=str), "utf-8")  # JSON escapes let anything in
    return path


def test_eval_text_shows_control_characters_escaped(tmp_path: Path) -> None:
    case = _json_case(tmp_path, case="K-1\x1b[2J\r\x9b\u202eevil")
    result = CliRunner().invoke(main, ["eval", str(case)])
    assert result.exit_code == 0, result.output
    assert not any(c in result.stdout for c in "\x1b\r\x9b\u202e")
    assert "K-1\\x1b[2J\\x0d\\x9b\\u202eevil" in result.stdout


def test_render_text_escapes_values_from_a_dict_case(policy: Policy) -> None:
    case = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    case["facts"]["building"]["type"] = "other"
    case["case"] = "\u2066K\x07"
    text = render_text(policy.evaluate(case), "Kent\x1b]0;title\x07", "rev")
    assert "\x1b" not in text and "\x07" not in text and "\u2066" not in text
    assert "\\u2066K\\x07" in text and "Kent\\x1b]0;title\\x07" in text


def test_diagnostics_show_control_characters_escaped(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data["facts"]["permit"]["code"] = "IBC\x1b[31m"
    data["facts"]["permit\u202e"] = {"x": 1}
    case.write_text(json.dumps(data, default=str, ensure_ascii=False, indent=1), "utf-8")
    result = CliRunner().invoke(main, ["eval", str(case)])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\\u202e" in result.stderr


def test_render_markdown_escapes_what_it_quotes(policy: Policy) -> None:
    case = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    case["case"] = f"K-1\n# Injected heading {SCRIPT} | x"
    md = render_markdown(policy.evaluate(case), "Kent <b>", "rev")
    assert "\n# Injected" not in md and "<script" not in md and "<b>" not in md
    assert md.startswith("# Case K-1 # Injected heading &lt;script&gt;")
