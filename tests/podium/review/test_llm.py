"""Model summaries. Real: boto3's bedrock-runtime client and httpx, speaking HTTP to local
servers; the diff comes from a real git repository. Faked: the model — local HTTP servers answer
the Bedrock Converse API and the OpenAI /chat/completions API with canned text."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from podium.review.budget import budget_diff, clip_diff, estimate_tokens, priority
from podium.review.config import ReviewSettings
from podium.review.gitrepo import compute_change, sync_repository
from podium.review.llm import BedrockBackend, OpenAIBackend, backend_from_settings
from podium.review.service import review_change
from tests.podium.review.gitfixtures import MIXED_CHANGE_MENTIONS, WorkRepo, push_mixed_change
from tests.podium.review.httpfakes import bedrock_settings, http_server

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def _change(repo: WorkRepo, tmp_path: Path):
    before, after = push_mixed_change(repo)
    git = sync_repository(name="app", url=str(repo.origin), cache_dir=tmp_path / "cache")
    return git, compute_change(git, repo="app", ref="refs/heads/main", before=before, after=after)


def _converse(answer: str):
    def handler(method: str, path: str, headers: dict, body: bytes):
        if unquote(path) != f"/model/{MODEL}/converse":
            return 404, {"message": f"unexpected {path}"}
        return 200, {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
            "metrics": {"latencyMs": 12},
        }

    return handler


def _bedrock_settings(url: str, **extra) -> ReviewSettings:
    return bedrock_settings(url, MODEL, **extra)


def test_bedrock_converse_through_boto3(repo: WorkRepo, tmp_path: Path) -> None:
    git, change = _change(repo, tmp_path)
    with http_server(_converse("Raises the API timeout and adds login; check auth.")) as server:
        review = _bedrock_settings(server.url, token_budget=4000)
        backend = backend_from_settings(review)
        assert isinstance(backend, BedrockBackend)
        reviewed = review_change(git, change, review=review, backend=backend)
    assert reviewed.summary.backend == "bedrock"
    text = reviewed.summary.text
    assert text.startswith("## Summary (bedrock)\n\nRaises the API timeout and adds login")
    assert all(m in text for m in MIXED_CHANGE_MENTIONS)  # the structural analysis follows
    assert "`assets/logo.png`: binary file" in text  # footer: what the model did not see
    request = server.requests[0]
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST")
    sent = request.json()
    assert sent["inferenceConfig"]["maxTokens"] == review.max_output_tokens
    prompt = sent["messages"][0]["content"][0]["text"]
    assert "Structural analysis of the push" in prompt and "+TIMEOUT_S = 60" in prompt
    assert "test-secret-key" not in json.dumps(sent)


def test_bedrock_failure_falls_back_to_the_structural_summary(
    repo: WorkRepo, tmp_path: Path
) -> None:
    git, change = _change(repo, tmp_path)
    refuse = lambda *a: (400, {"message": "model not enabled"})  # noqa: E731
    with http_server(refuse) as server:
        review = _bedrock_settings(server.url)
        reviewed = review_change(git, change, review=review, backend=backend_from_settings(review))
    assert reviewed.summary.backend == "bedrock (failed: structural)"
    assert reviewed.summary.text.startswith("> The bedrock summary failed (Bedrock converse")
    assert "this is the structural summary" in reviewed.summary.text
    assert all(m in reviewed.summary.text for m in MIXED_CHANGE_MENTIONS)
    assert "test-secret-key" not in reviewed.summary.text


def test_openai_compatible_backend(repo: WorkRepo, tmp_path: Path) -> None:
    git, change = _change(repo, tmp_path)

    def chat(method: str, path: str, headers: dict, body: bytes):
        assert path == "/v1/chat/completions"
        return 200, {"choices": [{"message": {"role": "assistant", "content": "Looks risky."}}]}

    with http_server(chat) as server:
        review = ReviewSettings(
            summary_backend="openai",
            model_id="qwen2.5-coder",
            endpoint_url=f"{server.url}/v1",
            api_key="sk-local-key",
        )
        backend = backend_from_settings(review)
        assert isinstance(backend, OpenAIBackend) and "sk-local-key" not in repr(backend)
        reviewed = review_change(git, change, review=review, backend=backend)
    assert reviewed.summary.text.startswith("## Summary (openai)\n\nLooks risky.")
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer sk-local-key"
    body = request.json()
    assert body["model"] == "qwen2.5-coder" and body["messages"][0]["role"] == "system"

    with http_server(lambda *a: (503, {"error": "overloaded"})) as down:
        review = review.model_copy(update={"endpoint_url": f"{down.url}/v1"})
        failed = review_change(git, change, review=review, backend=backend_from_settings(review))
    assert failed.summary.fallback_reason == "OpenAI-compatible endpoint answered HTTP 503"
    assert "sk-local-key" not in failed.summary.text


def test_budget_prioritises_code_ignores_vendored_and_lists_what_is_left_out(
    repo: WorkRepo, tmp_path: Path
) -> None:
    before = repo.head()
    repo.write("service/core.py", "".join(f"def f{i}():\n    return {i}\n\n" for i in range(400)))
    repo.write("vendor/lib/x.py", "X = 1\n")
    repo.write("poetry.lock", "".join(f'[[package]]\nname = "p{i}"\n' for i in range(400)))
    repo.write("README.md", "# app\n" + "words " * 2000)
    after = repo.commit("big")
    repo.push("main")
    git = sync_repository(name="app", url=str(repo.origin), cache_dir=tmp_path / "cache")
    change = compute_change(git, repo="app", ref="refs/heads/main", before=before, after=after)
    diffs = git.diff_text(change.base, change.after)
    budgeted = budget_diff(change, diffs, budget_tokens=1500, ignore_patterns=["vendor/**"])
    assert budgeted.tokens <= 1500 and estimate_tokens(budgeted.text) <= 1500
    assert budgeted.included[0] == "service/core.py"
    assert "service/core.py" in budgeted.clipped
    omitted = dict(budgeted.omitted)
    assert omitted["vendor/lib/x.py"] == "generated or vendored (ignore pattern)"
    footer = budgeted.footer()
    for path in ("service/core.py", "vendor/lib/x.py", "poetry.lock"):
        assert f"`{path}`" in footer
    assert priority("service/core.py") < priority("README.md") < priority("poetry.lock")


def test_clip_keeps_whole_hunks() -> None:
    diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n" + "".join(
        f"@@ -{i},1 +{i},1 @@\n-old{i}\n+new{i}\n" for i in range(1, 50)
    )
    clipped, cut = clip_diff(diff, 60)
    assert cut and clipped.endswith("hunks not shown]\n")
    assert clipped.count("@@ -") >= 1 and "+new1\n" in clipped
    assert clip_diff(diff, 10_000) == (diff, False)
