"""Realistic variants of the risk classes of issue 25 that the rules used to miss (or flag
falsely), each pushed as a real git repository and summarised by the real structural review
(tests/podium/review/corpus.py builds and scores them; nothing is faked). The code is made up,
written for the general mechanism, never copied from a corpus case: a loosening must be a ⚠
line naming it, a tightening a ✓ line, and no other ⚠ may appear.

Each variant is one row of a table (`VARIANTS`): its case (the file before and after, the facts
the summary must name, the loosenings it must flag) and any text the summary must not show.
Most loosenings come back as a second row, the change undone, whose facts are the ticks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.podium.review.corpus import Case, score, summarise_case


def _case(
    name: str,
    kind: str,
    path: str,
    old: str,
    new: str,
    facts: Iterable[tuple[str, ...]],
    flags: Iterable[str] = (),
    absent: Sequence[str] = (),
) -> Any:
    """One change to one file as a row of `VARIANTS`."""
    return _files(name, kind, {path: old}, {path: new}, facts, flags, absent)


def _files(
    name: str,
    kind: str,
    base: dict[str, str],
    change: dict[str, str],
    facts: Iterable[tuple[str, ...]],
    flags: Iterable[str] = (),
    absent: Sequence[str] = (),
) -> Any:
    """A change to several files as a row of `VARIANTS`; `absent`: text the summary must not
    show (a secret's value, a comment taken for a command)."""
    case = Case(name, kind, base, dict(change), list(facts), list(flags))
    return pytest.param(case, tuple(absent), id=name)


def _edited(text: str, *edits: tuple[str, str]) -> str:
    """`text` with each (old, new) edit made in turn; an edit that finds nothing to replace
    fails, so a variant can not silently stop changing what it names."""
    for old, new in edits:
        assert old in text, f"{old!r} is not in the text"
        text = text.replace(old, new)
    return text


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

# the comment lines are dropped too: no command word of theirs may be reported
DOCKER_APT_TRIMMED = _edited(
    DOCKER_APT,
    ("    # unzip: the release archive\n    unzip \\\n", ""),
    ("    sha256sum -c /tmp/app.sha256 && \\\n", ""),
)


SETTINGS_IF = """import os

DATABASE_URL = os.getenv("DATABASE_URL", "")
if not DATABASE_URL:
    DB_USER = os.environ["DB_USER"]
    DB_PASSWORD = os.environ["DB_PASSWORD"]
else:
    API_TOKEN = os.getenv("API_TOKEN")
"""

SETTINGS_IF_FALLBACK = _edited(
    SETTINGS_IF,
    ('os.environ["DB_PASSWORD"]', 'os.getenv("DB_PASSWORD", "changeme")'),
    ('os.getenv("API_TOKEN")', 'os.getenv("API_TOKEN", "dev-token-123")'),
)


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

SAM = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
{globals}Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
{timeout}"""

SAM_BARE = SAM.format(globals="", timeout="")


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

HELM_SECRETS_RULE = (
    '  - apiGroups:\n      - ""\n    resources:\n      - secrets\n'
    '    verbs:\n      - get\n      - {{ .Values.rbac.verb | default "watch" }}\n'
)


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

TOKENS_GUARDED = TOKENS.replace(
    "        self.verify_audience()\n",
    "        if settings.AUDIENCE:\n            self.verify_audience()\n",
)


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

VIEWS_DECORATED = VIEWS.replace("class HookView(CsrfExemptMixin, View):\n", (
    "class HookView(View):\n    @method_decorator(csrf_exempt)\n"
    "    def dispatch(self, *args, **kwargs):\n"
    "        return super().dispatch(*args, **kwargs)\n\n"
))  # fmt: skip
VIEWS_UNGUARDED = VIEWS.replace("class ReportView(LoginRequiredMixin, View):", (
    "class ReportView(View):"
))  # fmt: skip


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

CDK_TS_WIDE = _edited(
    CDK_TS,
    ("        's3:GetObject',\n", "        's3:GetObject',\n        's3:*',\n"),
    ("      resources,\n", "      resources: props.debug ? ['*'] : resources,\n"),
)
CDK_TS_DENY = CDK_TS.replace("      actions: ['sqs:ReceiveMessage'],\n", (
    "      actions: ['sqs:ReceiveMessage'],\n      effect: iam.Effect.DENY,\n"
))  # fmt: skip


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

VIEW_OPEN = _edited(
    VIEW,
    ('"5/minute"', '"500/minute"'),
    ("    if not request.user.is_staff:\n        return HttpResponseForbidden()\n", ""),
    ("    if not current_user.is_admin:\n        abort(403)\n", ""),
    ("        return request.user.is_staff\n", "        return True\n"),
)

VALIDATOR = (
    "def valid_slug(slug):\n    if not slug:\n        return False\n    return slug.isalnum()\n"
)

TASKS = (
    "@app.task(bind=True, max_retries=3)\ndef sync(self, url):\n    return pull(url)\n\n\n"
    "@retry(stop=stop_after_attempt(5), wait=wait_fixed(2))\ndef pull(url):\n"
    "    return http.get(url)\n\n\n"
    "def hook(request):\n    verify_signature(request)\n    return accept(request)\n"
)
TASKS_LOOSE = _edited(
    TASKS,
    ("max_retries=3", "max_retries=None"),
    ("stop=stop_after_attempt(5), ", ""),
    (
        "    verify_signature(request)\n",
        "    if request.headers.get('X-Replay'):\n        return accept(request)\n"
        "    verify_signature(request)\n",
    ),
)


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

SETTINGS_OPEN = _edited(
    SETTINGS,
    ("DEBUG = False", "DEBUG = True"),
    ('["api.example.org"]', '["*"]'),
    ("SESSION_COOKIE_SECURE = True", "SESSION_COOKIE_SECURE = False"),
    ("= 15", "= 60 * 24 * 30"),
    ("10 * 1024", "500 * 1024"),
    ('    "django.middleware.csrf.CsrfViewMiddleware",\n', ""),
    ('"20/hour"', '"2000/hour"'),
)


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

CLIENT_OFF = _edited(
    CLIENT,
    ('algorithms=["RS256"]', 'algorithms=["RS256"], options={"verify_exp": False}'),
    ("RejectPolicy()", "AutoAddPolicy()"),
    ("ssl.create_default_context()", "ssl._create_unverified_context()"),
)


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

TF_LOOSE = _edited(
    TF,
    ("from_port         = 443", "from_port         = 0"),
    ("to_port           = 443", "to_port           = 65535"),
    ("enable_logging             = true", "enable_logging             = false"),
    ('  access_logs {\n    bucket  = "lb-logs"\n    enabled = true\n  }\n', ""),
).split('resource "aws_flow_log"')[0]
# a port moved (443 → 8443) is neither wider nor narrower
TF_MOVED = TF.replace("= 443", "= 8443")


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

K8S_ESCALATED = _edited(
    K8S,
    (
        "              drop: [ALL]\n",
        "              add: [SYS_ADMIN]\n"
        "          volumeMounts:\n            - name: sock\n"
        "              mountPath: /var/run/docker.sock\n"
        "      volumes:\n        - name: sock\n          hostPath:\n"
        "            path: /var/run/docker.sock\n",
    ),
    ("  name: view", "  name: cluster-admin"),
).split("---\napiVersion: networking.k8s.io/v1")[0]


DOCKER = """FROM node:22-slim
WORKDIR /app
COPY . .
RUN curl -fsSL https://deb.example.org/key.gpg -o /etc/apt/keyrings/x.gpg && \\
    apt-get update && apt-get install -y --no-install-recommends git
RUN npm ci
EXPOSE 3000
USER node
"""

DOCKER_LOOSE = _edited(
    DOCKER,
    ("curl -fsSL", "curl -fsSLk"),
    ("--no-install-recommends git", "--no-install-recommends --allow-unauthenticated git"),
    ("RUN npm ci\n", "ARG NPM_TOKEN\nENV NPM_TOKEN=$NPM_TOKEN\nRUN npm ci && chmod -R 777 /app\n"),
    ("EXPOSE 3000", "EXPOSE 3000 22"),
)


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

WORKFLOW_LOOSE = (
    _edited(
        WORKFLOW,
        ("permissions:\n  contents: read\n", ""),
        (
            "      - uses: actions/checkout@v4\n",
            "      - uses: actions/checkout@v4\n        with:\n"
            "          ref: ${{ github.event.pull_request.head.sha }}\n",
        ),
        ("./label.sh", './label.sh "${{ github.event.pull_request.title }}"'),
    )
    + "    secrets: inherit\n"
)
# `permissions: {}` (no permission at all) is no block removed
WORKFLOW_NO_PERMISSIONS = WORKFLOW.replace("permissions:\n  contents: read\n", "permissions: {}\n")


HELM_VALUES = """traefik:
  tls:
    insecureSkipVerify: false
serviceAccount:
  create: true
  automount: false
"""

HELM_VALUES_INSECURE = _edited(
    HELM_VALUES,
    ("insecureSkipVerify: false", "insecureSkipVerify: true"),
    ("automount: false", "automount: true"),
)


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

CDK_STACK_OPEN = _edited(
    CDK_STACK,
    ("AWS_IAM", "NONE"),
    ("allowAllOutbound: false", "allowAllOutbound: true"),
    (
        "    bucket.grantRead(fn);\n",
        "    bucket.grantRead(fn);\n    bucket.grantPublicAccess();\n"
        "    sg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));\n",
    ),
)


# ---- look-alikes that loosen nothing ----------------------------------------------------------

# a debug switch read from the environment, a NetworkPolicy renamed, a refusing condition
# replaced by another, a check moved into a helper, a port moved, a permissions block moved into
# its job, a rate unchanged in substance
BENIGN_BASE: dict[str, str] = {
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
BENIGN_CHANGE: dict[str, str] = {
    "app/settings.py": 'import environ\nenv = environ.Env()\nDEBUG = env.bool("DEBUG", '
    'default=False)\nREST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"anon": "1/second"}}\n',
    "app/views.py": (
        "def export(request):\n    if not request.user.is_superuser:\n"
        "        raise PermissionDenied\n    return build(request)\n\n\n"
        "def delete(request):\n    require_delete(request)\n    return remove(request)\n\n\n"
        "def require_delete(request):\n    if not request.user.has_perm('x.delete'):\n"
        "        raise PermissionDenied\n"
    ),
    "deploy/netpol.yaml": BENIGN_BASE["deploy/netpol.yaml"].replace(
        "name: deny", "name: default-deny"
    ),
    "deploy/cron.yaml": BENIGN_BASE["deploy/cron.yaml"].replace("Limit: 1", "Limit: 5"),
    "app/logs.py": "ACCESS_LOG_RETENTION_DAYS = 90\n",
    ".github/workflows/ci.yml": (
        "on: [push]\njobs:\n  test:\n    permissions:\n      contents: read\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"
    ),
}


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


AUTH_VIEWS_OPEN = _edited(
    AUTH_VIEWS,
    ("    user: Annotated[User, Depends(get_current_user)],\n", ""),
    ("profile(db, user)", "profile(db, None)"),
    ("@staff_member_required\n", ""),
    ("@user_passes_test(lambda u: u.is_superuser)\n", ""),
)
AUTH_SETTINGS_WEAK = _edited(
    AUTH_SETTINGS,
    ("= True", "= False"),
    ('"Lax"', '"None"'),
    ('"DENY"', '"ALLOWALL"'),
    ("= 5", "= 100"),
    ("= 12", "= 6"),
    ("Argon2PasswordHasher", "MD5PasswordHasher"),
)


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


CLOUD_OPEN = _edited(
    CLOUD,
    ("transit_encryption_enabled = true", "transit_encryption_enabled = false"),
    ("endpoint_public_access = false", "endpoint_public_access = true"),
    ('protocol = "HTTPS"', 'protocol = "HTTP"'),
    ('"TLS1_2"', '"TLS1_0"'),
    ("group:analysts@example.org", "allUsers"),
)
USER_POOL_WEAK = _edited(
    USER_POOL,
    ("'ON'", "'OFF'"),
    ("MinimumLength: 12", "MinimumLength: 6"),
    ("RequireSymbols: true", "RequireSymbols: false"),
    ("ApiKeyRequired: true", "ApiKeyRequired: false"),
)
INGRESS_OPEN = INGRESS.replace(
    "    nginx.ingress.kubernetes.io/auth-type: basic\n"
    "    nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8\n",
    "    kubernetes.io/ingress.class: nginx\n",
)


# ---- the table -------------------------------------------------------------------------------

# Rows are kept one argument group a line (not one argument a line): a row reads as its change,
# its facts, then its flags.
# fmt: off
VARIANTS = [
    # comment lines inside a continued RUN are not command words
    _case("docker-run-comments", "dockerfile", "Dockerfile", DOCKER_APT, DOCKER_APT_TRIMMED,
          [("RUN", "drops", "unzip", "line 2"), ("RUN", "drops", "sha256sum", "line 8")],
          absent=["release archive"]),
    # a fallback secret inside a module-level `if` is flagged, never shown
    _case("settings-if-fallback", "python", "app/settings.py", SETTINGS_IF, SETTINGS_IF_FALLBACK,
          [("DB_PASSWORD", "line 6"), ("API_TOKEN", "line 8")],
          flags=["DB_PASSWORD", "API_TOKEN"], absent=["changeme", "dev-token-123"]),
    # a CI job's timeout is a fact, a timeout handed to code is judged
    _case("gh-job-timeout", "github-actions", ".github/workflows/docs.yml",
          GH_JOB.format(timeout=10, request=5), GH_JOB.format(timeout=25, request=60),
          [("timeout-minutes", "10", "25", "line 6"), ("REQUEST_TIMEOUT", "5", "60")],
          flags=["REQUEST_TIMEOUT"]),
    # a Lambda timeout set where none was is judged against its 3 s default...
    _case("sam-globals-timeout", "cloudformation", "template.yaml", SAM_BARE,
          SAM.format(globals="Globals:\n  Function:\n    Timeout: 900\n", timeout=""),
          [("Timeout", "900", "line 5")], flags=["Timeout"]),
    _case("sam-function-timeout-lowered", "cloudformation", "template.yaml", SAM_BARE,
          SAM.format(globals="", timeout="      Timeout: 2\n"),
          [("tightens", "Timeout", "2", "line 9")]),
    # ...but a function added with its own timeout is its first value, not a raise
    _case("sam-new-function-timeout", "cloudformation", "template.yaml", SAM_BARE,
          SAM_BARE + "  Reports:\n    Type: AWS::Serverless::Function\n    Properties:\n"
          "      Handler: reports.handler\n      Timeout: 60\n",
          [("Reports", "Timeout", "60")]),
    # a Helm template with inline expressions is read as RBAC
    _case("helm-rbac-inline", "helm", "chart/templates/clusterrole.yaml",
          HELM_ROLE.replace("{extra}", ""), HELM_ROLE.replace("{extra}", HELM_SECRETS_RULE),
          [("secrets", "get", "line 19")], flags=["secrets"]),
    # a check call moved under a new condition is flagged, and freed again ticked
    _case("check-under-new-if", "python", "auth/tokens.py", TOKENS, TOKENS_GUARDED,
          [("verify_audience", "settings.AUDIENCE", "line 5")], flags=["verify_audience"]),
    _case("check-no-longer-under-if", "python", "auth/tokens.py", TOKENS_GUARDED, TOKENS,
          [("tightens", "verify_audience", "line 4")]),
    # view mixins are read: an exemption moved to a decorator is no risk, a login mixin removed is
    _case("csrf-mixin-to-decorator", "django", "hooks/views.py", VIEWS, VIEWS_DECORATED,
          [("csrf_exempt", "dispatch", "moved"), ("HookView", "CsrfExemptMixin")]),
    _case("login-mixin-removed", "django", "hooks/views.py", VIEWS, VIEWS_UNGUARDED,
          [("ReportView", "LoginRequiredMixin")], flags=["LoginRequiredMixin"]),
    # CDK TypeScript: shorthand properties and multi-line lists are read...
    _case("cdk-ts-shorthand", "cdk-typescript", "lib/worker.ts", CDK_TS, CDK_TS_WIDE,
          [("actions", "s3:*", "line 11"), ("resources", "*", "line 19")],
          flags=["s3:*", "resources"]),
    # ...and a setting is owned by its statement, not by the last construct
    _case("cdk-ts-owner", "cdk-typescript", "lib/worker.ts", CDK_TS, CDK_TS_DENY,
          [("role.addToPolicy/iam.PolicyStatement#2", "effect", "DENY", "line 18")]),
    # refusals removed and a rate limit raised in code are flagged; put back, ticked
    _case("code-refusals-removed", "python", "app/views.py", VIEW, VIEW_OPEN,
          [("limiter.limit", "5/minute", "500/minute", "line 5"),
           ("request.user.is_staff", "removed", "export"),
           ("current_user.is_admin", "removed", "delete"),
           ("has_permission", "True", "line 21")],
          flags=["rate limit raised", "is_staff:", "is_admin", "has_permission"]),
    _case("code-refusals-added", "python", "app/views.py", VIEW_OPEN, VIEW,
          [("tightens", "500/minute", "5/minute"), ("tightens", "is_staff", "line 11")]),
    # a validator losing its `return False` is no access check
    _case("validator-branch", "python", "app/util.py", VALIDATOR,
          "def valid_slug(slug):\n    return slug.isalnum()\n", [("if not slug:",)]),
    # an early return before a check, and unlimited retries, are flagged
    _case("early-return-retries", "python", "app/tasks.py", TASKS, TASKS_LOOSE,
          [("max_retries", "None", "line 1"), ("stop", "stop_after_attempt(5)"),
           ("early", "verify_signature", "line 13")],
          flags=["max_retries", "retry cap removed", "verify_signature"]),
    # web framework settings that open an app are flagged; the other way they are ticks, and a
    # neutral rate change is no flag
    _case("web-settings-open", "python", "app/settings.py", SETTINGS, SETTINGS_OPEN,
          [("DEBUG", "True", "line 1"), ("ALLOWED_HOSTS", "*"), ("SESSION_COOKIE_SECURE", "False"),
           ("ACCESS_TOKEN_EXPIRE_MINUTES", "60 * 24 * 30"), ("MAX_UPLOAD_BYTES", "500"),
           ("MIDDLEWARE", "CsrfViewMiddleware"), ("anon", "2000/hour", "line 12")],
          flags=["DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "ACCESS_TOKEN_EXPIRE_MINUTES",
                 "MAX_UPLOAD_BYTES", "CsrfViewMiddleware", "anon"]),
    _case("web-settings-closed", "python", "app/settings.py", SETTINGS_OPEN, SETTINGS,
          [("tightens", "DEBUG"), ("tightens", "CsrfViewMiddleware"),
           ("tightens", "anon", "20/hour")]),
    # protections switched off in code are flagged; one switched back on is ticked
    _case("code-protections-off", "python", "app/clients.py", CLIENT, CLIENT_OFF,
          [("verify_exp", "line 7"), ("AutoAddPolicy", "line 12"),
           ("_create_unverified_context", "line 13")],
          flags=["verify_exp", "AutoAddPolicy", "_create_unverified_context"]),
    _case("code-protections-on", "python", "app/clients.py", CLIENT_OFF, CLIENT,
          [("tightens", "AutoAddPolicy")]),
    # Terraform: port ranges widened, logging off and guard resources removed are flagged; a port
    # moved is neither wider nor narrower; logging turned on is a tick
    _case("tf-ports-logging", "terraform", "main.tf", TF, TF_LOOSE,
          [("from_port", "443", "0", "line 3"), ("enable_logging", "false", "line 12"),
           ("access_logs", "bucket", "lb-logs"), ("aws_flow_log", "removed")],
          flags=["port range widened", "enable_logging", "lb-logs", "aws_flow_log"]),
    _case("tf-port-moved", "terraform", "main.tf", TF, TF_MOVED, [("from_port", "8443")]),
    _case("tf-logging-on", "terraform", "main.tf", TF_LOOSE, TF,
          [("tightens", "enable_logging", "true")]),
    # Kubernetes: capabilities, host paths, broad bindings and policies removed; and back
    _case("k8s-escalation", "kubernetes", "deploy/agent.yaml", K8S, K8S_ESCALATED,
          [("capabilities", "SYS_ADMIN"), ("hostPath", "/var/run/docker.sock", "line 20"),
           ("roleRef", "cluster-admin"), ("NetworkPolicy", "removed")],
          flags=["SYS_ADMIN", "fewer capabilities dropped", "hostPath", "cluster-admin",
                 "NetworkPolicy"]),
    _case("k8s-narrowed", "kubernetes", "deploy/agent.yaml", K8S_ESCALATED, K8S,
          [("tightens", "roleRef", "view"), ("tightens", "hostPath")]),
    # Dockerfile switches, a secret baked into the image and an admin port
    _case("docker-switches", "dockerfile", "Dockerfile", DOCKER, DOCKER_LOOSE,
          [("curl -fsSLk", "line 4"), ("--allow-unauthenticated", "line 4"),
           ("ENV NPM_TOKEN", "$NPM_TOKEN", "line 7"), ("chmod -R 777", "line 8"),
           ("EXPOSE", "22", "line 9")],
          flags=["curl -fsSLk", "--allow-unauthenticated", "NPM_TOKEN", "777", "EXPOSE"]),
    # a workflow: permissions removed, the PR head checked out, a title injected, secrets
    # inherited; `permissions: {}` is no block removed
    _case("gh-pr-target-risks", "github-actions", ".github/workflows/pr.yml", WORKFLOW,
          WORKFLOW_LOOSE,
          [("permissions", "block removed"), ("pull_request.head.sha", "line 10"),
           ("run", "pull_request.title", "line 11"), ("secrets", "inherit", "line 14")],
          flags=["permissions", "head.sha", "pull_request.title", "inherit"]),
    _case("gh-permissions-none", "github-actions", ".github/workflows/pr.yml", WORKFLOW,
          WORKFLOW_NO_PERMISSIONS, [("permissions", "contents")]),
    # Helm values that skip TLS or mount tokens
    _case("helm-values-insecure", "helm", "chart/values.yaml", HELM_VALUES, HELM_VALUES_INSECURE,
          [("insecureSkipVerify", "true", "line 3"), ("automount", "true", "line 6")],
          flags=["insecureSkipVerify", "automount"]),
    # CDK TypeScript inline objects and calls that open access
    _case("cdk-ts-inline", "cdk-typescript", "lib/site.ts", CDK_STACK, CDK_STACK_OPEN,
          [("authType", "NONE", "line 11"), ("allowAllOutbound", "true", "line 6"),
           ("grantPublicAccess", "line 13"), ("Peer.anyIpv4()", "line 14")],
          flags=["authType", "grantPublicAccess", "anyIpv4"]),
    # refactors and neutral changes raise no flag
    _files("benign-lookalikes", "python", BENIGN_BASE, BENIGN_CHANGE,
           [("DEBUG", "env.bool"), ("is_staff", "is_superuser"), ("anon", "1/second"),
            ("failedJobsHistoryLimit", "5"), ("ACCESS_LOG_RETENTION_DAYS", "90")]),
    # auth dependencies, decorators and login settings are read; the settings back are ticks
    _files("auth-variants", "python",
           {"app/views.py": AUTH_VIEWS, "app/settings.py": AUTH_SETTINGS},
           {"app/views.py": AUTH_VIEWS_OPEN, "app/settings.py": AUTH_SETTINGS_WEAK},
           [("Depends(get_current_user)", "me"), ("staff_member_required", "stats"),
            ("user_passes_test", "purge"), ("WTF_CSRF_ENABLED", "line 1"),
            ("SESSION_COOKIE_SAMESITE", "None"), ("X_FRAME_OPTIONS", "ALLOWALL"),
            ("AXES_FAILURE_LIMIT", "100"), ("PASSWORD_MIN_LENGTH", "6"),
            ("PASSWORD_HASHERS", "MD5PasswordHasher")],
           ["get_current_user", "staff_member_required", "user_passes_test", "WTF_CSRF_ENABLED",
            "SAMESITE", "X_FRAME_OPTIONS", "AXES_FAILURE_LIMIT", "PASSWORD_MIN_LENGTH",
            "MD5PasswordHasher"]),
    _case("auth-variants-back", "python", "app/settings.py", AUTH_SETTINGS_WEAK, AUTH_SETTINGS,
          [("tightens", "WTF_CSRF_ENABLED"), ("tightens", "AXES_FAILURE_LIMIT"),
           ("tightens", "PASSWORD_MIN_LENGTH")]),
    # cloud switches that open or weaken a service; and back
    _files("cloud-switches", "terraform",
           {"main.tf": CLOUD, "template.yaml": USER_POOL, "k8s/admin.yaml": INGRESS},
           {"main.tf": CLOUD_OPEN, "template.yaml": USER_POOL_WEAK, "k8s/admin.yaml": INGRESS_OPEN},
           [("transit_encryption_enabled", "false", "line 2"),
            ("endpoint_public_access", "true", "line 7"), ("protocol", "HTTP", "line 13"),
            ("min_tls_version", "TLS1_0"), ("member", "allUsers"), ("MfaConfiguration", "OFF"),
            ("MinimumLength", "6"), ("RequireSymbols", "false"), ("ApiKeyRequired", "false"),
            ("auth-type", "removed"), ("whitelist-source-range", "removed")],
           ["transit_encryption_enabled", "endpoint_public_access", "plain HTTP",
            "min_tls_version", "allUsers", "MfaConfiguration", "MinimumLength", "RequireSymbols",
            "ApiKeyRequired", "auth-type", "whitelist-source-range"]),
    _files("cloud-switches-back", "terraform",
           {"main.tf": CLOUD_OPEN, "template.yaml": USER_POOL_WEAK},
           {"main.tf": CLOUD, "template.yaml": USER_POOL},
           [("tightens", "transit_encryption_enabled"), ("tightens", "min_tls_version"),
            ("tightens", "MfaConfiguration"), ("tightens", "RequireSymbols")]),
]
# fmt: on


@pytest.mark.parametrize(("case", "absent"), VARIANTS)
def test_each_variant_is_named_and_only_its_loosenings_are_flagged(
    case: Case, absent: tuple[str, ...], tmp_path: Path
) -> None:
    summary = summarise_case(tmp_path, case)
    result = score(case, summary)
    assert not result.missing, f"summary lacks {result.missing}:\n{summary}"
    assert not result.false_flags, f"false ⚠ {result.false_flags}:\n{summary}"
    for text in absent:
        assert text not in summary, summary
