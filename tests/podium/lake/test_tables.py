"""podium.lake.tables: the table declarations and the reader that turns them into schemas.

Real: pyarrow types and schemas. Nothing is faked.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from podium.lake.tables import table


def test_a_declaration_gives_the_schema_key_and_added_columns_in_order() -> None:
    declared = table(
        """
        talk_id   string     key  # a comment after the marks
        # a comment line
        rank      int32      key
        seen      timestamp
        labels    strings    added
        """
    )
    assert declared.schema == pa.schema(
        [
            ("talk_id", pa.string()),
            ("rank", pa.int32()),
            ("seen", pa.timestamp("us", tz="UTC")),
            ("labels", pa.list_(pa.string())),
        ]
    )
    assert declared.key == ("talk_id", "rank")
    assert declared.added == ("labels",)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("a  str  key", "want `name type"),
        ("a  string  primary", "want `name type"),
        ("a", "want `name type"),
        ("a  string  key\na  int32", "declared twice"),
        ("a  string", "at least one `key`"),
    ],
)
def test_a_bad_declaration_is_refused(declaration: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        table(declaration)
