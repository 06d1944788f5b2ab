"""boto3 clients of the directory's table and its stream, built from settings."""

from __future__ import annotations

from typing import Any

from podium.dynamodb.config import DynamoDBSettings
from podium.errors import UserError


class DynamoDBError(UserError, RuntimeError):
    """The table or its stream cannot be used as configured; one line for people."""


def _client_kwargs(settings: DynamoDBSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": settings.region}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    if settings.access_key_id and settings.secret_access_key:
        kwargs["aws_access_key_id"] = settings.access_key_id.get_secret_value()
        kwargs["aws_secret_access_key"] = settings.secret_access_key.get_secret_value()
    return kwargs


def table_name(settings: DynamoDBSettings) -> str:
    if not settings.table:
        raise DynamoDBError("no DynamoDB table configured; set PODIUM_DYNAMODB__TABLE")
    return settings.table


def dynamodb_client(settings: DynamoDBSettings) -> Any:
    """The low-level DynamoDB client (typed attribute values, as the stream carries them)."""
    import boto3

    return boto3.client("dynamodb", **_client_kwargs(settings))


def streams_client(settings: DynamoDBSettings) -> Any:
    """The DynamoDB Streams client."""
    import boto3

    return boto3.client("dynamodbstreams", **_client_kwargs(settings))


def latest_stream_arn(*, dynamodb: Any, settings: DynamoDBSettings) -> str:
    """The configured stream, or the table's latest one."""
    if settings.stream_arn:
        return settings.stream_arn
    name = table_name(settings)
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        raise DynamoDBError(f"DynamoDB table {name!r} does not exist") from None
    arn = table.get("LatestStreamArn")
    spec = table.get("StreamSpecification", {})
    if not arn or not spec.get("StreamEnabled", True):
        raise DynamoDBError(
            f"DynamoDB table {name!r} has no stream; enable one (NEW_AND_OLD_IMAGES or NEW_IMAGE)"
        )
    if spec.get("StreamViewType") not in (None, "NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        # KEYS_ONLY and OLD_IMAGE records do not carry the talk as it is now.
        raise DynamoDBError(
            f"DynamoDB table {name!r} streams {spec['StreamViewType']}; Podium needs the new "
            "image (NEW_AND_OLD_IMAGES or NEW_IMAGE)"
        )
    return str(arn)
