"""The real-commit review corpus (tests/podium/review/corpus_real/*.yaml).

Each file is one single commit of a public repository: its repository, commit and parent ids,
the changed files before and after it (only those), and the facts and risks a reviewer must
see, written from the diff before any summariser was run on it. A case is rebuilt as a real git
repository without network: a base commit holding the files as they were at the parent, then
the commit's change pushed on top.

Splits: `train` (every rule may be fixed against it) and any split whose name starts with
`held-out` (a fresh set: bench/review.py scores it only when named, `--splits held-out-5`,
once, reported apart; the tests here only build and summarise it). The four earlier held-out
sets were scored once each and are spent: they are training now, and their files say which set
they were (`spent: held-out`, `spent: held-out-2`, `spent: held-out-3`, `spent: held-out-4`).
`held-out-4` was 32 commits of 13 repositories none of the others came from, collected by two
helpers who never ran the summariser nor read its rules: 16 infrastructure commits (Terraform 4,
CloudFormation 4, CDK TypeScript 4, Helm 4; terraform-google-network,
cloudposse/terraform-aws-eks-cluster, widdix/aws-cf-templates, awslabs/aws-solutions-constructs,
kedacore/charts, external-secrets/external-secrets) and 16 code and container commits (Django 5,
FastAPI 3, Dockerfile 4, GitHub Actions 4; django-guardian, dj-rest-auth, django-rest-knox,
django-otp, Netflix/dispatch, linuxserver/docker-swag, docker-library/redis), taken newest-first
by a size rule fixed before any diff was read, with expectations committed before any
summariser ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.podium.review.corpus import Case

ROOT = Path(__file__).with_name("corpus_real")


@dataclass(frozen=True)
class RealCase:
    id: str
    repo: str
    commit: str
    parent: str
    subject: str
    kind: str
    split: str
    case: Case
    spent: str = ""  # the held-out set a training case was scored in, once, before

    def facts_written(self) -> bool:
        """Every case carries its expected facts (written before the summariser ran)."""
        return bool(self.case.facts)


def load(path: Path) -> RealCase:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    base: dict[str, str] = {}
    change: dict[str, str | None] = {}
    for f in doc["files"]:
        old_path = f.get("old_path") or f["path"]
        if f["before"] is not None:
            base[old_path] = f["before"]
        if old_path != f["path"]:
            change[old_path] = None
        change[f["path"]] = f["after"]
    case = Case(
        name=doc["id"],
        kind=doc["kind"],
        base=base,
        change=change,
        facts=[tuple(fact) for fact in doc["facts"]],
        flags=list(doc["risks"]),
        message=f"{doc['subject']}\n\n(upstream {doc['repo']}@{doc['commit']})",
    )
    return RealCase(
        doc["id"], doc["repo"], doc["commit"], doc["parent"], doc["subject"], doc["kind"],
        doc["split"], case, doc.get("spent", ""),
    )  # fmt: skip


ALL: list[RealCase] = [load(p) for p in sorted(ROOT.glob("*.yaml"))]
TRAIN: list[Case] = [c.case for c in ALL if c.split == "train"]


def is_held_out(split: str) -> bool:
    """A fresh set, scored only when named: every split whose name starts with `held-out`."""
    return split.startswith("held-out")


HELD_OUT_SPLITS: list[str] = sorted({c.split for c in ALL if is_held_out(c.split)})
HELD_OUT: list[Case] = [c.case for c in ALL if is_held_out(c.split)]
