"""What a running service holds: the loaded policy (swapped whole on reload), its digest, the
decision log, the certificate registry's URL, and the counts ``/v1/status`` reports.

A request takes ``service.current`` once and uses that ``Loaded`` to the end, so a reload never
changes the policy under a request in flight; the swap is one attribute assignment.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.typesys import Type
from engine.api import Policy
from engine.diagnostics import Diagnostic, PolicyError
from engine.project import load_project

try:
    ENGINE_VERSION = importlib.metadata.version("ordinance")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that was not installed
    ENGINE_VERSION = "0+source"


def policy_files_digest(policy: Policy) -> str:
    """SHA-256 over every file the policy was loaded from (each jurisdiction.yaml and each
    encoded revision's files, by jurisdiction and name, the parent layers found outside the
    folder included): two services with the same digest decide alike, whatever their folders
    are called."""
    h = hashlib.sha256()
    every = {**policy.layers, **policy.jurisdictions}
    for jid in sorted(every):
        jur = every[jid]
        home = jur.directory.absolute()
        files = [home / "jurisdiction.yaml"]
        for rev in sorted(jur.content):
            files += sorted(Path(f).absolute() for f in jur.content[rev].files)
        for f in files:
            data = f.read_bytes()
            # A revision file may be a symbolic link out of the folder: named as linked.
            name = os.path.relpath(f, home).replace(os.sep, "/")
            h.update(f"{jid}/{name}:{len(data)}\n".encode())
            h.update(data)
    return h.hexdigest()


def rule_types(policy: Policy) -> dict[str, dict[str, Type]]:
    """Each jurisdiction's decision types, newest revision first: what the batch endpoint
    converts values to JSON with (a rule keeps its type across revisions in practice)."""
    out: dict[str, dict[str, Type]] = {}
    for (jid, _rev), cp in sorted(policy.compiled.items(), key=lambda kv: kv[0]):
        types = out.setdefault(jid, {})
        for rid, rule in cp.rules.items():
            types[rid] = rule.type  # later revisions (sorted after) win
    return out


@dataclass(frozen=True)
class Loaded:
    """One loaded policy with what the service says about it."""

    policy: Policy
    digest: str
    loaded_at: float  # time.time()
    types: dict[str, dict[str, Type]]
    source: Path

    @classmethod
    def load(cls, policy_dir: Path | None) -> Loaded:
        """Load, check and compile; a policy with an error raises ``PolicyError``."""
        policy = load_project(policy_dir)[1]
        return cls(policy, policy_files_digest(policy), time.time(), rule_types(policy),
                   policy.root)  # fmt: skip


@dataclass
class Service:
    """The state every request reads; ``reload`` replaces ``current`` atomically."""

    current: Loaded
    policy_dir: Path | None
    log: Any = None  # engine.service.log.DecisionLog, when one is open
    registry_url: str | None = None
    # The certificate endpoints (engine/service/certificates.py): bearer-token hashes with the
    # name each writes under (engine.service.auth.load_tokens), the trust list the verification
    # page checks with, and the signing key and folder that issuing needs.
    writers: dict[str, str] = field(default_factory=dict)  # SHA-256 hex → name
    trust: tuple[Any, ...] = ()  # engine.certificates.keys.TrustedKey, from keys.json
    key_path: Path | None = None
    certificate_dir: Path | None = None
    max_body: int = 1024 * 1024
    max_batch_body: int = 64 * 1024 * 1024
    max_batch_cases: int = 10_000
    started_at: float = field(default_factory=time.time)
    counts: Counter[str] = field(default_factory=Counter)
    reloads: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    on_reload: list[Callable[[Loaded], None]] = field(default_factory=list, repr=False)
    # What holds connections (the certificate registry), closed when the service stops.
    on_close: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Close what the service holds open: the decision log, the registry's connections."""
        for hook in self.on_close:
            hook()
        if self.log is not None:
            self.log.close()

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def reload(self) -> tuple[bool, list[Diagnostic]]:
        """Load the policy folder again. A policy that fails its checks is refused and the one
        in force is kept; requests in flight finish under the one they took."""
        try:
            fresh = Loaded.load(self.policy_dir)
        except PolicyError as exc:
            self.reloads.append({"at": time.time(), "ok": False,
                                 "errors": len(exc.diagnostics)})  # fmt: skip
            return False, list(exc.diagnostics)
        if fresh.digest != self.current.digest:
            self.current = fresh  # one assignment: a request sees the old or the new, whole
            for hook in self.on_reload:
                hook(fresh)
        self.reloads.append({"at": time.time(), "ok": True, "digest": fresh.digest})
        return True, []

    def digest_on_disk(self) -> str | None:
        """The digest the policy folder would load with now (for ``--watch``), or None when it
        cannot be read; compiling is left to ``reload``."""
        try:
            return _files_digest(self.current.source)
        except OSError:
            return None


def _files_digest(root: Path) -> str:
    """A cheap fingerprint of the folder's policy files (names, sizes, times), to notice a
    change without compiling."""
    h = hashlib.sha256()
    for dirpath, _dirs, names in sorted(os.walk(root)):
        for name in sorted(names):
            if name.endswith((".yaml", ".yml", ".json")):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
