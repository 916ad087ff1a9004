"""``substitute``: open values swapped for their holed forms, the rest of the tree kept as it is."""

from structgen.automata._ir import CommaList, Lexeme, Seq, literal, seq
from structgen.schema._compile import _holes
from structgen.schema._compiler import SchemaCompiler, SchemaOptions
from structgen.schema._open_values import substitute


def test_substitute_swaps_each_open_value_and_keeps_untouched_subtrees() -> None:
    compiler = SchemaCompiler({}, SchemaOptions())
    first, second = compiler.any_value(2), compiler.any_value(2)
    name = Lexeme(seq(literal('"'), literal("name"), literal('"')))
    untouched = seq(literal("["), name, literal("]"))
    root = Seq((untouched, CommaList(((first, True), (second, False)), None, literal(","))))
    holes = _holes(compiler)

    tree, replaced = substitute(root, holes)

    assert replaced == {id(first), id(second)}
    assert tree.items[0] is untouched  # nothing to swap below: the same object, cached automata with it
    items = tree.items[1].items
    assert [node for node, _ in items] == [holes[id(first)], holes[id(second)]]
    assert [required for _, required in items] == [True, False]


def test_substitute_returns_the_tree_itself_when_it_holds_no_open_value() -> None:
    root = seq(literal("{"), Lexeme(literal("1")), literal("}"))
    assert substitute(root, {}) == (root, set())
