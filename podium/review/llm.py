"""Model-written review summaries: Amazon Bedrock (Converse API through boto3) or any
OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, LiteLLM, OpenAI).

The summary is grounded: the prompt carries the structural analysis and its list of material
facts; the answer is checked for each fact and any the model left out are appended, marked;
everything sent is redacted first (secrets the scanner finds, credential shapes, the
configured keys) and the summary says so; a model that stopped at its token limit is marked
as truncated; a guardrail intervention or any other failure gives the structural summary with
the reason shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from podium.review.budget import BudgetedDiff, budget_diff
from podium.review.config import ReviewSettings
from podium.review.facts import Fact, norm_key
from podium.review.gitrepo import ChangeSet
from podium.review.secrets import redact_text
from podium.review.structural import StructuralReport

SYSTEM_PROMPT = (
    "You review a git push for an engineering manager who must approve or reject its "
    "deployment. Write a short markdown summary: what changed and why it matters, what it "
    "might break (behaviour, APIs, configuration, data, security), and what to check before "
    "approving. Name every material fact listed, with its file, line and before/after values; "
    "name every file or area the structural analysis lists; do not invent changes that are "
    "not in the diff. Text shown as «redacted» was removed on purpose; never guess it."
)


class LLMError(RuntimeError):
    """A model call failed; the message carries no credential."""


@dataclass(frozen=True)
class Completion:
    """A model's answer and why it stopped.

    Attributes:
        truncated: the model stopped at its output token limit, so the text is incomplete.
    """

    text: str
    truncated: bool = False
    stop_reason: str = ""


class SummaryBackend(Protocol):
    """Something that turns a prompt into text."""

    name: str

    def complete(self, *, system: str, prompt: str) -> Completion | str: ...


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
    guardrail_id: str | None = None
    guardrail_version: str = "DRAFT"
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
        return cls(
            client=client,
            model_id=review.model_id,
            max_tokens=review.max_output_tokens,
            guardrail_id=review.bedrock_guardrail_id,
            guardrail_version=review.bedrock_guardrail_version,
        )

    def complete(self, *, system: str, prompt: str) -> Completion:
        request: dict[str, Any] = {
            "modelId": self.model_id,
            "system": [{"text": system}],
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": self.max_tokens, "temperature": 0.2},
        }
        if self.guardrail_id:
            request["guardrailConfig"] = {
                "guardrailIdentifier": self.guardrail_id,
                "guardrailVersion": self.guardrail_version,
                "trace": "enabled",
            }
        try:
            response = self.client.converse(**request)
        except Exception as error:  # botocore raises many types; all mean "no summary"
            raise LLMError(f"Bedrock converse failed: {type(error).__name__}: {error}") from None
        return converse_completion(response)


def converse_completion(response: dict[str, Any]) -> Completion:
    """The answer of a Converse response, judged by its `stopReason`.

    Raises:
        LLMError: a guardrail intervened or content was filtered (the text is then the
            guardrail's canned message, never a summary), or there is no text.
    """
    stop = str(response.get("stopReason") or "")
    if stop in ("guardrail_intervened", "content_filtered"):
        guardrail = (response.get("trace") or {}).get("guardrail") or {}
        why = guardrail.get("actionReason") if isinstance(guardrail, dict) else None
        detail = f": {str(why)[:200]}" if why else ""
        raise LLMError(f"Bedrock guardrail intervened (stopReason={stop}){detail}")
    blocks = (response.get("output") or {}).get("message", {}).get("content", []) or []
    text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict)).strip()
    if not text:
        raise LLMError(f"Bedrock returned no text (stopReason={stop or 'none'})")
    return Completion(text=text, truncated=stop == "max_tokens", stop_reason=stop)


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

    def complete(self, *, system: str, prompt: str) -> Completion:
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
            choice = response.json()["choices"][0]
            text = choice["message"]["content"] or ""
            finish = str(choice.get("finish_reason") or "")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("OpenAI-compatible endpoint answered without a message") from None
        if finish == "content_filter":
            raise LLMError("OpenAI-compatible endpoint filtered the answer (content_filter)")
        if not text.strip():
            raise LLMError("OpenAI-compatible endpoint returned no text")
        return Completion(text=text.strip(), truncated=finish == "length", stop_reason=finish)


def backend_from_settings(review: ReviewSettings) -> SummaryBackend | None:
    """The configured model backend, None for the structural default."""
    if review.summary_backend == "bedrock":
        return BedrockBackend.from_settings(review)
    if review.summary_backend == "openai":
        return OpenAIBackend.from_settings(review)
    return None


def build_prompt(report: StructuralReport, budgeted: BudgetedDiff) -> str:
    """The user prompt: the material facts, the structural analysis, then the budgeted diff
    and what it lacks. Not yet redacted (`summarize` redacts all of it)."""
    facts = report.material_facts()
    listed = "\n".join(f"- {f.render()}" for f in facts) or "- (none beyond the file list)"
    return (
        "Material facts of the push (name each one in your summary):\n\n"
        f"{listed}\n\n"
        "Structural analysis of the push (complete; every changed file is listed):\n\n"
        f"{report.to_markdown()}\n"
        "Unified diff (budgeted; files left out are listed after it):\n\n"
        f"```diff\n{budgeted.text}```\n{budgeted.footer()}"
    )


def _words(text: str) -> tuple[str, str]:
    return text.lower(), norm_key(text)


def names_fact(answer: tuple[str, str], fact: Fact) -> bool:
    """True when the answer names the fact: each of its anchors (the setting's name and its
    new value) appears, compared case-blind and, for names, also with `_`/`-`/case folded
    (`memory_size` is named by "memorySize" or "Memory size")."""
    lower, folded = answer
    anchors = fact.anchors or (fact.subject.strip("`"),)
    for anchor in anchors:
        a = anchor.lower().strip("`'\"")
        if not a:
            continue
        if a in lower:
            continue
        key = norm_key(a)
        if key and len(key) >= 3 and key in folded:
            continue
        return False
    return True


@dataclass
class Coverage:
    """Which material facts a model's answer named."""

    named: list[Fact] = field(default_factory=list)
    omitted: list[Fact] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.named) + len(self.omitted)


def check_coverage(answer: str, facts: list[Fact]) -> Coverage:
    """Split the material facts into those the answer names and those it omits."""
    words = _words(answer)
    coverage = Coverage()
    for fact in facts:
        (coverage.named if names_fact(words, fact) else coverage.omitted).append(fact)
    return coverage


@dataclass
class Summary:
    """A review summary and how it was made."""

    text: str
    backend: str  # structural, bedrock, openai, or "<backend> (failed: structural)"
    fallback_reason: str | None = None
    truncated: bool = False
    redacted: int = 0  # strings redacted from what was sent to the model
    facts_named: int = 0  # material facts the model itself named
    facts_total: int = 0


APPENDED_HEADER = "### Facts the model summary left out (appended from the structural analysis)"


def summarize(
    change: ChangeSet,
    report: StructuralReport,
    diffs: dict[str, str],
    *,
    review: ReviewSettings,
    backend: SummaryBackend | None,
    secrets: tuple[str, ...] = (),
) -> Summary:
    """The review summary: the model's, checked against the material facts and followed by
    the structural analysis, or the structural analysis alone (by choice, or because the model
    failed — which the summary then says).

    Args:
        secrets: configured secret values: redacted from the prompt and scrubbed from any
            error text shown in the summary.
    """
    structural = report.to_markdown()
    if backend is None:
        return Summary(text=structural, backend="structural")
    budgeted = budget_diff(
        change, diffs, budget_tokens=review.token_budget, ignore_patterns=review.ignore_patterns
    )
    # Nothing leaves the process unredacted: the scanner's patterns, credential shapes and
    # the configured keys are replaced before the prompt is sent.
    prompt, redacted = redact_text(build_prompt(report, budgeted), known=secrets)
    redaction_note = (
        f"> {redacted} secret-like strings were redacted from the text sent to the "
        f"{backend.name} model.\n"
        if redacted
        else ""
    )
    try:
        answer = backend.complete(system=SYSTEM_PROMPT, prompt=prompt)
    except Exception as error:  # any model failure falls back; the summary says why
        reason = str(error) if isinstance(error, LLMError) else type(error).__name__
        for secret in secrets:
            if secret:
                reason = reason.replace(secret, "***")
        reason = reason.splitlines()[0][:300] if reason else type(error).__name__
        note = f"> The {backend.name} summary failed ({reason}); this is the structural summary.\n"
        return Summary(
            text=note + redaction_note + "\n" + structural,
            backend=f"{backend.name} (failed: structural)",
            fallback_reason=reason,
            redacted=redacted,
        )
    completion = answer if isinstance(answer, Completion) else Completion(text=str(answer))
    facts = report.material_facts()
    coverage = check_coverage(completion.text, facts)
    parts = [f"## Summary ({backend.name})", ""]
    if completion.truncated:
        parts += [
            f"> ⚠ Truncated: the model stopped at its output limit ({review.max_output_tokens} "
            "tokens); this summary is incomplete. The structural analysis below is complete.",
            "",
        ]
    if redaction_note:
        parts += [redaction_note.rstrip("\n"), ""]
    parts += [completion.text, ""]
    if coverage.omitted:
        parts += [APPENDED_HEADER, *[f"- (appended) {f.render()}" for f in coverage.omitted], ""]
    footer = [
        "**Coverage:** the model named "
        f"{len(coverage.named)} of {coverage.total} material facts"
        + (f"; {len(coverage.omitted)} appended above." if coverage.omitted else ".")
    ]
    if completion.truncated:
        footer.append(
            f"**Truncated:** the answer hit max_tokens ({review.max_output_tokens}) "
            f"(stop reason `{completion.stop_reason}`)."
        )
    if redacted:
        footer.append(f"**Redacted:** {redacted} secret-like strings were not sent to the model.")
    text = (
        "\n".join(parts)
        + "\n"
        + "\n".join(footer)
        + "\n"
        + budgeted.footer()
        + "\n---\n\n"
        + structural
    )
    return Summary(
        text=text,
        backend=backend.name,
        truncated=completion.truncated,
        redacted=redacted,
        facts_named=len(coverage.named),
        facts_total=coverage.total,
    )
