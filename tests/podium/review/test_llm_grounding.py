"""Grounded model summaries: redaction before anything is sent, coverage of the material
facts, truncation and guardrails. Real: boto3's bedrock-runtime client and httpx speaking HTTP
to local servers, git repositories built in temp folders, and the Bedrock Converse responses
recorded by another project (../shared/fixtures/bedrock, served as they are; the guardrail
intervention is derived from the recorded guardrail response, since that one did not
intervene). Faked: the model (the local servers answer with those bodies)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.review.config import ReviewSettings
from podium.review.gitrepo import compute_change, sync_repository
from podium.review.llm import APPENDED_HEADER, backend_from_settings
from podium.review.secrets import redact_text
from podium.review.service import ReviewedChange, review_change
from tests.podium.review.corpus import CASES, build_case
from tests.podium.review.gitfixtures import WorkRepo
from tests.podium.review.httpfakes import FakeServer, bedrock_settings, http_server

# ../shared/fixtures next to the checkout (a worktree may sit deeper: look upwards).
FIXTURES = next(
    (
        parent / "shared" / "fixtures" / "bedrock"
        for parent in Path(__file__).resolve().parents
        if (parent / "shared" / "fixtures" / "bedrock").is_dir()
    ),
    Path("../shared/fixtures/bedrock"),
)
MODEL = "us.amazon.nova-micro-v1:0"


def _recorded(name: str) -> tuple[int, dict[str, Any]]:
    path = FIXTURES / f"pydantic-ai__{name}.yaml"
    if not path.exists():
        pytest.skip(f"fixture {path} not present")
    response = yaml.safe_load(path.read_text())["interactions"][0]["response"]
    return int(response["status"]["code"]), response["parsed_body"]


def _bedrock(url: str, **extra: Any) -> ReviewSettings:
    return bedrock_settings(url, MODEL, **extra)


def _case_change(tmp_path: Path, name: str):
    case = next(c for c in CASES if c.name == name)
    repo, before, after = build_case(tmp_path, case)
    git = sync_repository(name="app", url=str(repo.origin), cache_dir=tmp_path / "cache")
    return git, compute_change(git, repo="app", ref="refs/heads/main", before=before, after=after)


SECRETS = {
    "github": "ghp_" + "Zx9Yw8Vu7" * 4,
    "aws": "AKIAQWERTYUIOPASDFGH",
    "password": "hunter2-correct-horse",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXRoaXMtaXM",
    "pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    "configured": "sk-local-configured-key-123456",
    "url": "s3cr3tpassw0rd",
}


def _push_secrets(repo: WorkRepo) -> tuple[str, str]:
    before = repo.head()
    repo.write(
        "service/keys.py",
        f'GITHUB = "{SECRETS["github"]}"\n'
        f'AWS_KEY_ID = "{SECRETS["aws"]}"\n'
        f'db_password = "{SECRETS["password"]}"\n'
        f'HEADERS = {{"Authorization": "Bearer {SECRETS["bearer"]}"}}\n'
        f'DSN = "postgres://app:{SECRETS["url"]}@db:5432/app"\n'
        f'LOCAL_MODEL_KEY = "{SECRETS["configured"]}"\n',
    )
    repo.write(
        "deploy/key.pem",
        f"-----BEGIN PRIVATE KEY-----\n{SECRETS['pem']}\n-----END PRIVATE KEY-----\n",
    )
    after = repo.commit("add keys")
    repo.push("main")
    return before, after


def test_nothing_secret_leaves_the_process_and_the_summary_says_so(
    repo: WorkRepo, tmp_path: Path
) -> None:
    before, after = _push_secrets(repo)
    git = sync_repository(name="app", url=str(repo.origin), cache_dir=tmp_path / "cache")
    change = compute_change(git, repo="app", ref="refs/heads/main", before=before, after=after)

    def chat(method: str, path: str, headers: dict, body: bytes):
        return 200, {"choices": [{"message": {"content": "Adds keys."}, "finish_reason": "stop"}]}

    with http_server(chat) as server:
        review = ReviewSettings(
            summary_backend="openai",
            model_id="local",
            endpoint_url=f"{server.url}/v1",
            api_key=SECRETS["configured"],
        )
        reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    sent = server.requests[0].body.decode()
    for label, value in SECRETS.items():
        assert value not in sent, f"{label} secret sent to the model"
    assert "«redacted»" in sent and "service/keys.py" in sent  # the rest still goes
    summary = reviewed.summary
    assert summary.redacted >= len(SECRETS)
    assert f"{summary.redacted} secret-like strings were redacted" in summary.text
    flag = next(line for line in summary.text.splitlines() if "secret-like strings added" in line)
    assert "`service/keys.py` line 1 (GitHub token)" in flag and "`deploy/key.pem` line 1" in flag
    assert all(value not in summary.text for value in SECRETS.values())


def test_redact_text_keeps_ordinary_code() -> None:
    code = "timeout = 30\nTOKEN_BUDGET = 12000\nurl = 'https://example.org/a'\n"
    assert redact_text(code) == (code, 0)
    text, count = redact_text("token: 'abcdefgh12345678'\nkey=AKIAQWERTYUIOPASDFGH\n")
    assert count == 2 and "abcdefgh12345678" not in text and "AKIA" not in text


def test_answer_is_checked_against_the_material_facts(tmp_path: Path) -> None:
    git, change = _case_change(tmp_path, "cdk-py-lambda")
    answer = (
        "The Lambda's memorySize goes from 128 to 1024 MB and its function URL now uses "
        "auth type NONE, so anyone can call it."
    )

    def chat(method: str, path: str, headers: dict, body: bytes):
        return 200, {"choices": [{"message": {"content": answer}, "finish_reason": "stop"}]}

    with http_server(chat) as server:
        review = ReviewSettings(
            summary_backend="openai", model_id="local", endpoint_url=f"{server.url}/v1"
        )
        reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    prompt = server.requests[0].json()["messages"][1]["content"]
    assert prompt.startswith("Material facts of the push")
    for key in ("memory_size", "auth_type", "log_retention", "timeout", "reserved_concurrent"):
        assert key in prompt.split("Structural analysis")[0]
    text = reviewed.summary.text
    model_part, appended = text.split(APPENDED_HEADER)
    assert answer in model_part
    appended = appended.split("**Coverage:**")[0]
    assert "log_retention" in appended and "ONE_DAY" in appended and "(appended)" in appended
    assert "reserved_concurrent_executions" in appended and "timeout=" in appended
    assert "memory_size" not in appended and "auth_type" not in appended  # named by the model
    assert (reviewed.summary.facts_named, reviewed.summary.facts_total) == (2, 5)
    assert "**Coverage:** the model named 2 of 5 material facts; 3 appended above." in text


def test_openai_length_stop_is_truncation(tmp_path: Path) -> None:
    git, change = _case_change(tmp_path, "tf-database")

    def chat(method: str, path: str, headers: dict, body: bytes):
        return 200, {
            "choices": [{"message": {"content": "The database"}, "finish_reason": "length"}]
        }

    with http_server(chat) as server:
        review = ReviewSettings(
            summary_backend="openai", model_id="m", endpoint_url=f"{server.url}/v1"
        )
        reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    assert reviewed.summary.truncated
    assert "⚠ Truncated" in reviewed.summary.text and "**Truncated:**" in reviewed.summary.text


def _bedrock_review(
    tmp_path: Path, status: int, body: dict[str, Any], **extra: Any
) -> tuple[ReviewedChange, FakeServer]:
    """The sam-function case reviewed by a Bedrock that answers `status`, `body`."""
    git, change = _case_change(tmp_path, "sam-function")
    with http_server(lambda *a: (status, body)) as server:
        review = _bedrock(server.url, **extra)
        reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    return reviewed, server


def test_recorded_bedrock_end_turn_is_a_summary(tmp_path: Path) -> None:
    status, body = _recorded("test_bedrock_model")
    reviewed, _ = _bedrock_review(tmp_path, status, body)
    summary = reviewed.summary
    assert summary.backend == "bedrock" and not summary.truncated
    assert summary.text.startswith("## Summary (bedrock)\n\nHello! How can I assist you today?")
    # The recorded answer names none of this push's facts: all are appended, marked.
    assert summary.facts_named == 0 and summary.facts_total == 4
    appended = [line for line in summary.text.splitlines() if line.startswith("- (appended)")]
    assert len(appended) == 4
    assert any("⚠ `template.yaml` line 19" in line and "Authorizer" in line for line in appended)


def test_recorded_bedrock_max_tokens_is_marked_truncated(tmp_path: Path) -> None:
    status, body = _recorded("test_bedrock_model_max_tokens")
    assert body["stopReason"] == "max_tokens"
    reviewed, _ = _bedrock_review(tmp_path, status, body, max_output_tokens=5)
    text = reviewed.summary.text
    assert reviewed.summary.truncated
    assert "The capital of France is" in text
    assert "> ⚠ Truncated: the model stopped at its output limit (5 tokens)" in text
    assert "**Truncated:** the answer hit max_tokens (5) (stop reason `max_tokens`)." in text


def test_recorded_guardrail_trace_without_intervention_is_a_summary(tmp_path: Path) -> None:
    status, body = _recorded("test_bedrock_model_guardrail_config")
    assert body["trace"]["guardrail"]["actionReason"] == "No action."
    reviewed, server = _bedrock_review(tmp_path, status, body, bedrock_guardrail_id="xbgw7g293v7o")
    assert reviewed.summary.backend == "bedrock"
    assert "The capital of France is Paris." in reviewed.summary.text
    sent = server.requests[0].json()
    assert sent["guardrailConfig"] == {
        "guardrailIdentifier": "xbgw7g293v7o",
        "guardrailVersion": "DRAFT",
        "trace": "enabled",
    }


def test_guardrail_intervention_falls_back_with_the_reason(tmp_path: Path) -> None:
    status, recorded = _recorded("test_bedrock_model_guardrail_config")
    body = copy.deepcopy(recorded)
    canned = "Sorry, the model cannot answer this question."
    body["stopReason"] = "guardrail_intervened"
    body["output"]["message"]["content"] = [{"text": canned}]
    body["trace"]["guardrail"]["actionReason"] = "Guardrail blocked."
    reviewed, _ = _bedrock_review(tmp_path, status, body, bedrock_guardrail_id="xbgw7g293v7o")
    summary = reviewed.summary
    assert summary.backend == "bedrock (failed: structural)"
    assert summary.fallback_reason == (
        "Bedrock guardrail intervened (stopReason=guardrail_intervened): Guardrail blocked."
    )
    assert canned not in summary.text
    assert summary.text.startswith("> The bedrock summary failed (Bedrock guardrail intervened")
    assert "`Authorizer` `CognitoAuth` → `NONE`" in summary.text  # the structural facts


def test_recorded_bedrock_error_falls_back(tmp_path: Path) -> None:
    status, body = _recorded("test_bedrock_error")
    reviewed, _ = _bedrock_review(tmp_path, status, body)
    summary = reviewed.summary
    assert summary.backend == "bedrock (failed: structural)"
    assert "The provided model identifier is invalid." in (summary.fallback_reason or "")
    assert "test-secret-key" not in json.dumps(summary.__dict__)
