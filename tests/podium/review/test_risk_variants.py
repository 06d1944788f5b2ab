"""Realistic variants of the risk classes of issue 25 that the rules used to miss (or flag
falsely), each pushed as a real git repository and summarised by the real structural review
(tests/podium/review/corpus.py builds and scores them; nothing is faked). The code is made up,
written for the general mechanism, never copied from a corpus case: a loosening must be a ⚠
line naming it, a tightening a ✓ line, and no other ⚠ may appear."""

from __future__ import annotations

from pathlib import Path

from tests.podium.review.corpus import Case, score, summarise_case


def _case(name: str, kind: str, path: str, old: str, new: str, facts, flags=()) -> Case:
    return Case(name, kind, {path: old}, {path: new}, list(facts), list(flags))


def _reviewed(case: Case, root: Path) -> str:
    summary = summarise_case(root, case)
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false ⚠ {result.false_flags}:\n{summary}"
    return summary


# ---- the kinds of miss held-out-3 showed, fixed for the kind --------------------------------

DOCKER_APT = """FROM debian:12-slim
RUN apt-get update && \\
    apt-get install -y --no-install-recommends \\
    # ca-certificates: TLS to the package mirror
    ca-certificates \\
    # unzip: the release archive
    unzip \\
    curl && \\
    rm -rf /var/lib/apt/lists/*
RUN set -eux; \\
    # fetch and verify the release
    curl -fsSLo /tmp/app.zip https://releases.example.org/app-1.2.zip && \\
    sha256sum -c /tmp/app.sha256 && \\
    unzip /tmp/app.zip -d /opt/app
"""


def test_dockerfile_comment_lines_inside_a_continued_run_are_not_command_words(
    tmp_path: Path,
) -> None:
    new = DOCKER_APT.replace("    # unzip: the release archive\n    unzip \\\n", "").replace(
        "    sha256sum -c /tmp/app.sha256 && \\\n", ""
    )
    case = _case(
        "docker-run-comments",
        "dockerfile",
        "Dockerfile",
        DOCKER_APT,
        new,
        [("RUN", "drops", "unzip", "line 2"), ("RUN", "drops", "sha256sum", "line 8")],
    )
    summary = _reviewed(case, tmp_path)
    assert "release archive" not in summary  # a comment is no dropped command word


SETTINGS_IF = """import os

DATABASE_URL = os.getenv("DATABASE_URL", "")
if not DATABASE_URL:
    DB_USER = os.environ["DB_USER"]
    DB_PASSWORD = os.environ["DB_PASSWORD"]
else:
    API_TOKEN = os.getenv("API_TOKEN")
"""


def test_fallback_secret_inside_a_module_level_if_is_flagged(tmp_path: Path) -> None:
    new = SETTINGS_IF.replace(
        'os.environ["DB_PASSWORD"]', 'os.getenv("DB_PASSWORD", "changeme")'
    ).replace('os.getenv("API_TOKEN")', 'os.getenv("API_TOKEN", "dev-token-123")')
    case = _case(
        "settings-if-fallback",
        "python",
        "app/settings.py",
        SETTINGS_IF,
        new,
        [("DB_PASSWORD", "line 6"), ("API_TOKEN", "line 8")],
        flags=["DB_PASSWORD", "API_TOKEN"],
    )
    summary = _reviewed(case, tmp_path)
    assert "changeme" not in summary and "dev-token-123" not in summary


GH_JOB = """name: docs
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: {timeout}
    env:
      REQUEST_TIMEOUT: "{request}"
    steps:
      - uses: actions/checkout@v4
      - run: make docs
"""


def test_ci_job_timeout_is_a_fact_but_a_timeout_handed_to_code_is_judged(
    tmp_path: Path,
) -> None:
    case = _case(
        "gh-job-timeout",
        "github-actions",
        ".github/workflows/docs.yml",
        GH_JOB.format(timeout=10, request=5),
        GH_JOB.format(timeout=25, request=60),
        [("timeout-minutes", "10", "25", "line 6"), ("REQUEST_TIMEOUT", "5", "60")],
        flags=["REQUEST_TIMEOUT"],
    )
    _reviewed(case, tmp_path)


SAM = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
{globals}Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
{timeout}"""


def test_lambda_timeout_set_where_none_was_is_judged_against_its_3s_default(
    tmp_path: Path,
) -> None:
    raised = _case(
        "sam-globals-timeout",
        "cloudformation",
        "template.yaml",
        SAM.format(globals="", timeout=""),
        SAM.format(globals="Globals:\n  Function:\n    Timeout: 900\n", timeout=""),
        [("Timeout", "900", "line 5")],
        flags=["Timeout"],
    )
    _reviewed(raised, tmp_path / "raised")
    lowered = _case(
        "sam-function-timeout-lowered",
        "cloudformation",
        "template.yaml",
        SAM.format(globals="", timeout=""),
        SAM.format(globals="", timeout="      Timeout: 2\n"),
        [("tightens", "Timeout", "2", "line 9")],
    )
    _reviewed(lowered, tmp_path / "lowered")
    # a function added with its own timeout is its first value, not a raise
    added = _case(
        "sam-new-function-timeout",
        "cloudformation",
        "template.yaml",
        SAM.format(globals="", timeout=""),
        SAM.format(globals="", timeout="")
        + "  Reports:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Handler: reports.handler\n      Timeout: 60\n",
        [("Reports", "Timeout", "60")],
    )
    _reviewed(added, tmp_path / "added")


HELM_ROLE = """{{- if .Values.rbac.create }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "app.fullname" . }}-reader
  labels:
{{ include "app.labels" . | indent 4 }}
rules:
  - apiGroups:
      - ""
    resources:
      - configmaps
    verbs:
      - get
      - list
{extra}{{- end }}
"""


def test_helm_template_with_inline_expressions_is_read_as_rbac(tmp_path: Path) -> None:
    extra = (
        '  - apiGroups:\n      - ""\n    resources:\n      - secrets\n'
        '    verbs:\n      - get\n      - {{ .Values.rbac.verb | default "watch" }}\n'
    )
    case = _case(
        "helm-rbac-inline",
        "helm",
        "chart/templates/clusterrole.yaml",
        HELM_ROLE.replace("{extra}", ""),
        HELM_ROLE.replace("{extra}", extra),
        [("secrets", "get", "line 19")],
        flags=["secrets"],
    )
    _reviewed(case, tmp_path)


TOKENS = """class Token:
    def verify(self):
        self.check_exp()
        self.verify_audience()
        return True

    def check_exp(self):
        pass

    def verify_audience(self):
        pass
"""


def test_check_call_moved_under_a_new_condition_is_flagged(tmp_path: Path) -> None:
    guarded = TOKENS.replace(
        "        self.verify_audience()\n",
        "        if settings.AUDIENCE:\n            self.verify_audience()\n",
    )
    case = _case(
        "check-under-new-if",
        "python",
        "auth/tokens.py",
        TOKENS,
        guarded,
        [("verify_audience", "settings.AUDIENCE", "line 5")],
        flags=["verify_audience"],
    )
    _reviewed(case, tmp_path / "guarded")
    freed = _case(
        "check-no-longer-under-if",
        "python",
        "auth/tokens.py",
        guarded,
        TOKENS,
        [("tightens", "verify_audience", "line 4")],
    )
    _reviewed(freed, tmp_path / "freed")


VIEWS = """from braces.views import CsrfExemptMixin
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views import View


class HookView(CsrfExemptMixin, View):
    def post(self, request):
        return handle(request)


class ReportView(LoginRequiredMixin, View):
    def get(self, request):
        return render_report(request)
"""


def test_view_mixins_are_read_and_an_exemption_moved_to_a_decorator_is_no_risk(
    tmp_path: Path,
) -> None:
    moved = VIEWS.replace("class HookView(CsrfExemptMixin, View):\n", (
        "class HookView(View):\n    @method_decorator(csrf_exempt)\n"
        "    def dispatch(self, *args, **kwargs):\n"
        "        return super().dispatch(*args, **kwargs)\n\n"
    ))  # fmt: skip
    case = _case(
        "csrf-mixin-to-decorator",
        "django",
        "hooks/views.py",
        VIEWS,
        moved,
        [("csrf_exempt", "dispatch", "moved"), ("HookView", "CsrfExemptMixin")],
    )
    _reviewed(case, tmp_path / "moved")
    unguarded = VIEWS.replace("class ReportView(LoginRequiredMixin, View):", (
        "class ReportView(View):"
    ))  # fmt: skip
    case = _case(
        "login-mixin-removed",
        "django",
        "hooks/views.py",
        VIEWS,
        unguarded,
        [("ReportView", "LoginRequiredMixin")],
        flags=["LoginRequiredMixin"],
    )
    _reviewed(case, tmp_path / "unguarded")


CDK_TS = """import * as iam from 'aws-cdk-lib/aws-iam';

export class Worker extends Construct {
  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id);
    const buckets: string[] = props.buckets;
    const role = new iam.Role(this, 'WorkerRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    role.addToPolicy(new iam.PolicyStatement({
      actions: [
        's3:GetObject',
      ],
      resources: buckets.map((b) => `${b}/*`),
    }));
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['sqs:ReceiveMessage'],
      resources,
    }));
  }
}
"""


def test_cdk_typescript_shorthand_properties_and_multiline_lists_are_read(
    tmp_path: Path,
) -> None:
    new = CDK_TS.replace("        's3:GetObject',\n", "        's3:GetObject',\n        's3:*',\n")
    new = new.replace("      resources,\n", "      resources: props.debug ? ['*'] : resources,\n")
    case = _case(
        "cdk-ts-shorthand",
        "cdk-typescript",
        "lib/worker.ts",
        CDK_TS,
        new,
        [("actions", "s3:*", "line 11"), ("resources", "*", "line 19")],
        flags=["s3:*", "resources"],
    )
    _reviewed(case, tmp_path)


def test_cdk_typescript_setting_is_owned_by_its_statement_not_the_last_construct(
    tmp_path: Path,
) -> None:
    new = CDK_TS.replace("      actions: ['sqs:ReceiveMessage'],\n", (
        "      actions: ['sqs:ReceiveMessage'],\n      effect: iam.Effect.DENY,\n"
    ))  # fmt: skip
    case = _case(
        "cdk-ts-owner",
        "cdk-typescript",
        "lib/worker.ts",
        CDK_TS,
        new,
        [("role.addToPolicy/iam.PolicyStatement#2", "effect", "DENY", "line 18")],
    )
    _reviewed(case, tmp_path)


# ---- variants of the risk classes the rules used to miss ----------------------------

VIEW = """from flask import abort
from app import limiter


@limiter.limit("5/minute")
def login(request):
    return authenticate(request)


def export(request):
    if not request.user.is_staff:
        return HttpResponseForbidden()
    check_quota(request)
    return build_export(request)


def delete(item_id):
    if not current_user.is_admin:
        abort(403)
    return remove(item_id)


class CanEdit(BasePermission):
    def has_permission(self, request, view):
        return request.user.is_staff
"""


def test_refusals_removed_and_rate_limit_raised_in_code_are_flagged(tmp_path: Path) -> None:
    new = (
        VIEW.replace('"5/minute"', '"500/minute"')
        .replace("    if not request.user.is_staff:\n        return HttpResponseForbidden()\n", "")
        .replace("    if not current_user.is_admin:\n        abort(403)\n", "")
        .replace("        return request.user.is_staff\n", "        return True\n")
    )
    case = _case(
        "code-refusals-removed",
        "python",
        "app/views.py",
        VIEW,
        new,
        [
            ("limiter.limit", "5/minute", "500/minute", "line 5"),
            ("request.user.is_staff", "removed", "export"),
            ("current_user.is_admin", "removed", "delete"),
            ("has_permission", "True", "line 21"),
        ],
        flags=["rate limit raised", "is_staff:", "is_admin", "has_permission"],
    )
    _reviewed(case, tmp_path / "loosened")
    back = _case(
        "code-refusals-added",
        "python",
        "app/views.py",
        new,
        VIEW,
        [("tightens", "500/minute", "5/minute"), ("tightens", "is_staff", "line 11")],
    )
    _reviewed(back, tmp_path / "tightened")


def test_a_validator_losing_return_false_is_no_access_check(tmp_path: Path) -> None:
    old = (
        "def valid_slug(slug):\n    if not slug:\n        return False\n    return slug.isalnum()\n"
    )
    new = "def valid_slug(slug):\n    return slug.isalnum()\n"
    case = _case("validator-branch", "python", "app/util.py", old, new, [("if not slug:",)])
    _reviewed(case, tmp_path)


def test_early_return_before_a_check_and_unlimited_retries_are_flagged(tmp_path: Path) -> None:
    old = (
        "@app.task(bind=True, max_retries=3)\ndef sync(self, url):\n    return pull(url)\n\n\n"
        "@retry(stop=stop_after_attempt(5), wait=wait_fixed(2))\ndef pull(url):\n"
        "    return http.get(url)\n\n\n"
        "def hook(request):\n    verify_signature(request)\n    return accept(request)\n"
    )
    new = (
        old.replace("max_retries=3", "max_retries=None")
        .replace("stop=stop_after_attempt(5), ", "")
        .replace(
            "    verify_signature(request)\n",
            "    if request.headers.get('X-Replay'):\n        return accept(request)\n"
            "    verify_signature(request)\n",
        )
    )
    case = _case(
        "early-return-retries",
        "python",
        "app/tasks.py",
        old,
        new,
        [
            ("max_retries", "None", "line 1"),
            ("stop", "stop_after_attempt(5)"),
            ("early", "verify_signature", "line 13"),
        ],  # fmt: skip
        flags=["max_retries", "retry cap removed", "verify_signature"],
    )
    _reviewed(case, tmp_path)


SETTINGS = """DEBUG = False
ALLOWED_HOSTS = ["api.example.org"]
SESSION_COOKIE_SECURE = True
ACCESS_TOKEN_EXPIRE_MINUTES = 15
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
REST_FRAMEWORK = {
    "DEFAULT_THROTTLE_RATES": {
        "anon": "20/hour",
        "user": "1000/day",
    },
}
"""


def test_web_framework_settings_that_open_an_app_are_flagged(tmp_path: Path) -> None:
    new = (
        SETTINGS.replace("DEBUG = False", "DEBUG = True")
        .replace('["api.example.org"]', '["*"]')
        .replace("SESSION_COOKIE_SECURE = True", "SESSION_COOKIE_SECURE = False")
        .replace("= 15", "= 60 * 24 * 30")
        .replace("10 * 1024", "500 * 1024")
        .replace('    "django.middleware.csrf.CsrfViewMiddleware",\n', "")
        .replace('"20/hour"', '"2000/hour"')
    )
    case = _case(
        "web-settings-open",
        "python",
        "app/settings.py",
        SETTINGS,
        new,
        [
            ("DEBUG", "True", "line 1"),
            ("ALLOWED_HOSTS", "*"),
            ("SESSION_COOKIE_SECURE", "False"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "60 * 24 * 30"),
            ("MAX_UPLOAD_BYTES", "500"),
            ("MIDDLEWARE", "CsrfViewMiddleware"),
            ("anon", "2000/hour", "line 12"),
        ],  # fmt: skip
        flags=[
            "DEBUG",
            "ALLOWED_HOSTS",
            "SESSION_COOKIE_SECURE",
            "ACCESS_TOKEN_EXPIRE_MINUTES",
            "MAX_UPLOAD_BYTES",
            "CsrfViewMiddleware",
            "anon",
        ],  # fmt: skip
    )
    _reviewed(case, tmp_path / "opened")
    # the same settings the other way are ticks, and a neutral rate change is no flag
    back = _case("web-settings-closed", "python", "app/settings.py", new, SETTINGS,
                 [("tightens", "DEBUG"), ("tightens", "CsrfViewMiddleware"),
                  ("tightens", "anon", "20/hour")])  # fmt: skip
    _reviewed(back, tmp_path / "closed")


CLIENT = """import jwt
import paramiko
import ssl


def decode(token, key):
    return jwt.decode(token, key, algorithms=["RS256"])


def connect(host):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    context = ssl.create_default_context()
    return client, context
"""


def test_protections_switched_off_in_code_are_flagged(tmp_path: Path) -> None:
    new = (
        CLIENT.replace(
            'algorithms=["RS256"]', 'algorithms=["RS256"], options={"verify_exp": False}'
        )
        .replace("RejectPolicy()", "AutoAddPolicy()")
        .replace("ssl.create_default_context()", "ssl._create_unverified_context()")
    )
    case = _case(
        "code-protections-off",
        "python",
        "app/clients.py",
        CLIENT,
        new,
        [
            ("verify_exp", "line 7"),
            ("AutoAddPolicy", "line 12"),
            ("_create_unverified_context", "line 13"),
        ],  # fmt: skip
        flags=["verify_exp", "AutoAddPolicy", "_create_unverified_context"],
    )
    _reviewed(case, tmp_path / "off")
    back = _case("code-protections-on", "python", "app/clients.py", new, CLIENT,
                 [("tightens", "AutoAddPolicy")])  # fmt: skip
    _reviewed(back, tmp_path / "on")


TF = """resource "aws_security_group_rule" "https" {
  type              = "ingress"
  from_port         = 443
  to_port           = 443
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.web.id
}

resource "aws_cloudtrail" "main" {
  name                       = "main"
  enable_logging             = true
  enable_log_file_validation = true
}

resource "aws_lb" "web" {
  name = "web"
  access_logs {
    bucket  = "lb-logs"
    enabled = true
  }
}

resource "aws_flow_log" "vpc" {
  vpc_id       = aws_vpc.main.id
  traffic_type = "ALL"
}
"""


def test_terraform_port_ranges_logging_and_guard_resources(tmp_path: Path) -> None:
    new = (
        TF.replace("from_port         = 443", "from_port         = 0")
        .replace("to_port           = 443", "to_port           = 65535")
        .replace("enable_logging             = true", "enable_logging             = false")
        .replace('  access_logs {\n    bucket  = "lb-logs"\n    enabled = true\n  }\n', "")
        .split('resource "aws_flow_log"')[0]
    )
    case = _case(
        "tf-ports-logging",
        "terraform",
        "main.tf",
        TF,
        new,
        [
            ("from_port", "443", "0", "line 3"),
            ("enable_logging", "false", "line 12"),
            ("access_logs", "bucket", "lb-logs"),
            ("aws_flow_log", "removed"),
        ],  # fmt: skip
        flags=["port range widened", "enable_logging", "lb-logs", "aws_flow_log"],
    )
    _reviewed(case, tmp_path / "loosened")
    # a port moved (443 → 8443) is neither wider nor narrower; logging turned on is a tick
    moved = TF.replace("= 443", "= 8443").replace(
        "enable_logging             = true", "enable_logging             = true"
    )
    case = _case("tf-port-moved", "terraform", "main.tf", TF, moved, [("from_port", "8443")])
    _reviewed(case, tmp_path / "moved")
    back = _case("tf-logging-on", "terraform", "main.tf", new, TF,
                 [("tightens", "enable_logging", "true")])  # fmt: skip
    _reviewed(back, tmp_path / "back")


K8S = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
spec:
  template:
    spec:
      containers:
        - name: agent
          image: agent:1.4
          securityContext:
            capabilities:
              drop: [ALL]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: agent
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
  - kind: ServiceAccount
    name: agent
    namespace: ops
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""


def test_kubernetes_capabilities_host_paths_broad_bindings_and_policies(
    tmp_path: Path,
) -> None:
    new = (
        K8S.replace(
            "              drop: [ALL]\n",
            "              add: [SYS_ADMIN]\n"
            "          volumeMounts:\n            - name: sock\n"
            "              mountPath: /var/run/docker.sock\n"
            "      volumes:\n        - name: sock\n          hostPath:\n"
            "            path: /var/run/docker.sock\n",
        )
        .replace("  name: view", "  name: cluster-admin")
        .split("---\napiVersion: networking.k8s.io/v1")[0]
    )
    case = _case(
        "k8s-escalation",
        "kubernetes",
        "deploy/agent.yaml",
        K8S,
        new,
        [
            ("capabilities", "SYS_ADMIN"),
            ("hostPath", "/var/run/docker.sock", "line 20"),
            ("roleRef", "cluster-admin"),
            ("NetworkPolicy", "removed"),
        ],  # fmt: skip
        flags=[
            "SYS_ADMIN",
            "fewer capabilities dropped",
            "hostPath",
            "cluster-admin",
            "NetworkPolicy",
        ],  # fmt: skip
    )
    _reviewed(case, tmp_path / "loosened")
    back = _case("k8s-narrowed", "kubernetes", "deploy/agent.yaml", new, K8S,
                 [("tightens", "roleRef", "view"), ("tightens", "hostPath")])  # fmt: skip
    _reviewed(back, tmp_path / "back")


DOCKER = """FROM node:22-slim
WORKDIR /app
COPY . .
RUN curl -fsSL https://deb.example.org/key.gpg -o /etc/apt/keyrings/x.gpg && \\
    apt-get update && apt-get install -y --no-install-recommends git
RUN npm ci
EXPOSE 3000
USER node
"""


def test_dockerfile_switches_secrets_and_admin_ports(tmp_path: Path) -> None:
    new = (
        DOCKER.replace("curl -fsSL", "curl -fsSLk")
        .replace(
            "--no-install-recommends git", "--no-install-recommends --allow-unauthenticated git"
        )
        .replace(
            "RUN npm ci\n",
            "ARG NPM_TOKEN\nENV NPM_TOKEN=$NPM_TOKEN\nRUN npm ci && chmod -R 777 /app\n",
        )
        .replace("EXPOSE 3000", "EXPOSE 3000 22")
    )
    case = _case(
        "docker-switches",
        "dockerfile",
        "Dockerfile",
        DOCKER,
        new,
        [
            ("curl -fsSLk", "line 4"),
            ("--allow-unauthenticated", "line 4"),
            ("ENV NPM_TOKEN", "$NPM_TOKEN", "line 7"),
            ("chmod -R 777", "line 8"),
            ("EXPOSE", "22", "line 9"),
        ],  # fmt: skip
        flags=["curl -fsSLk", "--allow-unauthenticated", "NPM_TOKEN", "777", "EXPOSE"],
    )
    _reviewed(case, tmp_path)


WORKFLOW = """name: pr
on:
  pull_request_target:
permissions:
  contents: read
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ./label.sh
  deploy:
    uses: org/infra/.github/workflows/deploy.yml@v3
"""


def test_workflow_permissions_head_checkout_injection_and_inherited_secrets(
    tmp_path: Path,
) -> None:
    new = (
        WORKFLOW.replace("permissions:\n  contents: read\n", "")
        .replace(
            "      - uses: actions/checkout@v4\n",
            "      - uses: actions/checkout@v4\n        with:\n"
            "          ref: ${{ github.event.pull_request.head.sha }}\n",
        )
        .replace("./label.sh", './label.sh "${{ github.event.pull_request.title }}"')
        + "    secrets: inherit\n"
    )
    case = _case(
        "gh-pr-target-risks",
        "github-actions",
        ".github/workflows/pr.yml",
        WORKFLOW,
        new,
        [
            ("permissions", "block removed"),
            ("pull_request.head.sha", "line 10"),
            ("run", "pull_request.title", "line 11"),
            ("secrets", "inherit", "line 14"),
        ],  # fmt: skip
        flags=["permissions", "head.sha", "pull_request.title", "inherit"],
    )
    _reviewed(case, tmp_path / "loosened")
    # `permissions: {}` (no permission at all) is no block removed
    none = WORKFLOW.replace("permissions:\n  contents: read\n", "permissions: {}\n")
    case = _case("gh-permissions-none", "github-actions", ".github/workflows/pr.yml", WORKFLOW,
                 none, [("permissions", "contents")])  # fmt: skip
    _reviewed(case, tmp_path / "none")


HELM_VALUES = """traefik:
  tls:
    insecureSkipVerify: false
serviceAccount:
  create: true
  automount: false
"""


def test_helm_values_that_skip_tls_or_mount_tokens_are_flagged(tmp_path: Path) -> None:
    new = HELM_VALUES.replace("insecureSkipVerify: false", "insecureSkipVerify: true").replace(
        "automount: false", "automount: true"
    )
    case = _case(
        "helm-values-insecure",
        "helm",
        "chart/values.yaml",
        HELM_VALUES,
        new,
        [("insecureSkipVerify", "true", "line 3"), ("automount", "true", "line 6")],
        flags=["insecureSkipVerify", "automount"],
    )
    _reviewed(case, tmp_path)


CDK_STACK = """import * as cdk from 'aws-cdk-lib';

export class Site extends Stack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const sg = new ec2.SecurityGroup(this, 'Sg', { vpc, allowAllOutbound: false });
    const fn = new lambda.Function(this, 'Fn', {
      runtime: lambda.Runtime.NODEJS_20_X,
      handler: 'index.handler',
    });
    fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    bucket.grantRead(fn);
  }
}
"""


def test_cdk_typescript_inline_objects_and_calls_that_open_access(tmp_path: Path) -> None:
    new = (
        CDK_STACK.replace("AWS_IAM", "NONE")
        .replace("allowAllOutbound: false", "allowAllOutbound: true")
        .replace(
            "    bucket.grantRead(fn);\n",
            "    bucket.grantRead(fn);\n    bucket.grantPublicAccess();\n"
            "    sg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));\n",
        )
    )
    case = _case(
        "cdk-ts-inline",
        "cdk-typescript",
        "lib/site.ts",
        CDK_STACK,
        new,
        [
            ("authType", "NONE", "line 11"),
            ("allowAllOutbound", "true", "line 6"),
            ("grantPublicAccess", "line 13"),
            ("Peer.anyIpv4()", "line 14"),
        ],  # fmt: skip
        flags=["authType", "grantPublicAccess", "anyIpv4"],
    )
    _reviewed(case, tmp_path)


def test_refactors_and_neutral_changes_raise_no_flag(tmp_path: Path) -> None:
    """Changes that look like the risk classes but loosen nothing: a debug switch read from
    the environment, a NetworkPolicy renamed, a refusing condition replaced by another, a
    check moved into a helper, a port moved, a permissions block moved into its job, a rate
    unchanged in substance."""
    base = {
        "app/settings.py": 'DEBUG = False\nREST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": '
        '{"anon": "60/minute"}}\n',
        "app/views.py": (
            "def export(request):\n    if not request.user.is_staff:\n"
            "        raise PermissionDenied\n    return build(request)\n\n\n"
            "def delete(request):\n    if not request.user.has_perm('x.delete'):\n"
            "        raise PermissionDenied\n    return remove(request)\n"
        ),
        "deploy/netpol.yaml": (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny\n"
            "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
        ),
        "deploy/cron.yaml": (
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: sweep\nspec:\n"
            "  failedJobsHistoryLimit: 1\n  schedule: '0 * * * *'\n"
        ),
        "app/logs.py": "ACCESS_LOG_RETENTION_DAYS = 7\n",
        ".github/workflows/ci.yml": (
            "on: [push]\npermissions:\n  contents: read\njobs:\n  test:\n"
            "    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"
        ),
    }
    change = {
        "app/settings.py": 'import environ\nenv = environ.Env()\nDEBUG = env.bool("DEBUG", '
        'default=False)\nREST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"anon": "1/second"}}\n',
        "app/views.py": (
            "def export(request):\n    if not request.user.is_superuser:\n"
            "        raise PermissionDenied\n    return build(request)\n\n\n"
            "def delete(request):\n    require_delete(request)\n    return remove(request)\n\n\n"
            "def require_delete(request):\n    if not request.user.has_perm('x.delete'):\n"
            "        raise PermissionDenied\n"
        ),
        "deploy/netpol.yaml": base["deploy/netpol.yaml"].replace(
            "name: deny", "name: default-deny"
        ),
        "deploy/cron.yaml": base["deploy/cron.yaml"].replace("Limit: 1", "Limit: 5"),
        "app/logs.py": "ACCESS_LOG_RETENTION_DAYS = 90\n",
        ".github/workflows/ci.yml": (
            "on: [push]\njobs:\n  test:\n    permissions:\n      contents: read\n"
            "    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"
        ),
    }
    case = Case(
        "benign-lookalikes",
        "python",
        base,
        dict(change),
        [
            ("DEBUG", "env.bool"),
            ("is_staff", "is_superuser"),
            ("anon", "1/second"),
            ("failedJobsHistoryLimit", "5"),
            ("ACCESS_LOG_RETENTION_DAYS", "90"),
        ],  # fmt: skip
    )
    _reviewed(case, tmp_path)


AUTH_VIEWS = """from typing import Annotated

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import user_passes_test
from fastapi import Depends


@router.get("/me")
def me(
    user: Annotated[User, Depends(get_current_user)],
    db: Annotated[Session, Depends(get_db)],
):
    return profile(db, user)


@staff_member_required
def stats(request):
    return render_stats(request)


@user_passes_test(lambda u: u.is_superuser)
def purge(request):
    return do_purge(request)
"""

AUTH_SETTINGS = """WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
AXES_FAILURE_LIMIT = 5
PASSWORD_MIN_LENGTH = 12
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
"""


def test_auth_dependencies_decorators_and_login_settings_are_read(tmp_path: Path) -> None:
    views = (
        AUTH_VIEWS.replace("    user: Annotated[User, Depends(get_current_user)],\n", "")
        .replace("profile(db, user)", "profile(db, None)")
        .replace("@staff_member_required\n", "")
        .replace("@user_passes_test(lambda u: u.is_superuser)\n", "")
    )
    settings = (
        AUTH_SETTINGS.replace("= True", "= False")
        .replace('"Lax"', '"None"')
        .replace('"DENY"', '"ALLOWALL"')
        .replace("= 5", "= 100")
        .replace("= 12", "= 6")
        .replace("Argon2PasswordHasher", "MD5PasswordHasher")
    )
    case = Case(
        "auth-variants",
        "python",
        {"app/views.py": AUTH_VIEWS, "app/settings.py": AUTH_SETTINGS},
        {"app/views.py": views, "app/settings.py": settings},
        [
            ("Depends(get_current_user)", "me"),
            ("staff_member_required", "stats"),
            ("user_passes_test", "purge"),
            ("WTF_CSRF_ENABLED", "line 1"),
            ("SESSION_COOKIE_SAMESITE", "None"),
            ("X_FRAME_OPTIONS", "ALLOWALL"),
            ("AXES_FAILURE_LIMIT", "100"),
            ("PASSWORD_MIN_LENGTH", "6"),
            ("PASSWORD_HASHERS", "MD5PasswordHasher"),
        ],  # fmt: skip
        [
            "get_current_user",
            "staff_member_required",
            "user_passes_test",
            "WTF_CSRF_ENABLED",
            "SAMESITE",
            "X_FRAME_OPTIONS",
            "AXES_FAILURE_LIMIT",
            "PASSWORD_MIN_LENGTH",
            "MD5PasswordHasher",
        ],  # fmt: skip
    )
    _reviewed(case, tmp_path / "loosened")
    back = Case(
        "auth-variants-back",
        "python",
        {"app/settings.py": settings},
        {"app/settings.py": AUTH_SETTINGS},
        [
            ("tightens", "WTF_CSRF_ENABLED"),
            ("tightens", "AXES_FAILURE_LIMIT"),
            ("tightens", "PASSWORD_MIN_LENGTH"),
        ],  # fmt: skip
    )
    _reviewed(back, tmp_path / "back")


CLOUD = """resource "aws_elasticache_replication_group" "cache" {
  transit_encryption_enabled = true
}

resource "aws_eks_cluster" "main" {
  vpc_config {
    endpoint_public_access = false
  }
}

resource "aws_lb_listener" "web" {
  port     = 443
  protocol = "HTTPS"
}

resource "azurerm_storage_account" "files" {
  min_tls_version = "TLS1_2"
}

resource "google_storage_bucket_iam_member" "reports" {
  member = "group:analysts@example.org"
}
"""

USER_POOL = """Resources:
  Users:
    Type: AWS::Cognito::UserPool
    Properties:
      MfaConfiguration: 'ON'
      Policies:
        PasswordPolicy:
          MinimumLength: 12
          RequireSymbols: true
  Method:
    Type: AWS::ApiGateway::Method
    Properties:
      ApiKeyRequired: true
"""

INGRESS = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: admin
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8
spec:
  rules: []
"""


def test_cloud_switches_that_open_or_weaken_a_service(tmp_path: Path) -> None:
    cloud = (
        CLOUD.replace("transit_encryption_enabled = true", "transit_encryption_enabled = false")
        .replace("endpoint_public_access = false", "endpoint_public_access = true")
        .replace('protocol = "HTTPS"', 'protocol = "HTTP"')
        .replace('"TLS1_2"', '"TLS1_0"')
        .replace("group:analysts@example.org", "allUsers")
    )
    pool = (
        USER_POOL.replace("'ON'", "'OFF'")
        .replace("MinimumLength: 12", "MinimumLength: 6")
        .replace("RequireSymbols: true", "RequireSymbols: false")
        .replace("ApiKeyRequired: true", "ApiKeyRequired: false")
    )
    ingress = INGRESS.replace(
        "    nginx.ingress.kubernetes.io/auth-type: basic\n"
        "    nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8\n",
        "    kubernetes.io/ingress.class: nginx\n",
    )
    case = Case(
        "cloud-switches",
        "terraform",
        {"main.tf": CLOUD, "template.yaml": USER_POOL, "k8s/admin.yaml": INGRESS},
        {"main.tf": cloud, "template.yaml": pool, "k8s/admin.yaml": ingress},
        [
            ("transit_encryption_enabled", "false", "line 2"),
            ("endpoint_public_access", "true", "line 7"),
            ("protocol", "HTTP", "line 13"),
            ("min_tls_version", "TLS1_0"),
            ("member", "allUsers"),
            ("MfaConfiguration", "OFF"),
            ("MinimumLength", "6"),
            ("RequireSymbols", "false"),
            ("ApiKeyRequired", "false"),
            ("auth-type", "removed"),
            ("whitelist-source-range", "removed"),
        ],  # fmt: skip
        [
            "transit_encryption_enabled",
            "endpoint_public_access",
            "plain HTTP",
            "min_tls_version",
            "allUsers",
            "MfaConfiguration",
            "MinimumLength",
            "RequireSymbols",
            "ApiKeyRequired",
            "auth-type",
            "whitelist-source-range",
        ],  # fmt: skip
    )
    _reviewed(case, tmp_path / "loosened")
    back = Case(
        "cloud-switches-back",
        "terraform",
        {"main.tf": cloud, "template.yaml": pool},
        {"main.tf": CLOUD, "template.yaml": USER_POOL},
        [
            ("tightens", "transit_encryption_enabled"),
            ("tightens", "min_tls_version"),
            ("tightens", "MfaConfiguration"),
            ("tightens", "RequireSymbols"),
        ],  # fmt: skip
    )
    _reviewed(back, tmp_path / "back")
