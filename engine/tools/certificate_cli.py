"""``ordinance keys`` and ``ordinance certificate``: signing keys, and certificates of occupancy
issued, verified, suspended, reinstated, revoked and regenerated (issue 12).

Exit codes as for every command: 0 done (for ``verify``: every check that ran is valid), 1 the
policy, the registry or a check refused (with located diagnostics), 2 a usage error.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from engine.api import Policy
from engine.certificates.grounds import GROUNDS, NEEDS_GROUND, grounded_reason
from engine.compile.load import read_case
from engine.diagnostics import CaseError, Diagnostic, OrdinanceError, in_file
from engine.tools.cli_common import _load


def _now() -> dt.datetime:
    """The moment of an event; ``ORDINANCE_NOW`` (ISO 8601 with a zone) fixes it for
    reproducible runs and tests."""
    fixed = os.environ.get("ORDINANCE_NOW")
    if fixed:
        try:
            moment = dt.datetime.fromisoformat(fixed)
        except ValueError:
            raise click.BadParameter(f"ORDINANCE_NOW `{fixed}` is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise click.BadParameter(f"ORDINANCE_NOW `{fixed}` needs a time zone (`Z`, `+00:00`)")
        return moment
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _who(value: str | None) -> str:
    if value:
        return value
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container: say so rather than invent one
        return "unknown user"


def _default_registry(out_dir: Path) -> str:
    return os.environ.get("ORDINANCE_REGISTRY") or str(out_dir / "registry.db")


registry_option = click.option(
    "--registry", "registry_url", envvar="ORDINANCE_REGISTRY", default=None,
    help="The certificate registry: a path or sqlite:///path (SQLite), or postgresql://… "
    "(env ORDINANCE_REGISTRY).")  # fmt: skip
who_option = click.option(
    "--who", default=None, help="Who does this, for the registry's record (default: your user)."
)
key_option = click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The signing key (a .pem from `ordinance keys new`).",
)
signing_trust_option = click.option(
    "--trust",
    "signing_trust",
    default=None,
    type=click.Path(path_type=Path),
    help="The trust list naming the key's jurisdiction and validity (default: the keys.json "
    "beside the key).",
)
out_option = click.option(
    "--out",
    "out_dir",
    default=Path("certificates"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for <id>.json, .pdf, .png and .eml.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any], parse_date: Any) -> None:  # fmt: skip
    """Add the ``keys`` and ``certificate`` groups to the ``ordinance`` command."""
    date_option = click.option("--date", "issued_on", callback=parse_date,
                               help="The issue date (default: today in the jurisdiction's "
                               "time zone).")  # fmt: skip

    @main.group("keys")
    def keys_group() -> None:
        """Signing keys for certificates, and the public trust list inspectors check with."""

    @keys_group.command("new")
    @click.option("--jurisdiction", "-j", required=True, help="The jurisdiction the key signs for.")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False,
                  path_type=Path), help="Folder for the private key and keys.json.")  # fmt: skip
    @click.option(
        "--valid-from",
        callback=parse_date,
        help="First issue date the key may sign (default: today in the jurisdiction).",
    )
    @click.option(
        "--valid-until",
        callback=parse_date,
        help="Last issue date the key may sign (default: five years on).",
    )
    @click.option(
        "--algorithm",
        type=click.Choice(["EdDSA"]),
        default="EdDSA",
        show_default=True,
        help="Ed25519 signatures (COSE EdDSA).",
    )
    @policy_option
    @guarded
    def keys_new(jurisdiction: str, out_dir: Path, valid_from: dt.date | None,
                 valid_until: dt.date | None, algorithm: str,
                 policy_dir: Path | None) -> None:  # fmt: skip
        """Make a signing key: DIR/<key id>.pem (private, mode 0600) and DIR/keys.json (public)."""
        from engine.certificates.keys import TRUST_FILE, new_key

        policy = _load(policy_dir)
        _known_jurisdiction(policy, jurisdiction)
        # Today where the jurisdiction is, the day `issue` dates a certificate: in the evening
        # west of Greenwich it is already tomorrow in UTC, and the key could not sign today's.
        zone = ZoneInfo(policy.jurisdictions[jurisdiction].time_zone)
        start = valid_from or _now().astimezone(zone).date()
        end = valid_until or start.replace(year=start.year + 5) - dt.timedelta(days=1)
        entry = new_key(jurisdiction, out_dir, start, end)
        echo(f"made key {entry.kid} for {jurisdiction}, valid for issue dates {entry.valid_from} "
             f"to {entry.valid_until}\n"
             f"  private key: {out_dir / (entry.kid + '.pem')} (keep it on the issuing machine)\n"
             f"  trust list:  {out_dir / TRUST_FILE} (publish it; inspectors verify with "
             "it)")  # fmt: skip

    @main.group("certificate")
    def certificate_group() -> None:
        """Certificates of occupancy: issue, verify, suspend, reinstate, revoke, regenerate."""

    @certificate_group.command("issue")
    @click.argument("case_path", metavar="CASE", type=click.Path(path_type=Path))
    @key_option
    @signing_trust_option
    @out_option
    @registry_option
    @date_option
    @click.option("--reason", default=None, help="Why, for the registry's record.")
    @who_option
    @format_option
    @policy_option
    @guarded
    def issue_cmd(case_path: Path, key_path: Path, signing_trust: Path | None, out_dir: Path,
                  registry_url: str | None, issued_on: dt.date | None, reason: str | None,
                  who: str | None, fmt: str, policy_dir: Path | None) -> None:  # fmt: skip
        """Issue the certificate of CASE when the policy allows it; refuse, with every reason,
        when it does not."""
        _issue(echo, case_path, (key_path, signing_trust), out_dir, registry_url, issued_on,
               reason, who, fmt, policy_dir, None)  # fmt: skip

    @certificate_group.command("regenerate")
    @click.argument("certificate_id", metavar="ID")
    @click.option(
        "--case",
        "case_path",
        required=True,
        type=click.Path(path_type=Path),
        help="The corrected case.",
    )
    @key_option
    @signing_trust_option
    @out_option
    @registry_option
    @date_option
    @click.option("--reason", required=True, help="What was wrong in the certificate.")
    @who_option
    @format_option
    @policy_option
    @guarded
    def regenerate_cmd(certificate_id: str, case_path: Path, key_path: Path,
                       signing_trust: Path | None, out_dir: Path, registry_url: str | None,
                       issued_on: dt.date | None, reason: str, who: str | None, fmt: str,
                       policy_dir: Path | None) -> None:  # fmt: skip
        """A corrected certificate from the corrected CASE, superseding certificate ID."""
        _issue(echo, case_path, (key_path, signing_trust), out_dir, registry_url, issued_on,
               reason, who, fmt, policy_dir, certificate_id)  # fmt: skip

    for kind, doc in (
        ("suspend", "Suspend a valid certificate (IBC 111.4), in writing: --reason."),
        ("reinstate", "Reinstate a suspended certificate."),
        ("revoke", "Revoke a valid or suspended certificate (IBC 111.4); nothing follows."),
    ):
        _state_command(certificate_group, kind, doc, echo, guarded)

    @certificate_group.command("history")
    @click.argument("certificate_id", metavar="ID")
    @registry_option
    @format_option
    @guarded
    def history_cmd(certificate_id: str, registry_url: str | None, fmt: str) -> None:
        """The certificate's status and every event recorded for it."""
        with _open(registry_url) as reg:
            status, events = reg.status(certificate_id), reg.history(certificate_id)
        if fmt == "json":
            echo(json.dumps({"certificate": certificate_id, **status.to_json(),
                             "events": [e.__dict__ for e in events]}, ensure_ascii=False),
                 data=True)  # fmt: skip
            return
        echo(_status_line(status))
        for e in events:
            echo(f"  {e.when}  {e.kind:<10} by {e.who}: {e.why} "
                 f"(policy {e.revision}, {e.digest[:12]})")  # fmt: skip

    @certificate_group.command("verify")
    @click.argument("scanned", metavar="FILE.png|FILE.pdf|TEXT")
    @click.option(
        "--trust",
        "trust_path",
        required=True,
        type=click.Path(path_type=Path),
        help="The jurisdiction's trust list (keys.json).",
    )
    @registry_option
    @click.option(
        "--status-list",
        "status_path",
        type=click.Path(path_type=Path),
        default=None,
        help="A signed status list, for checking status offline.",
    )
    @click.option(
        "--certificate",
        "certificate_path",
        type=click.Path(path_type=Path),
        default=None,
        help="The canonical certificate (<id>.json) to compare.",
    )
    @click.option(
        "--date", "on_date", callback=parse_date, help="The day of checking (default: today)."
    )
    @format_option
    @guarded
    def verify_cmd(scanned: str, trust_path: Path, registry_url: str | None,
                   status_path: Path | None, certificate_path: Path | None,
                   on_date: dt.date | None, fmt: str) -> None:  # fmt: skip
        """Check a certificate's QR code (scanned text, its PNG or the PDF): signature, issuer,
        status and content. Exit 0 only when every check that ran is valid."""
        _verify(echo, scanned, trust_path, registry_url, status_path, certificate_path,
                on_date, fmt)  # fmt: skip

    @certificate_group.command("status-list")
    @registry_option
    @click.option(
        "--key",
        "key_path",
        required=True,
        type=click.Path(path_type=Path),
        help="The signing key of the jurisdiction.",
    )
    @signing_trust_option
    @click.option("--jurisdiction", "-j", required=True)
    @click.option(
        "--out",
        "out_path",
        required=True,
        type=click.Path(path_type=Path),
        help="The signed status list file to publish.",
    )
    @guarded
    def status_list_cmd(registry_url: str | None, key_path: Path, signing_trust: Path | None,
                        jurisdiction: str, out_path: Path) -> None:  # fmt: skip
        """Publish the signed status list (every certificate: valid, suspended, revoked,
        superseded) for inspectors who check offline."""
        from engine.certificates import status
        from engine.certificates.issue import write_public
        from engine.certificates.keys import (
            check_signing_key,
            key_id,
            key_id_bytes,
            load_private_key,
        )

        private = load_private_key(key_path)
        now = _now()
        check_signing_key(key_id(private.public_key()), jurisdiction,
                          now.astimezone(dt.UTC).date(), key_path, signing_trust)  # fmt: skip
        with _open(registry_url) as reg:
            listing = reg.status_list(now)
        data = status.sign_status_list(listing, jurisdiction, private,
                                       key_id_bytes(private.public_key()))  # fmt: skip
        write_public(out_path, data)
        echo(f"wrote {out_path}: {len(listing['certificates'])} certificate(s), as of "
             f"{listing['generated_at']}")  # fmt: skip


def _known_jurisdiction(policy: Policy, jurisdiction: str) -> None:
    if jurisdiction not in policy.jurisdictions:
        from dsl.errors import did_you_mean

        guess = did_you_mean(jurisdiction, policy.jurisdictions)
        raise CaseError([Diagnostic(
            "cli/unknown-jurisdiction", f"the policy has no jurisdiction `{jurisdiction}`",
            help=f"did you mean `{guess}`?" if guess else
            "one of: " + ", ".join(sorted(policy.jurisdictions)))])  # fmt: skip


def _open(url: str | None) -> Any:
    from engine.certificates.registry import Registry

    if not url:
        raise click.UsageError("give the registry: --registry PATH or URL (or ORDINANCE_REGISTRY)")
    return Registry.open(url)


def _issue(echo: Callable[..., None], case_path: Path, key: tuple[Path, Path | None],
           out_dir: Path,
           registry_url: str | None, issued_on: dt.date | None, reason: str | None,
           who: str | None, fmt: str, policy_dir: Path | None,
           regenerate: str | None) -> None:  # fmt: skip
    from engine.certificates.issue import issue, prepare_out

    key_path, trust_path = key
    policy = _load(policy_dir)
    case = read_case(case_path)
    if not registry_url and not os.environ.get("ORDINANCE_REGISTRY"):
        prepare_out(out_dir)  # the default registry lives there
    try:
        with _open(registry_url or _default_registry(out_dir)) as reg:
            done = issue(policy, case, key_path=key_path, out_dir=out_dir, registry=reg,
                         who=_who(who), now=_now(), issued_on=issued_on,
                         regenerate=regenerate, why=reason, trust_path=trust_path)  # fmt: skip
            status = reg.status(done.record.id)
    except OrdinanceError as exc:
        exc.diagnostics = in_file(exc.diagnostics, str(case_path))
        raise
    if fmt == "json":
        echo(json.dumps({
            "certificate": done.record.id, "new": done.new, "status": status.state,
            "supersedes": done.record.supersedes, "recipients": list(done.recipients),
            "files": {k: str(v) for k, v in done.files.items()}, "qr_version": done.qr_version,
        }, ensure_ascii=False), data=True)  # fmt: skip
        return
    c = done.certificate
    what = "issued" if done.new else "already issued (nothing new recorded)"
    lines = [f"certificate {done.record.id} {what}: permit {plain(done.record.permit)}, "
             f"{c['jurisdiction']['title']}, issue date {c['issued_on']}"]  # fmt: skip
    if done.record.supersedes:
        lines.append(f"  supersedes {done.record.supersedes}")
    if status.state != "valid":
        lines.append(f"  status: {_status_line(status)}")
    lines += [f"  {kind:<4} {path}" for kind, path in done.files.items()]
    if done.recipients and "eml" in done.files:
        lines.append(f"  email to: {', '.join(done.recipients)} (send {done.files['eml']})")
    elif not done.recipients:
        lines.append("  no email: the policy names no recipients for this case")
    trust = trust_path or key_path.parent / "keys.json"
    lines.append(f"  QR code version {done.qr_version}; verify with: ordinance certificate "
                 f"verify {done.files['png']} --trust "
                 f"{trust if trust.is_file() else 'keys.json'}")  # fmt: skip
    from engine.certificates.qr import verification_url

    lines.append(f"  QR link: {verification_url(c['verify_url'], done.payload)}")
    echo("\n".join(lines))


def _status_line(status: Any) -> str:
    line = f"{status.certificate_id}: {status.state} since {status.since}"
    return line + (f", superseded by {status.superseded_by}" if status.superseded_by else "")


def _state_command(group: click.Group, kind: str, doc: str, echo: Callable[..., None],
                   guarded: Callable[[Any], Any]) -> None:  # fmt: skip
    @group.command(kind, help=doc)
    @click.argument("certificate_id", metavar="ID")
    @click.option("--reason", required=True, help="Why, in writing (recorded with the event).")
    @click.option("--ground", type=click.Choice(sorted(GROUNDS)), default=None,
                  help="The IBC 111.4 ground: issued in error, on incorrect information, or a "
                  "violation (required to suspend or revoke).")  # fmt: skip
    @registry_option
    @who_option
    @guarded
    def command(certificate_id: str, reason: str, ground: str | None,
                registry_url: str | None, who: str | None) -> None:  # fmt: skip
        if kind in NEEDS_GROUND and ground is None:
            raise click.UsageError(f"give the IBC 111.4 ground to {kind}: --ground "
                                   + "|".join(sorted(GROUNDS)))  # fmt: skip
        why = grounded_reason(ground, reason)
        with _open(registry_url) as reg:
            status = getattr(reg, kind)(certificate_id, _who(who), why, now=_now())
        echo(_status_line(status))


def _verify(echo: Callable[..., None], scanned: str, trust_path: Path, registry_url: str | None,
            status_path: Path | None, certificate_path: Path | None, on_date: dt.date | None,
            fmt: str) -> None:  # fmt: skip
    from engine.certificates import verify
    from engine.certificates.keys import load_trust

    trust = load_trust(trust_path)
    text = _scanned_text(scanned)
    day = on_date or _now().date()
    listing = None
    if status_path is not None:
        from engine.certificates.status import load_status_list

        listing = load_status_list(status_path, trust, day)
    certificate = None
    if certificate_path is not None:
        certificate = _read_text(certificate_path)
    if registry_url:
        with _open(registry_url) as reg:
            result = verify.verify_certificate(
                text, trust, day, registry=reg, status_list=listing, certificate=certificate
            )
    else:
        result = verify.verify_certificate(text, trust, day, status_list=listing,
                                           certificate=certificate)  # fmt: skip
    if fmt == "json":
        echo(json.dumps(verify.verification_json(result), ensure_ascii=False), data=True)
    else:
        echo(_verdict(result, verify.verification_text(result)))
    sys.exit(0 if result.valid else 1)


def _verdict(result: Any, checks: str) -> str:
    """What an inspector reads: what the signed code states (only when it is authentic), each
    check, and the verdict last."""
    lines = []
    c = result.claims
    if c is not None and result.check("signature").status == "valid":
        area = f", {c.area:,} sq ft" if c.area is not None else ""
        lines += [f"Certificate {c.certificate_id} ({plain(c.jurisdiction)}), permit "
                  f"{plain(c.permit)}",
                  f"  {plain(c.address)}",
                  f"  {plain(c.use)}; design occupant load {c.occupant_load}{area}",
                  f"  issued {c.issued_on.isoformat()} under revision {plain(c.revision)}",
                  ""]  # fmt: skip
    lines.append("\n".join(plain(line) for line in checks.rstrip("\n").splitlines()))
    failed = [x.name for x in result.checks if x.status == "invalid"]
    skipped = [x.name for x in result.checks if x.status == "skipped"]
    unchecked = f" (not checked: {', '.join(skipped)})" if skipped else ""
    lines += ["", f"VALID: every check that ran is valid{unchecked}" if result.valid else
              f"NOT VALID: the {' and '.join(failed) or 'signature'} check failed"]  # fmt: skip
    return "\n".join(lines)


# What a terminal would act on rather than show: C0 and C1 controls (ANSI escapes, a line break
# that forges a line of the verdict) and the bidirectional overrides that reorder what is read.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")  # fmt: skip


def plain(text: object) -> str:
    """A value from a case or a scanned code, safe to print on one terminal line: each control
    character is shown escaped (``\\x1b``, ``\\n``, ``\\u202e``) instead of acting.

    >>> print(plain("BP-1\\x1b[2J\\n"))
    BP-1\\x1b[2J\\n
    """
    out = []
    for c in str(text):
        bad = ord(c) < 32 or 127 <= ord(c) < 160 or c in BIDI_CONTROLS
        out.append(c.encode("unicode-escape").decode("ascii") if bad else c)
    return "".join(out)


def _scanned_text(scanned: str) -> str:
    """The QR code's text: read from a PNG or JPEG, from a PDF's pages, given as it is, or
    read from the standard input for ``-`` (what a scanner types)."""
    if scanned == "-":
        return sys.stdin.read(64 * 1024)
    path = Path(scanned)
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg", ".pdf") or (len(scanned) < 1024 and path.is_file()):
        if not path.is_file():
            raise CaseError([Diagnostic("certificate/no-qr", f"there is no file `{scanned}`",
                                        help="give the certificate's PNG or PDF, or the "
                                        "scanned text")])  # fmt: skip
        if suffix == ".pdf":
            from engine.certificates.document import decode_pdf

            return decode_pdf(path)
        from engine.certificates.qr import decode_png

        return decode_png(path)
    return scanned


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(
            [
                Diagnostic(
                    "certificate/bad-certificate",
                    f"cannot read `{path}`: {exc}",
                    help="give the certificate's <id>.json",
                )
            ]
        ) from None
