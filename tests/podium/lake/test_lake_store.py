"""podium.lake.Lake: real Delta tables and blobs, each test run on two backends.

Real: delta-rs writes and MERGEs, DataFusion filtered reads, fsspec blobs. The `lake` fixture
runs every test once on a local temp folder and once on S3 served by a `moto_server` process
over HTTP (see conftest.py). Nothing is faked.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from podium.lake import SCHEMAS, Lake, LakeError, MergeStats, sql_list

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def tag_rows(*rows: tuple[str, str, float, str]) -> pd.DataFrame:
    """`talk_tags` rows from (talk_id, tag, score, source)."""
    return pd.DataFrame(
        [
            {
                "talk_id": talk_id,
                "tag": tag,
                "score": score,
                "source": source,
                "model": "m1" if source == "model" else "",
                "content_hash": f"h-{talk_id}",
                "tagged_at": NOW,
            }
            for talk_id, tag, score, source in rows
        ]
    )


def as_set(frame: pd.DataFrame, *columns: str) -> set[tuple]:
    return set(frame[list(columns)].itertuples(index=False, name=None))


# ---- upsert ---------------------------------------------------------------------------------


def test_upsert_inserts_then_updates_by_primary_key(lake: Lake) -> None:
    first = lake.upsert(
        "talk_tags", tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.7, "model"))
    )
    assert first == MergeStats(inserted=2)
    second = lake.upsert(
        "talk_tags", tag_rows(("a", "python", 0.9, "model"), ("c", "data", 0.4, "speaker"))
    )
    assert (second.inserted, second.updated, second.changed) == (1, 1, 2)
    stored = lake.read("talk_tags")
    assert as_set(stored, "talk_id", "tag", "score") == {
        ("a", "python", 0.9),
        ("b", "web", 0.7),
        ("c", "data", 0.4),
    }


def test_identical_reupsert_is_a_noop_without_a_new_version(lake: Lake) -> None:
    rows = tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.7, "model"))
    lake.upsert("talk_tags", rows)
    version = lake.version("talk_tags")
    stats = lake.upsert("talk_tags", rows, changed_when="t.score != s.score")
    assert stats == MergeStats()
    assert lake.version("talk_tags") == version
    assert len(lake.read("talk_tags")) == 2


def test_changed_when_rewrites_only_the_rows_that_changed(lake: Lake) -> None:
    lake.upsert("talk_tags", tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.7, "model")))
    version = lake.version("talk_tags")
    stats = lake.upsert(
        "talk_tags",
        tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.1, "model")),
        changed_when="t.score != s.score",
    )
    assert stats == MergeStats(updated=1)
    assert lake.version("talk_tags") == version + 1
    assert as_set(lake.read("talk_tags"), "talk_id", "score") == {("a", 0.5), ("b", 0.1)}


def test_duplicate_keys_in_one_upsert_are_refused_and_nothing_is_written(lake: Lake) -> None:
    rows = tag_rows(("a", "python", 0.5, "model"), ("a", "python", 0.6, "speaker"))
    with pytest.raises(LakeError, match="duplicate keys"):
        lake.upsert("talk_tags", rows)
    assert not lake.exists("talk_tags")


def test_rows_missing_a_schema_column_are_refused(lake: Lake) -> None:
    rows = tag_rows(("a", "python", 0.5, "model")).drop(columns=["model"])
    with pytest.raises(LakeError, match=r"lack columns \['model'\]"):
        lake.append("talk_tags", rows)


def test_empty_upsert_and_append_write_nothing(lake: Lake) -> None:
    assert lake.upsert("talk_tags", tag_rows()) == MergeStats()
    assert lake.append("talk_tags", tag_rows()) == 0
    assert lake.version("talk_tags") is None


# ---- replace_where and delete -----------------------------------------------------------------


def test_replace_where_swaps_matching_rows_and_leaves_the_rest(lake: Lake) -> None:
    lake.append(
        "talk_tags",
        tag_rows(
            ("a", "python", 0.5, "model"),
            ("a", "web", 0.4, "model"),
            ("a", "kept", 1.0, "organiser"),
            ("b", "data", 0.3, "model"),
        ),
    )
    written = lake.replace_where(
        "talk_tags",
        tag_rows(("a", "testing", 0.8, "model")),
        predicate="talk_id = 'a' AND source != 'organiser'",
    )
    assert written == 1
    assert as_set(lake.read("talk_tags"), "talk_id", "tag") == {
        ("a", "testing"),
        ("a", "kept"),
        ("b", "data"),
    }


def test_replace_where_on_a_missing_table_creates_it(lake: Lake) -> None:
    lake.replace_where(
        "talk_tags", tag_rows(("a", "python", 0.5, "model")), predicate="talk_id = 'a'"
    )
    assert as_set(lake.read("talk_tags"), "talk_id", "tag") == {("a", "python")}


def test_delete_removes_matching_rows_and_counts_them(lake: Lake) -> None:
    assert lake.delete("talk_tags", predicate="talk_id = 'a'") == 0  # no table yet
    lake.append(
        "talk_tags",
        tag_rows(
            ("a", "python", 0.5, "model"), ("a", "web", 0.4, "model"), ("b", "data", 0.3, "model")
        ),
    )
    assert lake.delete("talk_tags", predicate="talk_id = 'a'") == 2
    assert as_set(lake.read("talk_tags"), "talk_id", "tag") == {("b", "data")}


# ---- read ---------------------------------------------------------------------------------------


@pytest.fixture
def merged(lake: Lake) -> Lake:
    """A table whose latest files were written by a MERGE (string_view columns)."""
    lake.upsert("talk_tags", tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.7, "speaker")))
    lake.upsert(
        "talk_tags",
        tag_rows(
            ("a", "python", 0.6, "model"), ("c", "data", 0.4, "model"), ("d's", "ml", 0.2, "model")
        ),
    )
    return lake


def test_filtered_reads_after_a_merge(merged: Lake) -> None:
    def ids(where: list) -> set[str]:
        return set(merged.read("talk_tags", where=where).talk_id)

    assert ids([("talk_id", "in", ["a", "c"])]) == {"a", "c"}
    assert ids([("source", "=", "speaker")]) == {"b"}
    assert ids([("source", "==", "speaker")]) == {"b"}
    assert ids([("source", "!=", "speaker")]) == {"a", "c", "d's"}
    assert ids([("talk_id", "=", "d's")]) == {"d's"}  # quotes are escaped
    assert ids([("talk_id", "not in", ["a"]), ("score", ">", 0.3)]) == {"b", "c"}
    assert ids([("talk_id", "in", [])]) == set()


def test_filtered_read_keeps_the_schema_types(merged: Lake) -> None:
    frame = merged.read("talk_tags", where=[("talk_id", "=", "a")])
    assert list(frame.columns) == SCHEMAS["talk_tags"].names
    row = frame.iloc[0]
    assert (row.talk_id, row.tag, row.score, row.model) == ("a", "python", 0.6, "m1")
    assert row.tagged_at == pd.Timestamp(NOW)


def test_read_selected_columns_with_and_without_filters(merged: Lake) -> None:
    plain = merged.read("talk_tags", columns=["talk_id", "score"])
    assert list(plain.columns) == ["talk_id", "score"] and len(plain) == 4
    filtered = merged.read("talk_tags", columns=["tag"], where=[("talk_id", "=", "c")])
    assert list(filtered.columns) == ["tag"] and list(filtered.tag) == ["data"]


def test_unknown_filter_operator_is_a_lake_error(merged: Lake) -> None:
    with pytest.raises(LakeError, match="unsupported filter operator 'like'"):
        merged.read("talk_tags", where=[("tag", "like", "py%")])


def test_reading_a_missing_table_gives_an_empty_frame_with_its_columns(lake: Lake) -> None:
    assert lake.version("talks") is None and not lake.exists("talks")
    frame = lake.read("talks")
    assert frame.empty and list(frame.columns) == SCHEMAS["talks"].names
    filtered = lake.read("talks", columns=["talk_id", "state"], where=[("talk_id", "in", ["x"])])
    assert filtered.empty and list(filtered.columns) == ["talk_id", "state"]


def test_list_columns_round_trip(lake: Lake) -> None:
    row = {name: None for name in SCHEMAS["recommendations"].names}
    row.update(
        event_id="e1",
        rank=1,
        talk_id="a",
        score=0.5,
        matched_tags=["python", "web"],
        components="{}",
        model_version="v1",
        computed_at=NOW,
    )
    lake.upsert("recommendations", pd.DataFrame([row]))
    frame = lake.read("recommendations", where=[("event_id", "=", "e1")])
    assert list(frame.matched_tags.iloc[0]) == ["python", "web"]


# ---- blobs --------------------------------------------------------------------------------------


def test_blobs_put_get_exists_delete(lake: Lake) -> None:
    assert not lake.blob_exists("images/a/cover.png")
    url = lake.put_blob("images/a/cover.png", b"\x89PNG bytes")
    assert url == f"{lake.url}/images/a/cover.png"
    assert lake.blob_exists("/images/a/cover.png")
    assert lake.get_blob("images/a/cover.png") == b"\x89PNG bytes"
    lake.put_blob("images/a/cover.png", b"replaced")
    assert lake.get_blob("images/a/cover.png") == b"replaced"
    lake.delete_blob("images/a/cover.png")
    assert not lake.blob_exists("images/a/cover.png")
    with pytest.raises(FileNotFoundError):
        lake.get_blob("images/a/cover.png")


# ---- pure helpers -------------------------------------------------------------------------------


def test_sql_list_escapes_quotes() -> None:
    assert sql_list(["a", "b's"]) == "('a', 'b''s')"


def test_repr_never_shows_storage_options() -> None:
    lake = Lake("s3://bucket/lake", storage_options={"AWS_SECRET_ACCESS_KEY": "hunter2"})
    assert "hunter2" not in repr(lake) and repr(lake) == "Lake('s3://bucket/lake')"


def test_file_urls_and_trailing_slashes_are_normalised(tmp_path) -> None:
    lake = Lake(f"file://{tmp_path}/lake/")
    assert lake.url == f"{tmp_path}/lake" and not lake.is_remote
    assert lake.table_uri("talks") == f"{tmp_path}/lake/tables/talks"


def test_create_blob_lets_exactly_one_writer_win(lake: Lake) -> None:
    """The single use of review links rests on this (issue 23): an exclusive create on a
    folder, a conditional put (If-None-Match) on S3 (moto over HTTP), raced by threads."""
    from concurrent.futures import ThreadPoolExecutor

    assert lake.create_blob("claims/one.json", b"first")
    assert not lake.create_blob("claims/one.json", b"second")
    assert lake.get_blob("claims/one.json") == b"first"
    with ThreadPoolExecutor(8) as pool:
        won = list(
            pool.map(lambda i: lake.create_blob("claims/race.json", f"{i}".encode()), range(8))
        )
    assert won.count(True) == 1
    assert lake.get_blob("claims/race.json") == str(won.index(True)).encode()


def test_overwrites_racing_to_create_a_table_leave_each_row_once(tmp_path) -> None:
    """Two refreshers recounting at once both overwrite a table that does not exist yet: the
    loser must not be rebased onto the winner's version with nothing removed (every row twice,
    seen in tests/podium/use_cases/test_derived.py). Eight fresh tables, two threads each."""
    import threading

    rows = tag_rows(("a", "python", 0.5, "model"), ("b", "web", 0.7, "model"))
    for n in range(8):
        lakes = [Lake(str(tmp_path / f"lake{n}")) for _ in range(2)]
        start = threading.Barrier(2)

        def write(lake: Lake, start: threading.Barrier) -> None:
            start.wait(timeout=30)
            lake.overwrite("talk_tags", rows)

        threads = [threading.Thread(target=write, args=(lake, start)) for lake in lakes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(lakes[0].read("talk_tags")) == len(rows)
