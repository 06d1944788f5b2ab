"""Changes that loosen access or limits are ⚠, tightening is ✓, and the readers of issue 25
read what they used to misread. Pure functions on source text; nothing is faked."""

from __future__ import annotations

from podium.review.facts import Fact, show
from podium.review.iac import dockerfile_facts, helm_facts, tree_facts
from podium.review.python_diff import python_facts


def _flags(facts: list[Fact]) -> list[str]:
    return [f.render() for f in facts if f.effect == "loosens"]


def _ticks(facts: list[Fact]) -> list[str]:
    return [f.render() for f in facts if f.effect == "tightens"]


VIEW = """from fastapi import Depends, HTTPException

def signup(user, request):
    if not request.user.is_staff:
        raise HTTPException(status_code=403, detail="staff only")
    if not user.email:
        raise HTTPException(status_code=400, detail="email required")
    return create(user)
"""


def test_removed_403_is_flagged_and_not_paired_with_the_unchanged_400() -> None:
    check = '        raise HTTPException(status_code=403, detail="staff only")\n'
    new = VIEW.replace("    if not request.user.is_staff:\n" + check, "")
    facts = python_facts("app/views.py", VIEW, new)
    flags = _flags(facts)
    assert any("raise HTTPException(status_code=403" in f and "was line 5" in f for f in flags)
    rendered = [f.render() for f in facts]
    assert not any("403" in r and "→" in r and "400" in r for r in rendered), rendered
    back = _ticks(python_facts("app/views.py", new, VIEW))
    assert any("raise HTTPException(status_code=403" in t for t in back)


def test_removed_permission_denied_and_auth_dependency_are_flagged() -> None:
    old = (
        "from django.core.exceptions import PermissionDenied\n\n"
        "def promote(request, user_id):\n"
        "    if not request.user.has_perm('accounts.promote'):\n"
        "        raise PermissionDenied\n"
        "    return do(user_id)\n\n"
        "def users(db=Depends(get_db), user=Depends(require_admin)):\n    return db.all()\n"
    )
    new = (
        "from django.core.exceptions import PermissionDenied\n\n"
        "def promote(request, user_id):\n    return do(user_id)\n\n"
        "def users(db=Depends(get_db)):\n    return db.all()\n"
    )
    flags = _flags(python_facts("accounts/views.py", old, new))
    assert any("raise PermissionDenied" in f for f in flags), flags
    assert any("Depends(require_admin)" in f for f in flags), flags


def test_removed_rate_limit_and_retry_cap_are_flagged() -> None:
    old = (
        "@limiter.limit('5/minute')\n@app.post('/login')\n"
        "def login(body):\n    return auth(body)\n\n"
        "@retry(stop=stop_after_attempt(3))\ndef fetch(url):\n"
        "    return client.get(url, timeout=10, max_retries=3)\n"
    )
    new = (
        "@app.post('/login')\ndef login(body):\n    return auth(body)\n\n"
        "def fetch(url):\n    return client.get(url, timeout=30)\n"
    )
    flags = _flags(python_facts("api.py", old, new))
    assert any("limiter.limit" in f and "rate limit" in f for f in flags), flags
    assert any("@retry(" in f for f in flags), flags
    assert any("max_retries" in f and "retry cap removed" in f for f in flags), flags
    assert any("timeout=" in f and "`10` → `30`" in f and "timeout raised" in f for f in flags)
    ticks = _ticks(python_facts("api.py", new, old))
    assert any("timeout=" in t and "lowered" in t for t in ticks), ticks


def test_raised_limits_are_flagged_and_lowered_ones_tighten() -> None:
    fn = 'resource "aws_lambda_function" "f" {{\n  timeout = {}\n  memory_size = {}\n'
    fn += "  reserved_concurrent_executions = {}\n}}\n"
    old, new = fn.format(10, 128, 5), fn.format(30, 1024, 50)
    facts = tree_facts("main.tf", "terraform", old, new) or []
    flags = _flags(facts)
    assert any("`timeout` `10` → `30`" in f and "line 2" in f for f in flags), flags
    assert any("reserved_concurrent_executions" in f and "line 4" in f for f in flags), flags
    assert not any("memory_size" in f for f in flags)  # memory is a cost, not an opening
    assert _ticks(tree_facts("main.tf", "terraform", new, old) or [])


def test_new_security_group_open_to_the_internet_and_added_iam_actions_in_cdk() -> None:
    old = (
        "from aws_cdk import Stack, aws_ec2 as ec2, aws_iam as iam\n\n"
        "class Web(Stack):\n    def __init__(self, scope, id):\n"
        "        sg = ec2.SecurityGroup(self, 'Sg', vpc=vpc)\n"
        "        role.add_to_policy(iam.PolicyStatement(actions=['s3:GetObject'], "
        "resources=['*']))\n"
    )
    new = (
        "from aws_cdk import Stack, aws_ec2 as ec2, aws_iam as iam\n\n"
        "class Web(Stack):\n    def __init__(self, scope, id):\n"
        "        sg = ec2.SecurityGroup(self, 'Sg', vpc=vpc)\n"
        "        sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443))\n"
        "        role.add_to_policy(iam.PolicyStatement(actions=['s3:GetObject', 's3:PutObject'], "
        "resources=['*']))\n"
    )
    flags = _flags(python_facts("infra/web.py", old, new))
    assert any("add_ingress_rule" in f and "line 6" in f and "internet" in f for f in flags)
    assert any("s3:PutObject" in f and "line 7" in f for f in flags), flags


def test_deny_statements_are_not_wildcard_grants() -> None:
    statement = '{{"Statement": [{{"Sid": "NoDelete", "Effect": "Deny", "Principal": {}, '
    statement += '"Action": {}}}]}}'
    old = statement.format('"arn:aws:iam::1:root"', '"s3:DeleteObject"')
    new = statement.format('"*"', '["s3:DeleteObject", "s3:PutBucketPolicy"]')
    facts = tree_facts("policy.json", "cloudformation", old, new) or []
    assert not _flags(facts), [f.render() for f in facts]
    assert any("s3:PutBucketPolicy" in t for t in _ticks(facts))


def test_dynamic_block_is_the_statement_it_generates() -> None:
    old = (
        'data "aws_iam_policy_document" "x" {\n'
        '  statement {\n    sid = "Write"\n    actions = ["s3:PutObject", "s3:DeleteObject"]\n'
        '    resources = ["*"]\n  }\n}\n'
    )
    new = (
        'data "aws_iam_policy_document" "x" {\n'
        '  dynamic "statement" {\n    for_each = var.write ? [1] : []\n    content {\n'
        '      sid = "Write"\n      actions = ["s3:PutObject"]\n'
        "      resources = [var.bucket_arn]\n    }\n  }\n}\n"
    )
    facts = tree_facts("iam.tf", "terraform", old, new) or []
    rendered = [f.render() for f in facts]
    assert not _flags(facts), rendered
    assert any("s3:DeleteObject" in t for t in _ticks(facts))
    assert any("for_each" in r and "conditional" in r and "line 3" in r for r in rendered)


def test_terraform_lines_point_at_the_right_statement() -> None:
    text = (
        'data "aws_iam_policy_document" "x" {\n'
        "  count = var.on ? 1 : 0\n"
        '  statement {\n    actions = ["s3:GetObject"]\n  }\n'
        '  statement {\n    actions = ["s3:ListBucket"]\n  }\n}\n'
    )
    new = text.replace('["s3:ListBucket"]', '["s3:ListBucket", "s3:GetBucketPolicy"]')
    facts = tree_facts("p.tf", "terraform", text, new) or []
    assert [f.line for f in facts] == [7], [f.render() for f in facts]


def test_lists_are_shown_whole_and_added_settings_never_unset_to_unset() -> None:
    ports = [80, 443, 8080, 8443, 9090, 9443, 10250, 10443, 11000, 12000, 13000, 14000]
    assert show(ports).count(",") == len(ports) - 1
    old = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [80]\n"
    new = old.replace("[80]", "[80, 443, 8080, 8443]") + "  sessionAffinity: ClientIP\n"
    rendered = [f.render() for f in tree_facts("svc.yaml", "kubernetes", old, new) or []]
    assert any("`443`" in r and "`8080`" in r and "`8443`" in r for r in rendered), rendered
    assert not any("(unset) → (unset)" in r for r in rendered)
    assert any("sessionAffinity" in r and "ClientIP" in r for r in rendered)


def test_empty_secret_named_list_is_not_redacted() -> None:
    old = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  imagePullSecrets: [a]\n"
    new = old.replace("[a]", "[]")
    rendered = [f.render() for f in tree_facts("p.yaml", "kubernetes", old, new) or []]
    assert rendered and not any("«redacted»" in r for r in rendered), rendered


def test_dockerfile_run_lines_paired_by_command_and_scratch_without_certificates() -> None:
    old = (
        "FROM golang:1.22 AS build\nRUN apt-get update && apt-get install -y git libpq5 make\n"
        "RUN go build -o /app\nFROM gcr.io/distroless/base-debian12\nCOPY --from=build /app /\n"
    )
    new = (
        "FROM golang:1.22 AS build\nRUN apt-get update && apt-get install -y git make curl\n"
        "RUN go build -o /app\nFROM scratch\nCOPY --from=build /app /\n"
    )
    rendered = [f.render() for f in dockerfile_facts("Dockerfile", old, new)]
    assert any("line 2" in r and "adds `curl`" in r and "drops `libpq5`" in r for r in rendered)
    assert any("scratch" in r and "CA certificates" in r and "line 4" in r for r in rendered)
    assert not any(r.startswith("⚠") for r in rendered), rendered


def test_helm_template_is_read_with_its_conditions() -> None:
    old = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n"
        "  name: {{ .Release.Name }}\nrules:\n"
        '  - apiGroups: [""]\n    resources: [pods]\n    verbs: [get]\n'
    )
    new = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n"
        "  name: {{ .Release.Name }}\nrules:\n"
        '  - apiGroups: [""]\n    resources: [pods]\n    verbs: [get, delete]\n'
        "  {{- if .Values.secrets.read }}\n"
        '  - apiGroups: [""]\n    resources: [secrets]\n    verbs: [get]\n  {{- end }}\n'
    )
    facts = helm_facts("charts/x/templates/role.yaml", old, new)
    rendered = [f.render() for f in facts]
    flags = _flags(facts)
    assert len(flags) == 1 and "`delete`" in flags[0] and "secrets" in flags[0], rendered
    assert any(".Values.secrets.read" in r and "line 9" in r for r in rendered), rendered


# ---- rules added after the second held-out set was scored (general rules; the first score
# of that set, before them, is the fair figure)


def test_weaker_permission_classes_and_exempting_wrappers_are_flagged() -> None:
    old = (
        "from rest_framework.permissions import IsAuthenticated\n\n"
        "class TypesView(ReadOnlyModelViewSet):\n"
        "    permission_classes = (IsAuthenticated,)\n"
        "    queryset = Types.objects.all()\n"
    )
    new = old.replace("(IsAuthenticated,)", "[IsAuthenticatedOrReadOnly]")
    flags = _flags(python_facts("api/views.py", old, new))
    assert any("permission_classes" in f and "IsAuthenticatedOrReadOnly" in f for f in flags)
    assert _ticks(python_facts("api/views.py", new, old))  # the other way tightens
    gone = old.replace("(IsAuthenticated,)", "()")
    assert any("permission_classes" in f for f in _flags(python_facts("api/views.py", old, gone)))

    urls = (
        "from django.urls import path\n\n"
        "urlpatterns = [\n    path('graphql/', GraphQLView.as_view(), name='graphql'),\n]\n"
    )
    wrapped = urls.replace("GraphQLView.as_view()", "csrf_exempt(GraphQLView.as_view())")
    flags = _flags(python_facts("app/urls.py", urls, wrapped))
    assert any("csrf_exempt" in f for f in flags), [
        f.render() for f in python_facts("app/urls.py", urls, wrapped)
    ]


def test_exempting_decorators_loosen_and_are_no_auth_check() -> None:
    old = "def hook(request):\n    return handle(request)\n"
    new = "@csrf_exempt\ndef hook(request):\n    return handle(request)\n"
    facts = python_facts("app/views.py", old, new)
    assert any("@csrf_exempt" in f for f in _flags(facts)), [f.render() for f in facts]
    assert not _ticks(facts)
    assert any("@csrf_exempt" in t for t in _ticks(python_facts("app/views.py", new, old)))


def test_wildcard_added_to_an_iam_condition_is_flagged() -> None:
    old = (
        'data "aws_iam_policy_document" "logs" {\n  statement {\n'
        '    actions = ["s3:PutObject"]\n    condition {\n      test     = "ArnLike"\n'
        '      values   = ["arn:aws:logs:${var.region}:${var.account}:*"]\n'
        '      variable = "aws:SourceArn"\n    }\n  }\n}\n'
    )
    new = old.replace("${var.region}", "*")
    flags = _flags(tree_facts("p.tf", "terraform", old, new) or [])
    assert any("values" in f and "line 6" in f for f in flags), flags


def test_secret_parameters_and_dynamic_references_are_shown_and_not_flagged() -> None:
    from podium.review.secrets import scan_diffs

    old = (
        "Resources:\n  myDB:\n    Type: AWS::RDS::DBInstance\n    Properties:\n"
        "      MasterUserPassword: '{{resolve:secretsmanager:my-db-password}}'\n"
    )
    new = (
        "Resources:\n  Cred:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n"
        "      GenerateSecretString:\n        PasswordLength: 16\n"
        "  myDB:\n    Type: AWS::RDS::DBInstance\n    Properties:\n"
        "      MasterUserPassword: !Sub '{{resolve:secretsmanager:${Cred}}}'\n"
    )
    rendered = [f.render() for f in tree_facts("t.yaml", "cloudformation", old, new) or []]
    assert any("PasswordLength" in r and "`16`" in r for r in rendered), rendered
    assert any(
        "MasterUserPassword" in r and "resolve:secretsmanager:${Cred}" in r for r in rendered
    )
    diff = "--- a/t.yaml\n+++ b/t.yaml\n@@ -0,0 +1,3 @@\n"
    diff += "+    Type: AWS::SecretsManager::Secret\n"
    diff += "+      MasterUserPassword: !Sub '{{resolve:secretsmanager:${Cred}}}'\n"
    diff += "+      MasterUserPassword: hunter2-correct-horse\n"
    hits = scan_diffs({"t.yaml": diff})
    assert [h.line for h in hits] == [3], hits


def test_code_arguments_permission_levels_and_expanded_variables_are_no_secrets() -> None:
    from podium.review.secrets import shape_secrets

    for line in (
        "    user_in_update = UserUpdate(password=body.new_password)",
        "      id-token: write",
        '      git remote set-url origin "https://x-access-token:${PR_PUSH_TOKEN}@github.com/r.git"',
    ):
        assert shape_secrets(line) == [], line
    assert shape_secrets("DB_PASSWORD=s3cr3t-Value-9") == [("secret assignment", "s3cr3t-Value-9")]


# ---- rules added after the two spent held-out sets were studied (issue 25, third round) ----

MIDDLEWARE = """class LoginMiddleware:
    def __call__(self, request):
        if not request.path.startswith("/api") and not request.user.is_authenticated:
            return redirect_to_login(request.path)
        return self.get_response(request)
"""


def test_an_exemption_added_to_a_refusing_condition_is_flagged_and_removed_is_ticked() -> None:
    wider = MIDDLEWARE.replace(
        'not request.path.startswith("/api")',
        'not (request.path.startswith("/api") or request.path.startswith("/health"))',
    )
    facts = python_facts("app/middleware.py", MIDDLEWARE, wider)
    flags = _flags(facts)
    assert len(flags) == 1 and "/health" in flags[0] and "line 3" in flags[0], flags
    # paired, not shown again as a new branch and a removed one
    assert not any("new branch" in f.render() or "removed" in f.render() for f in facts)
    assert any("/health" in t for t in _ticks(python_facts("app/middleware.py", wider, MIDDLEWARE)))


def test_an_alternative_added_to_an_allowing_condition_is_flagged() -> None:
    old = (
        "class Mixin:\n    def has_permission(self):\n"
        "        if self.perm in self.user.perms:\n            return True\n"
        "        return self.check_objects()\n"
    )
    new = old.replace("if self.perm", "if self.user.is_staff or self.perm")
    flags = _flags(python_facts("app/auth.py", old, new))
    assert len(flags) == 1 and "self.user.is_staff" in flags[0], flags
    # an added condition that narrows who is let in is no flag
    narrower = old.replace(
        "if self.perm in self.user.perms", "if self.perm in self.user.perms and self.user.is_active"
    )
    assert not _flags(python_facts("app/auth.py", old, narrower))


def test_a_branch_of_plain_code_is_not_judged_as_access() -> None:
    old = "def total(items):\n    if items:\n        return sum(items)\n    return 0\n"
    new = old.replace("if items:", "if items or default_items:")
    facts = python_facts("app/maths.py", old, new)
    assert not _flags(facts) and not _ticks(facts)


def test_class_decorators_and_rewrapped_module_views_are_read() -> None:
    old = "class ReportView(View):\n    pass\n\nreport = login_required(ReportView.as_view())\n"
    moved = (
        "@method_decorator(login_required, name='dispatch')\n"
        "class ReportView(View):\n    pass\n\n"
        "report = ReportView.as_view()\n"
    )
    facts = python_facts("app/views.py", old, moved)
    rendered = [f.render() for f in facts]
    assert any("method_decorator(login_required" in r and "ReportView" in r for r in rendered)
    assert any("`report` =" in r and "ReportView.as_view()" in r for r in rendered), rendered
    assert not _flags(facts)  # the check moved onto the class
    dropped = old.replace("login_required(ReportView.as_view())", "ReportView.as_view()")
    flags = _flags(python_facts("app/views.py", old, dropped))
    assert any("`report` =" in f and "login_required" in f for f in flags), flags


def test_a_dict_argument_is_compared_key_by_key_and_limits_against_known_defaults() -> None:
    old = (
        "def ready():\n"
        "    es.connections.configure(default={'hosts': HOSTS, 'verify_certs': True})\n"
    )
    new = old.replace("True}", "True, 'timeout': 45}")
    flags = _flags(python_facts("app/apps.py", old, new))
    assert len(flags) == 1 and "`timeout` added (`45`)" in flags[0] and "(10)" in flags[0], flags
    quicker = old.replace("True}", "True, 'timeout': 5}")
    assert _ticks(python_facts("app/apps.py", old, quicker))
    settings = "DEBUG = False\n"
    flags = _flags(
        python_facts(
            "conf/settings.py",
            settings,
            settings + "FILE_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024\n",
        )
    )
    assert any("FILE_UPLOAD_MAX_MEMORY_SIZE" in f and "20 * 1024 * 1024" in f for f in flags)
    smaller = settings + "DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024\n"
    assert not _flags(python_facts("conf/settings.py", settings, smaller))


def test_values_are_spelled_as_the_file_spells_them() -> None:
    yaml_fact = Fact("k8s/app.yaml", 3, "data", "`runAsNonRoot`", before=False, after=True)
    assert "`false` → `true`" in yaml_fact.render()
    py_fact = Fact("app/stack.py", 3, "data", "`public`", before=False, after=True)
    assert "`False` → `True`" in py_fact.render()


def test_terraform_lines_point_at_the_block_not_a_mention_of_it() -> None:
    old = (
        'data "aws_iam_policy_document" "combined" {\n'
        '  source = var.on ? data.aws_iam_policy_document.dest[0].json : ""\n}\n\n'
        'data "aws_iam_policy_document" "other" {\n  count = 1\n}\n\n'
        'data "aws_iam_policy_document" "dest" {\n'
        "  count = var.a && var.b || var.c ? 1 : 0\n}\n"
    )
    new = old.replace("var.a && var.b || var.c", "var.a && (var.b || var.c)")
    facts = tree_facts("main.tf", "terraform", old, new)
    assert facts is not None
    (fact,) = [f for f in facts if "count" in f.subject]
    assert fact.line == 10, fact.render()
    long_old = old.replace("var.a", "var.a_long_name_" + "x" * 120)
    long_new = new.replace("var.a", "var.a_long_name_" + "x" * 120)
    (long,) = [
        f
        for f in tree_facts("main.tf", "terraform", long_old, long_new) or []
        if "count" in f.subject
    ]
    assert "grouping or operators changed" in long.render() and "(var.b || var.c)" in long.render()


def test_a_long_new_call_shows_every_keyword() -> None:
    old = "def build(lb):\n    lb.add_listener('Http', port=80)\n"
    new = old + (
        "    lb.add_listener('Https', port=443,"
        " certificates=[elbv2.ListenerCertificate.from_arn(CERT_ARN)],"
        " ssl_policy=elbv2.SslPolicy.TLS12_EXT,"
        " default_action=elbv2.ListenerAction.forward([group]))\n"
    )
    rendered = [f.render() for f in python_facts("app/stack.py", old, new)]
    assert any(
        "new call" in r and "ssl_policy=" in r and "default_action=" in r for r in rendered
    ), rendered


# ---- rules added after held-out-3 was scored once (its figures after them are not fair) ----


def test_dockerfile_stages_paired_by_structure_args_and_tls_switches() -> None:
    old = (
        "ARG BASE=ubuntu:22.04\nFROM $BASE\nARG jdk=17\n"
        "HEALTHCHECK --interval=15s \\\n    CMD wget -O- http://localhost:8888/api || exit 1\n"
    )
    new = (
        "FROM tools/helper:1.2@sha256:" + "a" * 64 + " AS helper\n"
        "ARG BASE=ubuntu:22.04\nFROM $BASE\nARG jdk=21\n"
        "HEALTHCHECK --interval=15s \\\n"
        "    CMD wget -O- --no-check-certificate https://localhost:8888/api || exit 1\n"
    )
    facts = dockerfile_facts("Dockerfile", old, new)
    rendered = [f.render() for f in facts]
    assert not any("$BASE" in f and "unpinned" in f for f in _flags(facts)), rendered
    assert any("base image `FROM` added" in r and "tools/helper:1.2" in r for r in rendered)
    assert any("`ARG jdk`" in r and "`17` → `21`" in r for r in rendered), rendered
    assert any("HEALTHCHECK" in r and "--no-check-certificate" in r for r in rendered)
    flags = _flags(facts)
    assert len(flags) == 1 and "--no-check-certificate" in flags[0], flags
    assert not _flags(dockerfile_facts("Dockerfile", new, new.replace("jdk=21", "jdk=22")))


def test_fallback_secrets_and_broad_managed_policies_are_flagged() -> None:
    old = 'import os\n\nSECRET_KEY = os.getenv("SECRET_KEY")\nDB = os.getenv("DB_NAME", "app")\n'
    new = (
        'import os\n\nSECRET_KEY = os.getenv("SECRET_KEY", "change me")\n'
        'DB = os.getenv("DB_NAME", "app")\nDB_PASS = os.getenv("DB_PASSWORD", "postgres")\n'
    )
    facts = python_facts("app/config.py", old, new)
    flags = _flags(facts)
    assert any("SECRET_KEY" in f and "line 3" in f for f in flags), flags
    assert any("DB_PASS" in f and "line 5" in f for f in flags), flags
    assert not any("change me" in f.render() or "postgres" in f.render() for f in facts)
    assert not any("DB`" in f for f in flags)
    tf_old = 'module "svc" {\n  role_policies = {}\n}\n'
    tf_new = (
        'module "svc" {\n  role_policies = {\n'
        '    ReadOnly = "arn:aws:iam::aws:policy/ReadOnlyAccess"\n  }\n}\n'
    )
    flags = _flags(tree_facts("main.tf", "terraform", tf_old, tf_new) or [])
    assert any("ReadOnlyAccess" in f for f in flags), flags


def test_a_guard_added_before_a_projects_own_refusal_is_flagged() -> None:
    old = (
        "class Token:\n    def check(self):\n"
        "        if CLAIM not in self.payload:\n            raise TokenError('no id')\n"
    )
    new = old.replace("if CLAIM not in", "if CLAIM is not None and CLAIM not in")
    flags = _flags(python_facts("app/tokens.py", old, new))
    assert len(flags) == 1 and "CLAIM is not None" in flags[0], flags
