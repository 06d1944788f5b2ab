"""Maintained scanners run on the files a push changed, before and after it: checkov
(Terraform, CloudFormation/SAM, Kubernetes, Helm, Dockerfiles, GitHub Actions), cfn-lint
(CloudFormation/SAM templates) and bandit (Python).

They live in their own virtualenv (`scripts/scanners.sh` makes `.venv-scanners/`, pinned by
`requirements-scanners.lock`) and are called as subprocesses with a timeout. Only the
difference is reported: findings the push introduced and findings it fixed, matched by rule
and resource (or file and source text), never by line number, so a finding that merely moved
is neither. Each becomes a `Fact` with file, line and rule; its severity is mapped to a ⚠ risk
or a note, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from podium.review.facts import SCANNERS, Fact

SCANNER = SCANNERS
INSTALL_HINT = (
    "run `scripts/scanners.sh` (or `make scanners`) to install checkov, cfn-lint and bandit"
)

# checkov checks whose new failure means access or exposure was loosened: a ⚠. Any other new
# checkov failure is a note (most are hygiene: descriptions, logging, tags).
_CHECKOV_RISKS = {
    "CKV_AWS_24": "SSH open to the internet",
    "CKV_AWS_25": "RDP open to the internet",
    "CKV_AWS_260": "port 80 open to the internet",
    "CKV_AWS_277": "all ports open to the internet",
    "CKV_AWS_1": "IAM policy grants full administrative privileges",
    "CKV_AWS_62": "IAM policy grants full administrative privileges",
    "CKV_AWS_63": "IAM policy allows `*` actions",
    "CKV_AWS_286": "IAM policy allows privilege escalation",
    "CKV_AWS_287": "IAM policy allows credentials exposure",
    "CKV_AWS_288": "IAM policy allows data exfiltration",
    "CKV_AWS_289": "IAM policy allows permissions management without constraints",
    "CKV_AWS_290": "IAM policy allows write access without constraints",
    "CKV_AWS_355": "IAM policy allows `*` resource for restrictable actions",
    "CKV_AWS_20": "S3 bucket readable by anyone",
    "CKV_AWS_57": "S3 bucket writable by anyone",
    "CKV_AWS_17": "database publicly accessible",
    "CKV_AWS_88": "EC2 instance has a public IP",
    "CKV_AWS_59": "API Gateway method without authorization",
    "CKV_AWS_258": "Lambda function URL without authentication",
    "CKV_K8S_16": "privileged container",
    "CKV_K8S_20": "privilege escalation allowed",
    "CKV_K8S_17": "shares the host's PID namespace",
    "CKV_K8S_18": "shares the host's IPC namespace",
    "CKV_K8S_19": "shares the host's network",
    "CKV_K8S_49": "RBAC wildcard",
    "CKV_K8S_155": "RBAC role may escalate",
    "CKV_K8S_156": "RBAC role may bind roles",
    "CKV_K8S_157": "RBAC role may impersonate",
    "CKV2_GHA_1": "workflow token has write-all permissions",
    "CKV_GHA_2": "shell injection from workflow inputs",
    "CKV_GHA_3": "suspicious use of curl with secrets",
}


# Podium's IaC kinds → checkov frameworks (CDK apps are read by Podium's own readers)
_FRAMEWORKS = {
    "terraform": "terraform",
    "cloudformation": "cloudformation",
    "kubernetes": "kubernetes",
    "helm": "kubernetes",
    "dockerfile": "dockerfile",
    "github-actions": "github_actions",
}


@dataclass(frozen=True)
class Finding:
    tool: str
    rule: str
    title: str
    path: str
    line: int | None
    key: str  # rule + resource (or file + source text): what before and after are matched on
    risk: str | None = None  # why a new finding is a ⚠; None makes it a note


@dataclass
class ScanResult:
    """What the scanners said about a push: facts (introduced ⚠/notes, fixed ✓) and notes."""

    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    available: bool = True
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the scanners' own CPU time (user + system)
    server: bool = False  # whether the long-lived scanner process served the scans


def scanner_bin(venv: Path | None) -> Path:
    """The scanners' bin folder: the configured venv, else `.venv-scanners` at the project
    root."""
    root = venv or Path(__file__).resolve().parents[2] / ".venv-scanners"
    return root / "bin"


def scanners_available(venv: Path | None = None) -> bool:
    bin_dir = scanner_bin(venv)
    return all((bin_dir / tool).exists() for tool in ("checkov", "cfn-lint", "bandit"))


def _wanted(path: str, kind: str | None) -> bool:
    name = PurePosixPath(path).name.lower()
    return bool(kind) or name.endswith((".py", ".tf")) or name.startswith("dockerfile")


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "AWS_"))}
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        BC_SKIP_MAPPING="TRUE",
        CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING="False",
        LOG_LEVEL="ERROR",
    )
    return env


_SERVER_SCRIPT = Path(__file__).with_name("scanner_server.py")


class _ServerGone(Exception):
    """The scanner server could not be reached or dropped a request before its time."""


class ScannerServer:
    """The long-lived scanner process (`scanner_server.py`, run by the scanners' Python):
    reached over a Unix socket named after the scanners' venv and the server's own code (so a
    changed server is a new one), started when absent, shared by every review process of this
    user on this host, and gone after `idle_s` without a request. It holds no state a summary
    depends on: when it is missing or dies, the scanners run one-shot."""

    def __init__(self, bin_dir: Path, *, idle_s: float = 900.0) -> None:
        self.bin_dir = bin_dir
        self.idle_s = idle_s
        digest = hashlib.sha256(str(bin_dir.resolve()).encode())
        digest.update(_SERVER_SCRIPT.read_bytes())
        name = f"podium-scanners-{os.getuid()}-{digest.hexdigest()[:16]}.sock"
        self.socket_path = Path(tempfile.gettempdir()) / name

    def _connect(self, timeout_s: float) -> socket.socket | None:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(max(0.1, timeout_s))
        try:
            conn.connect(str(self.socket_path))
            # only a server of this user is trusted (another user could bind the name first)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                raise OSError("the scanner socket belongs to another user")
        except OSError:
            conn.close()
            return None
        return conn

    def running(self) -> bool:
        """Whether a server answers on the socket now."""
        conn = self._connect(2.0)
        if conn is not None:
            conn.close()
        return conn is not None

    def ensure(self, *, deadline: float) -> bool:
        """Whether a server answers, starting one when none does, by `deadline`
        (`time.perf_counter()`); starting costs what a one-shot checkov costs (its imports)."""
        if self.running():
            return True
        python = self.bin_dir / "python"
        if not python.exists():
            return False
        try:
            process = subprocess.Popen(
                [
                    str(python), "-I", str(_SERVER_SCRIPT),
                    "--socket", str(self.socket_path), "--idle-s", str(self.idle_s),
                ],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=_env(), start_new_session=True, close_fds=True,
            )  # fmt: skip
        except OSError:
            return False
        while time.perf_counter() < deadline:
            conn = self._connect(5.0)
            if conn is not None:
                conn.close()
                return True
            if process.poll() not in (None, 0):
                return False  # it failed (exit 0 means another server holds the socket)
            time.sleep(0.1)
        return False

    def run(
        self, argv: list[str], *, stdout: Path, cwd: Path, timeout_s: float
    ) -> tuple[int, float]:
        """Run one scanner (`argv[0]` is the tool) in the server; its exit status and CPU
        seconds. Raises
        TimeoutError past `timeout_s`, `_ServerGone` when the server is unreachable or died."""
        started = time.perf_counter()
        conn = self._connect(timeout_s)
        if conn is None:
            raise _ServerGone("not reachable")
        request = {
            "tool": argv[0], "argv": argv[1:], "cwd": str(cwd), "stdout": str(stdout),
            "timeout_s": timeout_s,
        }  # fmt: skip
        with conn:
            conn.settimeout(timeout_s + 5)
            try:
                conn.sendall((json.dumps(request) + "\n").encode())
                line = conn.makefile("rb").readline()
            except TimeoutError:
                raise
            except OSError as error:
                raise _ServerGone(type(error).__name__) from error
        if not line:
            if time.perf_counter() - started >= timeout_s:
                raise TimeoutError(argv[0])
            raise _ServerGone("closed without an answer")
        answer = json.loads(line)
        if "error" in answer:
            raise _ServerGone(str(answer["error"]))
        return int(answer.get("rc") or 0), float(answer.get("cpu_s") or 0.0)


class _Run:
    """One scanner run, in a thread: in the server when there is one, else (or when the server
    fails) as a one-shot subprocess."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        tmp: Path,
        bin_dir: Path,
        server: ScannerServer | None,
        deadline: float,
    ) -> None:
        self.name, self.argv, self.tmp, self.bin_dir = name, argv, tmp, bin_dir
        self.server, self.deadline = server, deadline
        self.out = tmp / f"{name}.json"
        self.cpu_s = 0.0
        self.rc = 0
        self.timed_out = False
        self.note = ""
        self.thread = threading.Thread(target=self._go, name=f"scan-{name}", daemon=True)

    def _go(self) -> None:
        if self.server is not None:
            try:
                left = max(1.0, self.deadline - time.perf_counter())
                self.rc, self.cpu_s = self.server.run(
                    self.argv, stdout=self.out, cwd=self.tmp, timeout_s=left
                )
                return
            except TimeoutError:
                self.timed_out = True
                return
            except (_ServerGone, ValueError) as error:
                self.note = f"{self.name}: the scanner server failed ({error}), run one-shot"
        argv = [str(self.bin_dir / self.argv[0]), *self.argv[1:]]
        with self.out.open("w") as sink:
            job = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.DEVNULL, cwd=self.tmp, env=_env(), text=True
            )
        try:
            self.rc = job.wait(timeout=max(1.0, self.deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
            self.timed_out = True


def scan_change(
    files: dict[str, tuple[str | None, str | None]],
    kinds: dict[str, str],
    *,
    venv: Path | None = None,
    timeout_s: float = 60.0,
    server_idle_s: float | None = None,
) -> ScanResult:
    """Run the scanners on the changed files before and after the push and diff them.

    Args:
        files: path → (text before, text after); None where the file did not exist.
        kinds: path → IaC kind (`terraform`, `cloudformation`, `kubernetes`, `helm`,
            `dockerfile`, `github-actions`, …) for the files that have one.
        venv: the scanners' virtualenv (default `.venv-scanners` at the project root).
        timeout_s: longest any one scanner may run.
        server_idle_s: run the scans in the long-lived scanner process (started here when none
            is running, and left running until idle this long); None runs each scanner
            one-shot. Any failure of the server falls back to one-shot runs.
    """
    result = ScanResult()
    chosen = {p: t for p, t in files.items() if _wanted(p, kinds.get(p))}
    if not chosen:
        return result
    if not scanners_available(venv):
        result.available = False
        result.notes.append(f"scanners not run: their virtualenv is not installed ({INSTALL_HINT})")
        return result
    bin_dir = scanner_bin(venv)
    started = time.perf_counter()
    cpu_before = _children_cpu()
    with tempfile.TemporaryDirectory(prefix="podium-scan-") as tmp:
        trees = {"before": Path(tmp) / "before", "after": Path(tmp) / "after"}
        for side, index in (("before", 0), ("after", 1)):
            trees[side].mkdir()
            _write(
                trees[side], {p: t[index] or "" for p, t in chosen.items() if t[index] is not None}
            )
        py = [p for p in chosen if p.endswith(".py")]
        cfn = [p for p in chosen if kinds.get(p) == "cloudformation"]
        iac = [p for p in chosen if not p.endswith(".py") or kinds.get(p)]
        jobs: dict[str, list[str]] = {}

        def start(name: str, argv: list[str]) -> None:
            jobs[name] = argv

        frameworks = sorted({_FRAMEWORKS.get(kinds.get(p, ""), "") for p in iac} - {""})
        if any(PurePosixPath(p).name.lower().startswith("dockerfile") for p in iac):
            frameworks = sorted({*frameworks, "dockerfile"})
        if any(p.endswith(".tf") for p in iac):
            frameworks = sorted({*frameworks, "terraform"})
        if frameworks:  # only the runners the push needs: each costs start-up time
            # One checkov per tree: given both trees at once, checkov reports a file that has
            # the same relative path in both only once (seen with 3.3.30: the after side lost).
            for side, root in trees.items():
                start(
                    f"checkov-{side}",
                    [
                        "checkov", "-d", str(root),
                        "-o", "json", "--quiet", "--compact", "--skip-download",
                        "--framework", *frameworks,
                    ],
                )  # fmt: skip
        if cfn:
            targets = [str(trees[s] / p) for s in trees for p in cfn if (trees[s] / p).exists()]
            start("cfn-lint", ["cfn-lint", "-f", "json", "--", *targets])
        if py:
            start("bandit", ["bandit", "-f", "json", "-q", "-r", *map(str, trees.values())])
        server = None
        if server_idle_s is not None:
            server = ScannerServer(bin_dir, idle_s=server_idle_s)
            if not server.ensure(deadline=started + timeout_s):
                result.notes.append(
                    "scanner server not reachable: the scanners ran one-shot (slower)"
                )
                server = None
        result.server = server is not None
        runs = {
            name: _Run(name, argv, Path(tmp), bin_dir, server, time.perf_counter() + timeout_s)
            for name, argv in jobs.items()
        }
        for job in runs.values():
            job.thread.start()
        found: dict[str, list[Finding]] = {"before": [], "after": []}
        for name, job in runs.items():
            job.thread.join()
            result.cpu_seconds += job.cpu_s
            if job.note:
                result.notes.append(job.note)
            if job.timed_out:
                result.notes.append(
                    f"{name} stopped after {timeout_s:.0f} s: its findings are missing"
                )
                continue
            text = job.out.read_text(encoding="utf-8", errors="replace")
            if not text.strip() and job.rc not in (0, 1):
                result.notes.append(f"{name} failed (exit {job.rc}): its findings are missing")
                continue
            try:
                parser = _PARSERS[name.removesuffix("-before").removesuffix("-after")]
                parsed = list(parser(text, trees))
            except (ValueError, KeyError, TypeError) as error:
                result.notes.append(f"{name} output not read ({type(error).__name__})")
                continue
            for side, finding in parsed:
                found[side].append(finding)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds += _children_cpu() - cpu_before
    result.facts = diff_findings(found["before"], found["after"])
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _side(path: str, trees: dict[str, Path]) -> tuple[str, str] | None:
    for side, root in trees.items():
        prefix = str(root) + "/"
        if path.startswith(prefix):
            return side, path[len(prefix) :]
    return None


def _json_docs(text: str) -> list[Any]:
    """Every JSON document in a text (checkov prints one per framework and directory)."""
    decoder = json.JSONDecoder()
    docs, index = [], 0
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        doc, index = decoder.raw_decode(text, index)
        docs.extend(doc if isinstance(doc, list) else [doc])
    return docs


def _checkov(text: str, trees: dict[str, Path]) -> Iterable[tuple[str, Finding]]:
    for report in _json_docs(text):
        if not isinstance(report, dict):
            continue
        for item in (report.get("results") or {}).get("failed_checks", []):
            where = _side(item.get("file_abs_path") or "", trees)
            if where is None:
                continue
            side, path = where
            lines = item.get("file_line_range") or [None]
            rule = item["check_id"]
            resource = item.get("resource") or ""
            yield (
                side,
                Finding(
                    "checkov",
                    rule,
                    item.get("check_name") or rule,
                    path,
                    lines[0] or None,
                    f"{rule}|{path}|{resource}",
                    _CHECKOV_RISKS.get(rule) if _shows_risk(rule, trees[side] / path) else None,
                ),
            )


# Rules whose risk the file must show itself: checkov's CKV2_GHA_1 also fails a workflow with
# no top-level `permissions` block, whose token gets the repository's default (read-only for
# repositories made since 2023), not necessarily write-all; that is a note, not a ⚠.
_RISK_SHOWN_BY = {"CKV2_GHA_1": re.compile(r"(?m)^\s*permissions:\s*['\"]?write-all")}


def _shows_risk(rule: str, file: Path) -> bool:
    shown = _RISK_SHOWN_BY.get(rule)
    if shown is None:
        return True
    try:
        return bool(shown.search(file.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return True  # unreadable: the scanner's word stands


def _cfn_lint(text: str, trees: dict[str, Path]) -> Iterable[tuple[str, Finding]]:
    if not text.strip():
        return
    for item in json.loads(text):
        where = _side(str(Path(item["Filename"]).resolve()), trees) or _side(
            item["Filename"], trees
        )
        if where is None:
            continue
        side, path = where
        rule = item["Rule"]["Id"]
        line = (item.get("Location") or {}).get("Start", {}).get("LineNumber")
        path_in = "/".join(str(p) for p in (item.get("Location") or {}).get("Path") or [])
        yield (
            side,
            Finding(
                "cfn-lint",
                rule,
                _scrub(item.get("Message") or item["Rule"].get("ShortDescription") or rule)[:200],
                path,
                line,
                f"{rule}|{path}|{path_in or item.get('Message', '')}",
                None,
            ),
        )


def _bandit(text: str, trees: dict[str, Path]) -> Iterable[tuple[str, Finding]]:
    if not text.strip():
        return
    for item in json.loads(text).get("results", []):
        where = _side(item["filename"], trees)
        if where is None:
            continue
        side, path = where
        source = _source_line(item)
        rule = item["test_id"]
        severe = item.get("issue_severity") == "HIGH" and item.get("issue_confidence") in (
            "HIGH",
            "MEDIUM",
        )
        yield (
            side,
            Finding(
                "bandit",
                rule,
                _scrub(item.get("issue_text", rule)),
                path,
                item.get("line_number"),
                f"{rule}|{path}|{source}",
                f"high severity ({item.get('issue_confidence', '').lower()} confidence)"
                if severe
                else None,
            ),
        )


def _scrub(text: str) -> str:
    """A scanner's message without the values it quotes (bandit's B105 quotes the hardcoded
    password it found): quoted text and anything secret-shaped become «redacted»."""
    from podium.review.secrets import redact_text

    text = re.sub(r"'[^']*'|\"[^\"]*\"", "«redacted»", str(text))
    return redact_text(text)[0]


def _source_line(item: dict[str, Any]) -> str:
    """The flagged line's code without its number (bandit's `code` is numbered lines)."""
    wanted = str(item.get("line_number"))
    for line in str(item.get("code") or "").splitlines():
        number, _, code = line.partition(" ")
        if number == wanted:
            return " ".join(code.split())
    return ""


_PARSERS = {"checkov": _checkov, "cfn-lint": _cfn_lint, "bandit": _bandit}


def diff_findings(before: list[Finding], after: list[Finding]) -> list[Fact]:
    """Findings introduced (⚠ or note) and fixed (✓), matched by their key (rule and resource,
    or file and source text), counted as multisets so a finding that moved is neither."""
    old = Counter(f.key for f in before)
    new = Counter(f.key for f in after)
    facts: list[Fact] = []
    seen: Counter[str] = Counter()
    for finding in after:
        seen[finding.key] += 1
        if seen[finding.key] <= old[finding.key]:
            continue
        risk = finding.risk
        facts.append(
            Fact(
                finding.path,
                finding.line,
                SCANNER,
                f"{finding.tool} `{finding.rule}` {finding.title}",
                None,
                None,
                "loosens" if risk else "neutral",
                f"new finding: {risk}" if risk else "new finding (hygiene, not a risk by itself)",
                "added",
                (finding.rule,),
            )
        )
    gone: Counter[str] = Counter()
    for finding in before:
        gone[finding.key] += 1
        if gone[finding.key] <= new[finding.key]:
            continue
        facts.append(
            Fact(
                finding.path,
                None,
                SCANNER,
                f"{finding.tool} `{finding.rule}` {finding.title}",
                None,
                None,
                "tightens" if finding.risk else "neutral",
                f"fixed by this push (was line {finding.line})",
                "removed",
                (finding.rule,),
            )
        )
    return facts
