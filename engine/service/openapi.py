"""``/openapi.json``: the service's contract, generated from the repository's JSON Schemas for a
case and a result (``engine/schemas/``), so the API and the files cannot drift apart."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from engine.result import RESULT_VERSIONS
from engine.service.state import ENGINE_VERSION

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return data


def _hoisted(name: str, prefix: str, components: dict[str, Any]) -> dict[str, Any]:
    """A schema with its ``$defs`` moved to components (as ``<prefix>_<def>``) and its local
    references rewritten, which every OpenAPI tool resolves."""
    schema = _schema(name)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    defs = schema.pop("$defs", {})

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (f"#/components/schemas/{prefix}_{v.rsplit('/', 1)[1]}"
                        if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                        else rewrite(v)) for k, v in node.items()}  # fmt: skip
        if isinstance(node, list):
            return [rewrite(x) for x in node]
        return node

    for d, body in defs.items():
        components[f"{prefix}_{d}"] = rewrite(body)
    return rewrite(schema)  # type: ignore[no-any-return]


def _error() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["status", "diagnostics"],
                                 "properties": {"status": {"type": "integer"},
                                                "diagnostics": {"type": "array", "items": {
                                                    "$ref": "#/components/schemas/Diagnostic"}}}}},
    }  # fmt: skip


DIAGNOSTIC = {
    "type": "object",
    "required": ["code", "severity", "message"],
    "properties": {
        "code": {"type": "string", "description": "documented in docs/diagnostics.md"},
        "severity": {"enum": ["error", "warning"]},
        "message": {"type": "string"},
        "span": {"type": "object", "description": "where in the request body (request.json)"},
        "help": {"type": "string"},
        "citation": {"type": "string"},
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "the body is not JSON, or a query parameter is wrong",
             404: "no such jurisdiction, revision or section",
             413: "the body is larger than the service accepts",
             422: "the case does not fit the policy"}  # fmt: skip
    return {str(s): {"description": words[s], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for s in statuses}  # fmt: skip


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


def _decided(result: dict[str, Any]) -> dict[str, Any]:
    """What ``/v1/decide`` answers: the result, with the decision's id in the log."""
    decided = copy.deepcopy(result)
    decided["properties"].update(
        decision_id={"type": "string", "description": "the id of the decision-log event"},
        policy_digest={"type": "string", "description": "SHA-256 of the loaded policy files"},
        engine_version={"type": "string"},
    )
    decided["required"] = [*decided.get("required", []), "decision_id", "policy_digest",
                           "engine_version"]  # fmt: skip
    return decided


@cache
def _spec() -> dict[str, Any]:
    components: dict[str, Any] = {}
    case = _hoisted("case", "Case", components)
    result = _hoisted("result", "Result", components)
    # Version 1 of the result, written on `result_version=1` until the next version.
    result_v1 = _hoisted("result-v1", "ResultV1", components)
    components.update(
        Case=case, Result=result, ResultV1=result_v1, Decided=_decided(result),
        DecidedV1=_decided(result_v1), Error=_error(), Diagnostic=DIAGNOSTIC,
        Batch={"type": "object", "required": ["cases"], "additionalProperties": False,
               "properties": {"cases": {"type": "array",
                                        "items": {"$ref": "#/components/schemas/Case"}},
                              "decisions": {"type": "array", "minItems": 1,
                                            "items": {"type": "string"}}}},
        BatchResult={"type": "object", "required": ["batch_id", "results"], "properties": {
            "batch_id": {"type": "string"}, "policy_digest": {"type": "string"},
            "engine_version": {"type": "string"},
            "results": {"type": "array", "items": {"type": "object",
                                                   "required": ["decision_id"], "properties": {
                "decision_id": {"type": "string"},
                "values": {"type": "object", "description": "decision id → its JSON value; "
                           "null when it does not apply; {unknown: true, needs} when undetermined"},
                "error": {"type": "object"}}}}}},
        Listing={"type": "object"},
    )  # fmt: skip
    jurisdiction = _query("jurisdiction", "the jurisdiction (default: the only leaf one)",
                          {"type": "string"})  # fmt: skip
    revision = _query("revision", "the revision (default: the latest encoded)", {"type": "string"})
    listing = {
        "parameters": [jurisdiction, revision],
        "responses": {"200": _json("Listing", "the catalogue"), **_errors(400, 404)},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ordinance decision service", "version": ENGINE_VERSION,
                 "description": "Building codes as code: cited decisions for permit cases."},
        "paths": {
            "/v1/decide": {"post": {
                "summary": "Decide one case (what `ordinance eval --format json` prints, with a "
                           "decision id)",
                "parameters": [
                    _query("decisions", "comma-separated decision ids: only these are decided",
                           {"type": "string"}),
                    _query("explain", "build the `because` trees (default true)",
                           {"type": "string", "enum": ["true", "false"]}),
                    _query("result_version", "the shape of the result: 2 (the default) writes "
                           "each explanation step once, under `steps`; 1 each decision's whole "
                           "tree (deprecated, written until the next version)",
                           {"type": "string", "enum": list(RESULT_VERSIONS)})],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Case"}}}},
                "responses": {"200": {"description": "the decisions, cited (version 2; version 1 "
                                                      "on `result_version=1`)",
                                       "content": {"application/json": {"schema": {"oneOf": [
                                           {"$ref": "#/components/schemas/Decided"},
                                           {"$ref": "#/components/schemas/DecidedV1"}]}}}},
                              **_errors(400, 404, 413, 422)}}},
            "/v1/batch": {"post": {
                "summary": "Decide many cases by the bulk path; one bad case fails only itself",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Batch"}}}},
                "responses": {"200": _json("BatchResult", "each case's values or error, in "
                                           "order"), **_errors(400, 404, 413, 422)}}},
            "/v1/jurisdictions": {"get": {"summary": "Jurisdictions, revisions, time zones",
                                          "responses": {"200": _json("Listing", "the list")}}},
            "/v1/decisions": {"get": {"summary": "The decisions a revision makes", **listing}},
            "/v1/facts": {"get": {"summary": "The facts a case may give", **listing}},
            "/v1/sections/{citation}": {"get": {
                "summary": "A section's effective text and provenance",
                "parameters": [{"name": "citation", "in": "path", "required": True,
                                "schema": {"type": "string"}}, jurisdiction, revision],
                "responses": {"200": _json("Listing", "the section"), **_errors(400, 404)}}},
            "/v1/status": {"get": {"summary": "Policy digest, revisions, load time, uptime, "
                                   "counts", "responses": {"200": _json("Listing", "status")}}},
            "/health": {"get": {"summary": "Alive", "responses": {"200": _json("Listing", "ok")}}},
            **_certificate_paths(),
        },
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from `ordinance token new` (stored hashed)"}}},
    }  # fmt: skip


def _certificate_paths() -> dict[str, Any]:
    """The verification page and the certificate endpoints (engine/service/certificates.py)."""
    cid = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^CO-[A-Z2-7]{5}-[A-Z2-7]{5}$"},
    }
    write: dict[str, Any] = {"security": [{"bearer": []}]}
    refused = {
        str(s): {
            "description": d,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for s, d in (
            (401, "no bearer token"),
            (403, "a token the service does not know"),
            (404, "no such certificate"),
            (409, "the certificate's state refuses it"),
            (422, "the request does not fit"),
            (503, "certificates are not configured"),
        )
    }
    change = {
        "type": "object",
        "properties": {"reason": {"type": "string"}, "ground": {"type": "string"}},
    }
    return {
        "/v/{payload}": {"get": {
            "summary": "The page a certificate's QR code opens: valid, superseded, suspended, "
                       "revoked or not genuine (JSON with Accept: application/json)",
            "parameters": [{"name": "payload", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the verdict page",
                                  "content": {"text/html": {}, "application/json": {}}},
                          "414": {"description": "a payload longer than a QR code holds"}}}},
        "/v1/certificates": {"post": {
            "summary": "Issue the certificate of a case (the policy decides whether it may)",
            **write, "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Case"}}}},
            "responses": {"201": _json("Listing", "issued"), "200": _json("Listing",
                          "already issued"), **refused, **_errors(400, 413)}}},
        "/v1/certificates/{id}": {"get": {
            "summary": "A certificate's status and history", "parameters": [cid],
            "responses": {"200": _json("Listing", "status and events"), "404": refused["404"]}}},
        **{f"/v1/certificates/{{id}}/{action}": {"post": {
            "summary": f"{action.capitalize()} a certificate (IBC 111.4)", **write,
            "parameters": [cid], "requestBody": {"required": True, "content": {
                "application/json": {"schema": change}}},
            "responses": {"200": _json("Listing", "the new status"), **refused,
                          **_errors(400, 413)}}} for action in ("suspend", "reinstate", "revoke")},
        "/v1/certificates/{id}/regenerate": {"post": {
            "summary": "A corrected certificate superseding this one", **write,
            "parameters": [cid], "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "object"}}}},
            "responses": {"201": _json("Listing", "regenerated"), **refused,
                          **_errors(400, 413)}}},
    }  # fmt: skip


def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once; a copy, so a caller may change it)."""
    return copy.deepcopy(_spec())
