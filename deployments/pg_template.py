"""A cache of ready PostgreSQL data folders: `initdb` and Prefect's migrations once per key, then
a copy of the folder for every stack start (deployments/production_stack.py).

The key names everything the folder's contents depend on (Prefect's version and its PostgreSQL
migrations, SQLAlchemy's version, PostgreSQL's major version, the initdb options, the files'
owner and this module's format); a new key builds a new template and the others are removed.

Safe with several processes at once: a template is built in a folder of its own and published
by an atomic rename, so a reader sees either no template or a complete one; two builders race
harmlessly (the second rename fails, its copy is discarded, both use the published one).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

FORMAT = 1  # bump when what the builder puts in a template changes
META = "template.json"
STALE_S = 3600  # a half-built folder older than this is a dead builder's: removed


def template_key(parts: dict[str, str]) -> str:
    """A folder name for `parts`: readable where it helps, a digest of all of them."""
    digest = hashlib.sha256(
        json.dumps({"format": FORMAT, **parts}, sort_keys=True).encode()
    ).hexdigest()[:16]
    readable = "-".join(parts[k] for k in ("prefect", "postgres") if k in parts)
    return f"{readable}-{digest}" if readable else digest


def migrations_digest(package_dir: Path) -> str:
    """A digest of the names and sizes of Prefect's PostgreSQL migrations (an edited install or
    a patch that adds one changes the key even at the same version)."""
    versions = package_dir / "server" / "database" / "_migrations" / "versions" / "postgresql"
    h = hashlib.sha256()
    for path in sorted(versions.glob("*.py")):
        h.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def ensure(
    cache_dir: Path, key: str, parts: dict[str, str], build: Callable[[Path], None]
) -> tuple[Path, bool]:
    """The published template folder for `key` (its data folder is `<result>/data`), building it
    with `build(data_dir)` when absent. Returns (folder, whether it was already there).

    `build` writes a complete, cleanly shut down data folder at `data_dir` (which does not exist
    yet); it may run in several processes at once, and only one result is kept."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    if (final / META).is_file():
        return final, True
    staging = cache_dir / f".tmp-{key}-{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        build(staging / "data")
        (staging / META).write_text(json.dumps({"format": FORMAT, "key": key, **parts}, indent=1))
        try:
            os.rename(staging, final)  # atomic; fails if another process published first
        except OSError:
            if not (final / META).is_file():
                raise
    finally:
        if staging.exists():
            _remove(staging)
    prune(cache_dir, keep=key)
    return final, False


def copy_data(template: Path, dest: Path) -> None:
    """Copy the template's data folder to `dest` (which must not exist), keeping owners and
    modes (PostgreSQL wants 0700); a reflink where the file system has them."""
    result = subprocess.run(
        ["cp", "-a", "--reflink=auto", str(template / "data"), str(dest)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise OSError(f"copying {template} failed: {result.stderr.strip()[-300:]}")


def prune(cache_dir: Path, keep: str) -> None:
    """Remove templates of other keys, and half-built folders left by dead builders."""
    now = time.time()
    for entry in cache_dir.iterdir():
        if entry.name == keep:
            continue
        if entry.name.startswith(".tmp-"):
            try:
                if now - entry.stat().st_mtime < STALE_S:
                    continue  # a builder may be at work in it
            except FileNotFoundError:
                continue
        _remove(entry)  # another key's template, or a `.trash-` folder left half-removed


def _remove(path: Path) -> None:
    # Rename first, so that the name is gone at once and a reader never half-sees it.
    trash = path.with_name(f".trash-{uuid.uuid4().hex}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)
