"""Pipeline stage 2, validate: check a loaded document against a JSON Schema kept in
``engine/schemas/`` (the same files editors use through yaml-language-server's ``$schema``), and
turn every violation into a located diagnostic in plain words."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from dsl.errors import did_you_mean
from engine.diagnostics import Collector
from engine.source import Document

SCHEMA_DIR = Path(__file__).parent.parent / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``engine/schemas/<name>.schema.json``."""
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    return loaded


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_document(doc: Document, name: str, out: Collector) -> None:
    """Validate ``doc`` against schema ``name``; add one diagnostic per problem to ``out``."""
    for err in sorted(_validator(name).iter_errors(doc.data), key=lambda e: list(e.path)):
        for leaf in [err] if _alternatives(err) is not None else _leaves(err):
            _report(doc, leaf, out)


def _leaves(err: ValidationError) -> list[ValidationError]:
    """For a oneOf/anyOf failure, the errors of the branch that came closest."""
    if err.validator in ("oneOf", "anyOf") and err.context:
        deepest = max(len(e.absolute_path) for e in err.context)
        return [e for e in err.context if len(e.absolute_path) == deepest][:1]
    return [err]


def _alternatives(err: ValidationError) -> list[str] | None:
    """For a ``oneOf`` of required keys (a rule's `value:` or `fee:`), the keys offered."""
    if err.validator != "oneOf":
        return None
    branches = cast(list[Any], err.validator_value)
    if not all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        return None
    return [k for b in branches for k in b["required"]]


def _report(doc: Document, err: ValidationError, out: Collector) -> None:
    path = tuple(err.absolute_path)
    keys = _alternatives(err)
    if keys is not None and isinstance(err.instance, dict):
        given = [k for k in keys if k in err.instance]
        words = " or ".join(f"`{k}:`" for k in keys)
        if given:
            out.add(
                "schema/invalid",
                f"give one of {words}, not several",
                doc.span((*path, given[-1]), key=True),
                help=f"remove `{given[-1]}:` or the other",
            )
        else:
            out.add(
                "schema/missing-key", f"missing {words}", doc.span(path), help=f"add one of {words}"
            )
        return
    where = _where(path)
    v, val = err.validator, cast(Any, err.validator_value)
    sch = cast(dict[str, Any], err.schema)
    if v == "additionalProperties":
        allowed = list(sch.get("properties", {}))
        for key in _extra_keys(err):
            guess = did_you_mean(key, allowed)
            out.add(
                "schema/unknown-key",
                f"unknown key `{key}`{where}",
                doc.span((*path, key), key=True),
                help=f"did you mean `{guess}`?"
                if guess
                else (
                    "the keys allowed here are " + ", ".join(f"`{k}`" for k in allowed)
                    if allowed
                    else None
                ),
            )
        return
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else str(val)
        out.add(
            "schema/missing-key",
            f"missing key `{missing}`{where}",
            doc.span(path, key=True),
            help=f"add `{missing}:`",
        )
    elif v in ("type", "enum", "const"):
        expected = f"one of {', '.join(f'`{x}`' for x in val)}" if v == "enum" else _type_words(val)
        got = json.dumps(err.instance, default=str)
        out.add(
            "schema/invalid-value" if v == "enum" else "schema/type",
            f"{_name(path)} must be {expected}, found `{got[:60]}`",
            doc.span(path),
            help=_enum_help(err.instance, val) if v == "enum" else _type_help(path, val),
        )
    elif v == "pattern" and _is_key(doc, path, err.instance):
        out.add("schema/invalid-value", f"`{err.instance}` is not a valid id",
                doc.span((*path, str(err.instance)), key=True),
                help="ids are lowercase words joined by dots: `permit.issued_on`")  # fmt: skip
    elif v == "pattern" and path and path[-1] == "id":
        out.add(
            "schema/invalid-value",
            f"the id `{err.instance}` is not a valid id",
            doc.span(path),
            help="ids are lowercase words joined by dots: `permit.expires_on`",
        )
    elif v == "format":
        out.add(
            "schema/invalid-value",
            f"{_name(path)} must be a {val} (YYYY-MM-DD), found `{err.instance}`",
            doc.span(path),
        )
    elif v == "propertyNames":
        out.add(
            "schema/invalid-value",
            f"`{err.instance}` is not a valid id",
            doc.span((*path, str(err.instance)), key=True),
            help="ids are lowercase words joined by dots: `permit.issued_on`",
        )
    elif v == "minItems":
        items = "item" if val == 1 else "items"
        out.add("schema/invalid", f"{_name(path)} needs at least {val} {items}",
                doc.span(path), help="an empty list leaves nothing to work with")  # fmt: skip
    else:
        out.add("schema/invalid", f"{_name(path)}: {err.message}", doc.span(path))


_EXPRESSION_KEYS = ("value", "when", "done", "deadline")


def _type_help(path: tuple[Any, ...], expected: Any) -> str | None:
    """An expression YAML read as a number, date or boolean: say to quote it."""
    if path and path[-1] in _EXPRESSION_KEYS and expected == "string":
        return f'quote the expression so YAML keeps it as text: `{path[-1]}: "…"`'
    return None


def _is_key(doc: Document, path: tuple[Any, ...], name: Any) -> bool:
    """Whether ``name`` is a key of the mapping at ``path`` (a propertyNames failure)."""
    try:
        node = doc.data_at(path)
    except (KeyError, IndexError, TypeError):
        return False
    return isinstance(node, dict) and isinstance(name, str) and name in node


def _extra_keys(err: ValidationError) -> list[str]:
    props = cast(dict[str, Any], err.schema).get("properties", {})
    inst = err.instance if isinstance(err.instance, dict) else {}
    return [k for k in inst if k not in props]


def _enum_help(instance: Any, values: list[Any]) -> str | None:
    guess = did_you_mean(str(instance), [str(v) for v in values])
    return f"did you mean `{guess}`?" if guess else None


def _type_words(t: Any) -> str:
    names = {
        "object": "a mapping (`key: value` lines)",
        "array": "a list (`- item` lines)",
        "string": "text",
        "boolean": "true or false",
        "integer": "a whole number",
        "number": "a number",
        "null": "empty",
    }
    ts = t if isinstance(t, list) else [t]
    return " or ".join(names.get(x, str(x)) for x in ts)


def _name(path: tuple[Any, ...]) -> str:
    keys = [p for p in path if isinstance(p, str)]
    return f"`{keys[-1]}`" if keys else "the document"


def _where(path: tuple[Any, ...]) -> str:
    keys = [str(p) for p in path if isinstance(p, str)]
    return f" in `{keys[-1]}`" if keys else ""
