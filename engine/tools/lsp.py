"""``ordinance lsp``: a language server for policy files (pygls), on standard input and output
or on a TCP port. What an editor gets:

- the diagnostics of ``ordinance check`` with their codes and links, as the author types
  (``engine.tools.lsp_server`` checks the unsaved text);
- hover on a fact, rule, ruleset, function or section: its type, description, citation and
  the section's effective text; go to definition across the layers a jurisdiction
  ``extends`` (a reference, an ``amends:`` section, a ``use:`` ruleset, ``extends:``);
- completion of fact and rule ids and DSL functions in expressions, of citations after
  ``section:``, of rulesets in ``use:`` and of jurisdictions after ``extends:``.

No text an editor sends can stop the server: a handler that fails answers nothing and says why
in the client's log (``engine.tools.lsp_server.safe``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lsprotocol import types as t

from engine.printable import md_code, md_text
from engine.source import Span
from engine.tools.lsp_index import (
    completion_names,
    declarations,
    hover_text,
    jurisdiction_declaration,
    section_declarations,
    section_text,
)
from engine.tools.lsp_server import DELAY, PolicyServer, safe
from engine.tools.lsp_text import completion_kind, target_at

_KINDS = {"fact": t.CompletionItemKind.Variable, "rule": t.CompletionItemKind.Field,
          "function": t.CompletionItemKind.Function, "built-in": t.CompletionItemKind.Constant,
          "citation": t.CompletionItemKind.Reference, "ruleset": t.CompletionItemKind.Module,
          "jurisdiction": t.CompletionItemKind.Folder}  # fmt: skip


def build_server(delay: float = DELAY) -> PolicyServer:
    """A server with every feature registered (``delay``: seconds of quiet before a check)."""
    server = PolicyServer(delay)
    _documents(server)
    server.feature(t.TEXT_DOCUMENT_HOVER)(safe(hover))
    server.feature(t.TEXT_DOCUMENT_DEFINITION)(safe(definition))
    options = t.CompletionOptions(trigger_characters=["."])
    server.feature(t.TEXT_DOCUMENT_COMPLETION, options)(safe(completion))
    return server


def _documents(server: PolicyServer) -> None:
    """Open, change, save and close: each checks the file's jurisdiction again (at once when
    a file is opened or saved, after ``delay`` of quiet while it is being typed in)."""

    def changed(delay: float | None, closed: bool = False) -> Callable[[PolicyServer, Any], None]:
        def handler(ls: PolicyServer, params: Any) -> None:
            file = ls.opened(params.text_document.uri)
            if file is not None:
                ls.schedule(file, ls.delay if delay is None else delay, closed)

        return handler

    server.feature(t.TEXT_DOCUMENT_DID_OPEN)(safe(changed(0)))
    server.feature(t.TEXT_DOCUMENT_DID_CHANGE)(safe(changed(None)))
    server.feature(t.TEXT_DOCUMENT_DID_SAVE)(safe(changed(0)))
    server.feature(t.TEXT_DOCUMENT_DID_CLOSE)(safe(changed(0, closed=True)))
    server.feature(t.SHUTDOWN)(safe(lambda ls, _: ls.stop_checks()))


def _target(ls: PolicyServer, params: t.HoverParams | t.DefinitionParams) -> Any:
    found = ls.at(params.text_document.uri, params.position)
    if found is None:
        return None
    text, offset, index = found
    target = target_at(text.text, offset)
    return (text, target, index) if target is not None else None


def hover(ls: PolicyServer, params: t.HoverParams) -> t.Hover | None:
    """What the name or citation under the cursor is, as Markdown."""
    found = _target(ls, params)
    if found is None:
        return None
    text, target, index = found
    if target.kind == "citation":
        value = section_text(index, target.name)
    elif target.kind == "jurisdiction":
        jur = index.jurisdictions.get(target.name)
        value = f"**jurisdiction** {md_code(jur.id)}: {md_text(jur.title)}" if jur else None
    else:
        value = hover_text(index, target.name)
    if value is None:
        return None
    (l1, c1), (l2, c2) = text.position(target.start), text.position(target.end)
    return t.Hover(t.MarkupContent(t.MarkupKind.Markdown, value),
                   t.Range(t.Position(l1, c1), t.Position(l2, c2)))  # fmt: skip


def definition(ls: PolicyServer, params: t.DefinitionParams) -> list[t.Location] | None:
    """Where the name, citation, ruleset or jurisdiction under the cursor is declared, in
    whichever layer declares it."""
    found = _target(ls, params)
    if found is None:
        return None
    _, target, index = found
    spans: list[Span]
    if target.kind == "citation":
        spans = section_declarations(index, target.name)
    elif target.kind == "jurisdiction":
        spans = jurisdiction_declaration(index, target.name)
    else:
        spans = declarations(index, target.name)
    return [ls.location(s) for s in spans] or None


def completion(ls: PolicyServer, params: t.CompletionParams) -> t.CompletionList | None:
    """The names that fit where the cursor is, each replacing what is typed of it."""
    found = ls.at(params.text_document.uri, params.position)
    if found is None:
        return None
    text, offset, index = found
    kind, start = completion_kind(text.text, offset)
    typed = text.text[start:offset]
    if kind == "name":
        names = list(completion_names(index, typed))
    else:
        pools: dict[str, Iterable[str]] = {"citation": index.layered.sections,
                                           "ruleset": index.rulesets,
                                           "jurisdiction": index.jurisdictions}  # fmt: skip
        names = [(n, kind, kind) for n in sorted(pools[kind]) if n.startswith(typed)]
    (l1, c1), (l2, c2) = text.position(start), text.position(offset)
    where = t.Range(t.Position(l1, c1), t.Position(l2, c2))
    items = [t.CompletionItem(name, kind=_KINDS[k], detail=detail,
                              text_edit=t.TextEdit(where, name))
             for name, k, detail in names]  # fmt: skip
    return t.CompletionList(is_incomplete=False, items=items)
