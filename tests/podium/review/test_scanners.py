"""The maintained scanners (checkov, cfn-lint, bandit) run for real, as subprocesses from
their own virtualenv, on the files a push changed before and after it. Only what the push
introduced or fixed is reported. Tests that need the scanners fail with the install hint when
their virtualenv is missing (they never skip)."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.review.config import ReviewSettings
from podium.review.scanners import (
    INSTALL_HINT,
    Finding,
    ScannerServer,
    ScanResult,
    diff_findings,
    scan_change,
    scanner_bin,
    scanners_available,
)
from tests.podium.review.corpus import Case, summarise_case
from tests.processes import wait_gone

SG = """resource "aws_security_group" "web" {{
  name        = "web"
  description = "web"
  ingress {{
    description = "in"
    from_port   = {port}
    to_port     = {port}
    protocol    = "tcp"
    cidr_blocks = ["{cidr}"]
  }}
}}
"""
APP_BEFORE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(['ls', cmd])\n"
APP_AFTER = (
    "import subprocess\n\n# moved down by a comment line\n\n"
    "def run(cmd):\n    return subprocess.call('ls ' + cmd, shell=True)\n"
)


def _need_scanners() -> None:
    if not scanners_available():
        pytest.fail(f"the review scanners are not installed: {INSTALL_HINT}")


def test_scanners_report_what_the_push_introduced_as_facts_with_rule_file_and_line() -> None:
    _need_scanners()
    result = scan_change(
        {
            "infra/sg.tf": (
                SG.format(port=443, cidr="10.0.0.0/8"),
                SG.format(port=22, cidr="0.0.0.0/0"),
            ),
            "app/run.py": (APP_BEFORE, APP_AFTER),
        },
        {"infra/sg.tf": "terraform"},
        timeout_s=300,
    )
    assert result.available and not result.notes, result.notes
    rendered = [f.render() for f in result.facts]
    ssh = [r for r in rendered if "CKV_AWS_24" in r]
    assert len(ssh) == 1 and ssh[0].startswith("⚠") and "infra/sg.tf` line 1" in ssh[0], rendered
    shell = [r for r in rendered if "B602" in r]
    assert len(shell) == 1 and shell[0].startswith("⚠") and "app/run.py` line 6" in shell[0]
    # hygiene findings present on both sides (same rule and resource) are not reported
    assert not any("CKV_AWS_23" in r for r in rendered), rendered
    assert result.cpu_seconds > 0


def test_findings_are_matched_by_rule_and_resource_not_line() -> None:
    moved = Finding("checkov", "CKV_AWS_24", "ssh", "a.tf", 12, "CKV_AWS_24|a.tf|sg.web", "ssh")
    was = Finding("checkov", "CKV_AWS_24", "ssh", "a.tf", 3, "CKV_AWS_24|a.tf|sg.web", "ssh")
    fixed = Finding("bandit", "B602", "shell", "x.py", 9, "B602|x.py|call(x, shell=True)", "h")
    assert diff_findings([was], [moved]) == []
    facts = diff_findings([was, fixed], [moved])
    assert [(f.effect, f.subject) for f in facts] == [("tightens", "bandit `B602` shell")]
    assert "was line 9" in facts[0].why


def test_summary_says_when_the_scanners_are_not_installed(tmp_path: Path) -> None:
    case = Case(
        "no-scanners",
        "terraform",
        {"main.tf": SG.format(port=443, cidr="10.0.0.0/8")},
        {"main.tf": SG.format(port=443, cidr="10.1.0.0/16")},
        [],
    )
    review = ReviewSettings(scanners=True, scanner_venv=tmp_path / "absent")
    summary = summarise_case(tmp_path, case, review=review)
    assert "scanners not run: their virtualenv is not installed" in summary, summary
    assert "scripts/scanners.sh" in summary


def test_scanner_messages_never_carry_the_values_they_quote() -> None:
    from podium.review.scanners import _scrub

    text = _scrub("Possible hardcoded password: 'hunter2-correct-horse' (ghp_" + "a1" * 18 + ")")
    assert "hunter2" not in text and "ghp_" not in text and "«redacted»" in text


# ---- the long-lived scanner process ---------------------------------------------------------

CHANGE = {
    "infra/sg.tf": (SG.format(port=443, cidr="10.0.0.0/8"), SG.format(port=22, cidr="0.0.0.0/0")),
    "app/run.py": (APP_BEFORE, APP_AFTER),
}


def _server_pid(server: ScannerServer) -> int:
    """The pid of the process listening on the server's socket (its peer credentials)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(server.socket_path))
    with conn:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


@pytest.fixture(autouse=True, scope="module")
def _stop_the_scanner_server() -> Iterator[None]:
    """The tests start the long-lived scanner process; it holds no state, so it is stopped
    when they end rather than left to idle out."""
    yield
    server = ScannerServer(scanner_bin(None))
    if scanners_available() and server.running():
        pid = _server_pid(server)
        os.kill(pid, signal.SIGTERM)
        wait_gone([pid], 10)


def _rendered(result: ScanResult) -> list[str]:
    return sorted(f.render() for f in result.facts)


def test_scanner_server_serves_pushes_reused_and_restarted_after_it_dies() -> None:
    """The first push starts the server (imports paid once); the next push is served by the
    same process, in a fork, with the same findings as one-shot runs; a server killed between
    pushes is started again by the next push, which still gets every finding."""
    _need_scanners()
    server = ScannerServer(scanner_bin(None), idle_s=120)
    first = scan_change(CHANGE, {"infra/sg.tf": "terraform"}, timeout_s=300, server_idle_s=120)
    assert first.server and not first.notes, first.notes
    pid = _server_pid(server)
    second = scan_change(CHANGE, {"infra/sg.tf": "terraform"}, timeout_s=300, server_idle_s=120)
    assert second.server and _server_pid(server) == pid
    rendered = _rendered(second)
    assert rendered == _rendered(first)
    assert any(r.startswith("⚠") and "CKV_AWS_24" in r and "line 1" in r for r in rendered)
    assert any(r.startswith("⚠") and "B602" in r and "line 6" in r for r in rendered)
    assert second.cpu_seconds > 0
    # a warm push spends no import time: far below the one-shot start-up of checkov
    assert second.seconds < first.seconds or second.seconds < 5, (first.seconds, second.seconds)

    os.kill(pid, signal.SIGKILL)
    assert not wait_gone([pid], 10)
    third = scan_change(CHANGE, {"infra/sg.tf": "terraform"}, timeout_s=300, server_idle_s=120)
    assert third.server and not third.notes, third.notes
    assert _server_pid(server) != pid
    assert _rendered(third) == rendered


def test_scans_run_one_shot_when_the_server_cannot_start(tmp_path: Path) -> None:
    """A scanners' venv whose Python cannot run the server: the scans run one-shot and the
    summary notes it; the findings are the same."""
    _need_scanners()
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("checkov", "cfn-lint", "bandit"):
        (bin_dir / tool).symlink_to(scanner_bin(None) / tool)
    (bin_dir / "python").write_text("#!/bin/sh\nexit 3\n")
    (bin_dir / "python").chmod(0o755)
    python_only = {"app/run.py": CHANGE["app/run.py"]}
    result = scan_change(python_only, {}, venv=bin_dir.parent, timeout_s=120, server_idle_s=60)
    assert not result.server
    assert any("one-shot" in note for note in result.notes), result.notes
    rendered = _rendered(result)
    assert any(r.startswith("⚠") and "B602" in r and "line 6" in r for r in rendered), rendered


def test_scanner_server_answers_a_bad_request_and_keeps_serving() -> None:
    _need_scanners()
    server = ScannerServer(scanner_bin(None), idle_s=120)
    assert server.ensure(deadline=time.perf_counter() + 120)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(server.socket_path))
    with conn:
        conn.sendall(b'{"tool": "rm", "argv": ["-rf", "/"]}\n')
        answer = json.loads(conn.makefile("rb").readline())
    assert "unknown tool" in answer["error"]
    result = scan_change({"app/run.py": CHANGE["app/run.py"]}, {}, timeout_s=120, server_idle_s=120)
    assert result.server and any("B602" in r for r in _rendered(result))
