"""Hypothesis strategies for types and schemas, shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from hypothesis import strategies as st

from schema_registry import (
    ArrayType,
    CharType,
    DataType,
    DecimalType,
    Field,
    MapType,
    PrimitiveType,
    StructType,
    TableSchema,
    VarcharType,
)

PRIMITIVE_NAMES = [
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "float",
    "double",
    "string",
    "binary",
    "date",
    "timestamp",
    "timestamp_ntz",
    "void",
    "variant",
    "interval",
    "interval year",
    "interval year to month",
    "interval month",
    "interval day",
    "interval day to second",
    "interval hour to minute",
    "interval second",
]

names = st.text(alphabet="abcdefgh_", min_size=1, max_size=4).filter(lambda n: n[0] != "_")


@st.composite
def decimals(draw: st.DrawFn) -> DecimalType:
    """Any valid decimal type."""
    precision = draw(st.integers(1, 38))
    return DecimalType(precision, draw(st.integers(0, precision)))


atomic_types: st.SearchStrategy[DataType] = st.one_of(
    st.sampled_from(PRIMITIVE_NAMES).map(PrimitiveType),
    decimals(),
    st.integers(1, 300).map(VarcharType),
    st.integers(1, 300).map(CharType),
)


def _fields(
    children: st.SearchStrategy[DataType], *, detailed: bool
) -> st.SearchStrategy[tuple[Field, ...]]:
    field = st.builds(
        Field,
        names,
        children,
        st.booleans() if detailed else st.just(True),
        st.none() | st.text(max_size=10) if detailed else st.none(),
        st.dictionaries(st.sampled_from(["k", "pii"]), st.integers() | st.text(max_size=5))
        if detailed
        else st.just({}),
    )
    return st.lists(field, min_size=1, max_size=4, unique_by=lambda f: f.name.lower()).map(tuple)


def data_types(*, detailed: bool = True) -> st.SearchStrategy[DataType]:
    """Any type; ``detailed=False`` keeps every nested nullability/description at its default."""

    def extend(children: st.SearchStrategy[DataType]) -> st.SearchStrategy[DataType]:
        flag = st.booleans() if detailed else st.just(True)
        return st.one_of(
            st.builds(ArrayType, children, flag),
            st.builds(MapType, atomic_types, children, flag),
            _fields(children, detailed=detailed).map(StructType),
        )

    return st.recursive(atomic_types, extend, max_leaves=6)


@st.composite
def table_schemas(draw: st.DrawFn, *, detailed: bool = True) -> TableSchema:
    """Any table schema, with nested types and (when detailed) nullability and metadata."""
    fields = draw(_fields(data_types(detailed=detailed), detailed=detailed))
    return TableSchema(fields, description=draw(st.none() | st.text(max_size=10)))


# -- nested struct schemas for mutation tests --------------------------------------------------

leaf_types = st.sampled_from(["int", "bigint", "string", "date", "double", "boolean"]).map(
    PrimitiveType
)


def _nested_fields(depth: int) -> st.SearchStrategy[tuple[Field, ...]]:
    child: st.SearchStrategy[DataType] = leaf_types
    if depth > 0:
        inner = _nested_fields(depth - 1)
        child = st.one_of(
            leaf_types,
            leaf_types,
            inner.map(StructType),
            inner.map(lambda fs: ArrayType(StructType(fs))),
        )
    field = st.builds(Field, names, child, st.booleans())
    return st.lists(field, min_size=1, max_size=4, unique_by=lambda f: f.name.lower()).map(tuple)


nested_schemas = _nested_fields(2).map(TableSchema)

Rebuild = Callable[[tuple[Field, ...]], tuple[Field, ...]]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def struct_locations(
    fields: tuple[Field, ...], prefix: str = "", rebuild: Rebuild | None = None
) -> Iterator[tuple[str, tuple[Field, ...], Rebuild]]:
    """Every struct level: its path, its fields, and a function rebuilding the whole schema."""
    top: Rebuild = rebuild or (lambda new: new)
    yield prefix, fields, top
    for i, f in enumerate(fields):
        if isinstance(f.type, StructType):
            yield from struct_locations(
                f.type.fields, _join(prefix, f.name), _nest(fields, i, top, in_array=False)
            )
        elif isinstance(f.type, ArrayType) and isinstance(f.type.element, StructType):
            yield from struct_locations(
                f.type.element.fields,
                _join(prefix, f.name) + ".element",
                _nest(fields, i, top, in_array=True),
            )


def _nest(fields: tuple[Field, ...], index: int, outer: Rebuild, *, in_array: bool) -> Rebuild:
    def rebuild(new: tuple[Field, ...]) -> tuple[Field, ...]:
        old = fields[index]
        inner: DataType = StructType(new)
        if in_array:
            assert isinstance(old.type, ArrayType)
            inner = ArrayType(inner, old.type.contains_null)
        replaced = list(fields)
        replaced[index] = old.replace(type=inner)
        return outer(tuple(replaced))

    return rebuild


def replace_at(fields: Sequence[Field], index: int, new: Field) -> tuple[Field, ...]:
    """Return ``fields`` with the one at ``index`` replaced."""
    out = list(fields)
    out[index] = new
    return tuple(out)
