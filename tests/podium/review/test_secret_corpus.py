"""Secret redaction against detect-secrets' own test corpus (../shared/fixtures/secrets, used
as it is) and the audit's key=value shapes (issue 24).

The oracle for "every secret" in a corpus file is detect-secrets' format-aware *file* scan of
it (INI continuation lines, YAML, diffs); Podium's redaction works on plain text, line by line,
so it must catch at least all of that, and find nothing in the file that holds no secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.review.diffs import added_lines
from podium.review.secrets import REDACTED, detector_values, redact_text, scan_diffs
from tests.podium.gateway.securitykit import FIXTURES

CORPUS = FIXTURES / "secrets"
NO_SECRETS = "detect-secrets__files_file_with_no_secrets.py"
FILES = sorted(p.name for p in CORPUS.glob("detect-secrets__*"))


def _file_scan(path: Path) -> set[str]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with default_settings():
        collection = SecretsCollection()
        collection.scan_file(str(path))
        return {s.secret_value for _, s in collection if s.secret_value}


def test_the_corpus_is_there_as_shipped() -> None:
    assert len(FILES) == 12 and NO_SECRETS in FILES


@pytest.mark.parametrize("name", [f for f in FILES if f != NO_SECRETS])
def test_every_secret_of_the_corpus_is_redacted(name: str) -> None:
    path = CORPUS / name
    text = path.read_text(encoding="utf-8")
    secrets = _file_scan(path)
    assert secrets, f"{name}: the oracle found nothing"
    redacted, count = redact_text(text)
    assert count >= 1
    for secret in secrets:
        if secret.startswith("BEGIN ") and secret.endswith("PRIVATE KEY"):
            assert "PRIVATE KEY-----" not in redacted.replace(REDACTED, "")
            assert "b3BlbnNzaC1rZXktdjEAAAAA" not in redacted
            continue
        assert secret not in redacted, f"{name}: {secret[:6]}… left in"


def test_the_file_without_secrets_yields_nothing() -> None:
    text = (CORPUS / NO_SECRETS).read_text(encoding="utf-8")
    assert redact_text(text) == (text, 0)
    assert detector_values(text) == set()
    diff = _new_file_diff("app/main.py", text.splitlines())
    assert sum(1 for _ in added_lines(diff)) == len(text.splitlines())
    assert scan_diffs({"app/main.py": diff}) == []


def _new_file_diff(path: str, lines: list[str]) -> str:
    head = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
    return head + f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


STRIPE = "sk_live_51HxQwErTyUiOpAsDfGhJkL0123456789"
HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
HEX = "0123456789abcdef0123456789abcdef01234567"
AUDIT = {
    f"STRIPE_KEY={STRIPE}": STRIPE,
    'password: "correct horse battery staple"': "correct horse battery staple",
    'password="hunter2"': "hunter2",
    "DB_PASS=Tr0ub4dor&3": "Tr0ub4dor&3",
    f"export HF_TOKEN {HF}": HF,
    f"Authorization: token {HEX}": HEX,
    "curl -H 'Authorization: token ghp_notahexbutatoken123'": "ghp_notahexbutatoken123",
    "db_password = s3cr3t-v@lue": "s3cr3t-v@lue",
    "'api_key': 'k-12345678'": "k-12345678",
}


@pytest.mark.parametrize("line", list(AUDIT))
def test_the_audits_shapes_are_redacted(line: str) -> None:
    secret = AUDIT[line]
    text = f"config:\n  {line}\nand later the value alone: {secret}\n"
    redacted, count = redact_text(text)
    assert count >= 1
    assert secret not in redacted.split("\n")[1], redacted
    if len(secret) >= 8:
        assert secret not in redacted, redacted


@pytest.mark.parametrize(
    "line",
    [
        "password = None",
        "max_tokens = 4096",
        "TOKEN_BUDGET = 12000",
        "password_min_length: 12",
    ],
)
def test_placeholders_are_not_secrets(line: str) -> None:
    assert redact_text(line) == (line, 0)


def test_a_diff_adding_the_audits_shapes_is_flagged_by_line() -> None:
    lines = list(AUDIT)
    diff = _new_file_diff(".env", lines)
    hits = scan_diffs({".env": diff})
    assert [h.line for h in hits] == list(range(1, len(lines) + 1))
    assert all(secret not in h.render() for h in hits for secret in AUDIT.values())
