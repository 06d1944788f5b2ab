"""The tests' `LocalStack`s (the processes `podium up` starts): their settings under a temp home,
on free ports, and the stack itself, quiet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployments.local_stack import LocalStack
from podium.settings import Settings
from tests.prefect_server import free_port


def stack_settings(home: Path, secret: str, **sections: Any) -> Settings:
    """Settings for a stack under `home`: the lake there, the gateway on a free port with the
    talk-hook `secret`; each keyword is one more settings section."""
    return Settings(
        home=home,
        lake={"url": str(home / "lake")},
        gateway={"port": free_port(), "secret": secret},
        **sections,
    )


def quiet_stack(settings: Settings) -> LocalStack:
    """A `LocalStack` of `settings`, its Prefect server on a free port, saying nothing."""
    return LocalStack(settings, server_port=free_port(), say=lambda _: None)
