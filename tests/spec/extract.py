"""Writes the few Intercom 2.14 schemas the tests need, from Intercom's OpenAPI description.

    python tests/spec/extract.py PATH/TO/api.intercom.io.yaml

The description (https://github.com/intercom/Intercom-OpenAPI, descriptions/2.14,
MIT licence: LICENSE.md beside this file) is 30,000 lines; the tests need the search request
schema (to check what the syncer sends) and the conversation, part, ticket, contact and
company schemas (to bend into hostile objects), with everything they refer to. This keeps
that closure, and nothing else, in `intercom-2.14-schemas.json`, so a clone of the
repository carries what its tests need.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = ("search_request", "conversation", "conversation_part", "ticket", "contact", "company")
OUT = Path(__file__).resolve().parent / "intercom-2.14-schemas.json"


def refs(node: Any) -> set[str]:
    """The schema names a node refers to, at any depth."""
    if isinstance(node, dict):
        found = {str(v).rsplit("/", 1)[-1] for k, v in node.items() if k == "$ref"}
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in kept:
            kept[name] = schemas[name]
            todo.extend(refs(schemas[name]) - set(kept))
    return dict(sorted(kept.items()))


def main(spec: str) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(Path(spec).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe
    kept = closure(document["components"]["schemas"], ROOTS)
    payload = {
        "info": {"source": "Intercom-OpenAPI descriptions/2.14", "roots": ROOTS},
        "schemas": kept,
    }
    OUT.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{OUT.name}: {len(kept)} schemas")


if __name__ == "__main__":
    main(sys.argv[1])
