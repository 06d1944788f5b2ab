"""The pretalx source against a real pretalx server (marker `pretalx`; run alone with
`pytest -m pretalx`).

Real: pretalx 2026.2.1 from PyPI in its own virtualenv, on SQLite, serving its REST API on
127.0.0.1 at a free port; the demo event made by pretalx's `create_test_event`; organiser
changes made by pretalx's own models (tests/pretalx_admin/admin.py); the `podium ingest`
command; the lake in a temp folder. Skipped, with the reason, only where `make test-deps` has not
installed pretalx. With PODIUM_RECORD_PRETALX=1 it re-records the answers the fast tests replay.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from podium.lake import Lake
from podium.pretalx.client import PretalxClient, parse_pretalx_url
from podium.pretalx.config import PretalxSettings
from podium.pretalx.mapping import talk_id_for
from podium.pretalx.sync import sync_pretalx_event
from tests.podium.pretalx.recording import RECORDED, RecordingTransport
from tests.pretalx_server import SLUG, not_set_up

pytestmark = [
    pytest.mark.pretalx,
    pytest.mark.skipif(not_set_up() is not None, reason=str(not_set_up())),
]
RECORD = os.environ.get("PODIUM_RECORD_PRETALX") == "1"


def test_import_then_incremental_changes_from_a_live_server(server, tmp_path, monkeypatch):
    from podium.cli import app
    from podium.settings import get_settings

    lake_dir = tmp_path / "lake"
    url = f"pretalx+http://{server.url.removeprefix('http://')}/{SLUG}"
    monkeypatch.setenv("PODIUM_LAKE__URL", str(lake_dir))
    monkeypatch.setenv("PODIUM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PODIUM_PRETALX__TOKEN", server.token)
    monkeypatch.setenv("PODIUM_PRETALX__TOKEN_HOSTS", json.dumps([server.url[7:]]))
    get_settings.cache_clear()
    try:
        # The one-off import, as a person runs it.
        result = CliRunner().invoke(app, ["ingest", url, "--no-notify"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert server.token not in result.output

    lake = Lake(str(lake_dir))
    talks = lake.read("talks").set_index("talk_id")
    assert len(talks) == 64  # create_test_event, seed 7: 36 confirmed, 28 rejected
    assert sorted(talks.state.value_counts().items()) == [("published", 36), ("rejected", 28)]
    assert all(len(s) >= 1 for s in talks.speakers)
    assert all(list(e) == [SLUG] for e in talks.event_ids)
    tagged = [t for t in talks.tags if "python" in list(t)]
    assert tagged, "pretalx tags arrive as names"
    (event,) = lake.read("events").itertuples()
    assert event.event_id == SLUG and event.name and event.starts_on <= event.ends_on
    assert len(event.tags) >= 1  # the event's tracks
    assert set(event.tags) & {tag for t in talks.tags for tag in t}

    # The published schedule: every confirmed talk has its slot, the others none, and no
    # room holds two talks at once.
    scheduled = talks[talks.slot_start.notna()]
    assert sorted(scheduled.state.unique()) == ["published"] and len(scheduled) == 36
    assert talks[talks.state == "rejected"].slot_start.isna().all()
    assert (scheduled.slot_end > scheduled.slot_start).all() and scheduled.slot_room.str.len().min()
    for _, room in scheduled.sort_values("slot_start").groupby("slot_room"):
        assert (room.slot_start.iloc[1:].to_numpy() >= room.slot_end.iloc[:-1].to_numpy()).all()
    ref = parse_pretalx_url(url)
    settings = PretalxSettings(token=server.token, page_size=25, token_hosts=[server.url[7:]])
    with PretalxClient(ref, settings) as client:
        api_slots = {s["submission"]: s for s in client.slots() if s.get("submission")}
    some = sorted(api_slots)[0]
    stored = talks.loc[talk_id_for(SLUG, some)]
    assert stored.slot_start == pd.Timestamp(api_slots[some]["start"])
    assert stored.slot_room == api_slots[some]["room"]["name"]["en"]
    if RECORD:  # a first sync into an empty lake, for the fast tests to replay
        before = RecordingTransport(server.url)
        with PretalxClient(ref, settings, transport=before) as client:
            sync_pretalx_event(lake=Lake(str(tmp_path / "fresh-before")), client=client)
        before.save(RECORDED / "before-change.json")
    with PretalxClient(ref, settings) as client:
        # Nothing changed: four small requests (event, tracks, slots, the code listing).
        quiet = sync_pretalx_event(lake=lake, client=client)
    assert quiet.fetched == 0 and quiet.requests == 4
    assert not quiet.ingest.new and not quiet.ingest.updated

    changed = server.admin("change")
    recorder2 = RecordingTransport(server.url) if RECORD else None
    with PretalxClient(ref, settings, transport=recorder2) as client:
        report = sync_pretalx_event(lake=lake, client=client)
    assert sorted(report.ingest.updated) == sorted(
        talk_id_for(SLUG, changed[k]) for k in ("edited", "retagged")
    )
    assert sorted(report.ingest.removed) == sorted(
        talk_id_for(SLUG, changed[k]) for k in ("withdrawn", "deleted")
    )
    assert report.fetched == 3 and not report.errors
    now = lake.read("talks").set_index("talk_id")
    assert "retagged" in list(now.loc[talk_id_for(SLUG, changed["retagged"]), "tags"])
    talks = lake.read("talks").set_index("talk_id")
    assert talks.loc[talk_id_for(SLUG, changed["edited"]), "title"].endswith("(revised)")

    if RECORD:  # the incremental sync above, plus a full first sync after the change
        with PretalxClient(ref, settings, transport=recorder2) as client:
            sync_pretalx_event(lake=Lake(str(tmp_path / "fresh-after")), client=client)
        recorder2.save(RECORDED / "after-change.json")
        (RECORDED / "changes.json").write_text(json.dumps(changed, indent=1) + "\n")
