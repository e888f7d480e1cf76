"""The decision service's HTTP API (Starlette): decide one case, a batch of cases, and what the
policy offers; every refusal is JSON with the diagnostics ``ordinance eval`` gives.

Statuses: 400 a body that is not JSON or a bad query parameter, 404 an unknown jurisdiction,
revision or section, 413 a body past the configured size, 422 a case that does not fit the
policy. A 500 is a bug in ordinance: the client is told so and the error is logged, never
its traceback.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.diagnostics import CaseError, Diagnostic, Span
from engine.result import RESULT_VERSION, RESULT_VERSIONS
from engine.run import catalogue
from engine.run.program import CompiledPolicy
from engine.service import openapi
from engine.service.bodies import BodyError, located, parse
from engine.service.convert import values_converter
from engine.service.log import DecisionLog
from engine.service.state import ENGINE_VERSION, Loaded, Service

LOG = logging.getLogger("ordinance.service")
NOT_FOUND_CODES = {"case/unknown-jurisdiction", "case/unknown-revision"}
BAD_REQUEST_CODES = {"case/unknown-decision"}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON bytes by orjson (dates and decimals are already JSON forms here)."""
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def error_response(status: int, diagnostics: list[Diagnostic]) -> Response:
    """``{"error": {"status", "diagnostics": [...]}}``: the CLI's codes, messages and positions
    (into ``request.json``, the body)."""
    return json_response(
        {"error": {"status": status, "diagnostics": [d.to_json() for d in diagnostics]}}, status
    )


def new_id() -> str:
    """A ULID: 48 bits of milliseconds and 80 random bits in Crockford base32, so decision ids
    sort by time in a log and never collide between workers."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def now_text() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, [_too_large(limit)])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, [_too_large(limit)])
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Diagnostic:
    return Diagnostic("service/body-too-large", f"the request body is larger than {limit:,} bytes",
                      help="send fewer cases per request, or ask the operator to raise "
                      "--max-body")  # fmt: skip


def _bad_parameter(message: str, help: str) -> BodyError:
    return BodyError(400, [Diagnostic("service/bad-parameter", message, help=help)])


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise _bad_parameter(f"`{name}={raw}` is not true or false", f"write `{name}=false`")


def _result_version(request: Request) -> str:
    """The ``result_version`` asked for: the shape of the result (``engine.result``)."""
    raw = request.query_params.get("result_version", RESULT_VERSION)
    if raw not in RESULT_VERSIONS:
        raise _bad_parameter(f"`result_version={raw}` is not a result version",
                             f"write one of {', '.join(RESULT_VERSIONS)}, or omit it for "
                             f"{RESULT_VERSION}")  # fmt: skip
    return raw


def _decision_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise _bad_parameter("`decisions=` names no decision", "write `decisions=a,b` or omit it")
    return names


def _status_of(diagnostics: list[Diagnostic]) -> int:
    codes = {d.code for d in diagnostics}
    if codes & NOT_FOUND_CODES:
        return 404
    if codes and codes <= BAD_REQUEST_CODES:
        return 400
    return 422


def guarded(
    service: Service, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Refusals become their JSON; anything else is a logged bug (500, no traceback sent)."""

    async def run(request: Request) -> Response:
        try:
            response = await handler(request)
        except BodyError as exc:
            service.count(f"status_{exc.status}")
            return error_response(exc.status, exc.diagnostics)
        except Exception:
            LOG.exception("internal error on %s %s", request.method, request.url.path)
            service.count("status_500")
            return error_response(500, [Diagnostic(
                "service/internal-error", "internal error: this is a bug in ordinance",
                help="the service logged it; report it with the request")])  # fmt: skip
        service.count(f"status_{response.status_code}")
        return response

    return run


# --- decide ------------------------------------------------------------------------------------


async def decide(service: Service, request: Request) -> Response:
    loaded = service.current
    decisions = _decision_list(request.query_params.get("decisions"))
    explain = _flag(request, "explain", True)
    version = _result_version(request)
    body = await read_body(request, service.max_body)
    data = parse(body)
    started = time.perf_counter()
    decision_id = new_id()
    options = {"decisions": decisions, "explain": explain, "as_of": None}
    try:
        if not isinstance(data, dict):
            raise CaseError([])  # located below: "a case must be a JSON object"
        result = loaded.policy.evaluate(data, decisions=decisions, explain=explain)
    except CaseError:
        diagnostics = _located_refusal(loaded, body, (), decisions, explain, data)
        status = _status_of(diagnostics)
        await _log(service, [_event(loaded, decision_id, options, data, None, diagnostics, status,
                                    started)])  # fmt: skip
        return error_response(status, diagnostics)
    out = result.to_dict(version)
    await _log(service, [_event(loaded, decision_id, options, data, out, [], 200, started,
                                result.jurisdiction, result.revision)])  # fmt: skip
    service.count("decisions")
    out.update(decision_id=decision_id, policy_digest=loaded.digest, engine_version=ENGINE_VERSION)
    return json_response(out, headers={"X-Decision-Id": decision_id})


def _located_refusal(
    loaded: Loaded,
    body: bytes,
    at: tuple[Any, ...],
    decisions: list[str] | None,
    explain: bool,
    data: Any,
) -> list[Diagnostic]:
    """The refusal again, read with positions in the body."""
    try:
        located(body, at, lambda case: loaded.policy.evaluate(case, decisions=decisions,
                                                              explain=explain), data)  # fmt: skip
    except CaseError as exc:
        return list(exc.diagnostics)
    except BodyError as exc:
        return exc.diagnostics
    # Read with positions it passed: the fast path's mapping and the file differ (a bug).
    raise AssertionError("a case refused as a mapping was accepted as a document")


def _event(
    loaded: Loaded,
    decision_id: str,
    request: dict[str, Any],
    data: Any,
    result: Any,
    diagnostics: list[Diagnostic],
    status: int,
    started: float,
    jurisdiction: str | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """One decide event (docs/service.md)."""
    return {**_header(loaded, decision_id, "decide", None, request, status, started, jurisdiction,
                      revision),
            "input": data, "result": result,
            "diagnostics": [d.to_json() for d in diagnostics]}  # fmt: skip


def _header(
    loaded: Loaded,
    event_id: str,
    kind: str,
    batch_id: str | None,
    request: dict[str, Any],
    status: int,
    started: float,
    jurisdiction: str | None,
    revision: str | None,
) -> dict[str, Any]:
    """What every event says of itself, a decision or a whole batch."""
    return {
        "id": event_id, "time": now_text(), "kind": kind, "batch_id": batch_id, "index": None,
        "jurisdiction": jurisdiction, "revision": revision, "policy_digest": loaded.digest,
        "engine_version": ENGINE_VERSION, "request": request, "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }  # fmt: skip


async def _log(service: Service, events: list[dict[str, Any]]) -> None:
    """Durable before the response is sent: a crash loses only unacknowledged decisions."""
    if service.log is None:
        return
    await run_in_threadpool(service.log.append_many, events)


# --- batch -------------------------------------------------------------------------------------


async def batch(service: Service, request: Request) -> Response:
    loaded = service.current
    body = await read_body(request, service.max_batch_body)
    data = parse(body)
    cases, decisions = _batch_shape(data, service.max_batch_cases)
    batch_id = new_id()
    started = time.perf_counter()
    results = await run_in_threadpool(_run_batch, loaded, body, cases, decisions, batch_id,
                                      started, service.log)  # fmt: skip
    service.count("batch_cases", len(cases))
    return json_response({"batch_id": batch_id, "policy_digest": loaded.digest,
                          "engine_version": ENGINE_VERSION, "results": results},
                         headers={"X-Batch-Id": batch_id})  # fmt: skip


def _batch_shape(data: Any, most: int) -> tuple[list[Any], list[str] | None]:
    where = Span("request.json", 1, 1, 1, 1)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise BodyError(422, [Diagnostic(
            "service/bad-batch", "a batch is an object with `cases`, a list of cases", where,
            help='send `{"cases": [case, …], "decisions": ["id", …]}`')])  # fmt: skip
    extra = sorted(set(data) - {"cases", "decisions"})
    if extra:
        raise BodyError(422, [Diagnostic(
            "service/bad-batch", f"a batch has no key `{extra[0]}`", where,
            help="a batch holds `cases` and, optionally, `decisions`")])  # fmt: skip
    decisions = data.get("decisions")
    if decisions is not None and (not isinstance(decisions, list) or not decisions
                                  or not all(isinstance(d, str) for d in decisions)):  # fmt: skip
        raise BodyError(
            422,
            [
                Diagnostic(
                    "service/bad-batch",
                    "`decisions` is a list of decision ids",
                    where,
                    help='write `"decisions": ["permit.expires_on"]`, or leave it out for all',
                )
            ],
        )
    if len(data["cases"]) > most:
        raise BodyError(413, [Diagnostic(
            "service/too-many-cases", f"a batch holds at most {most:,} cases, this one "
            f"{len(data['cases']):,}", where, help="split it into several batches")])  # fmt: skip
    return data["cases"], decisions


def _run_batch(
    loaded: Loaded,
    body: bytes,
    cases: list[Any],
    decisions: list[str] | None,
    batch_id: str,
    started: float,
    log: DecisionLog | None,
) -> list[dict[str, Any]]:
    """Every case's values, in order, by the bulk path; a case that does not fit gets its own
    located diagnostics and the others their values. With ``log``, the batch is logged
    (durably) before the results are returned, in the same worker thread: a second hand-over
    to the thread pool would cost as much as logging a small batch.

    The whole batch goes to ``values_many`` first (the common case: every case fits); only
    when that refuses are the cases taken one by one, so a bad case costs only itself. Item
    ``i``'s decision id is ``<batch id>.<i>``: unique, and sorted with its batch in the log.

    With ``log``, the batch is one event holding its items (``engine.service.log.expand``
    gives each item back as its own event): what items share (time, policy, request) is
    written once, and the batch costs one serialisation and one fsync, not one per case.
    """
    policy = loaded.policy
    refused: dict[int, list[Diagnostic]] = {}
    computed: dict[int, dict[str, Any]] = {}
    try:
        if not all(isinstance(c, dict) for c in cases):
            raise CaseError([])
        many = list(zip(range(len(cases)), policy.values_many(cases, decisions), strict=True))
    except CaseError as exc:
        if {d.code for d in exc.diagnostics} & BAD_REQUEST_CODES:  # an unknown decision id
            raise BodyError(400, list(exc.diagnostics)) from None
        many = []
        for i, case in enumerate(cases):
            try:
                if not isinstance(case, dict):
                    raise CaseError([])
                many.append((i, policy.values(case, decisions)))
            except CaseError:
                refused[i] = _located_refusal_values(loaded, body, i, case)
    converters: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
    for i, values in many:
        jid = cases[i].get("jurisdiction")
        convert = converters.get(jid)
        if convert is None:
            convert = converters[jid] = values_converter(loaded.types.get(jid, {}))
        computed[i] = convert(values)
    results: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        did = f"{batch_id}.{i}"
        if i in refused:
            status = _status_of(refused[i])
            diagnostics = [d.to_json() for d in refused[i]]
            results.append({"decision_id": did, "error": {"status": status,
                                                          "diagnostics": diagnostics}})  # fmt: skip
            if log is not None:
                items.append({"index": i, "input": case, "jurisdiction": None, "status": status,
                              "result": None, "diagnostics": diagnostics})  # fmt: skip
        else:
            results.append({"decision_id": did, "values": computed[i]})
            if log is not None:
                items.append({"index": i, "input": case, "jurisdiction": case.get("jurisdiction"),
                              "status": 200, "result": {"values": computed[i]},
                              "diagnostics": []})  # fmt: skip
    if log is None:
        return results
    options = {"decisions": decisions, "explain": False, "as_of": None}
    jurisdiction = _common({item["jurisdiction"] for item in items})
    event = _header(loaded, batch_id, "batch", batch_id, options, 200, started, jurisdiction, None)
    log.append({**event, "items": items})
    return results


def _common(values: set[Any]) -> Any:
    """The one value all items share, else None (the batch row's `jurisdiction`)."""
    return next(iter(values)) if len(values) == 1 else None


def _located_refusal_values(loaded: Loaded, body: bytes, index: int, data: Any) -> list[Diagnostic]:
    try:
        located(body, ("cases", index), lambda case: loaded.policy.prepare(case), data)
    except CaseError as exc:
        return list(exc.diagnostics)
    raise AssertionError("a case refused as a mapping was accepted as a document")


# --- what the policy offers --------------------------------------------------------------------


def _compiled(service: Service, request: Request) -> CompiledPolicy:
    policy = service.current.policy
    jurisdiction = request.query_params.get("jurisdiction")
    revision = request.query_params.get("revision")
    try:
        if jurisdiction is None:
            leaves = sorted(
                {j for j, _ in policy.compiled}
                - {policy.jurisdictions[j].extends for j, _ in policy.compiled}
            )
            if len(leaves) != 1:
                raise _bad_parameter("name the jurisdiction: `?jurisdiction=` one of "
                                     + ", ".join(leaves), "add `?jurisdiction=<id>`")  # fmt: skip
            jurisdiction = leaves[0]
        if revision is None:
            return policy.latest(jurisdiction)
        return policy.compiled_for(jurisdiction, revision)
    except CaseError as exc:
        raise BodyError(404, list(exc.diagnostics)) from None


async def jurisdictions(service: Service, request: Request) -> Response:
    policy = service.current.policy
    out = []
    for jid in sorted(policy.jurisdictions):
        jur = policy.jurisdictions[jid]
        out.append({
            "id": jid, "title": jur.title, "extends": jur.extends, "time_zone": jur.time_zone,
            "revisions": [{"id": r.id, "title": r.title, "effective_on":
                           r.effective_on.isoformat() if r.effective_on else None,
                           "encoded": r.encoded, "compiled": (jid, r.id) in policy.compiled}
                          for r in jur.revisions],
        })  # fmt: skip
    return json_response({"jurisdictions": out})


async def decisions_list(service: Service, request: Request) -> Response:
    cp = _compiled(service, request)
    return json_response({"jurisdiction": cp.jurisdiction, "revision": cp.revision,
                          "decisions": catalogue.decision_rows(cp)})  # fmt: skip


async def facts_list(service: Service, request: Request) -> Response:
    cp = _compiled(service, request)
    return json_response({"jurisdiction": cp.jurisdiction, "revision": cp.revision,
                          "facts": catalogue.fact_rows(cp)})  # fmt: skip


async def section(service: Service, request: Request) -> Response:
    cp = _compiled(service, request)
    citation = request.path_params["citation"]
    sec = catalogue.find_section(cp, citation)
    if sec is None:
        from dsl.errors import did_you_mean

        guess = did_you_mean(" ".join(citation.split()), cp.layered.sections)
        raise BodyError(404, [Diagnostic(
            "cli/unknown-section", f"no section `{citation}` in {cp.jurisdiction} {cp.revision}",
            help=f"did you mean `{guess}`?" if guess else "see /v1/decisions for the "
            "sections that define each decision")])  # fmt: skip
    return json_response({"jurisdiction": cp.jurisdiction, "revision": cp.revision,
                          **catalogue.section_row(cp, sec)})  # fmt: skip


async def health(service: Service, request: Request) -> Response:
    return json_response({"status": "ok"})


async def status(service: Service, request: Request) -> Response:
    loaded = service.current
    return json_response({
        "status": "ok", "engine_version": ENGINE_VERSION, "policy_digest": loaded.digest,
        "policy": str(loaded.source),
        "revisions": sorted(f"{j}/{r}" for j, r in loaded.policy.compiled),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(loaded.loaded_at)),
        "uptime_s": round(time.time() - service.started_at, 3),
        "counts": dict(sorted(service.counts.items())),
        "reloads": len(service.reloads), "decision_log": service.log is not None,
        "pid": os.getpid(),
    })  # fmt: skip


async def openapi_json(service: Service, request: Request) -> Response:
    return json_response(openapi.spec())


def create_app(service: Service, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The application for ``service``; ``extra_routes`` are the certificate routes."""

    def route(path: str, fn: Callable[[Service, Request], Awaitable[Response]],
              methods: list[str]) -> Route:  # fmt: skip
        async def endpoint(request: Request) -> Response:
            return await fn(service, request)

        return Route(path, guarded(service, endpoint), methods=methods)

    routes: list[BaseRoute] = [
        route("/v1/decide", decide, ["POST"]),
        route("/v1/batch", batch, ["POST"]),
        route("/v1/jurisdictions", jurisdictions, ["GET"]),
        route("/v1/decisions", decisions_list, ["GET"]),
        route("/v1/facts", facts_list, ["GET"]),
        route("/v1/sections/{citation:path}", section, ["GET"]),
        route("/v1/status", status, ["GET"]),
        route("/health", health, ["GET"]),
        route("/openapi.json", openapi_json, ["GET"]),
        *(extra_routes or []),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such path, a method the path does not take) as JSON too."""
    status = getattr(exc, "status_code", 500)
    message = {404: f"no such endpoint `{request.url.path}`",
               405: f"`{request.method}` is not allowed on `{request.url.path}`"}.get(
                   status, str(getattr(exc, "detail", "refused")))  # fmt: skip
    return error_response(
        status,
        [
            Diagnostic(
                "service/no-such-endpoint" if status == 404 else "service/method-not-allowed",
                message,
                help="see /openapi.json for the endpoints",
            )
        ],
    )
