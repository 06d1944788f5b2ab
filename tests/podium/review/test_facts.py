"""The rules that judge a changed setting, the IaC readers and the Python fact finder: pure
functions on text, nothing faked."""

from __future__ import annotations

import pytest

from podium.review.facts import DATA, EXPOSURE, LIMITS, SUPPLY, amount, judge, setting_fact
from podium.review.iac import (
    cdk_ts_settings,
    dockerfile_facts,
    iac_kind,
    locate,
    read_tree,
    tree_facts,
)
from podium.review.python_diff import python_facts


@pytest.mark.parametrize(
    ("key", "before", "after", "category", "effect"),
    [
        (
            "auth_type",
            "FunctionUrlAuthType.AWS_IAM",
            "FunctionUrlAuthType.NONE",
            EXPOSURE,
            "loosens",
        ),
        ("AuthorizationType", "NONE", "AWS_IAM", EXPOSURE, "tightens"),
        ("cidr_blocks", ["10.0.0.0/8"], ["0.0.0.0/0"], EXPOSURE, "loosens"),
        (
            "block_public_access",
            "BlockPublicAccess.BLOCK_ALL",
            "BlockPublicAccess.BLOCK_ACLS",
            EXPOSURE,
            "loosens",
        ),
        ("Action", ["s3:GetObject"], ["s3:*"], EXPOSURE, "loosens"),
        ("verbs", ["*"], ["get"], EXPOSURE, "tightens"),
        ("permissions", None, "write-all", EXPOSURE, "loosens"),
        ("verify", None, "False", EXPOSURE, "loosens"),
        ("memorySize", 128, 1024, LIMITS, "neutral"),
        ("log_retention", "RetentionDays.ONE_MONTH", "RetentionDays.ONE_DAY", DATA, "loosens"),
        ("RetentionInDays", 7, 30, DATA, "neutral"),
        ("removal_policy", "RemovalPolicy.RETAIN", "RemovalPolicy.DESTROY", DATA, "loosens"),
        ("DeletionProtection", True, False, DATA, "loosens"),
        ("storage_encrypted", False, True, DATA, "tightens"),
        ("image", "web:1.2", "web:latest", SUPPLY, "loosens"),
        ("image", "web:1.2", "web:1.2@sha256:" + "a" * 64, SUPPLY, "tightens"),
        ("image", "web@sha256:" + "a" * 64, "web:1.2", SUPPLY, "loosens"),
        ("uses", "actions/checkout@v4", "actions/checkout@main", SUPPLY, "loosens"),
        ("uses", "actions/checkout@v4", "actions/checkout@" + "b" * 40, SUPPLY, "tightens"),
        ("script", ["make"], ["curl -s https://x.sh | sh", "make"], SUPPLY, "loosens"),
    ],
)
def test_judge(key: str, before, after, category: str, effect: str) -> None:
    assert judge(key, before, after)[:2] == (category, effect)  # type: ignore[index]


def test_unknown_keys_are_not_judged_and_secret_values_never_shown() -> None:
    assert judge("description", "a", "b") is None
    fact = setting_fact(
        path="a.yaml",
        line=3,
        key="db_password",
        subject="`db_password`",
        before="old-one",
        after="new-one",
    )
    assert fact is not None and "old-one" not in fact.render() and "«redacted»" in fact.render()


def test_amounts() -> None:
    assert amount("Duration.days(30)") == 30 and amount("RetentionDays.TWO_WEEKS") == 14
    assert amount("512Mi") == 512 and amount("1Gi") == 1024 and amount("db.t3.micro") is None
    assert amount("500m", "cpu") == 0.5 and amount("2h") == 7200


def test_kinds_and_trees() -> None:
    assert iac_kind("infra/main.tf", None) == "terraform"
    assert iac_kind(".github/workflows/ci.yml", None) == "github-actions"
    assert (
        iac_kind("stack.yaml", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n") == "cloudformation"
    )
    assert iac_kind("k.yaml", "apiVersion: v1\nkind: Service\n") == "kubernetes"
    assert iac_kind("lib/x.ts", "import * as cdk from 'aws-cdk-lib';") == "cdk-typescript"
    assert iac_kind("notes.yaml", "a: 1\n") is None
    cfn = read_tree(
        "cloudformation", "t.yaml", "Resources:\n  B:\n    Properties:\n      V: !Ref X\n"
    )
    assert cfn["Resources"]["B"]["Properties"]["V"] == "!Ref X"
    assert locate("a:\n  b:\n    c: 1\nc: 2\n", ("a", "b", "c")) == 3
    assert tree_facts("t.json", "cloudformation", "{", "{}") is None  # does not parse


def test_cdk_typescript_properties_by_construct() -> None:
    text = (
        "new s3.Bucket(this, 'Logs', {\n  versioned: true,\n"
        "  cors: {\n    allowedOrigins: ['*'],\n  },\n});\n"
    )
    assert cdk_ts_settings(text) == {
        ("Logs", "versioned"): (2, "true"),
        ("Logs.cors", "allowedOrigins"): (4, "['*']"),  # a nested object is named by its key
    }


def test_dockerfile_unpinned_installs_and_user() -> None:
    facts = dockerfile_facts(
        "Dockerfile",
        "FROM a:1\nUSER app\n",
        "FROM a:1\nRUN pip install -r req.txt flask==3 rich && pip install --no-cache-dir httpx\n",
    )
    rendered = [f.render() for f in facts]
    assert any("`USER` `app` → `root (default)`" in r and r.startswith("⚠") for r in rendered)
    assert sum("pip install rich" in r for r in rendered) == 1
    assert sum("pip install httpx" in r for r in rendered) == 1
    # pinned packages and requirement files are no risk (the new RUN line itself is a fact)
    assert not any(r.startswith("⚠") and ("flask" in r or "req.txt" in r) for r in rendered)


def test_python_facts_move_is_not_removal() -> None:
    old = "def hook(r):\n    verify(r)\n    return go(r)\n"
    new = (
        "def hook(r):\n    return go(checked(r))\n\ndef checked(r):\n    verify(r)\n    return r\n"
    )
    assert not [f for f in python_facts("h.py", old, new) if f.effect == "loosens"]
    gone = python_facts("h.py", old, "def hook(r):\n    return go(r)\n")
    assert [f.subject for f in gone if f.effect == "loosens"] == [
        "call `verify(r)` removed in `hook`"
    ]
