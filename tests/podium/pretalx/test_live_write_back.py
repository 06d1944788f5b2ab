"""Tags written back to a real pretalx server and read again (marker `pretalx`).

Real: pretalx 2026.2.1 in its own virtualenv on SQLite (tests/pretalx_server.py), a read-write
API token made by pretalx's own models, the import, the write-back over pretalx's REST API, and
pretalx's models reading the submissions' tags afterwards. Skipped, with the reason, only where
`.ci/setup` has not installed pretalx.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium.lake import Lake
from podium.models import TagAssignment
from podium.pretalx.client import PretalxClient, PretalxError, parse_pretalx_url
from podium.pretalx.config import PretalxSettings
from podium.pretalx.mapping import talk_id_for
from podium.pretalx.sync import sync_pretalx_event
from podium.pretalx.write_back import write_back_tags
from podium.talk_tags import accept_tags, write_tags
from tests.pretalx_server import SLUG, not_set_up

pytestmark = [
    pytest.mark.pretalx,
    pytest.mark.skipif(not_set_up() is not None, reason=str(not_set_up())),
]
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _tag(talk_id: str, tag: str, source: str, score: float = 1.0) -> TagAssignment:
    return TagAssignment(
        talk_id=talk_id, tag=tag, score=score, source=source, model="m", tagged_at=NOW
    )


def test_accepted_and_confident_tags_written_back_and_read_again(server, tmp_path) -> None:
    ref = parse_pretalx_url(f"pretalx+http://{server.url.removeprefix('http://')}/{SLUG}")
    lake = Lake(str(tmp_path / "lake"))
    host = [server.url.removeprefix("http://")]  # the token goes only to named hosts
    with PretalxClient(
        ref, PretalxSettings(token=server.token, page_size=100, token_hosts=host)
    ) as client:
        sync_pretalx_event(lake=lake, client=client)
    before = server.admin("tags")
    # A submission an organiser already tagged in pretalx, and one with no tags.
    tagged = next(code for code, tags in sorted(before.items()) if tags)
    bare = next(code for code, tags in sorted(before.items()) if not tags and code != tagged)
    kept = before[tagged]
    a, b = talk_id_for(SLUG, tagged), talk_id_for(SLUG, bare)
    accept_tags(lake=lake, assignments=[_tag(a, "reviewed by podium", "organiser")])
    write_tags(
        lake=lake,
        talk_ids=[a, b],
        assignments=[
            _tag(b, "machine learning", "model", 0.91),
            _tag(b, "databases", "model", 0.42),  # below the threshold
            _tag(a, kept[0], "model", 0.95),  # already in pretalx: nothing to add
        ],
    )

    # A read-only token cannot write: a one-line error naming what the token needs.
    read_only = PretalxSettings(token=server.token, write_back_model_tags=True, token_hosts=host)
    with PretalxClient(ref, read_only) as client, pytest.raises(PretalxError) as refused:
        write_back_tags(lake=lake, client=client, settings=read_only)
    assert "403" in str(refused.value) and "write access" in str(refused.value)
    assert server.token not in str(refused.value)

    token = server.admin("token-rw")["token"]
    settings = PretalxSettings(
        token=token, write_back_model_tags=True, write_back_min_score=0.8, token_hosts=host
    )
    with PretalxClient(ref, settings) as client:
        report = write_back_tags(lake=lake, client=client, settings=settings)
    assert sorted(report.tags_created) == ["machine learning", "reviewed by podium"]
    assert sorted(report.submissions_updated) == sorted([tagged, bare])

    after = server.admin("tags")  # read again, through pretalx's own models
    assert after[tagged] == sorted([*kept, "reviewed by podium"])  # organisers' tags kept
    assert after[bare] == ["machine learning"]
    assert {c: t for c, t in after.items() if c not in (tagged, bare)} == {
        c: t for c, t in before.items() if c not in (tagged, bare)
    }

    # Idempotent: nothing new, no write.
    with PretalxClient(ref, settings) as client:
        again = write_back_tags(lake=lake, client=client, settings=settings)
    assert not again.tags_created and not again.submissions_updated
    assert server.admin("tags") == after

    # The next import does not read Podium's own tags back as the speakers'.
    with PretalxClient(
        ref, PretalxSettings(token=server.token, page_size=100, token_hosts=host)
    ) as client:
        sync = sync_pretalx_event(lake=lake, client=client)
    assert not sync.ingest.updated and not sync.ingest.pending
    talks = lake.read("talks").set_index("talk_id")
    assert "machine learning" not in list(talks.loc[b, "tags"])
    assert "reviewed by podium" not in list(talks.loc[a, "tags"])
    assert set(kept) <= set(talks.loc[a, "tags"])
