"""Re-records the client-layer cassettes from the fake Intercom.

Run `python tests/cassettes/record.py` after a change to what the client sends.

The token is filtered out before anything is written. Tests replay these with record mode
`none`, so they never touch a network.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import vcr

from syncer.config import IntercomSettings
from syncer.errors import IntercomAuthError
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import ScanSpec, window_query
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import generate

HERE = Path(__file__).resolve().parent
T0 = 1_760_000_000  # fixed, so recorded request bodies are the same every time
SPEC = ScanSpec("conversations", "created_at")
QUERY = window_query(SPEC, T0, T0 + 86_399)


def recorder() -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(HERE),
        record_mode="all",
        match_on=["method", "path", "query", "body"],
        filter_headers=[("authorization", "Bearer <filtered>")],
        decode_compressed_response=True,
    )


def main() -> None:
    for old_cassette in HERE.glob("*.yaml"):
        old_cassette.unlink()  # record mode "all" would append to it
    ws = generate(seed=11, conversations=200, start=T0, end=T0 + 86_399)
    old = ws.add_contact(role="lead")
    into = ws.add_contact(external_id="merged-user")
    ws.merge_contact(old, into)
    with FakeIntercom(ws, token="recording-token") as fake:
        settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", fake.url, token="recording-token")
        client = IntercomClient(settings, sleep=lambda _: None)
        rec = recorder()
        with rec.use_cassette("search_two_pages.yaml"):
            page = client.search("conversations", QUERY)
            assert page.next is not None
            client.search("conversations", QUERY, page.next)
        with rec.use_cassette("retry_503.yaml"):
            fake.fail(503, times=1)
            client.me()
        with rec.use_cassette("merged_contact.yaml"):
            client.contact(old)
        with rec.use_cassette("conversation.yaml"):
            client.conversation(next(iter(ws.conversations)))
        bad = IntercomClient(IntercomSettings("INTERCOM_ACCESS_TOKEN", fake.url, token="wrong"))
        with rec.use_cassette("unauthorized.yaml"), contextlib.suppress(IntercomAuthError):
            bad.me()
        print("conversation id:", next(iter(ws.conversations)), "merged:", old, "->", into)


if __name__ == "__main__":
    main()
