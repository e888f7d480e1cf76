"""`steps:` in a golden case's `expect:` block: what a procedure says is done and next, checked
by `ordinance test` (and so by `ordinance mutate`, which could not otherwise notice a wrong
`when:` or `done:` of a procedure step)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.tools.cli import main
from tests.conftest import ROOT

HOUSTON = ROOT / "tests" / "golden" / "houston" / "cal-2024"
CASE = """case: T-1
jurisdiction: houston
as_of: 2024-06-05
facts:
  building: {use: commercial, stories: 1}
  application: {submitted_on: 2024-06-03, processed_on: 2024-06-03}
  payment: {made_on: 2024-06-04}
  inspection: {scheduled_on: null}
expect:
"""


def _test(tmp_path: Path, expect: str) -> tuple[int, str]:
    """Run one case filed under Houston's revision folder, as a golden case is."""
    folder = tmp_path / "houston" / "cal-2024"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.yaml").write_text(CASE + expect, "utf-8")
    result = CliRunner().invoke(main, ["test", str(tmp_path)])
    return result.exit_code, result.output


def test_a_step_expectation_that_holds_passes(tmp_path: Path) -> None:
    code, out = _test(tmp_path, "  steps:\n"
                      "    houston_certificate_of_occupancy/payment_link: done\n"
                      "    houston_certificate_of_occupancy/payment:\n"
                      "      status: ready\n      deadline: 2024-06-03\n"
                      "      needs: []\n")  # fmt: skip
    assert (code, out.strip()) == (0, "1 passed, 0 failed")


def test_a_wrong_status_deadline_or_step_is_a_mismatch(tmp_path: Path) -> None:
    code, out = _test(tmp_path, "  steps:\n"
                      "    houston_certificate_of_occupancy/payment: {status: done, "
                      "deadline: 2024-06-04}\n"
                      "    houston_certificate_of_occupancy/paymnt: ready\n")  # fmt: skip
    assert code == 1
    assert ("houston_certificate_of_occupancy/payment: expected status `done`, got `ready`"
            in out)  # fmt: skip
    assert ("houston_certificate_of_occupancy/payment: expected deadline `2024-06-04`, got "
            "`2024-06-03`") in out  # fmt: skip
    assert (
        "houston_certificate_of_occupancy/paymnt: expected step `a step of this policy`, "
        "got `no such step (did you mean houston_certificate_of_occupancy/payment?)`"
    ) in out


def test_a_malformed_steps_block_is_located(tmp_path: Path) -> None:
    for expect, words in [
        ("  steps: [a, b]\n", "`steps` maps each `procedure/step` to its expected status"),
        ("  steps: {payment: done}\n", "a step is named `procedure/step`, found `payment`"),
        ("  steps: {p/s: finished}\n", "a step's status is one of done, ready, waiting"),
        ("  steps: {p/s: {stauts: done}}\n", "did you mean `status`?"),
        ("  steps: {p/s: {needs: x}}\n", "`needs` must be a list of text"),
    ]:
        code, out = _test(tmp_path, expect)
        assert code == 1, expect
        assert "t.yaml:10:" in out and "case/bad-expectation" in out and words in out, out


def test_the_bundled_golden_cases_pin_every_step_of_the_houston_process() -> None:
    text = (HOUSTON / "85-process-certificate-emailed.yaml").read_text("utf-8")
    for step in ("application", "payment_link", "payment", "inspection_scheduled", "inspection",
                 "certificate_emailed"):  # fmt: skip
        assert f"houston_certificate_of_occupancy/{step}: done" in text
