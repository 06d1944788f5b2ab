"""Declared dependencies of manifests (requirements, pyproject, package.json, go.mod)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath

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
