"""Settings of the original directory's DynamoDB table (a section of `Settings`)."""

from pydantic import BaseModel, Field, SecretStr


class DynamoDBSettings(BaseModel):
    """Where the original single-table directory lives, and how Podium reads and writes it."""

    table: str = Field(
        default="", description="Table name of the directory; empty disables the integration."
    )
    region: str = Field(default="us-east-1", description="AWS region of the table.")
    endpoint_url: str | None = Field(
        default=None, description="Custom endpoint (DynamoDB Local, moto); None for AWS."
    )
    access_key_id: SecretStr | None = Field(
        default=None, description="Access key; None uses the default AWS credential chain."
    )
    secret_access_key: SecretStr | None = Field(
        default=None, description="Secret key matching access_key_id."
    )
    stream_arn: str | None = Field(
        default=None, description="Stream to read; None takes the table's latest stream."
    )
    stream_batch: int = Field(
        default=1000, gt=0, le=1000, description="Records per GetRecords call (at most 1000)."
    )
    new_talk_pk_prefix: str = Field(
        default="TALK#",
        description="Partition-key prefix of talk items Podium creates for talks that are not "
        "in the table yet (from pretalx or the gateway).",
    )
    recommendations_pk_prefix: str = Field(
        default="recs#",
        description="Partition key of an event's recommendation items: prefix + event id; "
        "the app reads them with one query.",
    )
