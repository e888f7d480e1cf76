"""`Result.to_json` (issue 16): encoded by orjson, byte for byte what `json.dumps` wrote before,
and still written when orjson refuses a value."""

from __future__ import annotations

import json

import pytest

from engine import load_policy
from engine.api import Policy
from engine.compile.load import read_case
from engine.result import Result
from tests.conftest import GOLDEN


def _reference(result: Result) -> str:
    """The encoding `to_json` had before orjson: the contract its bytes keep."""
    return json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":"))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def test_every_golden_result_is_the_same_bytes_as_json_dumps(policy: Policy) -> None:
    paths = sorted(p for p in GOLDEN.rglob("*.yaml"))
    assert len(paths) > 250
    for path in paths:
        result = policy.evaluate(read_case(path))
        assert result.to_json() == _reference(result), path


def test_what_orjson_refuses_is_still_written(policy: Policy) -> None:
    """orjson refuses an integer past 64 bits and half a surrogate pair (a case file refuses
    the latter where it is written, `load/encoding`; a program building a result may not);
    `json` writes both, the same way as before."""
    result = policy.evaluate(read_case(sorted(GOLDEN.rglob("*.yaml"))[0]))
    for odd in (2**70, "K-\ud800"):
        result.case = odd  # type: ignore[assignment]
        assert result.to_json() == _reference(result)
        assert json.loads(result.to_json())["case"] == odd


def test_orjson_writes_every_character_as_json_dumps_does() -> None:
    """The byte-for-byte promise for any text a case or policy holds: every code point but the
    surrogates (which no text can hold), in one document, encoded both ways."""
    import orjson

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    text = ["".join(chars[i : i + 1024]) for i in range(0, len(chars), 1024)]
    data = {"texts": text, "keys": {t[:3]: t[-3:] for t in text}}
    assert orjson.dumps(data).decode() == json.dumps(data, ensure_ascii=False,
                                                     separators=(",", ":"))  # fmt: skip
