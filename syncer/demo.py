"""`syncer demo`: the whole product on this machine, with no config and no accounts.

It starts the fake Intercom (a generated workspace) and the fake Collector on 127.0.0.1 and
runs a real catch-up through the production code path: config parsing, scans, detection, the
outbox, the publisher.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from syncer import catchup
from syncer import config as config_mod
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate

TOKEN, KEY = "demo-intercom-token", "demo-collector-key"


@dataclass
class DemoResult:
    exit_code: int
    delivered: Counter[str]  # goal name -> goals the fake Collector accepted
    database: Path
    workspace: Workspace
    kept: bool = True  # whether `database` and `config` are still there to look at
    config: Path | None = None  # the demo's config file, beside its database


def run(
    conversations: int = 300, folder: Path | None = None, seed: int = 1, *, keep: bool = True
) -> DemoResult:
    """The demo in `folder` (a new temporary one by default, removed unless `keep`)."""
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="syncer-demo-"))
        try:
            return run(conversations, folder, seed, keep=keep)
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
    now = int(time.time())
    database = folder / "state.db"
    config_path = folder / "syncer.toml"
    workspace = generate(
        seed=seed, conversations=conversations, start=now - 14 * 86_400, end=now - 120
    )
    with FakeIntercom(workspace, token=TOKEN) as intercom, FakeCollector(api_key=KEY) as collector:
        # A real config file, read as any other: what --keep keeps, to look at or to point
        # `syncer --config ... status` at afterwards.
        config_path.write_text(_config_text(intercom.url, collector.url), encoding="utf-8")
        config_path.chmod(0o600)
        env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "ABSMARTLY_API_KEY": KEY}
        config = config_mod.load(config_path, secrets=("intercom", "absmartly"), env=env)
        code = catchup.sync(config, now - 15 * 86_400, now, now, publish_timeout=30)
        delivered = Counter(name for name, _, _ in collector.goal_keys())
    return DemoResult(code, delivered, database, workspace, keep, config_path)


def _config_text(intercom_url: str, collector_url: str) -> str:
    """The demo's config: the fakes' addresses, the rest as config.example.toml explains."""
    q = json.dumps  # a TOML basic string is a JSON string, for these values
    return (
        "# The config `syncer demo` ran with. Its fake Intercom and Collector are gone, but\n"
        "# `syncer --config THIS_FILE status` still reads the demo's database beside it.\n\n"
        f"[intercom]\nbase_url = {q(intercom_url)}\n\n"
        f"[absmartly]\nendpoint = {q(collector_url)}\n"
        'application = "www"\nenvironment = "production"\n\n'
        '[[units]]\ntype = "user_id"\nfrom = "external_id"\n\n'
        "[goals.conversation_started.properties]\n"
        'user_email = "contact.email"\nuser_name = "contact.name"\ncompany = "company.name"\n\n'
        '[sync]\ndatabase = "sqlite:///state.db"\nsettle = 0\n'
    )


def render(result: DemoResult) -> str:
    width = max((len(name) for name in result.delivered), default=10)
    lines = [f"{'goal':<{width}}  delivered", f"{'-' * width}  ---------"]
    lines += [f"{name:<{width}}  {count:>9}" for name, count in sorted(result.delivered.items())]
    lines += [f"{'total':<{width}}  {sum(result.delivered.values()):>9}", ""]
    if result.kept:
        lines.append(f"database: {result.database}")
        if result.config is not None:
            lines.append(f"config:   {result.config} (syncer --config {result.config} status)")
    else:
        lines.append("the demo's folder (config, database) was removed (--keep keeps it)")
    lines.append(
        "Events whose contact has no external_id were kept as unattributed, as in production."
    )
    lines.append(
        "Next: cp config.example.toml syncer.toml, edit it, then syncer --config syncer.toml check"
    )
    return "\n".join(lines)
