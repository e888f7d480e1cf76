"""The page a certificate's QR code opens: a verification (``engine.certificates.verify``) → one
verdict in large words → a self-contained HTML page sized for a phone held in the sun.

The verdict is colour and words and a symbol, never colour alone. What the certificate states
is shown only when its signature is genuine. Built as ``xml.etree`` elements, so every piece of
the certificate's text is an escaped text node; inline CSS, no script, and a
Content-Security-Policy that forbids every request (the page loads nothing from anywhere).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Literal

from engine.certificates.payload import Claims, Verification
from engine.certificates.registry import Status
from engine.html_page import document, el, page_text

Key = Literal["valid", "superseded", "suspended", "revoked", "not_genuine", "not_checked"]
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"


@dataclass(frozen=True)
class Look:
    """How a verdict shows: its words, a symbol for readers who cannot tell the colours apart,
    and its colours (white text on a dark background: at least 7:1 contrast)."""

    words: str
    symbol: str
    background: str


# One table for the verdicts: the page, its title and the JSON's `verdict` all come from it.
LOOKS: dict[Key, Look] = {
    "valid": Look("Valid", "✓", "#0a5c2a"),
    "superseded": Look("Superseded", "⟳", "#7a3d00"),
    "suspended": Look("Suspended", "‖", "#7a3d00"),
    "revoked": Look("Revoked", "✕", "#9b1111"),
    "not_genuine": Look("Not genuine", "✕", "#9b1111"),
    "not_checked": Look("Not checked", "?", "#2f3b4a"),
}


@dataclass(frozen=True)
class Verdict:
    """What the inspector is told: the verdict and one sentence of why."""

    key: Key
    detail: str
    superseded_by: str | None = None


def judge(v: Verification, status: Status | None) -> Verdict:
    """The verdict of a verification; ``status`` is the registry's standing of the certificate
    (None when there is no registry, or it holds no such certificate).

    Not genuine wins over everything: a forged code may claim any status.
    """
    checks = {c.name: c for c in v.checks}
    if checks["signature"].status != "valid" or v.claims is None:
        return Verdict("not_genuine", "This code was not signed by the city, or was changed "
                       "after it was signed.")  # fmt: skip
    if checks["issuer"].status != "valid":
        return Verdict("not_genuine", "Signed, but not with a key the city trusted for its "
                       "issue date.")  # fmt: skip
    if checks.get("content") and checks["content"].status == "invalid":
        return Verdict("not_genuine", "The registry's record is not the certificate this code "
                       "was signed for.")  # fmt: skip
    check = checks.get("status")
    if check is None or check.status == "skipped":
        return Verdict("not_checked", "Signature genuine; status not checked (this service has "
                       "no registry to ask).")  # fmt: skip
    if status is None:
        return Verdict("not_genuine", "Signed with the city's key, but the registry holds no "
                       "such certificate.")  # fmt: skip
    day = status.since[:10]
    if status.state == "valid":
        return Verdict("valid", f"Genuine, and in force since {day}.")
    if status.state == "superseded":
        return Verdict("superseded", f"Replaced on {day} by certificate {status.superseded_by}. "
                       "Ask for that one.", status.superseded_by)  # fmt: skip
    key: Key = "suspended" if status.state == "suspended" else "revoked"
    return Verdict(key, _sentence(check.reason.replace(status.since, day)))


def _sentence(reason: str) -> str:
    reason = reason.replace("`", "")
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """The fields the JSON form adds to ``verification_json``."""
    out: dict[str, Any] = {"verdict": verdict.key, "verdict_text": LOOKS[verdict.key].words,
                           "detail": verdict.detail}  # fmt: skip
    if verdict.superseded_by:
        out["superseded_by"] = verdict.superseded_by
    return out


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 17px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #111; background: #fff; }
.verdict { color: #fff; padding: 1.4rem 1.1rem 1.3rem; }
.verdict .mark { font-size: 4.2rem; line-height: 1; font-weight: 800; margin: 0; }
/* 11.5vw: the longest verdict, SUPERSEDED, fits a phone's width in one piece; never split
   inside a word (overflow-wrap stays normal) */
.verdict h1 { font-size: min(11.5vw, 4.5rem); line-height: 1.02; margin: .2rem 0 .5rem;
  font-weight: 850; letter-spacing: -.01em; text-transform: uppercase; }
.verdict p { font-size: 1.15rem; margin: 0; font-weight: 600; overflow-wrap: anywhere; }
main { padding: .9rem 1.1rem 1.5rem; }
h2 { font-size: 1.1rem; margin: 1rem 0 .4rem; }
dl { margin: 0; }
dt { font-size: .85rem; color: #4a5360; text-transform: uppercase; letter-spacing: .04em;
  margin-top: .6rem; }
dd { margin: 0; font-size: 1.2rem; font-weight: 650; overflow-wrap: anywhere; }
.warn { font-weight: 700; font-size: 1.1rem; }
ul.checks { list-style: none; padding: 0; margin: 0; font-size: .85rem; color: #333; }
ul.checks li { padding: .3rem 0; border-top: 1px solid #d0d5db; overflow-wrap: anywhere; }
ul.checks b { text-transform: uppercase; font-size: .75rem; letter-spacing: .04em; }
footer { font-size: .8rem; color: #4a5360; margin-top: 1.2rem; }
"""


def build_page(v: Verification, verdict: Verdict, on_date: dt.date,
               jurisdiction_title: str | None = None) -> str:  # fmt: skip
    """The whole page as one string (``<!DOCTYPE html>`` and the ``html`` element);
    ``jurisdiction_title`` is the policy's name of the certificate's jurisdiction, if known."""
    look = LOOKS[verdict.key]
    banner = el(
        "section",
        {"class": f"verdict v-{verdict.key}", "style": f"background:{look.background}",
         "role": "status"},
        el("p", {"class": "mark", "aria-hidden": "true"}, look.symbol),
        el("h1", None, look.words),
        el("p", None, page_text(verdict.detail)),
    )  # fmt: skip
    main = el("main", None, *_statement(v, verdict, jurisdiction_title), *_checks(v, on_date))
    body = el("body", None, banner, main)
    return document(
        f"{look.words} · certificate of occupancy",
        CSP,
        _CSS,
        body,
        el("meta", {"name": "robots", "content": "noindex"}),
    )


def _statement(v: Verification, verdict: Verdict, title: str | None) -> list[ET.Element]:
    """What the certificate states, when the signature is genuine; a warning otherwise."""
    if verdict.key == "not_genuine" or v.claims is None:
        return [el("p", {"class": "warn"}, "Do not rely on what this code or its paper says. "
                    "Ask the building department.")]  # fmt: skip
    c = v.claims
    rows = [("Address", c.address), ("Use and occupancy", c.use),
            ("Occupant load", f"{c.occupant_load:,}")]  # fmt: skip
    if c.area is not None:
        rows.append(("Area", f"{c.area:,} sq ft"))
    rows += [("Issued", c.issued_on.isoformat()), ("Jurisdiction", title or c.jurisdiction),
             ("Certificate", c.certificate_id), ("Permit", c.permit)]  # fmt: skip
    if verdict.superseded_by:
        rows.append(("Superseded by", verdict.superseded_by))
    items: list[ET.Element] = []
    for label, value in rows:
        items += [el("dt", None, label), el("dd", None, page_text(value))]
    return [el("h2", None, _title(c)), el("dl", None, *items)]


def _title(c: Claims) -> str:
    return f"Certificate of occupancy {c.certificate_id}"


def _checks(v: Verification, on_date: dt.date) -> list[ET.Element]:
    lines = [el("li", None, el("b", None, f"{c.name} {c.status}"), " ", page_text(c.reason))
             for c in v.checks]  # fmt: skip
    return [
        el("h2", None, "Checks"),
        el("ul", {"class": "checks"}, *lines),
        el("footer", None, f"Checked on {on_date.isoformat()} with the jurisdiction's trust "
            "list. This page loads nothing from anywhere else."),
    ]  # fmt: skip
