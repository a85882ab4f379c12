"""A state database belongs to one Intercom workspace.

The first run records the workspace its token reads (`GET /me`: the app's `id_code` and
region); a later run whose token reads another workspace stops before it reads anything,
since its conversations would land in the same outbox and cursors (ids repeat across
workspaces). `status` and `check` name the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncer.errors import ConfigError
from syncer.store.store import Store

NOTE = "workspace"


def workspace_of(me: Mapping[str, Any]) -> dict[str, str]:
    app = me.get("app")
    app = app if isinstance(app, Mapping) else {}
    return {
        "id_code": str(app.get("id_code") or ""),
        "region": str(app.get("region") or ""),
        "name": str(app.get("name") or ""),
    }


def words(workspace: Mapping[str, Any]) -> str:
    return (
        f"{workspace.get('name')!r} ({workspace.get('id_code')}, region {workspace.get('region')})"
    )


def bind(store: Store, me: Mapping[str, Any], *, write: bool = True) -> dict[str, str]:
    """The workspace the token reads, recorded at the first command (with `write`); a
    ConfigError naming both if the state belongs to another (the app's `id_code`, or its
    region: R-me), or if `GET /me` names no workspace at all, whose state this could not be
    told from another's."""
    found = workspace_of(me)
    if not found["id_code"]:
        raise ConfigError(
            "intercom: GET /me named no workspace (no app.id_code), so the state cannot be "
            "bound to one; check that intercom.token_env holds a workspace's access token"
        )
    bound = store.notes().get(NOTE)
    if isinstance(bound, Mapping) and bound.get("id_code"):
        regions = (bound.get("region"), found["region"])
        other_region = all(regions) and regions[0] != regions[1]
        if bound.get("id_code") != found["id_code"] or other_region:
            raise ConfigError(
                f"the token reads workspace {words(found)}, but {store.where} holds the state "
                f"of workspace {words(bound)}; use that workspace's token, or another "
                "sync.database (or sync.schema)"
            )
        return found
    if write:
        store.note(NOTE, found)
    return found
