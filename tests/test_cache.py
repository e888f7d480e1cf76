"""The compiled-policy cache (engine/cache.py, issue 16): a policy loaded from it decides every
golden case to the byte as a fresh compile does, any change to what it was made from is a miss,
a broken entry is rebuilt without a word, and loading it imports no compile-time library."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import engine.api
from engine import Policy, load_policy
from engine import cache as policy_cache
from engine.compile import graph as gr
from engine.compile.load import read_case
from engine.render import RENDERERS, RenderContext
from engine.tools.expect import evaluate_pinned
from tests.conftest import GOLDEN, ROOT, comparable

CASES = sorted(GOLDEN.rglob("*.yaml"))
COMPILE_TIME = ("yaml", "jsonschema", "lark", "networkx", "holidays")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own, turned on whatever the caller's environment says."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ORDINANCE_CACHE_DIR", str(folder))
    monkeypatch.delenv("ORDINANCE_NO_CACHE", raising=False)
    return folder


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders ``load_policy`` compiled (rather than loaded from the cache), in order."""
    seen: list[Path] = []
    real = engine.api._compile

    def counting(root: Path, *args: Any) -> Any:
        seen.append(root)
        return real(root, *args)

    monkeypatch.setattr(engine.api, "_compile", counting)
    return seen


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Policy, Policy]:
    """The bundled policy compiled, and loaded back from a cache that compile filled."""
    folder = tmp_path_factory.mktemp("both") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORDINANCE_CACHE_DIR", str(folder))
        mp.delenv("ORDINANCE_NO_CACHE", raising=False)
        fresh = load_policy(ROOT / "policy")
        assert list(folder.glob("*.policy")), "the compile was not saved"
        mp.setattr(engine.api, "_compile", _no_compile)
        cached = load_policy(ROOT / "policy")
    return fresh, cached


def _no_compile(*_: Any) -> Any:
    raise AssertionError("compiled although the cache holds this policy")


def _outputs(policy: Policy, path: Path) -> list[Any]:
    """Everything a golden case shows: the JSON result, each rendering, the bare values."""
    case = read_case(path)
    revision = path.parts[-2]
    result = evaluate_pinned(policy, case, revision)
    jur = policy.jurisdictions[result.jurisdiction]
    title = next(r.title for r in jur.revisions if r.id == revision)
    shown = [render(result, RenderContext(jur.title, title)) for render in RENDERERS.values()]
    values = policy.values(case) if case.revision is None else None
    return [result.to_json(), *shown, comparable([values]) if values is not None else None]


@pytest.mark.parametrize("path", CASES, ids=lambda p: "__".join(p.relative_to(GOLDEN).parts))
def test_a_cached_policy_decides_every_golden_case_as_a_compiled_one(
    path: Path, both: tuple[Policy, Policy]
) -> None:
    fresh, cached = both
    assert _outputs(cached, path) == _outputs(fresh, path)


def test_a_cached_policy_is_the_compiled_one_in_bulk_and_in_its_graph(
    both: tuple[Policy, Policy],
) -> None:
    fresh, cached = both
    assert sorted(cached.compiled) == sorted(fresh.compiled)
    assert cached.diagnostics == fresh.diagnostics and cached.root == fresh.root
    cases = [read_case(p) for p in CASES if p.parts[-3] == "kent"]
    dicts = [{"jurisdiction": c.jurisdiction, "as_of": c.as_of, "facts": c.facts}
             for c in cases if c.revision is None]  # fmt: skip
    assert comparable(cached.values_many(dicts)) == comparable(fresh.values_many(dicts))
    for key, cp in fresh.compiled.items():
        other = cached.compiled[key]
        assert gr.to_dot(other.graph, "g") == gr.to_dot(cp.graph, "g")
        assert list(other.graph.edges(data=True)) == list(cp.graph.edges(data=True))
        assert other.needs == cp.needs and [r for r, _ in other.plan] == [r for r, _ in cp.plan]


def test_a_cached_calendar_gives_the_library_s_holidays_for_every_year_it_reaches(
    both: tuple[Policy, Policy],
) -> None:
    fresh, cached = both
    calendar, saved = fresh.latest("kent").calendar, cached.latest("kent").calendar
    lo, hi = saved.reach
    assert (lo.year, hi.year) == (calendar.reach[0].year, calendar.reach[1].year)
    assert hi.year - lo.year > 100
    for year in range(lo.year, hi.year + 1):
        assert saved._years[year] == calendar._compute(year), year  # saved, not computed
    day = calendar.reach[0]
    assert saved.add_business_days(day, 10_000) == calendar.add_business_days(day, 10_000)


def test_an_edited_added_or_removed_policy_file_is_a_miss(
    tmp_path: Path, cache_dir: Path, compiles: list[Path]
) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", folder)
    rule = "height_increase.extra_story_permitted"
    assert load_policy(folder).latest("kent").rules[rule].description.startswith("The additional")
    load_policy(folder)
    assert len(compiles) == 1  # the second load came from the cache
    section = folder / "kent" / "ord-4463" / "14.01.030.yaml"
    section.write_text(section.read_text("utf-8").replace(
        "description: The additional story of IBC 504.4.1 is permitted",
        "description: Edited, the story is permitted"), "utf-8")  # fmt: skip
    edited = load_policy(folder).latest("kent").rules[rule]
    assert edited.description == "Edited, the story is permitted"
    assert len(compiles) == 2
    load_policy(folder)
    assert len(compiles) == 2
    extra = folder / "kent" / "ord-4463" / "zz-extra.yaml"
    extra.write_text("facts:\n  permit.added_for_the_test:\n    type: bool\n"
                     "    description: A fact a new file declares.\n", "utf-8")  # fmt: skip
    assert "permit.added_for_the_test" in load_policy(folder).latest("kent").facts
    assert len(compiles) == 3
    load_policy(folder)
    assert len(compiles) == 3
    extra.unlink()
    assert "permit.added_for_the_test" not in load_policy(folder).latest("kent").facts
    assert len(compiles) == 4
    load_policy(folder)
    assert len(compiles) == 4
    assert len(list(cache_dir.glob("*.policy"))) == 1  # one entry per policy folder


def test_one_jurisdiction_s_folder_and_the_whole_policy_are_saved_apart(
    cache_dir: Path, compiles: list[Path]
) -> None:
    """The same files are read both ways, but one compiles a single jurisdiction."""
    for _ in range(2):
        assert sorted(load_policy(ROOT / "policy" / "kent").compiled) == [("kent", "ord-4463")]
        assert len(load_policy(ROOT / "policy").compiled) == 3
    assert len(compiles) == 2


def test_a_folder_spelt_another_way_is_saved_apart(
    cache_dir: Path, compiles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a compile shows (its root, the files its diagnostics name) is as it was given."""
    monkeypatch.chdir(ROOT)
    for given in ("policy", str(ROOT / "policy"), "./policy", str(ROOT / "policy")):
        assert str(load_policy(given).root) == str(Path(given))
    assert len(compiles) == 2  # `./policy` is `policy` to pathlib


def test_a_load_from_another_working_directory_shows_its_own_paths(
    tmp_path: Path, cache_dir: Path, compiles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compile names its files relative to the working directory when they are under it;
    a load from elsewhere must not be given those names (they would lead nowhere there)."""
    given = ROOT / "policy"
    shown = {}
    for where in (ROOT, tmp_path, ROOT, tmp_path):
        monkeypatch.chdir(where)
        files = load_policy(given).jurisdictions["kent"].content["ord-4463"].files
        assert all(Path(f).is_file() for f in files)
        shown.setdefault(where, files)
        assert files == shown[where]
    assert len(compiles) == 2 and shown[ROOT] != shown[tmp_path]


def test_another_engine_version_is_a_miss(
    cache_dir: Path, compiles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_policy()
    load_policy()
    assert len(compiles) == 1
    monkeypatch.setattr(policy_cache, "engine_version", lambda: "0.2.0 on another Python")
    load_policy()
    assert len(compiles) == 2
    load_policy()
    assert len(compiles) == 2


def test_the_engine_version_changes_with_any_engine_source_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = policy_cache.engine_version()
    assert policy_cache.engine_version() == before
    (tmp_path / "dsl").mkdir()
    (tmp_path / "dsl" / "x.py").write_text("")
    monkeypatch.setattr(policy_cache, "_ENGINE_SOURCES", (*policy_cache._ENGINE_SOURCES,
                                                           tmp_path / "dsl"))  # fmt: skip
    with_file = policy_cache.engine_version()
    assert with_file != before
    os.utime(tmp_path / "dsl" / "x.py", ns=(1, 1))
    assert policy_cache.engine_version() not in (before, with_file)


def test_the_engine_version_changes_with_the_holiday_library_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A saved calendar carries the library's holidays: another version of it is a miss."""
    found = policy_cache._library_version("holidays")
    assert found.startswith(b"#") or b"__version__" in found  # its version.py, read, not "-"
    before = policy_cache.engine_version()
    monkeypatch.setattr(policy_cache, "_library_version", lambda name: b'__version__ = "9"')
    assert policy_cache.engine_version() != before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "index"])
def test_a_broken_cache_entry_is_rebuilt_without_a_word(
    damage: str, cache_dir: Path, compiles: list[Path], capfd: pytest.CaptureFixture[str]
) -> None:
    load_policy()
    (entry,) = cache_dir.glob("*.policy")
    (index,) = cache_dir.glob("*.index")
    data = entry.read_bytes()
    broken = {"garbage": b"\x80\x05not a pickle", "truncated": data[: len(data) // 2],
              "empty": b"", "index": data[:64]}[damage]  # fmt: skip
    (index if damage == "index" else entry).write_bytes(broken)
    policy = load_policy()
    assert len(compiles) == 2 and policy.latest("kent").rules
    assert capfd.readouterr() == ("", "")
    load_policy()
    assert len(compiles) == 2, "the broken entry was not written again"


def test_no_cache_turns_it_off(
    cache_dir: Path, compiles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_policy(cache=False)
    load_policy(cache=False)
    assert len(compiles) == 2 and not cache_dir.exists()
    monkeypatch.setenv("ORDINANCE_NO_CACHE", "1")
    load_policy()
    load_policy()
    assert len(compiles) == 4 and not cache_dir.exists()
    monkeypatch.setenv("ORDINANCE_NO_CACHE", "0")  # as with NO_COLOR-style switches: 0 is off
    load_policy()
    load_policy()
    assert len(compiles) == 5


def test_the_cache_folder_is_private_and_a_shared_one_is_not_used(
    cache_dir: Path, compiles: list[Path]
) -> None:
    load_policy()
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    for entry in cache_dir.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry
        assert not entry.name.startswith(".tmp-"), "a temporary file was left behind"
    cache_dir.chmod(0o777)  # anyone could have put a pickle here: never read it
    load_policy()
    assert len(compiles) == 2
    cache_dir.chmod(0o700)
    load_policy()
    assert len(compiles) == 2


def test_entries_unused_for_a_month_are_pruned_when_one_is_saved(
    tmp_path: Path, cache_dir: Path, compiles: list[Path]
) -> None:
    load_policy()
    used = sorted(cache_dir.iterdir())
    old = time.time() - (policy_cache.UNUSED_DAYS + 1) * 86400
    for entry in used:
        os.utime(entry, (old, old))
    load_policy()  # a load from the cache marks its entry as used
    assert len(compiles) == 1 and all(e.stat().st_mtime > old for e in used)
    stale = [cache_dir / "0123.index", cache_dir / "0123.policy", cache_dir / ".tmp-dead"]
    for entry in stale:
        entry.write_bytes(b"")
        os.utime(entry, (old, old))
    shutil.copytree(ROOT / "policy", tmp_path / "policy")
    load_policy(tmp_path / "policy")  # saving prunes
    assert not any(e.exists() for e in stale)
    assert all(e.exists() for e in used) and len(list(cache_dir.glob("*.policy"))) == 2


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDINANCE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/caches")
    assert policy_cache.cache_dir() == Path("/somewhere/caches/ordinance")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")  # as the XDG spec says
    assert policy_cache.cache_dir() == Path.home() / ".cache" / "ordinance"
    monkeypatch.setenv("ORDINANCE_CACHE_DIR", "/mine")
    assert policy_cache.cache_dir() == Path("/mine")


def test_without_a_home_there_is_no_cache(
    cache_dir: Path, compiles: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`~` that cannot be expanded is never a folder made in the working directory."""
    monkeypatch.delenv("ORDINANCE_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    monkeypatch.chdir(tmp_path)
    load_policy(ROOT / "policy")
    load_policy(ROOT / "policy")
    assert len(compiles) == 2 and not list(tmp_path.iterdir())


# A fresh interpreter loads the bundled policy from a warm cache, evaluates a case of each
# jurisdiction every way the API offers and renders each, then says what it imported.
CACHED_RUN = r"""
import json, sys
import engine
policy = engine.load_policy(cache=True)
from engine.render import RENDERERS, RenderContext
cases = json.loads(sys.argv[1])
for case in cases:
    result = policy.evaluate(case)
    for render in RENDERERS.values():
        render(result, RenderContext("t", result.revision))
    result.to_json()
    policy.values(case)
policy.values_many(cases)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_a_cached_load_and_evaluation_import_no_compile_time_library(cache_dir: Path) -> None:
    load_policy()  # fills the cache
    golden = [read_case(p) for p in CASES]
    cases = [{"jurisdiction": c.jurisdiction, "as_of": c.as_of, "facts": c.facts}
             for c in golden if c.revision is None]  # fmt: skip
    assert {c["jurisdiction"] for c in cases} == {"kent", "houston", "generic"}
    text = json.dumps(cases, default=lambda v: v.isoformat())
    run = subprocess.run([sys.executable, "-c", CACHED_RUN, text],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = set(json.loads(run.stdout))
    assert {"engine", "dsl"} <= loaded
    assert not loaded & set(COMPILE_TIME)
