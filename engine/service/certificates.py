"""The certificate endpoints of the decision service (issue 13 over issue 12's certificates):
the page a certificate's QR code opens, issuing, the files, the status and history, and the
IBC 111.4 changes. The work is ``engine.certificates``'s, exactly as the command line does it.

Reads and verification are public; writes need a bearer token (``engine.service.auth``), whose
name the registry records as who. Statuses: 401/403 no or a wrong token, 404 an unknown
certificate (or an id that is not one: nothing but ``CO-XXXXX-XXXXX`` reaches the file system),
409 a change the certificate's state refuses, 414 a payload no QR code can hold, 422 a case or
body that does not allow it, 503 a service not configured to issue or a registry it cannot open.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.certificates import payload, verify
from engine.certificates.grounds import GROUNDS, NEEDS_GROUND, grounded_reason
from engine.certificates.issue import Issued, issue
from engine.certificates.qr import verification_url
from engine.certificates.registry import Registry, RegistryError, Status
from engine.diagnostics import Diagnostic, OrdinanceError, Span
from engine.run.facts import Case
from engine.service.app import error_response, guarded, json_response, read_body
from engine.service.auth import Unauthorized, writer
from engine.service.bodies import BODY, BodyError, located, parse
from engine.service.state import Service
from engine.service.verify_page import CSP, Verdict, build_page, judge, verdict_json

LOG = logging.getLogger("ordinance.service")
CERTIFICATE_ID = re.compile(r"^CO-[A-Z2-7]{5}-[A-Z2-7]{5}$")
SERVED = {"json": "application/json", "pdf": "application/pdf", "png": "image/png"}  # not .eml
MAX_PAYLOAD_PATH = 8 * 1024  # a QR code holds at most 4,296 characters, escaped 3 for 1 at worst
CHANGES = ("suspend", "reinstate", "revoke")
CONFLICT = {"certificate/supersede-required", "certificate/state-refused",
            "certificate/not-current", "certificate/id-taken"}  # fmt: skip
NOT_FOUND = {"certificate/unknown", "case/unknown-jurisdiction", "case/unknown-revision"}
# The service's own configuration, not the client's request: logged, never shown (paths, URLs).
UNAVAILABLE = {"certificate/bad-key", "certificate/registry-unavailable"}
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY"}  # fmt: skip

Handler = Callable[[Service, "Registries", Request], Awaitable[Response]]


class Registries:
    """The one registry a service asks, opened on first use and kept: opening creates the
    schema, which is too slow to do per request. A registry that cannot be opened is tried
    again on the next request."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._open: Registry | None = None
        self._lock = threading.Lock()

    def url(self) -> str | None:
        """``--registry``, else the certificate folder's ``registry.db``, as the CLI does."""
        s = self.service
        if s.registry_url:
            return s.registry_url
        return str(s.certificate_dir / "registry.db") if s.certificate_dir else None

    def get(self) -> Registry | None:
        """The registry, or None when the service has none (called in a worker thread).

        Raises:
            RegistryError: it cannot be opened.
        """
        url = self.url()
        if url is None:
            return None
        folder = self.service.certificate_dir
        with self._lock:
            if self._open is None or self._open.url != url:
                if folder is not None and url == str(folder / "registry.db"):
                    folder.mkdir(parents=True, exist_ok=True)  # the default registry lives there
                self._open = Registry.open(url)
            return self._open

    def close(self) -> None:
        """Give back the registry's connections (a PostgreSQL server counts them)."""
        with self._lock:
            if self._open is not None:
                self._open.close()
                self._open = None


def routes(service: Service) -> list[BaseRoute]:
    """The certificate routes, for ``create_app(service, routes(service))``."""
    registries = Registries(service)
    service.on_close.append(registries.close)

    def route(path: str, fn: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(service, registries, request)
            except Unauthorized as exc:  # 401 says how to authenticate (RFC 6750)
                response = error_response(exc.status, exc.diagnostics)
                if exc.status == 401:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="ordinance"'
                return response

        return Route(path, guarded(service, endpoint), methods=methods)

    return [
        route("/v/{payload:path}", verification_page, ["GET"]),
        route("/v1/certificates", issue_certificate, ["POST"]),
        route("/v1/certificates/{name}", certificate_get, ["GET"]),
        route("/v1/certificates/{name}/{action}", certificate_change, ["POST"]),
        # `GET /v1/certificates/../x`: a 404 (no certificate), not "use POST"
        route("/v1/certificates/{name}/{rest:path}", _no_certificate, ["GET"]),
    ]


# --- the page the QR code opens -----------------------------------------------------------


async def verification_page(service: Service, registries: Registries, request: Request) -> Response:
    """The verdict on a scanned payload: the page, or its JSON with ``Accept: application/json``.
    Whatever the payload, the answer is a verdict (garbage is Not genuine), never an error,
    except for a path longer than any QR code holds."""
    text = _payload_text(request)
    if len(text) > MAX_PAYLOAD_PATH:
        raise BodyError(414, [Diagnostic(
            "service/payload-too-long", f"the payload is {len(text):,} characters; no QR code "
            f"holds more than {payload.MAX_TEXT:,}", help="open the URL the certificate's QR "
            "code holds, as it is")])  # fmt: skip
    v, verdict, day = await run_in_threadpool(_verified, service, registries, text)
    if _wants_json(request):
        return json_response({**verify.verification_json(v), **verdict_json(verdict),
                              "checked_on": day.isoformat()}, headers={"Cache-Control":
                                                                       "no-store"})  # fmt: skip
    return Response(build_page(v, verdict, day, _title(service, v.claims)), 200, PAGE_HEADERS,
                    media_type="text/html; charset=utf-8")  # fmt: skip


def _payload_text(request: Request) -> str:
    """The payload segment, percent-decoded exactly once. base45 writes `%`, escaped `%25` in
    the URL: decoding twice (as Starlette's test client does to ``path``) would turn `%25AB`
    into a byte that was never there, so the raw path is read when the server gives it."""
    raw = request.scope.get("raw_path")
    if not raw:
        return str(request.path_params["payload"])
    root = request.scope.get("root_path", "").encode("latin-1")
    tail = raw.split(b"?", 1)[0][len(root) :] if raw.startswith(root) else raw
    return unquote(tail.decode("latin-1").removeprefix("/v/"), errors="replace")


def _verified(
    service: Service, registries: Registries, text: str
) -> tuple[payload.Verification, Verdict, dt.date]:
    """Verify on today's date in the certificate's jurisdiction (a certificate issued this
    morning in a time zone ahead of UTC is not "dated after the day of checking")."""
    now = dt.datetime.now(dt.UTC)
    day = _local_day(service, payload.verify(text, service.trust, now.date()).claims, now)
    try:
        registry = registries.get()
        v = verify.verify_certificate(text, service.trust, day, registry=registry)
        status = _standing(registry, v)
    except RegistryError as exc:
        LOG.warning("the registry cannot be asked: %s", exc.diagnostics[0].message)
        v = verify.verify_certificate(text, service.trust, day)
        verdict = judge(v, None)
        if verdict.key == "not_checked":
            verdict = Verdict("not_checked", "Signature genuine; status not checked (the "
                              "registry cannot be reached now: try again later).")  # fmt: skip
        return v, verdict, day
    return v, judge(v, status), day


def _local_day(service: Service, claims: payload.Claims | None, now: dt.datetime) -> dt.date:
    jurisdictions = service.current.policy.jurisdictions
    if claims is None or claims.jurisdiction not in jurisdictions:
        return now.date()
    return now.astimezone(ZoneInfo(jurisdictions[claims.jurisdiction].time_zone)).date()


def _title(service: Service, claims: payload.Claims | None) -> str | None:
    jurisdiction = service.current.policy.jurisdictions.get(claims.jurisdiction) if claims else None
    return jurisdiction.title if jurisdiction else None


def _standing(registry: Registry | None, v: payload.Verification) -> Status | None:
    """The registry's standing of a certificate whose status was checked (None when it holds
    none): the verdict says since when, and what superseded it."""
    if registry is None or v.claims is None or v.check("status").status == "skipped":
        return None
    try:
        return registry.status(v.claims.certificate_id)
    except RegistryError as exc:
        if [d.code for d in exc.diagnostics] == ["certificate/unknown"]:
            return None
        raise


def _wants_json(request: Request) -> bool:
    """JSON when the client names it before HTML (a browser names HTML first)."""
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        if media == "application/json":
            return True
        if media in ("text/html", "application/xhtml+xml"):
            return False
    return False


# --- issuing ------------------------------------------------------------------------------


async def issue_certificate(service: Service, registries: Registries, request: Request) -> Response:
    """``POST /v1/certificates``: the body is a case; 201 when issued, 200 when it already was."""
    who = writer(service, request)
    issued_on = _date_parameter(request)
    body = await read_body(request, service.max_body)
    if not isinstance(parse(body), dict):
        raise BodyError(422, [Diagnostic(
            "case/not-a-mapping", "a certificate is issued for a case: a JSON object with "
            "`jurisdiction` and `facts`", Span(BODY, 1, 1, 1, 1),
            help="send the case file as JSON")])  # fmt: skip
    done, state = await run_in_threadpool(_issued, service, registries, body, (), who,
                                          issued_on, None, None)  # fmt: skip
    return _issued_response(done, state)


def _issued(service: Service, registries: Registries, body: bytes, at: tuple[Any, ...],
            who: str, issued_on: dt.date | None, regenerate: str | None,
            why: str | None) -> tuple[Issued, str]:  # fmt: skip
    """Issue from the case at ``at`` of the body, read with positions: issuing is rare and
    slow, so the case is read once, located, and any refusal is placed in the body."""
    loaded, key_path, out_dir = service.current, service.key_path, service.certificate_dir
    if key_path is None or out_dir is None:
        raise _unavailable("this service has no signing key and certificate folder configured")
    try:
        registry = registries.get()
        assert registry is not None  # the certificate folder is configured

        def work(case: Case) -> tuple[Issued, str]:
            done = issue(loaded.policy, case, key_path=key_path, out_dir=out_dir,
                         registry=registry, who=who, now=_now(), issued_on=issued_on,
                         regenerate=regenerate, why=why)  # fmt: skip
            return done, registry.status(done.record.id).state

        return located(body, at, work)
    except OrdinanceError as exc:
        raise _refusal(exc) from None


def _issued_response(done: Issued, state: str) -> Response:
    rid = done.record.id
    out = {"certificate": rid, "new": done.new, "status": state,
           "supersedes": done.record.supersedes,
           "files": {kind: f"/v1/certificates/{rid}.{kind}" for kind in SERVED
                     if kind in done.files},
           "verify_url": verification_url(done.certificate["verify_url"], done.payload),
           "qr_version": done.qr_version}  # fmt: skip
    return json_response(out, 201 if done.new else 200,
                         {"Location": f"/v1/certificates/{rid}"})  # fmt: skip


def _refusal(exc: OrdinanceError) -> BodyError:
    """The status of what the certificates package refused, with its diagnostics."""
    diagnostics = list(exc.diagnostics)
    codes = {d.code for d in diagnostics}
    if codes & UNAVAILABLE:
        LOG.error("certificates unavailable: %s", "; ".join(d.message for d in diagnostics))
        return _unavailable("the signing key or the registry cannot be used now")
    if codes & CONFLICT:
        return BodyError(409, diagnostics)
    if codes & NOT_FOUND:
        return BodyError(404, diagnostics)
    return BodyError(422, diagnostics)


def _unavailable(why: str) -> BodyError:
    return BodyError(503, [Diagnostic(
        "service/certificates-unavailable", f"certificates cannot be issued or changed: {why}",
        help="the operator gives `ordinance serve` a key, a certificate folder and a registry; "
        "the service's log says what failed")])  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _date_parameter(request: Request) -> dt.date | None:
    raw = request.query_params.get("date")
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BodyError(400, [Diagnostic("service/bad-parameter", f"`date={raw}` is not a date",
                                         help="write `date=YYYY-MM-DD`")]) from None  # fmt: skip


def _bad_body(message: str, help: str) -> BodyError:
    return BodyError(422, [Diagnostic("service/bad-change", message, Span(BODY, 1, 1, 1, 1),
                                      help=help)])  # fmt: skip


# --- reading: the status and history, the files -------------------------------------------


async def certificate_get(service: Service, registries: Registries, request: Request) -> Response:
    """``GET /v1/certificates/{id}`` (status and history) or ``{id}.json|.pdf|.png``."""
    name = request.path_params["name"]
    stem, dot, kind = name.rpartition(".")
    if dot and kind in SERVED:
        return await _file(service, _certificate_id(stem), kind)
    cid = _certificate_id(name)
    try:
        data = await run_in_threadpool(_history, registries, cid)
    except OrdinanceError as exc:
        raise _refusal(exc) from None
    files = {
        k: f"/v1/certificates/{cid}.{k}"
        for k in SERVED
        if service.certificate_dir and (service.certificate_dir / f"{cid}.{k}").is_file()
    }
    return json_response({**data, "files": files})  # fmt: skip


async def _no_certificate(service: Service, registries: Registries, request: Request) -> Response:
    _certificate_id(request.url.path.removeprefix("/v1/certificates/"))
    raise AssertionError("a path with a slash is no certificate id")


def _certificate_id(text: str) -> str:
    """A certificate id, or 404: only what matches the id's pattern becomes a file name."""
    if not CERTIFICATE_ID.fullmatch(text):
        raise BodyError(404, [Diagnostic(
            "service/bad-certificate-id", f"`{text[:80]}` is not a certificate id",
            help="a certificate id is `CO-` and two groups of five letters A-Z and digits 2-7, "
            "such as `CO-5HKRZ-UB2CT`")])  # fmt: skip
    return text


def _history(registries: Registries, cid: str) -> dict[str, Any]:
    registry = registries.get()
    if registry is None:
        raise RegistryError([Diagnostic("certificate/unknown", f"the service has no registry "
                                        f"and so no certificate `{cid}`", help="ask the "
                                        "jurisdiction's verification service")])  # fmt: skip
    record, status = registry.get(cid), registry.status(cid)
    events = [
        {
            "seq": e.seq,
            "kind": e.kind,
            "who": e.who,
            "when": e.when,
            "why": e.why,
            "revision": e.revision,
            "digest": e.digest,
        }
        for e in registry.history(cid)
    ]
    return {"certificate": cid, "jurisdiction": record.jurisdiction, "permit": record.permit,
            "case": record.case_id, "issued_at": record.issued_at, "key_id": record.key_id,
            "supersedes": record.supersedes, **status.to_json(), "events": events}  # fmt: skip


async def _file(service: Service, cid: str, kind: str) -> Response:
    folder = service.certificate_dir
    path = folder / f"{cid}.{kind}" if folder else None
    data = await run_in_threadpool(lambda: path.read_bytes() if path and path.is_file() else None)
    if data is None:
        raise BodyError(404, [Diagnostic(
            "service/no-such-file", f"this service holds no file `{cid}.{kind}`",
            help=f"see /v1/certificates/{cid} for the files it holds")])  # fmt: skip
    return Response(data, 200, {"Content-Disposition": f'inline; filename="{cid}.{kind}"',
                                "X-Content-Type-Options": "nosniff"},
                    media_type=SERVED[kind])  # fmt: skip


# --- changes: suspend, reinstate, revoke (IBC 111.4), regenerate --------------------------


async def certificate_change(service: Service, registries: Registries,
                             request: Request) -> Response:  # fmt: skip
    """``POST /v1/certificates/{id}/suspend|reinstate|revoke|regenerate``."""
    action = request.path_params["action"]
    if action not in (*CHANGES, "regenerate"):
        raise BodyError(404, [Diagnostic(
            "service/no-such-endpoint", f"no such endpoint `{request.url.path}`",
            help="a certificate can be suspended, reinstated, revoked or "
            "regenerated")])  # fmt: skip
    who = writer(service, request)
    cid = _certificate_id(request.path_params["name"])
    issued_on = _date_parameter(request) if action == "regenerate" else None
    body = await read_body(request, service.max_body)
    data = parse(body)
    if action == "regenerate":
        reason = _regenerate_body(data)
        done, state = await run_in_threadpool(_issued, service, registries, body, ("case",),
                                              who, issued_on, cid, reason)  # fmt: skip
        return _issued_response(done, state)
    why = grounded_reason(*_change_body(data, action))
    try:
        status = await run_in_threadpool(_changed, registries, cid, action, who, why)
    except OrdinanceError as exc:
        raise _refusal(exc) from None
    return json_response({"certificate": cid, **status.to_json()})


def _changed(registries: Registries, cid: str, action: str, who: str, why: str) -> Any:
    registry = registries.get()
    if registry is None:
        raise _unavailable("this service has no registry configured")
    return getattr(registry, action)(cid, who, why, now=_now())


def _change_body(data: Any, action: str) -> tuple[str | None, str]:
    """The ground and reason of a change; a ground is required to suspend or revoke."""
    grounds = "|".join(sorted(GROUNDS))
    shape = f'send `{{"reason": "…", "ground": "{grounds}"}}`'
    if not isinstance(data, dict) or set(data) - {"reason", "ground"}:
        raise _bad_body(f"a {action} is an object with `reason` and `ground`", shape)
    reason, ground = data.get("reason"), data.get("ground")
    if not isinstance(reason, str) or not reason.strip():
        raise _bad_body(f"a {action} needs a written `reason` (IBC 111.4: in writing)", shape)
    if ground is None and action in NEEDS_GROUND:
        raise _bad_body(f"give the IBC 111.4 ground to {action}", shape)
    if ground is not None and ground not in GROUNDS:
        raise _bad_body(f"`{str(ground)[:40]}` is not an IBC 111.4 ground", shape)
    return ground, reason.strip()


def _regenerate_body(data: Any) -> str:
    shape = 'send `{"case": {…the corrected case…}, "reason": "what was wrong"}`'
    if not isinstance(data, dict) or set(data) - {"case", "reason"} \
            or not isinstance(data.get("case"), dict):  # fmt: skip
        raise _bad_body("a regenerate is an object with the corrected `case` and a `reason`",
                        shape)  # fmt: skip
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _bad_body("a regenerate needs a written `reason`: what was wrong", shape)
    return reason.strip()
