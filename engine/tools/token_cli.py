"""``ordinance token new``: a bearer token for the service's certificate writes (issue 13).

The token is printed once and never stored; the file keeps only its SHA-256 and its name,
which the registry records as who made each change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any]) -> None:
    """Add the ``token`` group to the ``ordinance`` command."""

    @main.group("token")
    def token_group() -> None:
        """Bearer tokens for the service's certificate writes (issue, suspend, revoke, …)."""

    @token_group.command("new")
    @click.option("--name", required=True, help="Who writes with it, as the registry records "
                  "(`clerk-1`).")  # fmt: skip
    @click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
                  default=Path("tokens.json"), show_default=True,
                  help="The token file `ordinance serve` reads (it keeps only "
                  "hashes).")  # fmt: skip
    @guarded
    def token_new(name: str, path: Path) -> None:
        """Make a random token for NAME, print it once, and add its hash to the file."""
        from engine.service.auth import new_token

        token = new_token(path, name)
        echo(token, data=True)
        echo(f"added `{name.strip()}` to {path}; the token above is shown only now: give it to "
             "its holder, who sends `Authorization: Bearer <token>`", err=True)  # fmt: skip
