"""Settings of the original directory's DynamoDB table (a section of `Settings`)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DynamoDBSettings(BaseModel):
    """Where the original single-table directory lives, and how Podium reads and writes it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    table: str = ""
    """Table name of the directory; empty disables the integration."""
    region: str = "us-east-1"
    """AWS region of the table."""
    endpoint_url: str | None = None
    """Custom endpoint (DynamoDB Local, moto); None for AWS."""
    access_key_id: SecretStr | None = None
    """Access key; None uses the default AWS credential chain."""
    secret_access_key: SecretStr | None = None
    """Secret key matching access_key_id."""
    stream_arn: str | None = None
    """Stream to read; None takes the table's latest stream."""
    stream_batch: Annotated[int, Field(gt=0, le=1000)] = 1000
    """Records per GetRecords call (at most 1000)."""
    new_talk_pk_prefix: str = "TALK#"
    """Partition-key prefix of talk items Podium creates for talks that are not in the table yet
    (from pretalx or the gateway)."""
    recommendations_pk_prefix: str = "recs#"
    """Partition key of an event's recommendation items: prefix + event id; the app reads them
    with one query."""
