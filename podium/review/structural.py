"""The structural analysis of a change: needs no model, is the default review summary, and is
the fallback (and the checklist) of a model's summary.

It names every changed file by kind and the material facts inside them: Python definitions
and call-level changes (`python_diff`), infrastructure-as-code settings judged by category
(`iac`, `facts`), configuration values (`config_files`), dependencies (`dependencies`) and
secrets (`secrets`). Settings that loosen security are ⚠ risk flags naming file, line, before
and after; settings that tighten it are reported as such.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from podium.review.config_files import (
    SettingChange,
    config_values,
    diff_values,
    redact,
)
from podium.review.dependencies import DependencyChange, dependencies
from podium.review.facts import CATEGORIES, CONFIG, Fact, setting_fact
from podium.review.gitrepo import ChangeSet, FileChange
from podium.review.iac import iac_facts, iac_kind, locate
from podium.review.kinds import AUTH_WORDS, KINDS, LOCK_FILES, classify, matches_any
from podium.review.markdown import code as md_code
from podium.review.python_diff import (
    PythonDelta,
    names_used,
    python_delta,
    python_facts,
    python_settings,
)
from podium.review.scanners import SCANNER, scan_change
from podium.review.secrets import SecretHit, scan_diffs
from podium.review.statements import STATEMENTS, left_out, statement_facts

__all__ = [
    "KINDS",
    "LOCK_FILES",
    "DependencyChange",
    "Fact",
    "PythonDelta",
    "SettingChange",
    "StructuralReport",
    "analyse",
    "classify",
    "config_values",
    "dependencies",
    "diff_values",
    "matches_any",
    "python_delta",
    "python_settings",
    "redact",
]


@dataclass
class StructuralReport:
    """Everything the structural analysis found; `to_markdown()` is the summary."""

    change: ChangeSet
    kinds: dict[str, str] = field(default_factory=dict)  # path -> kind
    iac: dict[str, str] = field(default_factory=dict)  # path -> IaC kind
    python: dict[str, PythonDelta] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    dependencies: list[DependencyChange] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    secrets: list[SecretHit] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)  # files whose settings could not be read
    scanner_notes: list[str] = field(default_factory=list)  # scanners absent, timed out…
    scan_seconds: float = 0.0
    scan_cpu_seconds: float = 0.0
    scan_server: bool = False  # the long-lived scanner process served the scans

    def material_facts(self) -> list[Fact]:
        """The facts any summary must name (what a model's answer is checked against)."""
        return [
            f
            for f in self.facts
            if f.category not in (CONFIG, SCANNER, STATEMENTS) or f.effect != "neutral"
        ]

    def risk_label(self) -> str:
        """One word for the push, shown first on the approval page: `none` (nothing material),
        `low` (material facts, no ⚠), `review carefully` (⚠ flags) or `high` (a ⚠ that opens
        access: internet, authentication, wildcard or new grants, secrets, a force push)."""
        if self.change.forced or self.secrets:
            return "high"
        loosening = [f for f in self.facts if f.effect == "loosens"]
        if any(_HIGH.search(f.why + " " + f.subject) for f in loosening):
            return "high"
        if self.risks:
            return "review carefully"
        if self.material_facts() or self.dependencies:
            return "low"
        return "none"

    def to_markdown(self, *, max_files: int = 400, max_lines: int = 40) -> str:
        """The review summary in markdown: the risk label, the ⚠ flags, what tightened, then
        the facts grouped by file and resource; past `max_lines` the rest is folded under
        "more" (a `<details>` block)."""
        c = self.change
        label = self.risk_label()
        lines = [
            f"## Review of `{c.repo}` {c.ref.removeprefix('refs/heads/')}: "
            f"`{c.before[:12]}` → `{c.after[:12]}`",
            "",
            f"**Risk: {label}** — {len(self.risks)} risk flag{'s' * (len(self.risks) != 1)}, "
            f"{len(self.facts)} facts. Compared with {c.base_reason}. {len(c.files)} files "
            f"changed (+{c.additions} −{c.deletions}), {len(c.commits)} commits.",
        ]
        lines += [f"> {note}" for note in c.notes]
        if self.risks:
            lines += ["", "### Risk flags", *[f"- {r}" for r in self.risks]]
        tightened = [f for f in self.facts if f.effect == "tightens"]
        if tightened:
            lines += ["", "### Security tightened", *[f"- {f.render()}" for f in tightened]]
        neutral = [f for f in self.facts if f.effect == "neutral"]
        if neutral:
            lines += ["", "### Changes"]
            for path in sorted({f.path for f in neutral}):
                mine = sorted(
                    (f for f in neutral if f.path == path),
                    key=lambda f: (CATEGORIES.index(f.category) if f.category in CATEGORIES
                                   else len(CATEGORIES), _owner(f.subject), _line_key(f)),
                )  # fmt: skip
                lines.append(f"**`{path}`**")
                lines += [f"- {f.render()}" for f in mine]
        if self.notes:
            lines += ["", "### Notes", *[f"- {n}" for n in self.notes]]
        rest: list[str] = []
        if c.commits:
            rest += ["", "### Commits"]
            for commit in c.commits[:30]:
                merge = " (merge)" if commit.is_merge else ""
                rest.append(
                    f"- `{commit.sha[:10]}` {md_code(commit.subject)} — "
                    f"{md_code(commit.author)}{merge}"
                )
            if len(c.commits) > 30:
                rest.append(f"- … and {len(c.commits) - 30} more commits")
        if c.dropped:
            rest += ["", "### Commits removed by the force push"]
            rest += [
                f"- `{d.sha[:10]}` {md_code(d.subject)} — {md_code(d.author)}"
                for d in c.dropped[:30]
            ]
            if len(c.dropped) > 30:
                rest.append(f"- … and {len(c.dropped) - 30} more")
        rest += ["", "### Files"]
        shown_files = 0
        for kind in KINDS:
            files = [f for f in c.files if self.kinds.get(f.path) == kind]
            if not files:
                continue
            rest.append(f"**{kind}** ({len(files)})")
            for f in files:
                if shown_files >= max_files:
                    break
                shown_files += 1
                iac = f" [{self.iac[f.path]}]" if f.path in self.iac else ""
                rest.append(f"- {_describe_file(f)}{iac}")
        if shown_files < len(c.files):
            rest.append(f"- … and {len(c.files) - shown_files} more files")
        if any(self.python.values()):
            rest += ["", "### Python definitions"]
            for path, delta in sorted(self.python.items()):
                if not delta:
                    continue
                parts = []
                if delta.error:
                    parts.append(delta.error)
                if delta.added:
                    parts.append("added " + ", ".join(delta.added))
                if delta.removed:
                    parts.append("removed " + ", ".join(delta.removed))
                if delta.changed:
                    parts.append("changed " + ", ".join(delta.changed))
                rest.append(f"- `{path}`: " + "; ".join(parts))
        if self.dependencies:
            rest += ["", "### Dependencies", *[f"- {d.render()}" for d in self.dependencies]]
        return "\n".join(_fold_lines(lines, rest, max_lines)) + "\n"


_HIGH = re.compile(
    r"(?i)internet|no authentication|authorizer removed|authentication|wildcard|granted|"
    r"grants added|access granted|write everything|Deny became Allow|permission check|"
    r"privileged|anyone may|public|secrets|root|Deny statement exempts"
)


def _line_key(fact: Fact) -> int:
    """Where a fact sorts in its group: by line, a removal (no line) first, and the count of a
    block's statements left out after the block's lines."""
    if fact.line is None:
        return 1 << 30 if left_out(fact) else 0
    return fact.line


def _owner(subject: str) -> str:
    parts = subject.split("`")
    return parts[1] if len(parts) > 2 else ""


def _fold_lines(lines: list[str], rest: list[str], max_lines: int) -> list[str]:
    """The first `max_lines` lines as they are (the ⚠ flags always, even past it), the others
    under a `<details>` "more" block, so a reviewer reads the top in a minute."""
    head_end = len(lines)
    for index, line in enumerate(lines):
        if line == "### Security tightened" or line == "### Changes" or line == "### Notes":
            head_end = index
            break
    keep = max(max_lines, head_end)
    if len(lines) + len(rest) <= max_lines:
        return lines + rest
    shown, folded = lines[:keep], lines[keep:] + rest
    if not folded:
        return shown
    count = sum(1 for line in folded if line.startswith("- "))
    return [
        *shown,
        "",
        f"<details><summary>more ({count} more lines: the rest of the facts, notes, commits, "
        "files)</summary>",
        "",
        *folded,
        "",
        "</details>",
    ]


def _describe_file(f: FileChange) -> str:
    if f.submodule:
        if f.status == "added":
            return f"submodule `{f.path}` added at `{f.new_id[:10]}`"
        if f.status == "deleted":
            return f"submodule `{f.path}` removed (was `{f.old_id[:10]}`)"
        return f"submodule `{f.path}` bumped `{f.old_id[:10]}` → `{f.new_id[:10]}`"
    name = f"`{f.path}`"
    if f.status in ("renamed", "copied"):
        name = f"`{f.old_path}` → `{f.path}` ({f.status}, {f.similarity or 0}% similar)"
    else:
        name = f"{name} {f.status}"
    if f.binary:
        return f"{name}, binary"
    if f.status == "type changed":
        return f"{name} (mode {f.old_mode} → {f.new_mode})"
    return f"{name} (+{f.additions} −{f.deletions})"


def analyse(
    change: ChangeSet,
    *,
    read_blob: Callable[[str], bytes | None],
    diffs: dict[str, str] | None = None,
    large_change_lines: int = 1500,
    scan: bool = False,
    scanner_venv: Path | None = None,
    scanner_timeout_s: float = 60.0,
    scanner_server_idle_s: float | None = None,
) -> StructuralReport:
    """Analyse a change set.

    Args:
        change: the push's change.
        read_blob: returns a blob's bytes by object id (None when missing or too large).
        diffs: unified diff per path, for scanning added lines for secrets.
        large_change_lines: changed lines above which the push is flagged as very large.
        scan: also run the maintained scanners (`scanners.scan_change`) before and after.
        scanner_venv, scanner_timeout_s: where the scanners live, and their time limit.
        scanner_server_idle_s: scan in the long-lived scanner process (kept this long when
            idle); None runs the scanners one-shot.
    """
    report = StructuralReport(change=change)
    for f in change.files:
        report.kinds[f.path] = "other" if f.submodule else classify(f.path)
    used: set[str] = set()
    texts: dict[str, tuple[str | None, str | None]] = {}
    for f in change.files:
        if f.path.endswith(".py") and f.status != "deleted" and not (f.binary or f.submodule):
            used |= names_used(_text(read_blob(f.new_id)))
    for f in change.files:
        if f.binary or f.submodule:
            continue
        old = read_blob(f.old_id) if f.status != "added" else None
        new = read_blob(f.new_id) if f.status != "deleted" else None
        old_text, new_text = _text(old), _text(new)
        texts[f.path] = (old_text, new_text)
        kind = iac_kind(f.path, new_text if new_text is not None else old_text)
        if kind:
            report.iac[f.path] = kind
        if f.path.endswith((".py", ".pyi")) or (f.old_path or "").endswith(".py"):
            report.python[f.path] = python_delta(old_text, new_text)
            if report.kinds[f.path] != "tests":
                report.facts += python_facts(
                    f.path, old_text, new_text, used_elsewhere=frozenset(used)
                )
            continue
        deps = (dependencies(f.old_path or f.path, old), dependencies(f.path, new))
        if deps[0] is not None and deps[1] is not None:
            for name in sorted(deps[0].keys() | deps[1].keys()):
                a, b = deps[0].get(name), deps[1].get(name)
                if a != b:
                    report.dependencies.append(DependencyChange(f.path, name, a, b))
            if PurePosixPath(f.path).name.lower() != "pyproject.toml":
                continue  # pyproject also holds tool settings, compared below
        if kind:
            found = iac_facts(f.path, kind, old_text, new_text)
            if found is None:
                report.unparsed.append(f.path)
            else:
                report.facts += found
            continue
        if report.kinds[f.path] in ("config", "infrastructure", "dependencies"):
            before = config_values(f.old_path or f.path, old)
            after = config_values(f.path, new)
            if before is None or after is None:
                report.unparsed.append(f.path)
                continue
            if f.status != "modified":
                continue
            for item in diff_values(f.path, before, after):
                if item.key.startswith(("project.dependencies", "project.optional")):
                    continue
                segments = tuple(item.key.split("."))
                fact = setting_fact(
                    path=f.path,
                    line=locate(new_text if item.after is not None else old_text, segments),
                    key=segments[-1],
                    subject=f"`{item.key}`",
                    before=item.before,
                    after=item.after,
                    context=item.key,
                )
                if fact is not None:
                    report.facts.append(fact)
    for f in change.files:  # what the kind-specific readers left unsaid, statement by statement
        if f.path in texts and f.status != "deleted" and report.kinds[f.path] not in _UNREAD:
            said = [fact for fact in report.facts if fact.path == f.path]
            report.facts += statement_facts(f.path, *texts[f.path], said=said)
    tests = frozenset(p for p, kind in report.kinds.items() if kind == "tests")
    if scan:
        scanned = scan_change(
            {p: t for p, t in texts.items() if report.kinds.get(p) != "tests"},
            report.iac,
            venv=scanner_venv,
            timeout_s=scanner_timeout_s,
            server_idle_s=scanner_server_idle_s,
        )
        report.facts += scanned.facts
        report.scanner_notes = scanned.notes
        report.scan_seconds = scanned.seconds
        report.scan_cpu_seconds = scanned.cpu_seconds
        report.scan_server = scanned.server
    report.secrets = scan_diffs(diffs or {}, test_paths=tests)
    report.risks = _risks(report, large_change_lines)
    report.notes = _notes(report)
    return report


_UNREAD = ("tests", "docs", "dependencies")  # their changes are told elsewhere, or not material


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _risks(report: StructuralReport, large_change_lines: int) -> list[str]:
    """Flags a reviewer should look at first; each names the file, the line and what
    changed. Generic observations go to the notes instead, so a flag stays worth reading."""
    change = report.change
    risks: list[str] = []
    if change.forced:
        risks.append(
            f"⚠ force push: history rewritten, {len(change.dropped)} commits removed from "
            f"{change.ref.removeprefix('refs/heads/')}"
        )
    if report.secrets:
        risks.append(
            "⚠ secret-like strings added: " + ", ".join(s.render() for s in report.secrets[:12])
        )
    risks += [f.render() for f in report.facts if f.effect == "loosens"]
    removed_tests = [
        f.path
        for f in change.files
        if report.kinds.get(f.path) == "tests" and f.status == "deleted"
    ]
    # a test renamed or replaced (as many tests added to the file as removed) is no test lost
    removed_test_defs = [
        f"`{path}`: {item}"
        for path, delta in report.python.items()
        if report.kinds.get(path) == "tests" and len(delta.removed) > len(delta.added)
        for item in delta.removed
    ]
    if removed_tests or removed_test_defs:
        named = [f"`{p}` deleted" for p in removed_tests] + removed_test_defs
        risks.append("⚠ tests removed: " + "; ".join(named[:12]))
    lines = change.additions + change.deletions
    if lines > large_change_lines or len(change.files) > 100:
        risks.append(f"⚠ very large change: {len(change.files)} files, {lines} lines")
    binaries = [f.path for f in change.files if f.binary and f.status != "deleted"]
    if binaries:
        risks.append(
            "⚠ binary files added or changed: " + ", ".join(f"`{p}`" for p in binaries[:12])
        )
    subs = [f.path for f in change.files if f.submodule]
    if subs:
        risks.append("⚠ submodules moved: " + ", ".join(f"`{p}`" for p in subs))
    return risks


def _notes(report: StructuralReport) -> list[str]:
    change = report.change
    notes: list[str] = []
    auth_defs = sorted(
        {
            f"`{path}`: `{item.split('`')[1]}`"
            for path, delta in report.python.items()
            if report.kinds.get(path) != "tests"
            for item in delta.added + delta.removed + delta.changed
            if AUTH_WORDS.search(item.split("`")[1])
        }
    )
    auth_files = [
        f"`{f.path}`"
        for f in change.files
        if report.kinds.get(f.path) not in ("tests", "docs") and AUTH_WORDS.search(f.path)
    ]
    if auth_defs or auth_files:
        notes.append(
            "authentication or permission code changed: " + ", ".join((auth_files + auth_defs)[:12])
        )
    code = [f for f in change.files if report.kinds.get(f.path) == "code"]
    if code and not any(report.kinds.get(f.path) == "tests" for f in change.files):
        notes.append(f"code changed in {len(code)} files with no test changed")
    notes += report.scanner_notes
    if report.unparsed:
        notes.append(
            "settings not compared (file does not parse): "
            + ", ".join(f"`{p}`" for p in report.unparsed[:12])
        )
    return notes
