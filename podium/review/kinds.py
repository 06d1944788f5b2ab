"""What kind of file a path is (code, tests, config, infrastructure, dependencies, docs,
other), and glob matching of paths."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import PurePosixPath

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


AUTH_WORDS = re.compile(
    r"auth|login|logout|permission|rbac|acl|oauth|jwt|password|passwd|credential|session|"
    r"csrf|cors|crypt|secret|token|iam|polic|privilege|role|sudo|signature|verify|sso|saml",
    re.I,
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
