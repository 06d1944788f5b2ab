"""Secrets in a change: found in the added lines of a diff (reported by file and line, never
by value), and redacted from any text before it leaves the process (a model prompt)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from podium.review.diffs import added_lines

_HARD_CODED = re.compile(
    r"""(?i)(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)["']?\s*[:=]\s*"""
    r"""["'][^"'\s]{8,}["']"""
)
SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b")),
    ("hard-coded secret", _HARD_CODED),
]
# Credential shapes redacted from model prompts even where the scanner's line rules miss them:
# `Authorization: Bearer …`, URLs with a password, JWTs, and `KEY=value` pairs of secret names.
_REDACT_EXTRA = [
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b(?:AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|xapp-[A-Za-z0-9-]{20,})"),
]
_SECRET_ASSIGNMENT = re.compile(
    r"""(?i)((?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"""
    r"""client[_-]?secret)[A-Za-z0-9_-]*["']?\s*[:=]\s*)(["']?)([^"'\s,;]{8,})(["']?)"""
)
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|[^\n]*)"
)
REDACTED = "«redacted»"


@dataclass(frozen=True)
class SecretHit:
    """A secret-like string added by a push: where and what kind, never the value."""

    path: str
    line: int
    label: str

    def render(self) -> str:
        return f"`{self.path}` line {self.line} ({self.label})"


def scan_diffs(
    diffs: dict[str, str], *, test_paths: frozenset[str] = frozenset()
) -> list[SecretHit]:
    """Secret-like strings on the added lines of unified diffs, by file and new line number.

    Args:
        test_paths: files that are tests; there only credentials of a known shape count, not
            `password = "…"` assignments (test fixtures are full of made-up ones).
    """
    hits: list[SecretHit] = []
    for path, diff in diffs.items():
        patterns = [p for p in SECRET_PATTERNS if p[1] is not _HARD_CODED or path not in test_paths]
        for number, line in added_lines(diff):
            for label, pattern in patterns:
                if pattern.search(line):
                    hits.append(SecretHit(path, number, label))
                    break
    return hits


def redact_text(text: str, *, known: tuple[str, ...] = ()) -> tuple[str, int]:
    """`text` with every secret-like string replaced by «redacted».

    Args:
        text: what is about to leave the process.
        known: exact secret values (configured keys and tokens) to remove as well.

    Returns:
        The redacted text and how many strings were replaced.
    """
    count = 0
    text, n = _PEM_BLOCK.subn(REDACTED, text)
    count += n
    for secret in sorted((s for s in known if s and len(s) >= 4), key=len, reverse=True):
        if secret in text:
            count += text.count(secret)
            text = text.replace(secret, REDACTED)

    def sub(pattern: re.Pattern[str], repl, value: str) -> str:
        nonlocal count
        value, n = pattern.subn(repl, value)
        count += n
        return value

    for _, pattern in SECRET_PATTERNS:
        if pattern is _HARD_CODED:
            continue
        text = sub(pattern, REDACTED, text)
    text = sub(_SECRET_ASSIGNMENT, lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}"
               if REDACTED not in m.group(3) else m.group(0), text)  # fmt: skip
    text = sub(_REDACT_EXTRA[0], lambda m: f"{m.group(1)} {REDACTED}", text)
    text = sub(_REDACT_EXTRA[1], lambda m: f"{m.group(1)}{REDACTED}@", text)
    for pattern in _REDACT_EXTRA[2:]:
        text = sub(pattern, REDACTED, text)
    return text, count
