"""The review corpus: pushes a reviewer must understand from the summary alone, each with the
facts it must name and the risk flags it must (and may only) raise.

Each case is a base tree and a change; `build_case` makes it a real git repository (a bare
origin on disk and a push). A fact is a tuple of strings that must all appear on one line of
the summary (the setting, and its before/after where they matter); a flag is a string that
one ⚠ line must contain. Any other ⚠ line is a false flag. Used by tests/podium/review/
test_corpus.py and bench/review.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.podium.review.gitfixtures import WorkRepo, empty_repo


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # python, cdk-python, cdk-typescript, cloudformation, terraform, kubernetes,
    # dockerfile, github-actions, gitlab-ci
    base: dict[str, str]
    change: dict[str, str | None]  # path -> new content, None deletes
    facts: list[tuple[str, ...]]
    flags: list[str] = field(default_factory=list)
    message: str = "change"


def build_case(root: Path, case: Case) -> tuple[WorkRepo, str, str]:
    """A bare origin holding `case.base` on main, then the change pushed; (repo, before,
    after)."""
    repo = empty_repo(root, case.name)
    for path, text in case.base.items():
        repo.write(path, text)
    # A commit that only adds files has an empty base (only the changed files are stored).
    before = repo.commit("base", allow_empty=not case.base)
    for path, new in case.change.items():
        if new is None:
            (repo.path / path).unlink()
        else:
            repo.write(path, new)
    after = repo.commit(case.message)
    repo.push("main")
    return repo, before, after


@dataclass
class Score:
    facts_named: int
    facts_expected: int
    flags_raised: int  # expected flags found on ⚠ lines
    flags_expected: int
    false_flags: list[str]
    missing: list[str]


def risk_lines(summary: str) -> list[str]:
    """The ⚠ lines of a summary."""
    return [line for line in summary.splitlines() if "⚠" in line]


def score(case: Case, summary: str) -> Score:
    """How many of the case's facts and flags the summary names, and its false flags."""
    lines = summary.splitlines()
    missing = []
    named = 0
    for fact in case.facts:
        if any(all(part in line for part in fact) for line in lines):
            named += 1
        else:
            missing.append(" + ".join(fact))
    flags = risk_lines(summary)
    raised = 0
    for flag in case.flags:
        if any(flag in line for line in flags):
            raised += 1
        else:
            missing.append(f"⚠ {flag}")
    false = [line for line in flags if not any(flag in line for flag in case.flags)]
    return Score(named, len(case.facts), raised, len(case.flags), false, missing)


def _ts(template: str, **values: object) -> str:
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def templated(
    name: str,
    kind: str,
    path: str,
    template: str,
    before: dict[str, object],
    after: dict[str, object],
    facts: list[tuple[str, ...]],
    flags: list[str] | None = None,
) -> Case:
    """A case whose one file is `template` filled in with `before`, then with `after`."""
    return Case(
        name,
        kind,
        {path: _ts(template, **before)},
        {path: _ts(template, **after)},
        facts,
        flags or [],
    )


# ---- Python application code ---------------------------------------------------------------

HANDLER = """import json
import os

TABLE = os.environ["TABLE_NAME"]


def handler(event, context):
    name = event["pathParameters"]["name"]
    item = table.get_item(Key={"pk": name}, ConsistentRead=False)
    return {"statusCode": 200, "body": json.dumps({"name": name, "item": item})}
"""
HANDLER_AFTER = """import json
import os

TABLE = os.environ["TABLE_NAME"]


def handler(event, context):
    name = event["pathParameters"]["name"]
    limit = int(event["queryStringParameters"]["limit"])
    if limit > 100:
        return {"statusCode": 400, "body": "limit too large"}
    item = table.get_item(Key={"pk": name}, ConsistentRead=True)
    return {"statusCode": 200, "body": json.dumps({"name": name, "item": item, "limit": limit})}
"""

FLASK = """from flask import Flask, request

from auth import login_required

app = Flask(__name__)


@app.route("/export")
@login_required
def export():
    fmt = request.args.get("format", "csv")
    return make_export(fmt)
"""
FLASK_AFTER = """from flask import Flask, request

from auth import login_required

app = Flask(__name__)


@app.route("/export", methods=["GET", "POST"])
def export():
    fmt = request.args.get("format", "csv")
    since = request.args.get("since")
    return make_export(fmt, since)
"""

CHARGE = """def charge(order):
    result = gateway.charge(order.total, currency="EUR")
    return result.id
"""
CHARGE_AFTER = """def charge(order):
    try:
        result = gateway.charge(order.total, currency="EUR", idempotency_key=order.id)
    except Exception:
        logger.warning("charge failed")
        return None
    return result.id
"""

CLIENT = """import os

RETRIES = 3


def client():
    return Client(base_url=os.environ["API_URL"], timeout=10)
"""
CLIENT_AFTER = """import os

RETRIES = 5


def client():
    region = os.getenv("API_REGION", "eu-west-1")
    return Client(base_url=os.environ["API_URL"], timeout=2, verify=False, region=region)
"""

ADMIN = """from fastapi import APIRouter, Depends

router = APIRouter()


@router.get("/admin/users")
def list_users(user=Depends(require_admin), db=Depends(get_db)):
    return db.query(User).all()
"""
ADMIN_AFTER = """from fastapi import APIRouter, Depends

router = APIRouter()


@router.get("/admin/users")
def list_users(db=Depends(get_db), limit: int = 50):
    return db.query(User).limit(limit).all()
"""

WEBHOOK = """import json


def webhook(request):
    verify_signature(request.headers["X-Signature"], request.body)
    payload = json.loads(request.body)
    return process(payload)
"""
WEBHOOK_AFTER = """import json


def webhook(request):
    payload = json.loads(request.body)
    if payload.get("mode") == "test":
        return {"ok": True, "skipped": True}
    return process(payload)
"""

FETCH = """import requests


def fetch(url):
    return requests.get(url, timeout=30)
"""
FETCH_AFTER = """import requests

MAX_PAGES = 10


def fetch(url):
    return requests.get(url, timeout=5, allow_redirects=False)
"""

PYTHON_CASES = [
    Case(
        "py-lambda-handler",
        "python",
        {"src/handler.py": HANDLER},
        {"src/handler.py": HANDLER_AFTER},
        [
            ("reads new key", "queryStringParameters", "limit", "line 9"),
            ("new branch", "limit > 100", "line 10"),
            ("new early", "400"),
            ("ConsistentRead", "False", "True", "line 12"),
            ("returns new key", "'limit'"),
        ],
    ),
    Case(
        "py-flask-auth-removed",
        "python",
        {"app/views.py": FLASK},
        {"app/views.py": FLASK_AFTER},
        [
            ("@login_required", "export"),
            ("route", "methods=['GET', 'POST']"),
            ("reads new key", "request.args.get('since')"),
        ],
        flags=["@login_required"],
    ),
    Case(
        "py-broad-except",
        "python",
        {"billing/charge.py": CHARGE},
        {"billing/charge.py": CHARGE_AFTER},
        [("except Exception", "line 4"), ("idempotency_key", "order.id"), ("new early", "None")],
        flags=["except Exception"],
    ),
    Case(
        "py-client-config",
        "python",
        {"app/client.py": CLIENT},
        {"app/client.py": CLIENT_AFTER},
        [
            ("RETRIES", "3", "5"),
            ("timeout", "10", "2"),
            ("verify", "False"),
            ("reads new key", "API_REGION"),
        ],
        flags=["verify"],
    ),
    Case(
        "py-fastapi-dependency-removed",
        "python",
        {"api/admin.py": ADMIN},
        {"api/admin.py": ADMIN_AFTER},
        [("Depends(require_admin)",), ("list_users", "signature")],
        flags=["require_admin"],
    ),
    Case(
        "py-webhook-signature-check-removed",
        "python",
        {"hooks/webhook.py": WEBHOOK},
        {"hooks/webhook.py": WEBHOOK_AFTER},
        [
            ("verify_signature", "removed"),
            ("no longer reads", "X-Signature"),
            ("new branch", "mode"),
            ("returns new key", "'skipped'"),
        ],
        flags=["verify_signature"],
    ),
    Case(
        "py-requests-timeout",
        "python",
        {"app/fetch.py": FETCH},
        {"app/fetch.py": FETCH_AFTER},
        [("timeout", "30", "5"), ("allow_redirects", "False"), ("MAX_PAGES", "10")],
    ),
]

# ---- AWS CDK in Python ---------------------------------------------------------------------

CDK_PY_LAMBDA = """from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs


class ApiStack(Stack):
    def __init__(self, scope, construct_id, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        fn = lambda_.Function(
            self,
            "ApiFn",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="app.handler",
            code=lambda_.Code.from_asset("src"),
            memory_size={memory},
            timeout=Duration.seconds({timeout}),
            log_retention=logs.RetentionDays.{retention},{extra}
        )
        fn.add_function_url(auth_type=lambda_.FunctionUrlAuthType.{auth})
"""

CDK_PY_BUCKET = """from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3


class DataStack(Stack):
    def __init__(self, scope, construct_id, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        s3.Bucket(
            self,
            "Uploads",
            block_public_access=s3.BlockPublicAccess.{block},
            encryption=s3.BucketEncryption.{encryption},
            removal_policy=RemovalPolicy.{removal},
            versioned=True,{extra}
        )
"""

CDK_PY_DB = """from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds


class DbStack(Stack):
    def __init__(self, scope, construct_id, vpc, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        sg = ec2.SecurityGroup(self, "DbSg", vpc=vpc)
        sg.add_ingress_rule({peer}, ec2.Port.tcp(5432))
        rds.DatabaseInstance(
            self,
            "Db",
            engine=rds.DatabaseInstanceEngine.POSTGRES,
            vpc=vpc,
            deletion_protection={protect},
            backup_retention=Duration.days({days}),
            publicly_accessible={public},
        )
"""

CDK_PY_CASES = [
    templated(
        "cdk-py-lambda",
        "cdk-python",
        "infra/api_stack.py",
        CDK_PY_LAMBDA,
        {"memory": 128, "timeout": 10, "retention": "ONE_MONTH", "extra": "", "auth": "AWS_IAM"},
        {
            "memory": 1024,
            "timeout": 30,
            "retention": "ONE_DAY",
            "extra": "\n            reserved_concurrent_executions=5,",
            "auth": "NONE",
        },
        [
            ("memory_size", "128", "1024", "ApiFn"),
            ("timeout", "Duration.seconds(10)", "Duration.seconds(30)"),
            ("log_retention", "ONE_MONTH", "ONE_DAY"),
            ("auth_type", "AWS_IAM", "NONE", "line 20"),
            ("reserved_concurrent_executions", "5"),
        ],
        flags=["timeout raised", "auth_type", "log_retention"],
    ),
    templated(
        "cdk-py-bucket",
        "cdk-python",
        "infra/data_stack.py",
        CDK_PY_BUCKET,
        {"block": "BLOCK_ALL", "encryption": "S3_MANAGED", "removal": "RETAIN", "extra": ""},
        {
            "block": "BLOCK_ACLS",
            "encryption": "KMS",
            "removal": "DESTROY",
            "extra": "\n            auto_delete_objects=True,",
        },
        [
            ("block_public_access", "BLOCK_ALL", "BLOCK_ACLS"),
            ("encryption", "S3_MANAGED", "KMS"),
            ("removal_policy", "RETAIN", "DESTROY"),
            ("auto_delete_objects", "True"),
        ],
        flags=["block_public_access", "removal_policy", "auto_delete_objects"],
    ),
    templated(
        "cdk-py-database-tightened",
        "cdk-python",
        "infra/db_stack.py",
        CDK_PY_DB,
        {"peer": "ec2.Peer.any_ipv4()", "protect": False, "days": 1, "public": True},
        {"peer": 'ec2.Peer.ipv4("10.0.0.0/16")', "protect": True, "days": 14, "public": False},
        [
            ("tightens", "add_ingress_rule", "any_ipv4", "10.0.0.0/16"),
            ("tightens", "deletion_protection", "True"),
            ("backup_retention", "Duration.days(1)", "Duration.days(14)"),
            ("tightens", "publicly_accessible", "False"),
        ],
    ),
]

# ---- AWS CDK in TypeScript -----------------------------------------------------------------

CDK_TS_LAMBDA = """import * as cdk from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export class ApiStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
    const fn = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.{runtime},
      handler: 'index.handler',
      code: lambda.Code.fromAsset('lambda'),
      memorySize: {memory},
      timeout: cdk.Duration.seconds({timeout}),
    });
    fn.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.{auth},
    });
  }
}
"""

CDK_TS_API = """import * as cdk from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export class WebStack extends cdk.Stack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const api = new apigw.RestApi(this, 'Api', {
      defaultCorsPreflightOptions: {
        allowOrigins: {origins},
      },
      deployOptions: {
        throttlingRateLimit: {rate},
        throttlingBurstLimit: 200,
      },
    });
    const bucket = new s3.Bucket(this, 'Assets', {
      publicReadAccess: {public},
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
  }
}
"""

CDK_TS_TABLE = """import * as cdk from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export class DataStack extends cdk.Stack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const table = new dynamodb.Table(this, 'Talks', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecovery: {pitr},
      deletionProtection: {protect},
    });
    new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.{retention},
    });
  }
}
"""


CDK_TS_CASES = [
    templated(
        "cdk-ts-lambda",
        "cdk-typescript",
        "lib/api-stack.ts",
        CDK_TS_LAMBDA,
        {"runtime": "NODEJS_18_X", "memory": 256, "timeout": 5, "auth": "AWS_IAM"},
        {"runtime": "NODEJS_20_X", "memory": 512, "timeout": 15, "auth": "NONE"},
        [
            ("memorySize", "256", "512", "line 12"),
            ("timeout", "seconds(5)", "seconds(15)"),
            ("runtime", "NODEJS_18_X", "NODEJS_20_X"),
            ("authType", "AWS_IAM", "NONE", "line 16"),
        ],
        flags=["timeout raised", "authType"],
    ),
    templated(
        "cdk-ts-api-bucket",
        "cdk-typescript",
        "lib/web-stack.ts",
        CDK_TS_API,
        {"origins": "['https://app.example.com']", "rate": 100, "public": "false"},
        {"origins": "apigw.Cors.ALL_ORIGINS", "rate": 1000, "public": "true"},
        [
            ("allowOrigins", "ALL_ORIGINS"),
            ("throttlingRateLimit", "100", "1000"),
            ("publicReadAccess", "false", "true"),
        ],
        flags=["rate limit raised", "allowOrigins", "publicReadAccess"],
    ),
    templated(
        "cdk-ts-table",
        "cdk-typescript",
        "lib/data-stack.ts",
        CDK_TS_TABLE,
        {"pitr": "false", "protect": "false", "retention": "ONE_YEAR"},
        {"pitr": "true", "protect": "true", "retention": "ONE_WEEK"},
        [
            ("tightens", "pointInTimeRecovery", "true"),
            ("tightens", "deletionProtection", "true"),
            ("retention", "ONE_YEAR", "ONE_WEEK"),
        ],
        flags=["retention"],
    ),
]

# ---- CloudFormation and SAM ----------------------------------------------------------------

SAM = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.11
      MemorySize: {memory}
      Timeout: {timeout}{extra}
      Events:
        Api:
          Type: Api
          Properties:
            Path: /items
            Method: get
            Auth:
              Authorizer: {authorizer}
"""

CFN_NETWORK = """AWSTemplateFormatVersion: '2010-09-09'
Resources:
  WebSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: {cidr}
  Data:
    Type: AWS::S3::Bucket
    DeletionPolicy: {policy}
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: {sse}
"""

CFN_IAM = """AWSTemplateFormatVersion: '2010-09-09'
Resources:
  AppRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: app
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action:
                  - {action}
                Resource: {resource}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: {days}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: {pitr}
"""


def _cfn_json(visibility: int, kms: bool, instance: str, public: bool) -> str:
    queue: dict[str, object] = {"VisibilityTimeout": visibility, "MessageRetentionPeriod": 345600}
    if kms:
        queue["KmsMasterKeyId"] = "alias/aws/sqs"
    doc = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": queue},
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "DBInstanceClass": instance,
                    "PubliclyAccessible": public,
                    "StorageEncrypted": True,
                    "DeletionProtection": True,
                },
            },
        },
    }
    return json.dumps(doc, indent=2) + "\n"


CFN_CASES = [
    templated(
        "sam-function",
        "cloudformation",
        "template.yaml",
        SAM,
        {"memory": 128, "timeout": 3, "extra": "", "authorizer": "CognitoAuth"},
        {
            "memory": 512,
            "timeout": 10,
            "extra": "\n      ReservedConcurrentExecutions: 10",
            "authorizer": "NONE",
        },
        [
            ("MemorySize", "128", "512", "line 9"),
            ("Timeout", "3", "10"),
            ("Authorizer", "CognitoAuth", "NONE"),
            ("ReservedConcurrentExecutions", "10"),
        ],
        flags=["timeout raised", "Authorizer"],
    ),
    templated(
        "cfn-network-bucket",
        "cloudformation",
        "cfn/network.yaml",
        CFN_NETWORK,
        {"cidr": "10.0.0.0/8", "policy": "Retain", "sse": "aws:kms"},
        {"cidr": "0.0.0.0/0", "policy": "Delete", "sse": "AES256"},
        [
            ("CidrIp", "10.0.0.0/8", "0.0.0.0/0", "line 12"),
            ("DeletionPolicy", "Retain", "Delete"),
            ("SSEAlgorithm", "aws:kms", "AES256"),
        ],
        flags=["CidrIp", "DeletionPolicy"],
    ),
    templated(
        "cfn-iam-logs-table",
        "cloudformation",
        "cfn/app.yaml",
        CFN_IAM,
        {
            "action": "dynamodb:GetItem",
            "resource": "!GetAtt Table.Arn",
            "days": 90,
            "pitr": "false",
        },
        {"action": "dynamodb:*", "resource": "'*'", "days": 30, "pitr": "true"},
        [
            ("Action", "dynamodb:*"),
            ("Resource", "*"),
            ("RetentionInDays", "90", "30"),
            ("tightens", "PointInTimeRecoveryEnabled"),
        ],
        flags=["Action", "Resource", "RetentionInDays"],
    ),
    Case(
        "cfn-json-queue-db",
        "cloudformation",
        {"cfn/stack.json": _cfn_json(30, True, "db.t3.micro", False)},
        {"cfn/stack.json": _cfn_json(120, False, "db.t3.large", True)},
        [
            ("VisibilityTimeout", "30", "120"),
            ("KmsMasterKeyId", "alias/aws/sqs"),
            ("DBInstanceClass", "db.t3.micro", "db.t3.large"),
            ("PubliclyAccessible", "true"),
        ],
        flags=["timeout raised", "KmsMasterKeyId", "PubliclyAccessible"],
    ),
]

# ---- Terraform -----------------------------------------------------------------------------

TF_LAMBDA = """resource "aws_lambda_function" "api" {
  function_name = "api"
  runtime       = "python3.11"
  memory_size   = {memory}
  timeout       = {timeout}{extra}
}

resource "aws_lambda_function_url" "api" {
  function_name      = aws_lambda_function.api.function_name
  authorization_type = "{auth}"
}
"""

TF_DB = """resource "aws_security_group" "db" {
  name = "db"
  ingress {
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = ["{cidr}"]
  }
}

resource "aws_db_instance" "main" {
  instance_class          = "{instance}"
  storage_encrypted       = true
  deletion_protection     = {protect}
  backup_retention_period = {days}
  skip_final_snapshot     = false
}
"""

TF_S3 = """resource "aws_s3_bucket_public_access_block" "logs" {
  bucket              = aws_s3_bucket.logs.id
  block_public_acls   = {block}
  block_public_policy = {block}
}

resource "aws_iam_policy" "deploy" {
  name = "deploy"
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Action = "{action}", Resource = "arn:aws:s3:::logs/*" }]
  })
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    expiration {
      days = {days}
    }
  }
}
"""

TF_CASES = [
    templated(
        "tf-lambda-url",
        "terraform",
        "terraform/lambda.tf",
        TF_LAMBDA,
        {"memory": 128, "timeout": 3, "extra": "", "auth": "AWS_IAM"},
        {
            "memory": 2048,
            "timeout": 30,
            "extra": "\n  reserved_concurrent_executions = 50",
            "auth": "NONE",
        },
        [
            ("memory_size", "128", "2048", "line 4"),
            ("timeout", "3", "30"),
            ("authorization_type", "AWS_IAM", "NONE", "line 11"),
            ("reserved_concurrent_executions", "50"),
        ],
        flags=["timeout raised", "authorization_type"],
    ),
    templated(
        "tf-database",
        "terraform",
        "db.tf",
        TF_DB,
        {"cidr": "10.0.0.0/16", "instance": "db.t3.micro", "protect": "true", "days": 7},
        {"cidr": "0.0.0.0/0", "instance": "db.r6g.large", "protect": "false", "days": 1},
        [
            ("cidr_blocks", "0.0.0.0/0", "line 7"),
            ("deletion_protection", "true", "false"),
            ("backup_retention_period", "7", "1"),
            ("instance_class", "db.t3.micro", "db.r6g.large"),
        ],
        flags=["cidr_blocks", "deletion_protection", "backup_retention_period"],
    ),
    templated(
        "tf-s3-policy",
        "terraform",
        "s3.tf",
        TF_S3,
        {"block": "false", "action": "s3:PutObject", "days": 365},
        {"block": "true", "action": "s3:*", "days": 30},
        [
            ("tightens", "block_public_acls"),
            ("tightens", "block_public_policy"),
            ("policy", "s3:*"),
            ("days", "365", "30"),
        ],
        flags=["policy", "days"],
    ),
]

# ---- Kubernetes ----------------------------------------------------------------------------

K8S_DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: web
          image: {image}
          resources:
            limits:
              cpu: 500m
              memory: {memory}
          securityContext:
            runAsNonRoot: {nonroot}
            allowPrivilegeEscalation: false
"""

K8S_SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  type: {type}
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: {body}
    nginx.ingress.kubernetes.io/whitelist-source-range: {range}
"""

K8S_RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
  - apiGroups: [""]
    resources: {resources}
    verbs: {verbs}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  minReplicas: {min}
  maxReplicas: {max}
"""

K8S_CASES = [
    templated(
        "k8s-deployment",
        "kubernetes",
        "k8s/web.yaml",
        K8S_DEPLOY,
        {
            "replicas": 3,
            "image": "registry.example.com/web:1.4.2",
            "memory": "256Mi",
            "nonroot": "true",
        },
        {
            "replicas": 1,
            "image": "registry.example.com/web:latest",
            "memory": "1Gi",
            "nonroot": "false",
        },
        [
            ("replicas", "3", "1", "line 6"),
            ("image", "web:1.4.2", "web:latest"),
            ("memory", "256Mi", "1Gi"),
            ("runAsNonRoot", "true", "false"),
        ],
        flags=["image", "runAsNonRoot"],
    ),
    templated(
        "k8s-service-ingress",
        "kubernetes",
        "k8s/api.yaml",
        K8S_SERVICE,
        {"type": "ClusterIP", "body": "1m", "range": "10.0.0.0/8"},
        {"type": "LoadBalancer", "body": "50m", "range": "0.0.0.0/0"},
        [
            ("type", "ClusterIP", "LoadBalancer"),
            ("proxy-body-size", "1m", "50m", "line 16"),
            ("whitelist-source-range", "0.0.0.0/0"),
        ],
        flags=["size limit raised", "`type`", "whitelist-source-range"],
    ),
    templated(
        "k8s-rbac-hpa",
        "kubernetes",
        "deploy/rbac.yaml",
        K8S_RBAC,
        {"resources": '["pods"]', "verbs": '["get", "list"]', "min": 2, "max": 10},
        {"resources": '["pods", "secrets"]', "verbs": '["*"]', "min": 1, "max": 50},
        [
            ("verbs", "*"),
            ("resources", "secrets"),
            ("maxReplicas", "10", "50"),
            ("minReplicas", "2", "1"),
        ],
        flags=["verbs"],
    ),
]

# ---- Dockerfiles ---------------------------------------------------------------------------

DOCKER_CASES = [
    Case(
        "docker-python-app",
        "dockerfile",
        {
            "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
            "RUN pip install -r requirements.txt\nUSER app\nEXPOSE 8080\n"
            'CMD ["python", "app.py"]\n'
        },
        {
            "Dockerfile": "FROM python:latest\nWORKDIR /app\nCOPY . .\n"
            "RUN pip install -r requirements.txt\nEXPOSE 8080 9090\n"
            'CMD ["python", "app.py"]\n'
        },
        [
            ("FROM", "python:3.11-slim", "python:latest", "line 1"),
            ("USER", "app", "root"),
            ("EXPOSE", "9090", "line 5"),
        ],
        flags=["FROM", "USER"],
    ),
    Case(
        "docker-node-curl",
        "dockerfile",
        {
            "web/Dockerfile": "FROM node:20-alpine\nRUN apk add --no-cache curl\n"
            "ENV NODE_ENV=production\n"
            "HEALTHCHECK CMD curl -f http://localhost:3000/health || exit 1\nUSER node\n"
        },
        {
            "web/Dockerfile": "FROM node:20-alpine\nRUN apk add --no-cache curl\n"
            "RUN curl -fsSL https://get.example.sh | sh\n"
            "ENV NODE_ENV=production NODE_OPTIONS=--max-old-space-size=4096\nUSER node\n"
        },
        [
            ("RUN", "curl", "line 3"),
            ("NODE_OPTIONS", "--max-old-space-size=4096"),
            ("HEALTHCHECK", "removed"),
        ],
        flags=["curl"],
    ),
    Case(
        "docker-pinned",
        "dockerfile",
        {"Dockerfile": "FROM python:3.12\nRUN pip install flask gunicorn\nCMD gunicorn app:app\n"},
        {
            "Dockerfile": "FROM python:3.12-slim@sha256:" + "ab" * 32 + "\n"
            "RUN pip install flask==3.0.3 gunicorn==22.0.0\nRUN pip install requests\n"
            "USER 10001\nCMD gunicorn app:app\n"
        },
        [
            ("tightens", "FROM", "sha256"),
            ("tightens", "USER", "10001"),
            ("pip install requests", "line 3"),
        ],
        flags=["pip install requests"],
    ),
]

# ---- GitHub Actions ------------------------------------------------------------------------

GH_CI = """name: ci
on:
  {trigger}:
permissions: {permissions}
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: {timeout}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
      - run: pytest
"""

GH_DEPLOY = """name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: aws-actions/configure-aws-credentials@{ref}
        with:
          role-to-assume: arn:aws:iam::123456789012:role/deploy{extra}
      - run: ./deploy.sh
"""

GH_BUILD = """name: build
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest{timeout}
    container:
      image: {image}
    steps:
      - uses: actions/checkout@v4
      - name: install
        run: {install}
"""

GH_CASES = [
    templated(
        "gh-ci-permissions",
        "github-actions",
        ".github/workflows/ci.yml",
        GH_CI,
        {"trigger": "pull_request", "permissions": "\n  contents: read", "timeout": 10},
        {"trigger": "pull_request_target", "permissions": "write-all", "timeout": 30},
        [
            ("pull_request_target", "line 3"),
            ("permissions", "write-all"),
            ("timeout-minutes", "10", "30"),
        ],
        # a CI job's timeout-minutes is the runner's budget, no service limit: a fact, no ⚠
        flags=["pull_request_target", "write-all"],
    ),
    templated(
        "gh-deploy-actions",
        "github-actions",
        ".github/workflows/deploy.yml",
        GH_DEPLOY,
        {"ref": "v4", "extra": ""},
        {
            "ref": "e3dd6a429d7300a6a4c196c26e071d42e0343502",
            "extra": "\n      - uses: some-org/deploy-action@main",
        },
        [
            ("some-org/deploy-action@main", "line 13"),
            ("tightens", "configure-aws-credentials", "e3dd6a429d73"),
        ],
        flags=["some-org/deploy-action@main"],
    ),
    templated(
        "gh-build-container",
        "github-actions",
        ".github/workflows/build.yml",
        GH_BUILD,
        {"timeout": "", "image": "python:3.11", "install": "pip install -r req.txt"},
        {
            "timeout": "\n    timeout-minutes: 15",
            "image": "python:3.12",
            "install": "curl -sSL https://install.example.com | bash && pip install -r req.txt",
        },
        [
            ("image", "python:3.11", "python:3.12"),
            ("run", "curl"),
            ("timeout-minutes", "15"),
        ],
        flags=["curl"],
    ),
]

# ---- GitLab CI -----------------------------------------------------------------------------

GL_DEPLOY = """stages: [test, deploy]
test:
  stage: test
  image: {test_image}
  script:
    - pytest
deploy:
  stage: deploy
  image: registry.example.com/deployer:2.1
  script:
    - ./deploy.sh{when}
  timeout: {timeout}
"""

GL_BUILD = """include:
  - project: ops/ci-templates
    ref: {ref}
    file: /python.yml
build:
  image: {image}
  services:
    - docker:24-dind
  script:
    - docker build -t app .{extra}
"""

GL_TIGHT = """variables:
  DEPLOY_TIMEOUT: "{timeout}"
deploy:
  image: {image}
  script:
    - ./deploy.sh{when}
"""

GL_CASES = [
    templated(
        "gitlab-deploy-gate",
        "gitlab-ci",
        ".gitlab-ci.yml",
        GL_DEPLOY,
        {"test_image": "python:3.11", "when": "\n  when: manual", "timeout": "30m"},
        {"test_image": "python:3.12", "when": "", "timeout": "2h"},
        [("when", "manual"), ("timeout", "30m", "2h"), ("image", "python:3.11", "python:3.12")],
        flags=["when"],  # the job's timeout is the runner's budget (a fact, no ⚠)
    ),
    templated(
        "gitlab-build-supply",
        "gitlab-ci",
        ".gitlab-ci.yml",
        GL_BUILD,
        {"ref": "v1.2.0", "image": "docker:24", "extra": ""},
        {
            "ref": "main",
            "image": "docker:latest",
            "extra": "\n    - curl -s https://tools.example.com/setup.sh | sh",
        },
        [("ref", "v1.2.0", "main"), ("image", "docker:24", "docker:latest"), ("script", "curl")],
        flags=["`ref`", "docker:latest", "curl"],
    ),
    templated(
        "gitlab-tightened",
        "gitlab-ci",
        "ci/.gitlab-ci.yml",
        GL_TIGHT,
        {"timeout": 300, "image": "alpine:3.19", "when": ""},
        {"timeout": 900, "image": "alpine:3.19@sha256:" + "cd" * 32, "when": "\n  when: manual"},
        [
            ("DEPLOY_TIMEOUT", "300", "900"),
            ("tightens", "image", "sha256"),
            ("tightens", "when", "manual"),
        ],
        flags=["timeout raised"],
    ),
]

CASES: list[Case] = [
    *PYTHON_CASES,
    *CDK_PY_CASES,
    *CDK_TS_CASES,
    *CFN_CASES,
    *TF_CASES,
    *K8S_CASES,
    *DOCKER_CASES,
    *GH_CASES,
    *GL_CASES,
]


def summarise_case(root: Path, case: Case, *, review=None, backend=None) -> str:
    """Build the case's repository and return Podium's summary of its push (structural, or
    the model's when `backend` is given)."""
    from podium.review.config import ReviewSettings
    from podium.review.gitrepo import compute_change, sync_repository
    from podium.review.service import review_change

    root.mkdir(parents=True, exist_ok=True)
    repo, before, after = build_case(root, case)
    git_cache = sync_repository(name=case.name, url=str(repo.origin), cache_dir=root / "cache")
    change = compute_change(
        git_cache, repo=case.name, ref="refs/heads/main", before=before, after=after
    )
    # The written corpus was settled without the scanners: they run in the real-commit corpus.
    settings = review or ReviewSettings(scanners=False)
    reviewed = review_change(git_cache, change, review=settings, backend=backend)
    return reviewed.summary.text


# ---- held out --------------------------------------------------------------------------------
# Written after the analyser's rules were settled and scored once before any rule changed, so
# bench/review.py can show how the rules do on pushes they were not written against.

DJANGO = """from django.contrib.auth.decorators import permission_required


@permission_required("accounts.change_user")
def promote(request, user_id):
    users = User.objects.filter(id=user_id, is_active=True)
    users.update(role="editor")
    return redirect("users")
"""
DJANGO_AFTER = """from django.contrib.auth.decorators import permission_required


def promote(request, user_id):
    role = request.POST.get("role")
    users = User.objects.filter(id=user_id)
    users.update(role=role)
    return redirect("users")
"""

TF_HELD = """resource "aws_s3_bucket_acl" "site" {
  bucket = aws_s3_bucket.site.id
  acl    = "{acl}"
}

resource "aws_kms_key" "data" {
  description         = "data"
  enable_key_rotation = {rotation}
}

resource "aws_autoscaling_group" "web" {
  min_size = 2
  max_size = {max}
}
"""

K8S_HELD = """apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  template:
    spec:{host}
      containers:
        - name: agent
          image: example/agent:{tag}{privileged}
"""

GH_HELD = """name: release
on:
  push:
    tags: ["v*"]
jobs:
  release:
    runs-on: {runs_on}
    permissions:
      contents: {contents}
    steps:
      - uses: actions/checkout@v4{extra}
"""

CFN_HELD = """Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Timeout: {timeout}
  Method:
    Type: AWS::ApiGateway::Method
    Properties:
      HttpMethod: POST
      AuthorizationType: {auth}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      SSESpecification:
        SSEEnabled: {sse}
"""

HELD_OUT: list[Case] = [
    Case(
        "held-django-permission",
        "python",
        {"accounts/views.py": DJANGO},
        {"accounts/views.py": DJANGO_AFTER},
        [("permission_required", "promote"), ("request.POST.get('role')",), ("is_active",)],
        flags=["permission_required"],
    ),
    templated(
        "held-tf-acl-kms-asg",
        "terraform",
        "main.tf",
        TF_HELD,
        {"acl": "private", "rotation": "true", "max": 4},
        {"acl": "public-read", "rotation": "false", "max": 20},
        [("acl", "public-read"), ("enable_key_rotation", "false"), ("max_size", "4", "20")],
        flags=["acl", "enable_key_rotation"],
    ),
    templated(
        "held-k8s-privileged",
        "kubernetes",
        "k8s/agent.yaml",
        K8S_HELD,
        {"host": "", "tag": "1.2", "privileged": ""},
        {
            "host": "\n      hostNetwork: true",
            "tag": "1.3",
            "privileged": "\n          securityContext:\n            privileged: true",
        },
        [("hostNetwork", "true"), ("privileged", "true"), ("image", "agent:1.2", "agent:1.3")],
        flags=["hostNetwork", "privileged"],
    ),
    templated(
        "held-gh-release",
        "github-actions",
        ".github/workflows/release.yml",
        GH_HELD,
        {"runs_on": "ubuntu-22.04", "contents": "read", "extra": ""},
        {
            "runs_on": "ubuntu-24.04",
            "contents": "write",
            "extra": "\n      - uses: softprops/action-gh-release@v2",
        },
        [
            ("contents", "read", "write"),
            ("softprops/action-gh-release@v2",),
            ("runs-on", "ubuntu-22.04", "ubuntu-24.04"),
        ],
        flags=["contents"],
    ),
    templated(
        "held-cfn-api",
        "cloudformation",
        "stack.yaml",
        CFN_HELD,
        {"timeout": 30, "auth": "AWS_IAM", "sse": "true"},
        {"timeout": 900, "auth": "NONE", "sse": "false"},
        [("Timeout", "30", "900"), ("AuthorizationType", "NONE"), ("SSEEnabled", "false")],
        flags=["timeout raised", "AuthorizationType", "SSEEnabled"],
    ),
    Case(
        "held-docker-digest",
        "dockerfile",
        {"Dockerfile": "FROM golang:1.22@sha256:" + "ef" * 32 + "\nUSER 65532\n"},
        {"Dockerfile": "FROM golang:1.22\nADD https://example.com/tool.tar.gz /opt/\nUSER root\n"},
        [("FROM", "golang:1.22"), ("ADD", "https://example.com/tool.tar.gz"), ("USER", "root")],
        flags=["FROM", "ADD", "USER"],
    ),
]
