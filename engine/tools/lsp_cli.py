"""``ordinance lsp``: the language server for policy files (``engine.tools.lsp``), on standard
input and output or on a TCP port. The server's modules (and pygls) are imported only when the
command runs: every other command starts without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def _address(_: Any, __: Any, value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _sep, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"`{value}` is not HOST:PORT (such as 127.0.0.1:2087)")
    return host, int(port)


def register(main: click.Group, guarded: Callable[[Any], Any]) -> None:
    """Add ``ordinance lsp`` to the ``ordinance`` command."""

    @main.command("lsp")
    @click.option("--tcp", "address", default=None, callback=_address, metavar="HOST:PORT",
                  help="Listen on a TCP port instead of standard input and output.")  # fmt: skip
    @guarded
    def lsp_cmd(address: tuple[str, int] | None) -> None:
        """Run the language server for policy files: diagnostics as you type, hover, go to
        definition and completion (see the README's "Using the language server")."""
        from engine.tools.lsp import build_server

        server = build_server()
        if address is None:
            server.start_io()
        else:
            server.start_tcp(*address)
