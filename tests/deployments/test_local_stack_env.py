"""The local stack's warm executor gets one encoder thread unless threads were chosen."""

from __future__ import annotations

from deployments.local_stack import warm_executor_env
from podium.settings import Settings


def test_the_warm_executor_gets_one_encoder_thread_by_default(monkeypatch) -> None:
    env = warm_executor_env(Settings())
    assert env == {"PODIUM_TAGGING__THREADS": "1"}
    # What the executor's one settings object reads back from that environment.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().tagging.threads == 1


def test_threads_chosen_by_the_operator_are_kept() -> None:
    settings = Settings()
    settings.tagging.threads = 4
    assert warm_executor_env(settings) == {}
