"""The structural analysis of a change: needs no model, and is the default review summary.

It names every changed file by kind, the Python functions and classes added, removed or
changed (through `ast`), literal settings whose values changed, dependency changes, and risk
flags a reviewer should look at first.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

import yaml

from podium.review.gitrepo import ChangeSet, FileChange

KINDS = ("code", "tests", "config", "infrastructure", "dependencies", "docs", "other")

_DEPENDENCY_FILES = {
    "pyproject.toml", "setup.py", "setup.cfg", "pipfile", "pipfile.lock", "poetry.lock",
    "uv.lock", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "go.mod",
    "go.sum", "cargo.toml", "cargo.lock", "gemfile", "gemfile.lock", "environment.yml",
    "environment.yaml", "composer.json", "composer.lock",
}  # fmt: skip
LOCK_FILES = {
    "pipfile.lock", "poetry.lock", "uv.lock", "package-lock.json", "yarn.lock",
    "pnpm-lock.yaml", "go.sum", "cargo.lock", "gemfile.lock", "composer.lock",
}  # fmt: skip
_INFRA_NAMES = {
    "dockerfile", "containerfile", "docker-compose.yml", "docker-compose.yaml", "compose.yml",
    "compose.yaml", "jenkinsfile", ".gitlab-ci.yml", "makefile", "prefect.yaml", "procfile",
    "buildspec.yml", "skaffold.yaml", "chart.yaml", ".gitmodules",
}  # fmt: skip
_INFRA_DIRS = {
    "infra", "infrastructure", "deploy", "deployment", "deployments", "k8s", "kubernetes",
    "helm", "charts", "terraform", "ansible", ".github", ".circleci", "ci", ".ci",
}  # fmt: skip
_INFRA_SUFFIXES = {".tf", ".tfvars", ".hcl", ".dockerfile"}
_CONFIG_SUFFIXES = {
    ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".json", ".env", ".properties", ".xml",
}  # fmt: skip
_DOC_SUFFIXES = {".md", ".rst", ".txt", ".adoc"}
_DOC_NAMES = {"license", "licence", "notice", "authors", "changelog", "readme", "contributing"}
_CODE_SUFFIXES = {
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".scala", ".rb",
    ".php", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".m", ".sh", ".bash", ".sql",
    ".r", ".jl", ".lua", ".pl", ".ex", ".exs", ".erl", ".clj", ".vue", ".svelte", ".ipynb",
}  # fmt: skip

_AUTH_WORDS = re.compile(
    r"auth|login|logout|permission|rbac|acl|oauth|jwt|password|passwd|credential|session|"
    r"csrf|cors|crypt|secret|token|iam|polic|privilege|role|sudo|signature|verify|sso|saml",
    re.I,
)
_SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b")),
    (
        "hard-coded secret",
        re.compile(
            r"""(?i)(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)["']?\s*[:=]\s*"""
            r"""["'][^"'\s]{8,}["']"""
        ),
    ),
]
_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api[_-]?key|private|credential")
_SETTING_KEY = re.compile(
    r"(?i)timeout|retr|size|limit|max|min|batch|concurren|workers|threads|interval|ttl|port|"
    r"enable|disable|debug|flag|threshold|budget|quota|rate|memory|cpu|replicas|_s$|_ms$"
)


def classify(path: str) -> str:
    """The kind of a file, from its path: code, tests, config, infrastructure,
    dependencies, docs or other."""
    pure = PurePosixPath(path)
    name = pure.name.lower()
    parts = {p.lower() for p in pure.parts[:-1]}
    suffix = pure.suffix.lower()
    if name in _DEPENDENCY_FILES or re.match(r"^requirements.*\.(txt|in)$", name):
        return "dependencies"
    if parts & {"tests", "test", "testing", "__tests__", "spec"} or re.match(
        r"^(test_.*|.*_test|.*\.test|.*\.spec|conftest)\.\w+$", name
    ):
        return "tests"
    if (
        name in _INFRA_NAMES
        or name.startswith("dockerfile")
        or suffix in _INFRA_SUFFIXES
        or parts & _INFRA_DIRS
    ):
        return "infrastructure"
    if suffix in _CODE_SUFFIXES:
        return "code"
    if suffix in _DOC_SUFFIXES or name in _DOC_NAMES or "docs" in parts or "doc" in parts:
        return "docs"
    if suffix in _CONFIG_SUFFIXES or name.startswith(".env") or name.endswith("rc"):
        return "config"
    return "other"


def matches_any(path: str, patterns: list[str]) -> bool:
    """True when `path` (or its file name) matches one of the glob patterns."""
    name = PurePosixPath(path).name
    return any(fnmatch(path, p) or fnmatch(name, p) for p in patterns)


def redact(key: str, value: Any) -> str:
    """A value for display; anything under a secret-looking key is never shown."""
    if _SECRET_KEY.search(key):
        return "«redacted»"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


# ---- Python ----------------------------------------------------------------------------


@dataclass
class PythonDelta:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    error: str | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.error)


@dataclass(frozen=True)
class _Definition:
    kind: str  # function, async function, class, method
    signature: str
    body: str


def _definitions(tree: ast.Module) -> dict[str, _Definition]:
    found: dict[str, _Definition] = {}

    def visit(nodes: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "method" if in_class else "function"
                if isinstance(node, ast.AsyncFunctionDef):
                    kind = "async " + kind
                signature = f"({ast.unparse(node.args)})"
                if node.returns is not None:
                    signature += f" -> {ast.unparse(node.returns)}"
                body = ast.dump(ast.Module(body=node.body, type_ignores=[]))
                decorators = ",".join(ast.unparse(d) for d in node.decorator_list)
                found[prefix + node.name] = _Definition(kind, signature, body + decorators)
            elif isinstance(node, ast.ClassDef):
                bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
                # A class's own fingerprint leaves out its methods: they are reported apart.
                own = [
                    n
                    for n in node.body
                    if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                ]
                body = ast.dump(ast.Module(body=own, type_ignores=[]))
                found[prefix + node.name] = _Definition("class", f"({bases})", body)
                visit(node.body, f"{prefix}{node.name}.", True)

    visit(tree.body, "", False)
    return found


def python_delta(old: str | None, new: str | None) -> PythonDelta:
    """Functions, methods and classes added, removed or changed between two sources."""
    delta = PythonDelta()
    trees = []
    for label, source in (("before", old), ("after", new)):
        if source is None:
            trees.append(ast.Module(body=[], type_ignores=[]))
            continue
        try:
            trees.append(ast.parse(source))
        except SyntaxError as error:
            delta.error = f"does not parse {label} the push (SyntaxError, line {error.lineno})"
            return delta
    before, after = _definitions(trees[0]), _definitions(trees[1])
    for name in after.keys() - before.keys():
        d = after[name]
        delta.added.append(f"{d.kind} `{name}{d.signature if d.kind != 'class' else ''}`")
    for name in before.keys() - after.keys():
        delta.removed.append(f"{before[name].kind} `{name}`")
    for name in before.keys() & after.keys():
        old_d, new_d = before[name], after[name]
        if old_d.signature != new_d.signature:
            what = "bases" if new_d.kind == "class" else "signature"
            delta.changed.append(
                f"{new_d.kind} `{name}` {what} `{old_d.signature}` → `{new_d.signature}`"
            )
        elif old_d.body != new_d.body:
            delta.changed.append(f"{new_d.kind} `{name}` body")
    for items in (delta.added, delta.removed, delta.changed):
        items.sort(key=lambda s: s.split("`")[1])
    return delta


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def python_settings(source: str | None) -> dict[str, Any]:
    """Literal settings in a Python source: module and class level `NAME = literal`, and
    literal keyword arguments (`timeout=30`) of calls, keyed by where they sit."""
    if source is None:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    values: dict[str, Any] = {}
    seen: dict[str, int] = {}

    def put(key: str, value: Any) -> None:
        seen[key] = seen.get(key, 0) + 1
        values[key] = value

    def keywords(call: ast.Call, owner: str) -> None:
        callee = ast.unparse(call.func)
        for kw in call.keywords:
            if kw.arg is None:
                continue
            ok, value = _literal(kw.value)
            if ok and isinstance(value, int | float | bool | str | None):
                put(f"{owner}{callee}({kw.arg}=)", value)

    def scan(nodes: list[ast.stmt], scope: str) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef):
                scan(node.body, f"{scope}{node.name}.")
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call):
                        keywords(inner, f"{scope}{node.name}: ")
                continue
            targets: list[ast.expr] = []
            value_node: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value_node = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value_node = [node.target], node.value
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if value_node is not None and names:
                ok, value = _literal(value_node)
                if ok:
                    for name in names:
                        put(f"{scope}{name}", value)
                elif isinstance(value_node, ast.Call):
                    keywords(value_node, f"{scope}{names[0]} = ")
            else:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call):
                        keywords(inner, scope)

    scan(tree.body, "")
    # A key seen twice (two identical calls in one function) is ambiguous; drop it.
    return {k: v for k, v in values.items() if seen[k] == 1}


# ---- config files ----------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def config_values(path: str, data: bytes | None) -> dict[str, Any] | None:
    """Flattened key → value of a YAML, JSON, TOML, INI or .env file; None when unparsable."""
    if data is None:
        return {}
    text = data.decode("utf-8", errors="replace")
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(path).suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            parsed: Any = docs[0] if len(docs) == 1 else {str(i): d for i, d in enumerate(docs)}
        elif suffix == ".json":
            parsed = json.loads(text)
        elif suffix == ".toml":
            parsed = tomllib.loads(text)
        elif suffix in (".ini", ".cfg", ".conf"):
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(text)
            parsed = {s: dict(parser[s]) for s in parser.sections()}
        elif name.startswith(".env") or suffix in (".env", ".properties"):
            parsed = {}
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, _, value = line.removeprefix("export ").partition("=")
                    parsed[key.strip()] = value.strip().strip("'\"")
        else:
            return None
    except Exception:  # any parse error: the file is reported, just not key by key
        return None
    if isinstance(parsed, list):
        parsed = {str(i): item for i, item in enumerate(parsed)}
    if not isinstance(parsed, dict):
        return None
    flat = _flatten(parsed)
    return {k: v for k, v in flat.items() if not isinstance(v, list) or len(str(v)) < 200}


@dataclass(frozen=True)
class SettingChange:
    path: str
    key: str
    before: Any
    after: Any
    status: str  # changed, added, removed

    def render(self) -> str:
        if self.status == "changed":
            return (
                f"`{self.path}` `{self.key}`: {redact(self.key, self.before)} → "
                f"{redact(self.key, self.after)}"
            )
        shown = self.after if self.status == "added" else self.before
        return f"`{self.path}` `{self.key}` {self.status} ({redact(self.key, shown)})"


def diff_values(
    path: str, before: dict[str, Any], after: dict[str, Any], *, only_changed: bool = False
) -> list[SettingChange]:
    """Keys whose values changed (and, unless only_changed, keys added or removed)."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key in before and key in after:
            if before[key] != after[key]:
                changes.append(SettingChange(path, key, before[key], after[key], "changed"))
        elif not only_changed:
            status = "added" if key in after else "removed"
            changes.append(SettingChange(path, key, before.get(key), after.get(key), status))
    return changes


# ---- dependencies ----------------------------------------------------------------------

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def _requirement(line: str) -> tuple[str, str] | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _REQ.match(line)
    if not match:
        return None
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, (match.group(2) or "") + match.group(3).strip()


def dependencies(path: str, data: bytes | None) -> dict[str, str] | None:
    """Declared dependencies of a manifest as name → version spec; None when not a manifest
    this analyser reads (lock files are summarised by size only)."""
    if data is None:
        return {}
    name = PurePosixPath(path).name.lower()
    text = data.decode("utf-8", errors="replace")
    deps: dict[str, str] = {}
    try:
        if re.match(r"^requirements.*\.(txt|in)$", name):
            for line in text.splitlines():
                req = _requirement(line)
                if req:
                    deps[req[0]] = req[1]
        elif name == "pyproject.toml":
            doc = tomllib.loads(text)
            project = doc.get("project", {})
            groups = {"": project.get("dependencies", [])}
            for extra, items in project.get("optional-dependencies", {}).items():
                groups[f"[{extra}] "] = items
            for prefix, items in groups.items():
                for item in items:
                    req = _requirement(item)
                    if req:
                        deps[prefix + req[0]] = req[1]
            poetry = doc.get("tool", {}).get("poetry", {})
            for section in ("dependencies", "dev-dependencies"):
                for dep, spec in poetry.get(section, {}).items():
                    deps[dep.lower()] = json.dumps(spec) if not isinstance(spec, str) else spec
        elif name == "package.json":
            doc = json.loads(text)
            for section in ("dependencies", "devDependencies", "peerDependencies"):
                prefix = "" if section == "dependencies" else f"[{section}] "
                for dep, spec in doc.get(section, {}).items():
                    deps[prefix + dep] = str(spec)
        elif name == "go.mod":
            for match in re.finditer(
                r"^\s*(?:require\s+)?([\w./-]+\.[\w./-]+)\s+(v\S+)", text, re.M
            ):
                deps[match.group(1)] = match.group(2)
        else:
            return None
    except Exception:  # unparsable manifest: reported as a changed file only
        return None
    return deps


@dataclass(frozen=True)
class DependencyChange:
    path: str
    name: str
    before: str | None
    after: str | None

    def render(self) -> str:
        if self.before is None:
            return f"`{self.path}`: added `{self.name}{self.after or ''}`"
        if self.after is None:
            return f"`{self.path}`: removed `{self.name}{self.before or ''}`"
        return (
            f"`{self.path}`: `{self.name}` `{self.before or '(any)'}` → `{self.after or '(any)'}`"
        )


# ---- the report ------------------------------------------------------------------------


@dataclass
class StructuralReport:
    """Everything the structural analysis found; `to_markdown()` is the summary."""

    change: ChangeSet
    kinds: dict[str, str] = field(default_factory=dict)  # path -> kind
    python: dict[str, PythonDelta] = field(default_factory=dict)
    settings: list[SettingChange] = field(default_factory=list)
    dependencies: list[DependencyChange] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # "path:line (kind)" — never the value

    def to_markdown(self, *, max_files: int = 400) -> str:
        """The review summary in markdown."""
        c = self.change
        lines = [
            f"## Review of `{c.repo}` {c.ref.removeprefix('refs/heads/')}: "
            f"`{c.before[:12]}` → `{c.after[:12]}`",
            "",
            f"Compared with {c.base_reason}. {len(c.files)} files changed "
            f"(+{c.additions} −{c.deletions}), {len(c.commits)} commits.",
        ]
        lines += [f"> {note}" for note in c.notes]
        if self.risks:
            lines += ["", "### Risk flags", *[f"- ⚠ {r}" for r in self.risks]]
        if c.commits:
            lines += ["", "### Commits"]
            for commit in c.commits[:30]:
                merge = " (merge)" if commit.is_merge else ""
                lines.append(f"- `{commit.sha[:10]}` {commit.subject} — {commit.author}{merge}")
            if len(c.commits) > 30:
                lines.append(f"- … and {len(c.commits) - 30} more commits")
        if c.dropped:
            lines += ["", "### Commits removed by the force push"]
            lines += [f"- `{d.sha[:10]}` {d.subject} — {d.author}" for d in c.dropped[:30]]
            if len(c.dropped) > 30:
                lines.append(f"- … and {len(c.dropped) - 30} more")
        lines += ["", "### Files"]
        shown = 0
        for kind in KINDS:
            files = [f for f in c.files if self.kinds.get(f.path) == kind]
            if not files:
                continue
            lines.append(f"**{kind}** ({len(files)})")
            for f in files:
                if shown >= max_files:
                    break
                shown += 1
                lines.append(f"- {_describe_file(f)}")
        if shown < len(c.files):
            lines.append(f"- … and {len(c.files) - shown} more files")
        if any(self.python.values()):
            lines += ["", "### Python"]
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
                lines.append(f"- `{path}`: " + "; ".join(parts))
        if self.settings:
            lines += ["", "### Settings changed", *[f"- {s.render()}" for s in self.settings]]
        if self.dependencies:
            lines += ["", "### Dependencies", *[f"- {d.render()}" for d in self.dependencies]]
        return "\n".join(lines) + "\n"


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
) -> StructuralReport:
    """Analyse a change set.

    Args:
        change: the push's change.
        read_blob: returns a blob's bytes by object id (None when missing or too large).
        diffs: unified diff per path, for scanning added lines for secrets.
        large_change_lines: changed lines above which the push is flagged as very large.
    """
    report = StructuralReport(change=change)
    for f in change.files:
        report.kinds[f.path] = "other" if f.submodule else classify(f.path)
    for f in change.files:
        if f.binary or f.submodule:
            continue
        old = read_blob(f.old_id) if f.status != "added" else None
        new = read_blob(f.new_id) if f.status != "deleted" else None
        if f.path.endswith((".py", ".pyi")) or (f.old_path or "").endswith(".py"):
            old_text = _text(old)
            new_text = _text(new)
            report.python[f.path] = python_delta(old_text, new_text)
            report.settings += diff_values(
                f.path, python_settings(old_text), python_settings(new_text), only_changed=True
            )
        deps = (dependencies(f.old_path or f.path, old), dependencies(f.path, new))
        if deps[0] is not None and deps[1] is not None:
            for name in sorted(deps[0].keys() | deps[1].keys()):
                a, b = deps[0].get(name), deps[1].get(name)
                if a != b:
                    report.dependencies.append(DependencyChange(f.path, name, a, b))
            if PurePosixPath(f.path).name.lower() != "pyproject.toml":
                continue  # pyproject also holds tool settings, compared below
        if report.kinds[f.path] in ("config", "infrastructure", "dependencies"):
            before = config_values(f.old_path or f.path, old)
            after = config_values(f.path, new)
            if before is not None and after is not None and f.status == "modified":
                for item in diff_values(f.path, before, after):
                    if not item.key.startswith(("project.dependencies", "project.optional")):
                        report.settings.append(item)
    _scan_secrets(report, diffs or {})
    report.risks = _risks(report, large_change_lines)
    return report


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _scan_secrets(report: StructuralReport, diffs: dict[str, str]) -> None:
    for path, diff in diffs.items():
        new_line = 0
        for line in diff.splitlines():
            if line.startswith("@@"):
                match = re.search(r"\+(\d+)", line)
                new_line = int(match.group(1)) - 1 if match else 0
                continue
            if line.startswith("+++") or line.startswith("---"):
                continue
            if line.startswith("+"):
                new_line += 1
                for label, pattern in _SECRET_PATTERNS:
                    if pattern.search(line):
                        report.secrets.append(f"`{path}` line {new_line} ({label})")
                        break
            elif not line.startswith("-"):
                new_line += 1


def _risks(report: StructuralReport, large_change_lines: int) -> list[str]:
    change = report.change
    risks: list[str] = []
    if change.forced:
        risks.append(
            f"force push: history rewritten, {len(change.dropped)} commits removed from "
            f"{change.ref.removeprefix('refs/heads/')}"
        )
    auth_files = [
        f.path
        for f in change.files
        if report.kinds.get(f.path) != "tests" and _AUTH_WORDS.search(f.path)
    ]
    auth_defs = sorted(
        {
            item.split("`")[1]
            for path, delta in report.python.items()
            if report.kinds.get(path) != "tests"
            for item in delta.added + delta.removed + delta.changed
            if _AUTH_WORDS.search(item.split("`")[1])
        }
    )
    if auth_files or auth_defs:
        named = [f"`{p}`" for p in auth_files] + [f"`{d}`" for d in auth_defs]
        risks.append("authentication or permission code changed: " + ", ".join(named[:12]))
    if report.secrets:
        risks.append("secret-like strings added: " + ", ".join(report.secrets[:12]))
    removed_tests = [
        f.path
        for f in change.files
        if report.kinds.get(f.path) == "tests" and f.status == "deleted"
    ]
    removed_test_defs = [
        f"`{path}`: {item}"
        for path, delta in report.python.items()
        if report.kinds.get(path) == "tests"
        for item in delta.removed
    ]
    if removed_tests or removed_test_defs:
        named = [f"`{p}` deleted" for p in removed_tests] + removed_test_defs
        risks.append("tests removed: " + "; ".join(named[:12]))
    code_changed = [f for f in change.files if report.kinds.get(f.path) == "code"]
    tests_changed = [f for f in change.files if report.kinds.get(f.path) == "tests"]
    if code_changed and not tests_changed:
        risks.append(f"code changed in {len(code_changed)} files with no test changed")
    lines = change.additions + change.deletions
    if lines > large_change_lines or len(change.files) > 100:
        risks.append(f"very large change: {len(change.files)} files, {lines} lines")
    infra = [f.path for f in change.files if report.kinds.get(f.path) == "infrastructure"]
    if infra:
        risks.append("infrastructure or CI changed: " + ", ".join(f"`{p}`" for p in infra[:12]))
    if report.dependencies:
        risks.append(f"{len(report.dependencies)} dependency changes")
    binaries = [f.path for f in change.files if f.binary and f.status != "deleted"]
    if binaries:
        risks.append("binary files added or changed: " + ", ".join(f"`{p}`" for p in binaries[:12]))
    subs = [f.path for f in change.files if f.submodule]
    if subs:
        risks.append("submodules moved: " + ", ".join(f"`{p}`" for p in subs))
    return risks
