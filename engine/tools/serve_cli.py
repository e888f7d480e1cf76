"""``ordinance serve``: the decision service on uvicorn (engine/service/, issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def register(main: click.Group, guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any]) -> None:  # fmt: skip
    """Add ``ordinance serve`` to the ``ordinance`` command."""

    @main.command("serve")
    @click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on (0.0.0.0 for every interface).",
    )
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
    @click.option(
        "--workers",
        default=1,
        show_default=True,
        type=click.IntRange(1, 64),
        help="Worker processes; each compiles the policy once.",
    )
    @click.option(
        "--decision-log",
        "decision_log",
        default=None,
        envvar="ORDINANCE_DECISION_LOG",
        help="Where every decision is logged: a .ndjson path (default "
        "./decisions.ndjson), sqlite:///… or postgresql://….",
    )
    @click.option(
        "--no-decision-log",
        "no_log",
        is_flag=True,
        help="Log no decisions (nothing can be replayed).",
    )
    @click.option(
        "--registry",
        default=None,
        envvar="ORDINANCE_REGISTRY",
        help="The certificate registry, for the verification page and certificates.",
    )
    @click.option(
        "--trust",
        default=None,
        type=click.Path(path_type=Path),
        help="The trust list (keys.json) the verification page checks with.",
    )
    @click.option(
        "--key",
        default=None,
        type=click.Path(path_type=Path),
        help="The signing key POST /v1/certificates issues with.",
    )
    @click.option(
        "--certificates",
        "certificate_dir",
        default="certificates",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Where issued certificates' files are written.",
    )
    @click.option(
        "--tokens",
        default=None,
        type=click.Path(path_type=Path),
        help="tokens.json: the hashed bearer tokens that may write (or ORDINANCE_TOKENS).",
    )
    @click.option(
        "--max-body",
        default=1024 * 1024,
        show_default=True,
        type=click.IntRange(1024),
        help="Largest /v1/decide body, in bytes (413 past it).",
    )
    @click.option(
        "--max-batch-body",
        default=64 * 1024 * 1024,
        show_default=True,
        type=click.IntRange(1024),
        help="Largest /v1/batch body, in bytes.",
    )
    @click.option(
        "--watch", is_flag=True, help="Reload the policy when its files change (as SIGHUP does)."
    )
    @policy_option
    @guarded
    def serve_cmd(host: str, port: int, workers: int, decision_log: str | None, no_log: bool,
                  registry: str | None, trust: Path | None, key: Path | None,
                  certificate_dir: Path, tokens: Path | None, max_body: int,
                  max_batch_body: int, watch: bool, policy_dir: Path | None) -> None:  # fmt: skip
        """Serve decisions over HTTP (POST /v1/decide, /v1/batch; see /openapi.json). SIGHUP
        reloads the policy; SIGTERM drains and exits."""
        from engine.service.server import Settings, run
        from engine.tools.cli_common import _project

        # Resolved once here (and said with --verbose): every worker and every reload reads
        # the same folder, whatever the environment of a later SIGHUP.
        project = _project(policy_dir)
        run(Settings(host=host, port=port, workers=workers, policy_dir=str(project.policy),
                     decision_log=decision_log, no_log=no_log, registry=registry,
                     trust=str(trust) if trust else None, key=str(key) if key else None,
                     certificate_dir=str(certificate_dir), tokens=str(tokens) if tokens else None,
                     max_body=max_body, max_batch_body=max_batch_body, watch=watch))  # fmt: skip
