"""Settings files (YAML, JSON, TOML, INI, .env) read as flat key → value maps and compared."""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api[_-]?key|private|credential")


def redact(key: str, value: Any) -> str:
    """A value for display; anything under a secret-looking key is never shown."""
    if _SECRET_KEY.search(key):
        return "«redacted»"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        # lists of mappings (pre-commit `repos`, compose services…) keyed by what names them,
        # so an insertion shifts nothing
        out = {}
        for index, item in enumerate(value):
            name = next(
                (
                    str(item[k])
                    for k in ("repo", "name", "id", "key")
                    if isinstance(item.get(k), str)
                ),
                str(index),
            )
            out.update(_flatten(item, f"{prefix}[{name}]"))
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
