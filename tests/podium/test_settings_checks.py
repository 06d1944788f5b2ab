"""Settings that catch mistakes (issue 23): an unknown `PODIUM_*` variable is an error naming
the nearest valid one, `production` refuses a local lake and the embedded Prefect server, and
`podium --version`. Real: the settings object, and the CLI run as a person runs it (a
subprocess with its own environment), so the one-line error and exit code are what they see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from podium.settings import Settings, get_settings
from podium.settings_env import UnknownSettingError, check_environment

PROJECT = Path(__file__).resolve().parents[2]
REAL = {
    "gateway": {"secret": "a-real-gateway-secret"},
    "review": {"push_secret": "a-real-push-secret"},
}


def _podium(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("PODIUM_")}
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env={**clean, "PYTHONPATH": str(PROJECT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
    )


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("PODIUM_LAKE_URL", "PODIUM_LAKE__URL"),
        ("PODIUM_GATEWAY__SECRETS", "PODIUM_GATEWAY__SECRET"),
        ("podium_review__notifer", "PODIUM_REVIEW__NOTIFIER"),
        ("PODIUM_PRETALX__TOKEN_HOST", "PODIUM_PRETALX__TOKEN_HOSTS"),
    ],
)
def test_an_unknown_variable_names_the_nearest_valid_one(variable: str, suggestion: str) -> None:
    with pytest.raises(UnknownSettingError, match=f"did you mean {suggestion}\\?"):
        check_environment(Settings, {variable: "x"})


def test_valid_and_non_setting_variables_pass() -> None:
    check_environment(
        Settings,
        {
            "PODIUM_LAKE__URL": "s3://b/p",
            "PODIUM_LAKE": "{}",  # a whole section as JSON is valid too
            "PODIUM_REVIEW__REPOS": "[]",
            "podium_environment": "local",  # pydantic-settings matches case-insensitively
            "PODIUM_PROJECT_DIR": "/opt/podium",  # read by prefect.yaml, not by settings
            "PREFECT_API_URL": "http://x/api",  # not ours
        },
    )


def test_get_settings_refuses_a_typo(monkeypatch) -> None:
    monkeypatch.setenv("PODIUM_LAKE_URL", "s3://bucket/lake")
    get_settings.cache_clear()
    try:
        with pytest.raises(UnknownSettingError, match="PODIUM_LAKE_URL.*PODIUM_LAKE__URL"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_cli_reports_the_typo_in_one_line(tmp_path) -> None:
    result = _podium(
        "recommend", "ev", env={"PODIUM_HOME": str(tmp_path), "PODIUM_LAKE_URL": "s3://b/l"}
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: unknown setting PODIUM_LAKE_URL; did you mean PODIUM_LAKE__URL?"
    )


def test_production_refuses_a_local_lake_and_the_embedded_prefect() -> None:
    shared = {"url": "s3://bucket/podium"}
    remote = {"api_url": "https://prefect.internal/api"}
    with pytest.raises(ValidationError, match="PODIUM_LAKE__URL is a local folder"):
        Settings(environment="production", prefect=remote, **REAL)  # the default lake
    with pytest.raises(ValidationError, match="PODIUM_LAKE__URL is a local folder"):
        Settings(environment="production", lake={"url": "file:///srv/lake"}, prefect=remote, **REAL)
    with pytest.raises(ValidationError, match="embedded Prefect server"):
        Settings(environment="production", lake=shared, **REAL)  # the default 127.0.0.1:4200
    with pytest.raises(ValidationError, match="embedded Prefect server"):
        Settings(
            environment="production",
            lake=shared,
            prefect={"api_url": "http://localhost:4200/api"},
            **REAL,
        )
    ok = Settings(environment="production", lake=shared, prefect=remote, **REAL)
    assert ok.lake_url == "s3://bucket/podium"
    # The local default is unchanged.
    assert "://" not in Settings().lake_url


def test_podium_up_refuses_production(tmp_path) -> None:
    result = _podium(
        "up",
        env={
            "PODIUM_HOME": str(tmp_path),
            "PODIUM_ENVIRONMENT": "production",
            "PODIUM_LAKE__URL": "s3://bucket/podium",
            "PODIUM_PREFECT__API_URL": "https://prefect.internal/api",
            "PODIUM_GATEWAY__SECRET": "a-real-gateway-secret",
            "PODIUM_REVIEW__PUSH_SECRET": "a-real-push-secret",
        },
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: `podium up` starts the embedded Prefect server")
    assert "Traceback" not in result.stdout + result.stderr


def test_version() -> None:
    from podium import version

    result = _podium("--version", env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"podium {version()}"
    assert version() != "0+unknown"  # the project is installed
