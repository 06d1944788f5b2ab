"""Errors a person caused (bad file, unknown id, missing config): reported in one line."""

from __future__ import annotations


def _user_errors() -> tuple[type[BaseException], ...]:
    from podium.lake import LakeError
    from podium.sources import SourceError
    from podium.vocabulary import VocabularyError

    errors: list[type[BaseException]] = [
        SourceError,
        VocabularyError,
        LakeError,
        FileNotFoundError,
        TimeoutError,
    ]
    from podium.recommend.serving import RecommendationError

    errors.append(RecommendationError)
    return tuple(errors)


USER_ERRORS = _user_errors()
