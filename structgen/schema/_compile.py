"""``compile_json_schema``: a JSON Schema (dict, JSON text or pydantic model) → ``Constraint``."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any

from structgen._clock import deadline_after, now
from structgen._constraint import Constraint, IndexMode, index_for
from structgen._errors import CompileTimeoutError, SchemaError, UnsatisfiableConstraintError, UnsupportedFeatureError
from structgen._gc import gc_paused
from structgen._pushdown import PushdownConstraint
from structgen.automata._ir import Node, NotRegularError, Ref
from structgen.automata._regular import to_dfa
from structgen.index._pushdown import HOLE
from structgen.schema._compiler import SchemaCompiler, SchemaIssue, SchemaOptions
from structgen.schema._layout import open_container
from structgen.schema._open_values import holed, substitute
from structgen.vocab import Vocabulary


def load_schema(schema: Any) -> tuple[Any, type | None]:
    """Return ``(schema document, pydantic model class or None)``."""
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return schema.model_json_schema(), schema
    if isinstance(schema, (str, bytes)):
        try:
            return json.loads(schema), None
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"the schema is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
    if isinstance(schema, (dict, bool)):
        return schema, None
    raise SchemaError(
        f"Expected a schema as a dict, JSON text or pydantic model class, but got {type(schema).__name__}"
    )


@dataclass
class SchemaReport:
    """What structgen enforces of a schema: unsupported keywords and sound restrictions, by location."""

    issues: list[SchemaIssue]

    @property
    def unsupported(self) -> list[SchemaIssue]:
        return [i for i in self.issues if i.kind == "unsupported"]

    @property
    def restricted(self) -> list[SchemaIssue]:
        return [i for i in self.issues if i.kind == "restricted"]


def schema_report(schema: Any, *, documents: dict[str, Any] | None = None, **options: Any) -> SchemaReport:
    """Analyse a schema without a vocabulary: which keywords are not (exactly) enforced, and where."""
    document, _ = load_schema(schema)
    compiler = SchemaCompiler(document, SchemaOptions(**options), documents=documents)
    node = compiler.compile(document)
    holes = _holes(compiler)
    issues = list(compiler.issues)
    if holes and substitute(node, holes)[1] == set(holes):  # open values of any depth (see _regular_constraint)
        issues = [i for i in issues if i.keyword != "*"]
    return SchemaReport(issues)


def _holes(compiler: SchemaCompiler) -> dict[int, Node]:
    """``id(open value) -> the same value with holes`` for each open value in the IR (none if indented)."""
    layout = compiler._layout()
    return {id(n): h for n in compiler.open_values if (h := holed(compiler.options.any_value_depth, layout))}


def _grammar_constraint(node: Node, compiler: SchemaCompiler, vocab: Vocabulary, deadline: float) -> Constraint:
    """The schema's language as a context-free constraint (the grammar engine).

    Open values become the unbounded JSON value rule there; where every one did, the depth
    narrowing is no longer reported.
    """
    from structgen.grammar._cfg import prepare
    from structgen.grammar._compile import GrammarConstraint
    from structgen.grammar._engine import GrammarEngine
    from structgen.schema._compiler import OPEN_VALUE
    from structgen.schema._grammar import schema_grammar

    rules = dict(compiler.rules)
    open_rule = compiler.open_value_rule()
    replace = {}
    if open_rule is not None and compiler.open_values:
        rules[OPEN_VALUE] = open_rule
        replace = {id(n): Ref(OPEN_VALUE) for n in compiler.open_values}
    grammar, replaced = schema_grammar(node, rules, deadline, replace)
    constraint = GrammarConstraint(GrammarEngine(prepare(grammar, "JSON schema"), vocab), "JSON schema")
    issues = list(compiler.issues)
    if replace and replaced == set(replace):
        issues = [i for i in issues if i.keyword != "*"]
    constraint.schema_issues = issues
    return constraint  # type: ignore[return-value]


# a whole-schema DFA gets this share of the time limit; past it (or past the automaton size
# limit) the schema compiles to the grammar engine, which never determinises the whole schema
_DFA_SHARE = 0.25
_DFA_MAX_STATES = 200_000


def _regular_constraint(node: Node, compiler: SchemaCompiler, vocab: Vocabulary, index: IndexMode, deadline: float,
                        time_limit: float) -> Constraint | None:
    """The schema as one DFA, or None where it recurs or its DFA is too large or slow to build.

    Open values get holes below ``any_value_depth`` (see ``index._pushdown``): the constraint is
    then a ``PushdownConstraint`` and, where every open value got them, no depth is reported.
    """
    if compiler.rules:
        return None
    holes = _holes(compiler)
    tree, replaced = substitute(node, holes) if holes else (node, set())
    try:
        dfa = to_dfa(tree, max_states=_DFA_MAX_STATES,
                     deadline=min(deadline, now() + _DFA_SHARE * time_limit))
    except (CompileTimeoutError, UnsupportedFeatureError):  # too slow, or past the size limit
        if now() > deadline:
            raise
        return None
    issues = list(compiler.issues)
    if replaced and (dfa.transitions[:, HOLE] >= 0).any():
        container = open_container(*compiler._layout()[:2])
        constraint: Constraint = PushdownConstraint(index_for(dfa, vocab, index, container), "JSON schema")
        if replaced == set(holes) and not constraint.index.containers.shadowed:
            issues = [i for i in issues if i.keyword != "*"]
    else:
        constraint = Constraint(index_for(dfa, vocab, index), "JSON schema")
    constraint.schema_issues = issues
    return constraint


def _deeper_open_values(document: Any, settings: SchemaOptions, documents: dict[str, Any] | None,
                        deadline: float) -> tuple[SchemaCompiler, Node] | None:
    """The schema compiled again with open values ``_DEEP_OPEN_VALUES`` levels deep, where its
    automaton stays small (a schema that is mostly ``{}``), else None: the default depth stays."""
    budget = min(deadline, now() + _DEEP_BUDGET_S)
    try:
        compiler = SchemaCompiler(document, replace(settings, any_value_depth=_DEEP_OPEN_VALUES), budget, documents)
        node = compiler.compile(document)
        if compiler.rules or any(i.kind == "unsupported" for i in compiler.issues):
            return None
        to_dfa(node, max_states=_DEEP_MAX_STATES, deadline=budget)  # cached: the constraint reuses it
    except (CompileTimeoutError, UnsupportedFeatureError):
        return None
    return compiler, node


# open values: any_value_depth (2) by default; 6 where the automaton is small at depth 2 and
# stays small at depth 6 (a schema that is mostly `{}`): one more compile of a small schema
_DEEP_OPEN_VALUES = 6
_DEEP_FROM_STATES = 400
_DEEP_MAX_STATES = 20_000
_DEEP_BUDGET_S = 0.3


@gc_paused
def compile_json_schema(
    schema: Any,
    vocab: Vocabulary,
    *,
    lenient: bool = False,
    time_limit: float = 10.0,
    index: IndexMode = "lazy",
    documents: dict[str, Any] | None = None,
    **options: Any,
) -> Constraint:
    """Compile a JSON Schema (drafts 4 to 2020-12), JSON text or pydantic model class against ``vocab``.

    A keyword structgen does not enforce raises ``UnsupportedFeatureError`` naming each keyword
    and its schema location; ``lenient=True`` compiles anyway and warns with the same list.
    Sound narrowings (``uniqueItems`` by one item, open values to a depth) never raise; they are on
    ``constraint.schema_issues``. A recursive schema (a ``$ref`` cycle) compiles to a context-free
    constraint (a ``GrammarConstraint``) that takes any depth. ``documents`` maps URIs to the
    schema documents that remote ``$ref`` s name (nothing is fetched). ``options`` are
    ``SchemaOptions`` fields (``whitespace``: "compact" (default), "flexible" (up to
    ``max_whitespace`` between tokens) or "indented" (exactly ``json.dumps(value, indent=indent)``,
    ``indent`` 2 by default); ``any_value_depth``, ``recursion`` ("grammar", or "unroll" to
    ``max_recursion`` levels), ``property_order`` ("schema" or "any"), ``max_any_order``).
    """
    document, model = load_schema(schema)
    deadline = deadline_after(time_limit)
    settings = SchemaOptions(**options)
    compiler = SchemaCompiler(document, settings, deadline, documents)
    try:
        try:
            node = compiler.compile(document)
        except NotRegularError:
            # a recursive rule met an operation only regular languages have (`not`, `contains`,
            # property_order="any" ...): unroll the recursion instead (reported as a narrowing)
            compiler = SchemaCompiler(document, replace(settings, recursion="unroll"), deadline, documents)
            node = compiler.compile(document)
    except RecursionError:
        raise UnsupportedFeatureError(
            f"{compiler.pointer}: the schema nests too deeply to compile (Python's recursion limit of "
            f"{sys.getrecursionlimit()} frames was reached here)"
        ) from None
    if now() > deadline:
        raise CompileTimeoutError(f"compiling the schema ran past its {time_limit} s time limit")
    unsupported = [i for i in compiler.issues if i.kind == "unsupported"]
    if unsupported:
        listing = "\n".join(f"  {i}" for i in unsupported)
        if not lenient:
            raise UnsupportedFeatureError(
                f"the schema uses keywords structgen does not enforce (pass lenient=True to compile anyway):\n{listing}"
            )
        warnings.warn(f"these schema keywords are not enforced:\n{listing}", stacklevel=2)
    try:
        constraint = _regular_constraint(node, compiler, vocab, index, deadline, time_limit)
        if constraint is not None and any(i.keyword == "*" for i in constraint.schema_issues) \
                and "any_value_depth" not in options and constraint.index.dfa.n_states <= _DEEP_FROM_STATES:
            deeper = _deeper_open_values(document, settings, documents, deadline)
            if deeper is not None:
                constraint = _regular_constraint(deeper[1], deeper[0], vocab, index, deadline, time_limit)
        if constraint is None:
            constraint = _grammar_constraint(node, compiler, vocab, deadline)
    except UnsatisfiableConstraintError as exc:
        raise UnsatisfiableConstraintError(f"JSON schema: {exc}") from None
    if now() > deadline:  # the grammar engine's build checks no deadline of its own
        raise CompileTimeoutError(f"compiling the schema ran past its {time_limit} s time limit")
    constraint.pydantic_model = model
    return constraint
