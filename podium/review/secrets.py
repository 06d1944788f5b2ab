"""Secrets in a change: found in the added lines of a diff (reported by file and line, never
by value), and redacted from any text before it leaves the process (a model prompt).

Two detectors, both applied to every line:

- `detect-secrets` (Yelp's maintained detector, pinned): its plugins (AWS, GitHub, GitLab,
  Slack, Stripe, OpenAI, PyPI, npm, JWT, private keys, basic-auth URLs, keyword assignments,
  base64 and hex high-entropy strings, ...), run on each line;
- Podium's shapes for what it misses, above all `NAME=value` and `name: "value"` pairs whose
  name says secret (`STRIPE_KEY=sk_live_…`, `DB_PASS=…`, `password: "correct horse battery
  staple"`, `password="hunter2"`), Hugging Face `hf_…` tokens and `Authorization: token <hex>`.

tests/podium/review/test_secret_corpus.py checks both against detect-secrets' own test corpus
(../shared/fixtures/secrets, as it is): every secret its file scan reports is caught, and the
file that holds none yields nothing.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from podium.review.diffs import added_lines

_HARD_CODED = re.compile(
    r"""(?i)(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)["']?\s*[:=]\s*"""
    r"""["'][^"'\s]{8,}["']"""
)
# Names that say "secret" in a NAME=value or name: value pair: any word holding one of these
# (db_password, DB_PASS, client_secret, GITHUB_TOKEN, api-key, ...), or an upper-case
# environment name ending in _KEY (STRIPE_KEY, AWS_KEY).
_SECRET_NAME = (
    r"(?:[A-Za-z0-9_.-]*(?i:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|"
    r"access[_-]?key|private[_-]?key|auth[_-]?key|credentials?)[A-Za-z0-9_.-]*"
    r"|[A-Z0-9_]*_KEY)"
)
# name, separator (= : =>, with optional quotes around the name), then the value: a quoted
# string (spaces allowed) or a bare word.
_KEY_VALUE = re.compile(
    r"""(?P<name>\b""" + _SECRET_NAME + r"""["']?\s*(?:=>|[:=])\s*)"""
    r"""(?:(?P<q>["'])(?P<quoted>[^"'\n]{1,500})(?P=q)|(?P<bare>[^\s"',;#]{3,500}))"""
)
_NOT_A_VALUE = re.compile(
    r"(?i)^(?:none|null|nil|true|false|inherit|undefined|required|optional|str|string|int|\*+|"
    r"x+|\.{3}|…|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|os\.environ.*|"
    r"env\(.*|getenv.*|settings\..*|self\..*|config\..*)$"
)
# A bare value that is a call, an index or a dotted name is code the line runs, not a secret.
_CALL = re.compile(r"^[A-Za-z_][\w.]*[(\[]")
_CODE = re.compile(
    r"^(?:[A-Za-z_][\w.]*[(\[].*|[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*)+|[a-z]+_[a-z0-9_]+)$"
)
# Type annotations (`token: bool = True`) and GitHub expressions (`GH_TOKEN: ${{ … }}`).
_TYPE_OR_EXPRESSION = re.compile(
    r"^(?:bool|float|bytes|list|dict|tuple|set|Any|Optional|Union|SecretStr|\$\{\{.*)\b"
)
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(?:secretsmanager|ssm|ssm-secure):[^'\"\s]*")
# GitHub Actions permission levels (`id-token: write`) and `secrets: inherit` name no secret
_PERMISSION_LEVEL = re.compile(r"^(?:read|write|none|read-all|write-all|inherit)$")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
_STRIPE = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}\b")
_AUTH_HEADER = re.compile(
    r"(?i)(\bauthorization\s*[:=]\s*[\"']?(?:token|bearer|basic|digest)\s+)[^\s\"',;]+"
)
_TOKEN_HEX = re.compile(r"(?i)(\btoken\s+)[0-9a-f]{20,}\b")

SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b")),
    ("Stripe key", _STRIPE),
    ("Hugging Face token", _HF_TOKEN),
    ("authorization header", _AUTH_HEADER),
    ("hard-coded secret", _HARD_CODED),
]


# ---- detect-secrets ----------------------------------------------------------------------

# detect-secrets keeps its settings in process-global state: one scan at a time.
_DETECTOR_LOCK = threading.Lock()
# Its file scan reads a file by its type: YAML and INI values are unquoted, code's are quoted.
# Text of unknown type (a prompt, a diff's added lines) is scanned as each of these; the union
# catches every secret of its test corpus and nothing in its file without secrets.
_AS_TYPES = (".yaml", ".ini", ".txt")


def detector_values(text: str) -> set[str]:
    """Secret values detect-secrets finds in `text` (its default plugins and filters)."""
    import os
    import tempfile

    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    if not text.strip():
        return set()
    found: set[str] = set()
    with _DETECTOR_LOCK, tempfile.TemporaryDirectory() as folder, default_settings():
        for suffix in _AS_TYPES:
            path = os.path.join(folder, "text" + suffix)
            with open(path, "w", encoding="utf-8", errors="replace") as handle:
                handle.write(text)
            collection = SecretsCollection()
            collection.scan_file(path)
            found |= {secret.secret_value for _, secret in collection if secret.secret_value}
    # What the keyword plugin reads off `SECRET_KEY: str` or `key = make_key()` is a type or
    # code, not a value; flagging every line that contains it would be noise.
    return {
        v
        for v in found
        if not _NOT_A_VALUE.match(v.strip())
        and not _CALL.match(v)
        and not _TYPE_OR_EXPRESSION.match(v)
    }


def _key_value_secret(match: re.Match[str]) -> str | None:
    value = match.group("quoted") if match.group("quoted") is not None else match.group("bare")
    if not value or REDACTED in value or _NOT_A_VALUE.match(value.strip().rstrip("`)]}")):
        return None
    if match.group("bare") is not None and value.startswith((":", "!", "${", "$(")):
        # `Type: AWS::SecretsManager::Secret` (a `::` name, not `name: value`) and YAML tags
        # (`MasterUserPassword: !Sub '{{resolve:secretsmanager:…}}'`, `!Ref DbPassword`), and
        # values expanded from a variable (`x-access-token:${PR_PUSH_TOKEN}@github.com`)
        return None
    if match.group("bare") is not None and _PERMISSION_LEVEL.match(value):
        return None  # `id-token: write`: a GitHub Actions permission, not a token
    if match.group("bare") is not None and _CODE.match(value.rstrip(")],")):
        return None  # `UserUpdate(password=body.new_password)`: an argument that is code
    if match.group("bare") is not None:
        if _CODE.match(value) or _TYPE_OR_EXPRESSION.match(value):
            return None  # `token = jwt.decode(…)`, `key = settings.KEY`, `token: bool`: code
        if re.match(r"\s+[A-Za-z]", match.string[match.end() :]):
            return None  # `:param token: Name of the cookie.`: prose, not a value
    if value.isdigit() and len(value) < 8:  # TOKEN_BUDGET = 12000, max_tokens: 4096
        return None
    return value


def shape_secrets(line: str) -> list[tuple[str, str]]:
    """(kind, value) of each secret of Podium's own shapes on one line (key=value pairs whose
    name says secret, hf_ and Stripe tokens, Authorization headers)."""
    found = []
    # a CloudFormation dynamic reference names where a secret is kept, not its value
    line = _DYNAMIC_REFERENCE.sub("", line)
    for match in _KEY_VALUE.finditer(line):
        value = _key_value_secret(match)
        if value is not None:
            found.append(("secret assignment", value))
    for label, pattern in (("Hugging Face token", _HF_TOKEN), ("Stripe key", _STRIPE)):
        found += [(label, m.group(0)) for m in pattern.finditer(line)]
    for pattern in (_AUTH_HEADER, _TOKEN_HEX):
        found += [
            ("authorization header", line[m.end(1) : m.end()]) for m in pattern.finditer(line)
        ]
    return found


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


_DIGEST_NAME = re.compile(r"(?i)(?:sha(?:1|224|256|384|512)?|md5|checksum|digest|hash)\w*\W{0,4}$")


def _checksum(value: str, line: str) -> bool:
    """A hex digest named as one (`sha256='bbc4…'`, `SHA256=…`): a file's checksum, published
    so that downloads can be verified, not a secret."""
    if not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{56,128}", value):
        return False
    return bool(_DIGEST_NAME.search(line[: line.find(value)]))


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
        added = list(added_lines(diff))
        # The maintained detector and the key=value shapes; not in tests, which are full of
        # made-up credentials.
        values = (
            set() if path in test_paths else detector_values("\n".join(text for _, text in added))
        )
        for number, line in added:
            label = next((label for label, pattern in patterns if pattern.search(line)), None)
            if label is None and path not in test_paths:
                if any(value in line and not _checksum(value, line) for value in values):
                    label = "detected secret"
                elif shapes := shape_secrets(line):
                    label = shapes[0][0]
            if label is not None:
                hits.append(SecretHit(path, number, label))
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

        def counted(match: re.Match[str]) -> str:
            nonlocal count
            out = repl if isinstance(repl, str) else repl(match)
            count += out != match.group(0)  # an already redacted value is not counted again
            return out

        return pattern.sub(counted, value)

    # Values found (detect-secrets on the whole text, the key=value shapes line by line),
    # longest first, so every copy goes, also where it appears without its telltale context.
    # Short values (password="hunter2") only where they are assigned: elsewhere they are words.
    values = {v for v in detector_values(text) if len(v) >= 6}
    values |= {v for line in text.splitlines() for _, v in shape_secrets(line) if len(v) >= 8}
    for value in sorted(values, key=len, reverse=True):
        if value in text and REDACTED not in value:
            count += text.count(value)
            text = text.replace(value, REDACTED)

    def assignment(match: re.Match[str]) -> str:
        nonlocal count
        value = _key_value_secret(match)
        if value is None:
            return match.group(0)
        count += 1
        return match.group("name") + match.group(0)[len(match.group("name")) :].replace(
            value, REDACTED, 1
        )

    text = _KEY_VALUE.sub(assignment, text)
    text = sub(_AUTH_HEADER, lambda m: m.group(1) + REDACTED, text)
    text = sub(_TOKEN_HEX, lambda m: m.group(1) + REDACTED, text)
    for _, pattern in SECRET_PATTERNS:
        if pattern in (_HARD_CODED, _AUTH_HEADER):
            continue
        text = sub(pattern, REDACTED, text)
    text = sub(_SECRET_ASSIGNMENT, lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}"
               if REDACTED not in m.group(3) and not _NOT_A_VALUE.match(m.group(3).rstrip("`)]}"))
               else m.group(0), text)  # fmt: skip
    text = sub(_REDACT_EXTRA[0], lambda m: f"{m.group(1)} {REDACTED}", text)
    text = sub(_REDACT_EXTRA[1], lambda m: f"{m.group(1)}{REDACTED}@", text)
    for pattern in _REDACT_EXTRA[2:]:
        text = sub(pattern, REDACTED, text)
    return text, count
