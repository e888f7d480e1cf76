"""Pipeline stage 5, graph: a networkx DiGraph of facts → rules → procedure steps.

Every edge keeps the span of the reference that made it, so a cycle is reported edge by edge
with positions. The graph gives the evaluation order and the warnings (unused facts, rules
nobody reads), and exports Mermaid and DOT. It is never consulted while evaluating a case.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from engine.diagnostics import Diagnostic, Span

FACT, RULE, STEP = "fact", "rule", "step"


def node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def build_graph(
    facts: Iterable[str],
    rules: Iterable[str],
    edges: Iterable[tuple[str, str, Span | None]],
    steps: Iterable[str] = (),
) -> nx.DiGraph:
    """Nodes for every fact, rule and step; an edge ``used → user`` per reference."""
    g = nx.DiGraph()
    for kind, names in ((FACT, facts), (RULE, rules), (STEP, steps)):
        for name in names:
            g.add_node(node_id(kind, name), kind=kind, name=name)
    for src, dst, span in edges:
        if not g.has_edge(src, dst):
            g.add_edge(src, dst, span=span)
    return g


def check_cycles(g: nx.DiGraph) -> list[Diagnostic]:
    """One diagnostic per cycle (per strongly connected component), naming every edge."""
    out = []
    for component in sorted(nx.strongly_connected_components(g), key=sorted):
        if len(component) == 1:
            (only,) = component
            if not g.has_edge(only, only):
                continue
        sub = g.subgraph(component)
        cycle = nx.find_cycle(sub, source=min(component))
        names = [g.nodes[u]["name"] for u, _ in cycle]
        related = tuple(
            (g.edges[u, v]["span"], f"`{g.nodes[v]['name']}` uses `{g.nodes[u]['name']}` here")
            for u, v in cycle
            if g.edges[u, v]["span"] is not None
        )
        first = related[0][0] if related else None
        out.append(
            Diagnostic(
                "graph/cycle",
                "these values depend on each other in a circle: "
                + " → ".join(f"`{n}`" for n in [*names, names[0]]),
                first,
                related=related,
                help="a value cannot depend on itself; break the circle by rewriting one of them",
            )
        )
    return out


def evaluation_order(g: nx.DiGraph) -> list[str]:
    """Rule ids in an order where each comes after everything it reads (deterministic)."""
    order = nx.lexicographical_topological_sort(g)
    return [g.nodes[n]["name"] for n in order if g.nodes[n]["kind"] == RULE]


def dependencies(g: nx.DiGraph, kind: str, name: str) -> set[str]:
    """Every fact and rule node the given node reads, directly or not."""
    return set(nx.ancestors(g, node_id(kind, name)))


def needs(g: nx.DiGraph) -> dict[str, frozenset[str]]:
    """Per rule: the names of every fact and rule it reads, directly or not, and its own name.

    Computed once at compile time so that the run time can cut the plan for any set of
    decisions without the graph.
    """
    return {
        g.nodes[node]["name"]: frozenset(
            {g.nodes[a]["name"] for a in nx.ancestors(g, node)} | {g.nodes[node]["name"]}
        )
        for node in g.nodes
        if g.nodes[node]["kind"] == RULE
    }


def to_mermaid(g: nx.DiGraph, title: str | None = None) -> str:
    """The graph as a Mermaid flowchart (facts as stadiums, rules as boxes, steps as hexagons)."""
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    shapes = {FACT: ('(["', '"])'), RULE: ('["', '"]'), STEP: ('{{"', '"}}')}
    lines = ["flowchart LR"]
    if title:
        lines.insert(0, f"---\ntitle: {title}\n---")
    for n in sorted(g.nodes):
        open_, close = shapes[g.nodes[n]["kind"]]
        lines.append(f"  {ids[n]}{open_}{g.nodes[n]['name']}{close}")
    for u, v in sorted(g.edges):
        lines.append(f"  {ids[u]} --> {ids[v]}")
    return "\n".join(lines) + "\n"


def to_dot(g: nx.DiGraph, name: str = "policy") -> str:
    """The graph in Graphviz DOT."""
    shapes = {FACT: "ellipse", RULE: "box", STEP: "hexagon"}
    lines = [f'digraph "{name}" {{', "  rankdir=LR;"]
    for n in sorted(g.nodes):
        lines.append(f'  "{n}" [label="{g.nodes[n]["name"]}", shape={shapes[g.nodes[n]["kind"]]}];')
    for u, v in sorted(g.edges):
        lines.append(f'  "{u}" -> "{v}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
