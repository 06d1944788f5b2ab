"""DynamoDB fixtures: a moto server in its own process, reached over HTTP by boto3.

Nothing is patched in-process: the table, its `gsi1` index and its stream are moto's
implementation of the DynamoDB and DynamoDB Streams APIs, spoken to over real HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from podium.dynamodb.client import dynamodb_client, streams_client
from podium.dynamodb.config import DynamoDBSettings
from tests.moto_server import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 (free port) in its own process; yields its URL."""
    with moto_server() as url:
        yield url


def create_directory_table(client, name: str) -> None:
    """The original single table: pk/sk, the `gsi1` index (gsi1pk/gsi1sk), a stream."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


@pytest.fixture
def directory(moto_endpoint: str) -> DynamoDBSettings:
    """Settings of a fresh directory table on the moto server."""
    settings = DynamoDBSettings(
        table=f"directory-{uuid.uuid4().hex[:10]}",
        endpoint_url=moto_endpoint,
        region="eu-west-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    create_directory_table(dynamodb_client(settings), settings.table)
    return settings


@pytest.fixture
def ddb(directory: DynamoDBSettings):
    return dynamodb_client(directory)


@pytest.fixture
def streams(directory: DynamoDBSettings):
    return streams_client(directory)
