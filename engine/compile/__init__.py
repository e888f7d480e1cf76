"""The compile stages: policy files to a ``CompiledPolicy``, once per (jurisdiction, revision).

``STAGES`` is the pipeline in order. Each stage's module may import the modules of the stages
before it and never one after it (``tests/test_architecture.py`` holds that), so a stage can be
read, tested and replaced knowing only what came before. Every diagnostic a stage raises is
located, and the pipeline stops at a stage boundary when one fails (``pipeline.compile_folder``):
a file that did not load would make every reference to what it declares look like a second
error.

Only these modules import PyYAML, jsonschema, Lark or networkx; ``engine.run`` imports none.
"""

from __future__ import annotations

from typing import NamedTuple


class Stage(NamedTuple):
    name: str
    module: str
    does: str
    why_here: str


STAGES: tuple[Stage, ...] = (
    Stage("load", "engine.compile.load", "YAML or JSON text to data, with the position of every "
          "key and value", "first: nothing can be checked or cited before it has a file:line:col; "
          "the size, depth and alias budgets are spent here, before anything else sees the "
          "data"),
    Stage("validate", "engine.compile.schema", "each file against its JSON Schema "
          "(engine/schemas/, the same files editors use)", "before the model: a misspelled key "
          "or a wrong shape is named as such, not as a confusing error of a later stage"),
    Stage("model", "engine.compile.read", "validated data to the typed declarations of "
          "engine.model (facts, sections, rules, fees, procedures, revisions)", "after the "
          "schemas, so it can trust shapes; it still checks what a schema cannot (dates, "
          "revision order, the calendar)"),
    Stage("layer", "engine.compile.layer", "`extends` and amendments applied: the effective law "
          "of one (jurisdiction, revision), with the provenance of every section", "before "
          "type checking, because a child's substituted section replaces the parent's rules "
          "that would be checked"),
    Stage("check", "dsl.typecheck", "every expression parsed (dsl.parse) and type-checked "
          "against the facts and rules in scope", "after layering, so the scope is the "
          "effective law; before the graph, which needs each expression's references"),
    Stage("graph", "engine.compile.graph", "the dependency graph of facts, rules and steps; "
          "cycles refused, evaluation order and each rule's needs computed", "after checking, "
          "when every reference is known to resolve; its results are tables the run time "
          "reads, never the graph itself"),
    Stage("compile", "engine.compile.compiler", "each checked expression to a closure "
          "(dsl.compile) and the whole to an engine.run.program.CompiledPolicy", "last: it "
          "drives check and graph for one revision and hands the run time plain closures and "
          "tables"),
)  # fmt: skip
