"""Model-written review summaries: Amazon Bedrock (Converse API through boto3) or any
OpenAI-compatible endpoint. The structural analysis is always given to the model alongside a
budgeted diff; if the model fails, the structural summary is used and the summary says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from podium.review.budget import BudgetedDiff, budget_diff
from podium.review.config import ReviewSettings
from podium.review.gitrepo import ChangeSet
from podium.review.structural import StructuralReport

SYSTEM_PROMPT = (
    "You review a git push for an engineering manager who must approve or reject its "
    "deployment. Write a short markdown summary: what changed and why it matters, what it "
    "might break (behaviour, APIs, configuration, data, security), and what to check before "
    "approving. Name every file or area the structural analysis lists; do not invent changes "
    "that are not in the diff. Never repeat secrets that appear in the diff."
)


class LLMError(RuntimeError):
    """A model call failed; the message carries no credential."""


class SummaryBackend(Protocol):
    """Something that turns a prompt into text."""

    name: str

    def complete(self, *, system: str, prompt: str) -> str: ...


@dataclass
class BedrockBackend:
    """Amazon Bedrock through the `bedrock-runtime` Converse API.

    Args:
        client: a boto3 `bedrock-runtime` client (its endpoint_url may point anywhere that
            speaks Converse).
        model_id: Bedrock model or inference-profile id.
        max_tokens: most tokens of the answer.
    """

    client: Any = field(repr=False)
    model_id: str
    max_tokens: int = 1024
    name: str = "bedrock"

    @classmethod
    def from_settings(cls, review: ReviewSettings) -> BedrockBackend:
        import boto3
        from botocore.config import Config

        kwargs = review.boto3_kwargs(endpoint_url=review.endpoint_url)
        config = Config(
            read_timeout=review.llm_timeout_s,
            connect_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        client = boto3.client("bedrock-runtime", config=config, **kwargs)
        return cls(client=client, model_id=review.model_id, max_tokens=review.max_output_tokens)

    def complete(self, *, system: str, prompt: str) -> str:
        try:
            response = self.client.converse(
                modelId=self.model_id,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": prompt}]}],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": 0.2},
            )
        except Exception as error:  # botocore raises many types; all mean "no summary"
            raise LLMError(f"Bedrock converse failed: {type(error).__name__}: {error}") from None
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in blocks).strip()
        if not text:
            raise LLMError(f"Bedrock returned no text (stopReason={response.get('stopReason')})")
        return text


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible `/chat/completions` endpoint (vLLM, Ollama, LiteLLM, OpenAI…).

    Args:
        base_url: the API base, e.g. http://host:8000/v1.
        model: model name the server knows.
        api_key: bearer key; never logged or put in errors.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    max_tokens: int = 1024
    timeout_s: float = 120
    name: str = "openai"

    @classmethod
    def from_settings(cls, review: ReviewSettings) -> OpenAIBackend:
        assert review.endpoint_url  # the settings validator requires it for openai
        return cls(
            base_url=review.endpoint_url,
            model=review.model_id,
            api_key=review.api_key.get_secret_value() if review.api_key else None,
            max_tokens=review.max_output_tokens,
            timeout_s=review.llm_timeout_s,
        )

    def complete(self, *, system: str, prompt: str) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ],
            "max_tokens": self.max_tokens,
            "temperature": 0.2,
        }
        url = self.base_url.rstrip("/") + "/chat/completions"
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as error:
            raise LLMError(
                f"OpenAI-compatible endpoint unreachable: {type(error).__name__}"
            ) from None
        if response.status_code >= 300:
            raise LLMError(f"OpenAI-compatible endpoint answered HTTP {response.status_code}")
        try:
            text = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("OpenAI-compatible endpoint answered without a message") from None
        if not text.strip():
            raise LLMError("OpenAI-compatible endpoint returned no text")
        return text.strip()


def backend_from_settings(review: ReviewSettings) -> SummaryBackend | None:
    """The configured model backend, None for the structural default."""
    if review.summary_backend == "bedrock":
        return BedrockBackend.from_settings(review)
    if review.summary_backend == "openai":
        return OpenAIBackend.from_settings(review)
    return None


def build_prompt(report: StructuralReport, budgeted: BudgetedDiff) -> str:
    """The user prompt: the structural analysis, then the budgeted diff and what it lacks."""
    return (
        "Structural analysis of the push (complete; every changed file is listed):\n\n"
        f"{report.to_markdown()}\n"
        "Unified diff (budgeted; files left out are listed after it):\n\n"
        f"```diff\n{budgeted.text}```\n{budgeted.footer()}"
    )


@dataclass
class Summary:
    """A review summary and how it was made."""

    text: str
    backend: str  # structural, bedrock, openai, or "<backend> (failed: structural)"
    fallback_reason: str | None = None


def summarize(
    change: ChangeSet,
    report: StructuralReport,
    diffs: dict[str, str],
    *,
    review: ReviewSettings,
    backend: SummaryBackend | None,
    secrets: tuple[str, ...] = (),
) -> Summary:
    """The review summary: the model's, followed by the structural analysis, or the structural
    analysis alone (by choice, or because the model failed — which the summary then says).

    Args:
        secrets: strings scrubbed from any error text shown in the summary.
    """
    structural = report.to_markdown()
    if backend is None:
        return Summary(text=structural, backend="structural")
    budgeted = budget_diff(
        change, diffs, budget_tokens=review.token_budget, ignore_patterns=review.ignore_patterns
    )
    try:
        answer = backend.complete(system=SYSTEM_PROMPT, prompt=build_prompt(report, budgeted))
    except Exception as error:  # any model failure falls back; the summary says why
        reason = str(error) if isinstance(error, LLMError) else type(error).__name__
        for secret in secrets:
            if secret:
                reason = reason.replace(secret, "***")
        reason = reason.splitlines()[0][:300] if reason else type(error).__name__
        note = (
            f"> The {backend.name} summary failed ({reason}); this is the structural summary.\n\n"
        )
        return Summary(
            text=note + structural,
            backend=f"{backend.name} (failed: structural)",
            fallback_reason=reason,
        )
    text = f"## Summary ({backend.name})\n\n{answer}\n{budgeted.footer()}\n---\n\n{structural}"
    return Summary(text=text, backend=backend.name)
