"""Hypothesis strategies for Intercom objects that bend the 2.14 OpenAPI schemas.

Each field follows its schema most of the time, and is otherwise absent, null, of another
type, huge, full of control characters, or an enum value Intercom never documented.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.spec import schemas

MAX_DEPTH = 4


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas()[schema["$ref"].rsplit("/", 1)[-1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if schema.get(combined):
            return _resolve(schema[combined][0])
    return schema


WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
NASTY_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),  # control characters
    st.just("x" * 5_000),  # a long body (the end-to-end test sends 300 kB)
    st.just("Ünïcödé ✓ 日本語 \u202e\u0000"),
)


def _leaf(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.sampled_from(["robot", "", "SYSTEM"]))
    if kind == "integer":
        return st.one_of(st.integers(min_value=0, max_value=2_000_000_000), st.integers())
    if kind == "number":
        return st.floats(allow_nan=True)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return NASTY_TEXT
    return WEIRD


def bent(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for `schema`: usually of its shape, sometimes not."""
    shaped = _shaped(_resolve(schema), depth)
    return st.one_of(shaped, shaped, shaped, WEIRD)


def _shaped(schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if kind == "array" or "items" in schema:
        if depth >= MAX_DEPTH:
            return st.just([])
        return st.lists(bent(schema.get("items", {}), depth + 1), max_size=3)
    if kind == "object" or "properties" in schema:
        return obj(schema, depth)
    return _leaf(schema)


def obj(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Always a dict: each documented key optional and bent, plus an unknown key at times."""
    schema = _resolve(schema)
    properties = schema.get("properties", {}) if depth < MAX_DEPTH else {}
    optional = {
        name: st.deferred(lambda sub=sub: bent(sub, depth + 1))  # type: ignore[misc]
        for name, sub in properties.items()
    }
    return st.fixed_dictionaries({}, optional={**optional, "x_unknown_field": WEIRD})


def conversation() -> st.SearchStrategy[dict[str, Any]]:
    """A conversation whose parts list is usually present, as `GET /conversations/{id}` has."""
    parts = st.lists(obj(schemas()["conversation_part"], 1), max_size=6)
    return st.builds(
        lambda base, p, keep: (
            {**base, "conversation_parts": {"conversation_parts": p}} if keep else base
        ),
        obj(schemas()["conversation"]),
        parts,
        st.booleans(),
    )


def ticket() -> st.SearchStrategy[dict[str, Any]]:
    return obj(schemas()["ticket"])


def contact() -> st.SearchStrategy[dict[str, Any]]:
    return obj(schemas()["contact"])
