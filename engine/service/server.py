"""Running the service: ``ordinance serve`` builds the application from ``Settings`` and runs it
on uvicorn, in one process or several workers sharing one socket.

Signals, in every worker:
- ``SIGHUP`` reloads the policy (``Service.reload``): requests in flight finish under the policy
  they took, a policy that fails its checks is refused (logged) and the one in force kept. With
  several workers the supervisor passes the signal on to each of them instead of restarting
  them (uvicorn's own supervisor restarts workers on SIGHUP, and a worker that restarts on a
  broken policy would have no policy at all).
- ``SIGTERM`` / ``SIGINT``: uvicorn stops accepting, finishes the requests in flight, then the
  application's shutdown closes the decision log (every acknowledged event is already on
  disk: it is written before the response is sent), and the process exits 0.

``--watch`` reloads when the policy folder's files change (checked every ``watch_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from engine.service.app import create_app
from engine.service.state import Loaded, Service

LOG = logging.getLogger("ordinance.service")
SETTINGS_ENV = "ORDINANCE_SERVE_SETTINGS"  # how a spawned worker gets its settings


@dataclass
class Settings:
    """What ``ordinance serve`` was asked for; plain data, so a worker process can get it."""

    host: str = "127.0.0.1"
    port: int = 8000
    policy_dir: str | None = None
    workers: int = 1
    decision_log: str | None = None  # None: decisions.ndjson in log_dir
    log_dir: str = "."
    no_log: bool = False
    registry: str | None = None
    trust: str | None = None  # keys.json for the verification page
    key: str | None = None  # the signing key for POST /v1/certificates
    certificate_dir: str = "certificates"
    tokens: str | None = None  # tokens.json (or ORDINANCE_TOKENS)
    max_body: int = 1024 * 1024
    max_batch_body: int = 64 * 1024 * 1024
    watch: bool = False
    watch_seconds: float = 2.0

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        return cls(**json.loads(os.environ[SETTINGS_ENV]))


def build(settings: Settings) -> Starlette:
    """The application with its policy loaded (``PolicyError`` when it does not check)."""
    loaded = Loaded.load(Path(settings.policy_dir) if settings.policy_dir else None)
    service = Service(loaded, Path(settings.policy_dir) if settings.policy_dir else None,
                      registry_url=settings.registry, max_body=settings.max_body,
                      max_batch_body=settings.max_batch_body)  # fmt: skip
    if not settings.no_log:
        from engine.service.log import open_log
        from engine.service.masking import mask_for

        service.log = open_log(settings.decision_log, default_dir=Path(settings.log_dir),
                               mask=mask_for(loaded.policy))  # fmt: skip
        for warning in service.log.warnings:
            LOG.warning("%s", warning.one_line())

        def remask(fresh: Loaded) -> None:  # a reloaded policy may mark other facts personal
            service.log.mask = mask_for(fresh.policy)

        service.on_reload.append(remask)
    extra = _certificate_routes(service, settings)
    app = create_app(service, extra)
    _freeze()
    service.on_reload.append(lambda fresh: _freeze())
    app.router.lifespan_context = _lifespan(service, settings)
    return app


def _freeze() -> None:
    """Move everything alive now (the compiled policy: hundreds of thousands of objects) out of
    the garbage collector's sight. A full collection otherwise walks all of it, a pause of
    100 ms and more in the middle of a request, which was the whole of the p99 under load."""
    gc.collect()
    gc.freeze()


def _certificate_routes(service: Service, settings: Settings) -> list[Any]:
    """The verification page and the certificate endpoints (engine/service/certificates.py),
    with the trust list, signing key, folder and tokens they use."""
    from engine.certificates.keys import load_trust
    from engine.service import certificates
    from engine.service.auth import load_tokens

    if settings.trust:
        service.trust = load_trust(settings.trust)
    service.key_path = Path(settings.key) if settings.key else None
    service.certificate_dir = Path(settings.certificate_dir)
    service.writers = load_tokens(Path(settings.tokens) if settings.tokens else None, os.environ)
    routes: list[Any] = certificates.routes(service)
    return routes


def _lifespan(service: Service, settings: Settings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(
            NotImplementedError, RuntimeError
        ):  # no signals off the main thread
            loop.add_signal_handler(signal.SIGHUP, lambda: _reload(service))
        watcher = asyncio.create_task(_watch(service, settings)) if settings.watch else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            service.close()

    return lifespan


def _reload(service: Service) -> None:
    """Reload on SIGHUP; a broken policy is logged with its diagnostics and not used."""
    ok, problems = service.reload()
    if ok:
        LOG.info("policy reloaded: %s", service.current.digest)
    else:
        LOG.error("policy reload refused, the policy in force is kept:\n%s",
                  "\n".join(d.one_line() for d in problems[:20]))  # fmt: skip


async def _watch(service: Service, settings: Settings) -> None:
    seen = service.digest_on_disk()
    while True:
        await asyncio.sleep(settings.watch_seconds)
        now = service.digest_on_disk()
        if now is not None and now != seen:
            seen = now
            await asyncio.to_thread(_reload, service)


def make_app() -> Starlette:
    """The factory a worker process calls (the settings come in ``ORDINANCE_SERVE_SETTINGS``)."""
    return build(Settings.from_env())


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT. The policy is checked first, in this process, so a broken
    policy is a located error before any worker starts."""
    import uvicorn

    os.environ[SETTINGS_ENV] = settings.to_env()
    # uvicorn drains, runs the shutdown (the log closes), then raises the signal again so the
    # default action ends the process (exit -15). A drained stop is a clean one: exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    if settings.workers <= 1:
        app = build(settings)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="on",
                                log_level="info", timeout_graceful_shutdown=30,
                                access_log=False)  # fmt: skip
        uvicorn.Server(config).run()
        return
    Loaded.load(Path(settings.policy_dir) if settings.policy_dir else None)  # fails early
    config = uvicorn.Config("engine.service.server:make_app", factory=True, host=settings.host,
                            port=settings.port, workers=settings.workers, lifespan="on",
                            log_level="info", timeout_graceful_shutdown=30,
                            access_log=False)  # fmt: skip
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Forwarding(Multiprocess):
        def handle_hup(self) -> None:
            """Each worker reloads its own policy (and keeps it when the new one is broken)."""
            for process in self.processes:
                if process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGHUP)

    sock = config.bind_socket()
    Forwarding(config, sockets=[sock]).run()
