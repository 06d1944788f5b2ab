"""The general reader (podium/review/statements.py): every changed statement named by its
enclosing block, paired by structure, capped per block; and the risk rules fixed from
held-out-4's misses (a registry move, Redis protected mode off, an expected code-scanning
grant, checksums that are no secrets).

Real parts: the reader on made-up files of each kind (none of them corpus files); the risk
rules through the whole review of a real git push (`summarise_case`, scored with the corpus's
`score`: every fact on one line, every expected ⚠, no other ⚠). Nothing is faked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.review.facts import Fact
from podium.review.statements import MAX_PER_BLOCK, read, statement_facts
from tests.podium.review.corpus import Case, score, summarise_case


def lines(path: str, old: str | None, new: str | None, said: list[Fact] | None = None) -> list[str]:
    return [f.render() for f in statement_facts(path, old, new, said=said or [])]


def one(found: list[str], *parts: str) -> str:
    hits = [line for line in found if all(p in line for p in parts)]
    assert hits, f"no line with {parts}:\n" + "\n".join(found)
    return hits[0]


TS_OLD = """import { App } from 'aws-cdk-lib';

export class Report {
  public static check(scope: Construct) {
    // walk up to the app
    let app = scope;
    if (!app) {
      throw new Error('no app');
    }
    return app;
  }
}

export function helper(x: number) {
  const url = 'https://example.com/*';
  return x + 1;
}
"""
TS_NEW = """import { App } from 'aws-cdk-lib';

export class Report {
  public static check(scope: Construct) {
    // the root is the app
    let app = scope.node.root;
    if (!app || !App.isApp(app)) {
      throw new Error('no app');
    }
    return app;
  }
}

export function helper(x: number) {
  const url = 'https://example.com/*';
  if (x < 0) {
    throw new Error('negative sizes are not supported');
  }
  return x + 1;
}
"""


def test_typescript_statements_are_named_by_method_and_function() -> None:
    found = lines("lib/report.ts", TS_OLD, TS_NEW)
    assert "line 6" in one(found, "`Report.check`", "let app = scope;", "scope.node.root")
    assert "line 7" in one(found, "`Report.check`", "if (!app) {", "App.isApp(app)")
    assert "line 17" in one(found, "`helper`", "added", "negative sizes are not supported")
    # a comment changed is no statement; an unchanged statement is never reported
    assert not any("root is the app" in line or "return x + 1" in line for line in found)


PY_OLD = '''import logging


class Renewer:
    def renew(self, token, max_expiry):
        """Renew a token."""
        new_expiry = min(token.expiry, max_expiry)
        token.save()
        return new_expiry


def audit(event):
    log_it(event)
    send(event)
'''
PY_NEW = '''import logging

logger = logging.getLogger(__name__)


class Renewer:
    def renew(self, token, max_expiry):
        """Renew a token, never past the maximum."""
        new_expiry = token.expiry
        if new_expiry > max_expiry:
            new_expiry = max_expiry
            logger.info("renewal truncated")
        token.save()
        return new_expiry


def audit(event):
    send(event)
    log_it(event)
'''


def test_python_statements_paired_by_target_and_moves_are_not_changes() -> None:
    found = lines("app/auth.py", PY_OLD, PY_NEW)
    assert "line 3" in one(found, "`module`", "logger = logging.getLogger(__name__)")
    assert "line 9" in one(found, "`Renewer.renew`", "min(token.expiry, max_expiry)", "→")
    assert "line 10" in one(found, "`Renewer.renew`", "if new_expiry > max_expiry:")
    one(found, "`Renewer.renew`", "logger.info")
    # statements that only swapped places in their block, and docstrings, are not changes
    assert not any("`audit`" in line or "never past" in line for line in found)


CFN_OLD = """Resources:
  TaskDefinition:
    Type: 'AWS::ECS::TaskDefinition'
    Properties:
      ContainerDefinitions:
      - Name: proxy
        Image: !Ref ProxyImage
        Command: !If [HasProxyCommand, !Ref ProxyCommand, !Ref 'AWS::NoValue']
      - Name: app
        Image: !Ref AppImage
        Command:
        - serve
        - --port=80
  Instance:
    Type: 'AWS::EC2::Instance'
    Properties:
      InstanceType: t3.micro
"""
CFN_NEW = """Resources:
  TaskDefinition:
    Type: 'AWS::ECS::TaskDefinition'
    Properties:
      ContainerDefinitions:
      - Name: app
        Image: !Ref AppImage
        Command:
        - serve
        - --port=8080
      - Name: proxy
        Image: !Ref ProxyImage
        Command: !If [HasProxyCommand, [!Ref ProxyCommand], !Ref 'AWS::NoValue']
  Instance:
    Type: 'AWS::EC2::Instance'
    Properties:
      InstanceType: t3.micro
      MetadataOptions:
        HttpTokens: required
"""


def test_yaml_list_items_are_named_by_their_name_not_their_position() -> None:
    found = lines("template.yaml", CFN_OLD, CFN_NEW)
    line = one(found, "ContainerDefinitions[proxy]", "Command", "[!Ref ProxyCommand]")
    assert "line 13" in line
    assert "line 10" in one(found, "ContainerDefinitions[app].Command", "--port=80", "--port=8080")
    assert "line 19" in one(found, "Instance.MetadataOptions", "HttpTokens: required")
    # the two containers swapped places: nothing else is a change
    assert not any("Image" in line for line in found)


WORKFLOW_OLD = """name: checks
on: [push]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - name: Run bandit
        run: |
          pip install bandit
          bandit -r src
      - name: Build docs
        run: mkdocs build
"""
WORKFLOW_NEW = WORKFLOW_OLD.replace("bandit -r src", "bandit -r src -s B105").replace(
    "mkdocs build", "mkdocs build --strict"
)


def test_actions_run_scripts_are_read_line_by_line_in_their_step() -> None:
    found = lines(".github/workflows/checks.yml", WORKFLOW_OLD, WORKFLOW_NEW)
    assert "line 10" in one(found, "[Run bandit].run", "bandit -r src -s B105")
    one(found, "[Build docs]", "mkdocs build --strict")


PACKAGES = ["bcmath", "bz2", "dom", "exif", "ftp", "gd", "gmp", "intl", "ldap", "mysqli"]
CONTINUED = " \\\n"


def _listed(version: str) -> str:
    return "".join(f"    php{version}-{p}{CONTINUED}" for p in PACKAGES)


DOCKER_OLD = (
    "FROM ghcr.io/example/base:3.20\n\nRUN apk add --no-cache \\\n    nginx \\\n"
    + _listed("83")
    + "    php83-pecl-mcrypt \\\n    whois\n\nRUN mkdir /build && \\\n    cd /build && \\\n"
    "    python setup.py bdist_wheel && \\\n    pip install dist/*.whl\n"
)
DOCKER_NEW = (
    "FROM ghcr.io/example/base:3.21\n\nRUN apk add --no-cache \\\n    nginx \\\n"
    + _listed("84")
    + "    whois\n\nRUN mkdir /build && \\\n    cd /build && \\\n"
    "    uv build && \\\n    pip install dist/*.whl\n"
)


def test_dockerfile_run_commands_collapse_renames_and_pair_replacements() -> None:
    found = lines("Dockerfile", DOCKER_OLD, DOCKER_NEW)
    renamed = one(found, "`php83` → `php84` in 10 words")
    assert "php83-pecl-mcrypt" in renamed and "drops" in renamed
    assert "line 19" in one(found, "RUN", "`python setup.py bdist_wheel` → `uv build`")
    assert not any("mkdir" in line for line in found)


HCL_OLD = """resource "aws_eks_addon" "this" {
  addon_name = each.key
  preserve   = false

  dynamic "pod_identity_association" {
    for_each = each.value.pods
    content {
      role_arn = pod_identity_association.value
    }
  }
}
"""
HCL_NEW = """resource "aws_eks_addon" "this" {
  addon_name = each.key
  preserve   = lookup(each.value, "preserve", null)

  dynamic "pod_identity_association" {
    for_each = each.value.pods
    content {
      role_arn        = pod_identity_association.value
      service_account = "default"
    }
  }
}
"""


def test_terraform_attributes_named_by_resource_and_block() -> None:
    found = lines("main.tf", HCL_OLD, HCL_NEW)
    assert "line 3" in one(found, "`aws_eks_addon.this`", "preserve = false", "lookup(")
    assert "line 9" in one(found, "pod_identity_association", 'service_account = "default"')
    assert not any("role_arn" in line for line in found)  # only its alignment moved


def test_a_block_shows_its_first_lines_by_weight_and_counts_the_rest() -> None:
    old = "def f(x):\n    return x\n"
    body = "".join(f"    y{i} = x + {i}\n" for i in range(12))
    new = f"def f(x):\n{body}    raise ValueError(x)\n"
    found = lines("m.py", old, new)
    assert len(found) == MAX_PER_BLOCK + 1
    one(found, "`f`", "raise ValueError(x)")  # an exit is shown before plain assignments
    assert "6 more changed statements" in one(found, "`f`", "more changed statements")


def test_what_a_kind_specific_reader_said_is_not_repeated() -> None:
    old, new = "def f():\n    go(retries=1)\n", "def f():\n    go(retries=5)\n"
    said = Fact("m.py", 2, "behaviour", "`go(retries=)` in `f`", "1", "5")
    assert lines("m.py", old, new, [said]) == []
    assert lines("m.py", old, new) != []


def test_unknown_kinds_and_unparsable_files_are_left_to_the_other_readers() -> None:
    assert read("notes.txt", "a\n") is None
    assert read("broken.py", "def (:\n") is None
    assert lines("broken.py", "x = 1\n", "def (:\n") == []


REDIS_DOCKERFILE = """FROM alpine:3.20
ENV GOSU_VERSION 1.17
RUN set -eux; \\
    url='https://github.com/tianon/gosu/releases/download/1.17/gosu-amd64'; \\
    sha256='bbc4136d03ab138b1ad66fa4fc051bafc6cc7ffae632b069a53657279a450de3'; \\
    wget -O /usr/local/bin/gosu "$url"; \\
    echo "$sha256 */usr/local/bin/gosu" | sha256sum -c -
RUN sed -ri 's!^( *createBoolConfig[(]"protected-mode",.*, *)1( *,.*[)],)$!\\10\\2!' src/config.c
EXPOSE 6379
CMD ["redis-server"]
"""


def _push(tmp_path: Path, name: str, base: dict[str, str], change: dict[str, str | None],
          facts: list[tuple[str, ...]], flags: list[str]) -> None:  # fmt: skip
    case = Case(name, "dockerfile", base, change, facts, flags)
    summary = summarise_case(tmp_path, case)
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false risk flags {result.false_flags}:\n{summary}"


def test_a_new_image_switching_off_redis_protected_mode_is_flagged_and_checksums_are_not(
    tmp_path: Path,
) -> None:
    _push(tmp_path, "redis", {"README.md": "redis\n"}, {"7/Dockerfile": REDIS_DOCKERFILE},
          [("protected-mode",), ("EXPOSE", "6379")], ["protected-mode"])  # fmt: skip


def test_a_started_server_with_protected_mode_no_is_flagged(tmp_path: Path) -> None:
    old = 'FROM redis:7.2\nCMD ["redis-server"]\n'
    new = 'FROM redis:7.2\nCMD ["redis-server", "--protected-mode", "no"]\n'
    _push(tmp_path, "redis-cmd", {"Dockerfile": old}, {"Dockerfile": new}, [], ["protected"])


@pytest.mark.parametrize(
    ("before", "after", "flags"),
    [
        ("ghcr.io/acme/base:3.20", "registry.example.net/acme/base:3.21", ["another registry"]),
        ("python:3.12-slim", "quay.io/python/python:3.12-slim", ["another registry"]),
        ("ghcr.io/acme/base:3.20", "ghcr.io/acme/base:3.21", []),  # same registry, new tag
        ("python:3.12-slim", "docker.io/library/python:3.13-slim", []),  # the same registry
    ],
)
def test_a_base_image_moved_to_another_registry_is_flagged(
    tmp_path: Path, before: str, after: str, flags: list[str]
) -> None:
    old, new = f"FROM {before}\nRUN true\n", f"FROM {after}\nRUN true\n"
    _push(tmp_path, "registry", {"Dockerfile": old}, {"Dockerfile": new}, [], flags)


SCAN_WORKFLOW = """name: scan
on: [pull_request]
permissions:
  contents: read
  security-events: write
jobs:
  codeql:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: github/codeql-action/init@v3
      - uses: github/codeql-action/analyze@v3
"""
DEPLOY_WORKFLOW = SCAN_WORKFLOW.replace("github/codeql-action/init@v3", "acme/deploy@v1").replace(
    "github/codeql-action/analyze@v3", "acme/notify@v1"
)


@pytest.mark.parametrize(
    ("workflow", "flags"), [(SCAN_WORKFLOW, []), (DEPLOY_WORKFLOW, ["security-events"])]
)
def test_security_events_write_is_expected_only_where_code_scanning_uploads(
    tmp_path: Path, workflow: str, flags: list[str]
) -> None:
    files = {".github/workflows/scan.yml": workflow}
    fact = ("security-events", "write")
    case = Case("scan", "github-actions", {"README.md": "x\n"}, files, [fact], flags)
    summary = summarise_case(tmp_path, case)
    result = score(case, summary)
    assert not result.missing and not result.false_flags, summary


GO = "package main\n\nfunc (s *Server) Start(port int) error {{\n\treturn s.listen(port, {})\n}}\n"


@pytest.mark.parametrize(
    ("path", "old", "new", "parts"),
    [
        ("cmd/server.go",
         GO.format("false"), GO.format("true"),
         ("line 4", "`Start`", "s.listen(port, false)", "s.listen(port, true)")),
        ("pyproject.toml", "[tool.ruff]\nline-length = 100\n[project]\nname = \"x\"\n",
         "[tool.ruff]\nline-length = 120\n[project]\nname = \"x\"\n",
         ("line 2", "`tool.ruff`", "line-length = 100", "line-length = 120")),
        ("Makefile", "test:\n\tpytest -q\nlint:\n\truff check .\n",
         "test:\n\tpytest -q -x\nlint:\n\truff check .\n",
         ("line 2", "`test`", "`pytest -q` → `pytest -q -x`")),
        ("deploy.sh", "#!/bin/sh\ndeploy() {\n  kubectl apply -f k8s/\n}\n",
         "#!/bin/sh\ndeploy() {\n  # force it\n  kubectl apply -f k8s/ --force\n}\n",
         ("line 4", "`deploy`", "kubectl apply -f k8s/ --force")),
    ],
)  # fmt: skip
def test_other_languages_are_read_by_their_blocks_too(
    path: str, old: str, new: str, parts: tuple[str, ...]
) -> None:
    found = lines(path, old, new)
    one(found, *parts)
    assert len(found) == 1, found  # the comment and the unchanged lines are not changes


def test_secrets_written_in_code_are_redacted_in_its_lines() -> None:
    new = 'X = 1\nDB_PASSWORD = "s3cr3t-Hunter22"\nAWS_KEY = "AKIAIOSFODNN7EXAMPLE"\n'
    found = lines("app/settings.py", "X = 1\n", new)
    assert len(found) == 2 and all("«redacted»" in line for line in found), found
    assert not any("Hunter22" in line or "AKIAIOSFODNN7EXAMPLE" in line for line in found)


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
      - name: app
        args: ["--workers", "2"]
"""
K8S = DEPLOYMENT.format(name="web") + "---\n" + DEPLOYMENT.format(name="worker")


def test_kubernetes_objects_of_one_file_are_blocks_of_their_own() -> None:
    new = K8S.replace('"2"]\n---', '"4"]\n---')
    found = lines("k8s/app.yaml", K8S, new)
    assert len(found) == 1, found
    assert "line 10" in one(found, "`Deployment/web spec.template.spec.containers[app]`", '"4"')


@pytest.mark.parametrize(
    ("permissions", "risky"), [("", False), ("permissions: write-all\n", True)]
)
def test_checkov_write_all_finding_is_a_risk_only_where_the_workflow_says_write_all(
    tmp_path: Path, permissions: str, risky: bool
) -> None:
    """checkov's CKV2_GHA_1 also fails a workflow with no `permissions` block (the repository's
    default applies); parsed from a report in checkov's JSON shape over a real file."""
    from podium.review.scanners import _checkov

    workflow = tmp_path / "after" / ".github/workflows/ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(f"name: ci\non: [push]\n{permissions}jobs: {{}}\n", encoding="utf-8")
    check = {"check_id": "CKV2_GHA_1", "check_name": "Ensure top-level permissions are not set "
             "to write-all", "file_abs_path": str(workflow), "file_line_range": [1, 4],
             "resource": "on(ci)"}  # fmt: skip
    report = json.dumps({"results": {"failed_checks": [check]}})
    [(side, finding)] = list(_checkov(report, {"after": tmp_path / "after"}))
    assert side == "after" and finding.path == ".github/workflows/ci.yml"
    assert bool(finding.risk) is risky
