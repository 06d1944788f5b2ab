"""Errors a person caused (bad file, unknown id, missing config): reported in one line."""

from __future__ import annotations

from podium.dynamodb.client import DynamoDBError
from podium.lake import LakeError
from podium.pretalx.client import PretalxError
from podium.recommend.serving import RecommendationError
from podium.sources import SourceError
from podium.vocabulary import VocabularyError

USER_ERRORS: tuple[type[BaseException], ...] = (
    SourceError,
    VocabularyError,
    LakeError,
    RecommendationError,
    FileNotFoundError,
    TimeoutError,
    PretalxError,
    DynamoDBError,
)
