"""HTTP codes live only in the gateway: the core refuses with a `Problem` kind, and
`podium.gateway.problems` alone maps each kind to a status.

Real: the source tree of `podium/` read with `ast`, and the refusal types themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from podium.errors import Problem, Refused
from podium.gateway.problems import HTTP_STATUS, http_status
from podium.jsonbody import JsonRefused, loads_strict
from podium.review.payloads import WebhookError, verify_gitlab_token

CORE = Path(__file__).resolve().parents[2] / "podium"
GATEWAY = CORE / "gateway"
STATUS_NAMES = {"status", "status_code", "http_status"}


def _is_status_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 100 <= node.value <= 599


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def http_codes_in(source: str) -> list[str]:
    """Where a core module's errors carry an HTTP status: a `raise` whose exception is built
    with a status-like number or a `status=` keyword, or an exception class that keeps one."""
    found: list[str] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            numbers = [a for a in call.args if _is_status_number(a)]
            numbers += [k.value for k in call.keywords if _is_status_number(k.value)]
            keywords = [k.arg for k in call.keywords if k.arg in STATUS_NAMES]
            if numbers or keywords:
                found.append(f"line {node.lineno}: raise {_callee(call)}(...) carries a status")
        if isinstance(node, ast.ClassDef) and _looks_like_error(node):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr in STATUS_NAMES:
                    if isinstance(inner.ctx, ast.Store):
                        found.append(f"line {inner.lineno}: {node.name} keeps .{inner.attr}")
                if isinstance(inner, ast.AnnAssign | ast.Assign):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    names = {t.id for t in targets if isinstance(t, ast.Name)}
                    if names & STATUS_NAMES:
                        found.append(f"line {inner.lineno}: {node.name} declares a status")
    return found


def _looks_like_error(node: ast.ClassDef) -> bool:
    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
    return node.name.endswith(("Error", "Refused", "Exception")) or any(
        b.endswith(("Error", "Refused", "Exception")) for b in bases
    )


def test_the_core_outside_the_gateway_holds_no_http_status_in_its_errors() -> None:
    offenders = {
        str(path.relative_to(CORE.parent)): found
        for path in sorted(CORE.rglob("*.py"))
        if GATEWAY not in path.parents
        and (found := http_codes_in(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        'raise WebhookError(400, "bad")',
        'raise JsonRefused(status=422, message="deep")',
        "class HookError(ValueError):\n    def __init__(self):\n        self.status = 401\n",
        "class Refusal(Refused):\n    status_code: int = 413\n",
    ],
)
def test_the_scan_finds_a_status_put_back(source: str) -> None:
    # The guard above must be able to fail: each of these is how a code crept in before.
    assert http_codes_in(source)


def test_the_scan_leaves_problem_kinds_and_other_numbers_alone() -> None:
    source = (
        "raise WebhookError(Problem.MALFORMED, 'not a JSON object')\n"
        "raise ValueError(f'at most {MAX} accepted', 32)\n"
        "chunk = 500\n"
    )
    assert http_codes_in(source) == []


def test_every_problem_has_one_client_error_status() -> None:
    assert set(HTTP_STATUS) == set(Problem)
    assert all(400 <= status < 500 for status in HTTP_STATUS.values())
    assert {p: http_status(p) for p in Problem} == {
        Problem.UNAUTHENTICATED: 401,
        Problem.MALFORMED: 400,
        Problem.UNPROCESSABLE: 422,
        Problem.NOT_FOUND: 404,
        Problem.CONFLICT: 409,
    }


def test_core_refusals_carry_a_kind_and_no_status() -> None:
    with pytest.raises(JsonRefused) as json_refused:
        loads_strict(b'{"a": 1, "a": 2}')
    with pytest.raises(WebhookError) as webhook_refused:
        verify_gitlab_token(header="wrong", secret="right")
    for refused in (json_refused.value, webhook_refused.value):
        assert isinstance(refused, Refused) and isinstance(refused, ValueError)
        assert not any(hasattr(refused, name) for name in STATUS_NAMES)
    assert json_refused.value.problem is Problem.UNPROCESSABLE
    assert webhook_refused.value.problem is Problem.UNAUTHENTICATED
    assert http_status(webhook_refused.value) == 401
    with pytest.raises(ValueError):
        Refused(404, "a status is not a problem kind")  # type: ignore[arg-type]
