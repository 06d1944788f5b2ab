"""Infrastructure as code: which kind a file is, and the settings a push changed in it.

Kinds: CloudFormation/SAM (YAML and JSON), Terraform (HCL, read with python-hcl2), Kubernetes
manifests, Dockerfiles, GitHub Actions workflows, GitLab CI, and CDK apps in TypeScript
(CDK in Python is read by `python_diff` through `ast`). Each file is read into a tree, the trees
before and after are compared setting by setting, and every changed setting is judged by
`facts.judge` (exposure and auth, limits, data, supply chain). Lines are found by walking the
setting's path through the file's text.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml

from podium.review.facts import (
    CONFIG,
    EXPOSURE,
    LIMITS,
    SUPPLY,
    Fact,
    amount,
    judge_items,
    new_words,
    norm_key,
    secret_named,
    setting_fact,
    setting_facts,
    show,
    switch_facts,
)

IAC_KINDS = (
    "cloudformation",
    "terraform",
    "kubernetes",
    "dockerfile",
    "github-actions",
    "gitlab-ci",
    "cdk-typescript",
    "cdk-python",
    "helm",
)


class _TolerantLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`…) read as text."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return f"!{suffix} {value}"


_TolerantLoader.add_multi_constructor("!", _tagged)


def iac_kind(path: str, text: str | None) -> str | None:
    """The infrastructure-as-code kind of a file, from its path and (for YAML/JSON/TS/Python)
    its content; None when it is none of them."""
    pure = PurePosixPath(path)
    name, suffix = pure.name.lower(), pure.suffix.lower()
    if name.startswith(("dockerfile", "containerfile")) or suffix == ".dockerfile":
        return "dockerfile"
    if suffix in (".tf", ".hcl") or name.endswith(".tfvars"):
        return "terraform"
    if name == ".gitlab-ci.yml" or (suffix in (".yml", ".yaml") and "gitlab-ci" in name):
        return "gitlab-ci"
    if ".github/workflows/" in path and suffix in (".yml", ".yaml"):
        return "github-actions"
    if text is None:
        return None
    if "/templates/" in f"/{path}" and suffix in (".yml", ".yaml", ".tpl") and "{{" in text:
        return "helm"
    if suffix == ".ts" and ("aws-cdk-lib" in text or "@aws-cdk/" in text):
        return "cdk-typescript"
    if suffix == ".py" and re.search(r"^\s*(from|import)\s+aws_cdk\b", text, re.M):
        return "cdk-python"
    if suffix in (".yml", ".yaml", ".json", ".template"):
        if re.search(r"""["']?AWSTemplateFormatVersion|["']?Resources["']?\s*:""", text) and (
            "AWS::" in text
        ):
            return "cloudformation"
        if re.search(r"^apiVersion:", text, re.M) and re.search(r"^kind:", text, re.M):
            return "kubernetes"
    return None


# ---- trees -------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _dynamic_blocks(value: dict[str, Any]) -> dict[str, Any]:
    """`dynamic "statement" { for_each = …; content { … } }` read as the `statement` block it
    generates, marked with its `for_each`, next to the static blocks of the same name: a
    statement that became conditional is then that statement, changed, not removed."""
    dynamic = value.get("dynamic")
    if not dynamic:
        return value
    out = {k: v for k, v in value.items() if k != "dynamic"}
    for item in dynamic if isinstance(dynamic, list) else [dynamic]:
        for name, block in (item or {}).items():
            if not isinstance(block, dict):
                continue
            contents = block.get("content") or [{}]
            for content in contents if isinstance(contents, list) else [contents]:
                generated = {**content, "for_each": block.get("for_each")}
                key = _unquote(name)
                existing = out.get(key) or out.get(name) or []
                out[key] = [*(existing if isinstance(existing, list) else [existing]), generated]
    return out


def _block_key(item: dict[str, Any], index: int) -> str:
    for field in ("sid", "name", "id"):
        if isinstance(item.get(field), str):
            return _unquote(item[field])
    return str(index)


def _clean_hcl(value: Any) -> Any:
    """python-hcl2's output without its quoting and block markers; a list holding one block
    is that block; repeated blocks are keyed by their `sid`/`name` when they have one."""
    if isinstance(value, dict):
        value = _dynamic_blocks(value)
        return {_unquote(k): _clean_hcl(v) for k, v in value.items() if k not in ("__is_block__",)}
    if isinstance(value, list):
        items = [_clean_hcl(v) for v in value]
        if len(items) == 1 and isinstance(items[0], dict):
            return items[0]
        if all(isinstance(i, dict) for i in items) and items:
            merged: dict[str, Any] = {}
            for i, item in enumerate(items):
                if len(item) == 1 and isinstance(next(iter(item.values())), dict):
                    merged.update(item)  # `resource` blocks: {type: {name: …}} merge by type
                    continue
                merged[_block_key(item, i)] = item
            return merged
        return items
    return _unquote(value)


def _merge_hcl_top(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for top, blocks in tree.items():
        items = blocks if isinstance(blocks, list) else [blocks]
        merged: dict[str, Any] = {}
        for item in items:
            item = _clean_hcl(item)
            if isinstance(item, dict):
                for k, v in item.items():
                    if isinstance(merged.get(k), dict) and isinstance(v, dict):
                        merged[k] = {**merged[k], **v}
                    else:
                        merged[k] = v
        out[top] = merged
    return out


def _list_key(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for field in ("name", "id", "Sid", "sid", "containerPort", "port"):
            if isinstance(item.get(field), str | int) and not isinstance(item.get(field), bool):
                return str(item[field])
        if "verbs" in item or "apiGroups" in item:  # an RBAC rule: what it is about
            groups = item.get("apiGroups") or [""]
            names = item.get("resources") or item.get("nonResourceURLs") or []
            if isinstance(groups, list) and isinstance(names, list):
                return "rule " + ",".join(map(str, groups)) + "\0" + ",".join(map(str, names))
        if isinstance(item.get("uses"), str):
            return item["uses"].split("@")[0]
        if isinstance(item.get("run"), str):
            return "run: " + item["run"].strip().splitlines()[0][:40]
    return str(index)


def shared_rule_groups(*trees: Any) -> set[str]:
    """RBAC rules' API groups that two rules of one list share, on either side of a change."""
    shared: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            keys = [_list_key(item, index) for index, item in enumerate(value)]
            groups = Counter(k.split("\0")[0] for k in keys if "\0" in k)
            shared.update(g for g, n in groups.items() if n > 1)
            for item in value:
                walk(item)

    for tree in trees:
        walk(tree)
    return shared


def flatten(
    value: Any, prefix: tuple[str, ...] = (), shared: set[str] | None = None
) -> dict[tuple[str, ...], Any]:
    """A tree as path → scalar (or short list of scalars). Lists of mappings are keyed by
    their `name`/`id`/`Sid`/`uses` so an insertion does not shift every later item.

    RBAC rules are named by their API groups, and by their resources too where two rules
    share the groups on either side (`shared`, from `shared_rule_groups` of both trees): a
    rule whose resources changed is then that rule changed, and a rule added beside one of
    the same groups does not rename it."""
    out: dict[tuple[str, ...], Any] = {}
    if shared is None:
        shared = shared_rule_groups(value)
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, (*prefix, str(key)), shared))
    elif isinstance(value, list) and any(isinstance(i, dict | list) for i in value):
        keys = [_list_key(item, index) for index, item in enumerate(value)]
        keys = [
            (k.replace("\0", ":") if k.split("\0")[0] in shared else k.split("\0")[0])
            if "\0" in k
            else k
            for k in keys
        ]
        for key, item in zip(keys, value, strict=True):
            out.update(flatten(item, (*prefix, key), shared))
    else:
        out[prefix] = "" if value is None else value  # a key present with no value
    return out


def read_tree(kind: str, path: str, text: str) -> Any:
    """The file as a tree; raises on a parse error."""
    if kind == "terraform":
        import hcl2

        return _merge_hcl_top(hcl2.load(io.StringIO(text)))
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".json":
        return json.loads(text)
    docs = [d for d in yaml.load_all(text, Loader=_TolerantLoader) if d is not None]
    if kind == "kubernetes" or len(docs) > 1:
        keyed: dict[str, Any] = {}
        for i, doc in enumerate(docs):
            if isinstance(doc, dict):
                meta = doc.get("metadata") or {}
                name = meta.get("name") if isinstance(meta, dict) else None
                keyed[f"{doc.get('kind', 'doc')}/{name or i}"] = doc
        return keyed
    return docs[0] if docs else {}


# ---- lines -------------------------------------------------------------------------------


def locate(text: str | None, segments: tuple[str, ...]) -> int | None:
    """The line of a setting: each path segment is looked for at or after the line where the
    previous one was found (segments that are not in the text, like list keys, are skipped)."""
    if not text:
        return None
    lines = text.splitlines()
    position, found = 0, None
    previous = ""
    for segment in segments:
        if segment.isdigit() and previous:
            # the n-th block of a repeated name (`statement` 0, 1, …): skip n more of them
            pattern = re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(previous) + r"(?![A-Za-z0-9_-])")
            left = int(segment)
            for number in range(position + 1, len(lines)):
                if left == 0:
                    break
                if pattern.search(lines[number]):
                    position, found, left = number, number + 1, left - 1
            continue
        previous = segment
        if segment.startswith("rule "):
            # an RBAC rule keyed by its API groups (and resources): it stands where its
            # first resource (or API group) is listed
            named = segment[5:].split(":", 1)[-1].split(",")[0]
            segment = named or segment
        for word in [w for w in segment.split("/") if w] or [segment]:
            pattern = re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(word) + r"(?![A-Za-z0-9_-])")
            # where the word is a key or a block's label (`count =`, `name:`, `data "type"
            # "name" {`), not a mention of it in an expression further up
            key = re.compile(
                r"""^\s*(?:-\s+)?(?:[A-Za-z_][\w-]*\s+)?(?:"[^"]*"\s+)*["']?"""
                + re.escape(word)
                + r"""["']?\s*(?:[:={"]|$)"""
            )
            hit = next((n for n in range(position, len(lines)) if key.search(lines[n])), None)
            if hit is None:
                hit = next(
                    (n for n in range(position, len(lines)) if pattern.search(lines[n])), None
                )
            if hit is not None:
                position, found = hit, hit + 1
    return found


_CI_KINDS = ("github-actions", "gitlab-ci")
_NOISE = ("Properties", "spec", "template", "containers", "metadata", "resource", "Resources")


def _subject(kind: str, segments: tuple[str, ...]) -> str:
    shown = [s for s in segments if s not in _NOISE]
    if kind == "kubernetes" and segments:
        shown = [segments[0], *[s for s in segments[1:] if s not in _NOISE]]
    if not shown:
        shown = list(segments)
    owner, key = shown[:-1], shown[-1]
    return (f"`{'.'.join(owner)}` " if owner else "") + f"`{key}`"


def _resource_type(
    segments: tuple[str, ...], before: dict[tuple[str, ...], Any], after: dict[tuple[str, ...], Any]
) -> str:
    """A CloudFormation resource's `Type` (` @AWS::Lambda::Function`), for rules whose sense
    depends on what the setting belongs to (a Lambda's timeout defaults to 3 s)."""
    if len(segments) < 3 or segments[0] != "Resources":
        return ""
    kind = after.get((*segments[:2], "Type")) or before.get((*segments[:2], "Type"))
    return f" @{kind}" if isinstance(kind, str) else ""


def tree_facts(
    path: str, kind: str, old_text: str | None, new_text: str | None
) -> list[Fact] | None:
    """The facts of a structured IaC file (everything but Dockerfiles and CDK); None when
    either side does not parse."""
    try:
        old_tree = read_tree(kind, path, old_text) if old_text else {}
        new_tree = read_tree(kind, path, new_text) if new_text else {}
        shared = shared_rule_groups(old_tree, new_tree)
        before, after = flatten(old_tree, (), shared), flatten(new_tree, (), shared)
    except Exception:  # any parse error: the caller reports the file without settings
        return None
    facts: list[Fact] = []
    for segments in sorted(before.keys() | after.keys()):
        a, b = before.get(segments), after.get(segments)
        if a == b or not segments:
            continue
        if kind == "github-actions" and segments[0] in ("on", True, "True") and len(segments) >= 2:
            if (
                "pull_request_target" in segments
                and a is None
                and b is not None
                or (segments[1] == "pull_request_target" and a is None)
            ):
                facts.append(
                    Fact(
                        path,
                        locate(new_text, ("pull_request_target",)),
                        EXPOSURE,
                        "trigger `pull_request_target`",
                        None,
                        "pull_request_target",
                        "loosens",
                        "runs fork pull requests with the repository's secrets",
                        "added",
                        ("pull_request_target",),
                    )
                )
                continue
        key = segments[-1]
        line = locate(new_text if b is not None else old_text, segments)
        if isinstance(a, list) and isinstance(b, str | int):
            b = [b]  # `Action: x` became `Action: [x, y]`: compare as lists
        elif isinstance(b, list) and isinstance(a, str | int):
            a = [a]
        if (
            _scalars(a)
            and _scalars(b)
            and (a or b)
            and (isinstance(a, list) or isinstance(b, list))
        ):
            items = _list_fact(path, kind, segments, a, b, new_text, old_text, after)
            if items is not None:
                facts.append(items)
                continue
        if (
            isinstance(a, str | None)
            and isinstance(b, str | None)
            and "\n" in (a or "") + (b or "")
        ):
            facts.append(_script_fact(path, kind, segments, a, b, new_text, line))
            continue
        fact = setting_fact(
            path=path,
            line=line if b is not None else None,
            key=key,
            subject=_subject(kind, segments),
            before=a,
            after=b,
            context=".".join(segments) + _resource_type(segments, before, after),
            fallback=CONFIG,
        )
        if fact is not None and "above its default" in fact.why and segments[0] != "Globals":
            owner = {"Resources": segments[:2], "resource": segments[:3]}.get(
                segments[0], segments[:-1]
            )
            if not any(k[: len(owner)] == owner for k in before):
                # a new resource's limit is its first value, not a raise of a running one
                # (SAM `Globals` do raise the functions that were there)
                fact = Fact(**{**fact.__dict__, "effect": "neutral", "why": "set"})
        if (
            fact is not None
            and kind in _CI_KINDS
            and fact.category == LIMITS
            and not {"variables", "env", "with"} & set(segments)
        ):
            # a CI job's own time budget (`timeout-minutes`, a GitLab job's `timeout`) or
            # parallelism bounds the runner, not a service anyone calls: a fact, never a
            # loosening (a variable or input handed to the deployed code still is judged)
            fact = Fact(**{**fact.__dict__, "effect": "neutral", "why": "CI job budget"})
        if fact is not None and fact.effect == "loosens" and "wildcard" in fact.why:
            owner = segments[:-1]
            effect_value = after.get((*owner, "effect")) or after.get((*owner, "Effect")) or ""
            if str(effect_value).lower() == "deny":  # `*` in a Deny statement denies more
                fact = Fact(**{**fact.__dict__, "effect": "neutral", "why": "in a Deny statement"})
        if fact is not None:
            if b is None and line is not None:  # removed: name the old line
                fact = Fact(**{**fact.__dict__, "why": (fact.why + f" (was line {line})").strip()})
            facts.append(fact)
    seen_blocks = set()
    for index, fact in enumerate(facts):  # one "logging removed" line per removed block
        if fact.why.startswith("logging removed"):
            block = fact.subject.rsplit("` `", 1)[0]
            if block in seen_blocks:
                facts[index] = Fact(**{**fact.__dict__, "effect": "neutral"})
            seen_blocks.add(block)
    if kind == "github-actions":
        facts += _workflow_facts(path, before, after, new_text, old_text)
    if kind in ("kubernetes", "cloudformation", "terraform"):
        facts += _guard_removed_facts(path, before, after, old_text)
        facts = _port_range_facts(path, kind, before, after, facts)
    return _fold(path, _merge_grants(path, facts))


# Untrusted text of an event, expanded into a `run:` script (an attacker writes the title)
_INJECTABLE = re.compile(
    r"\$\{\{\s*github\.(?:head_ref|event\.(?:pull_request|issue|comment|review|review_comment|"
    r"discussion|head_commit|commits|pages|workflow_run)\S*\.(?:title|body|ref|label|message|"
    r"name|email|head_branch|default_branch))\b"
)
_PR_HEAD = re.compile(r"github\.event\.pull_request\.head\.(?:sha|ref)|github\.head_ref")


def _workflow_facts(
    path: str,
    before: dict[tuple[str, ...], Any],
    after: dict[tuple[str, ...], Any],
    text: str | None,
    old_text: str | None,
) -> list[Fact]:
    """A GitHub Actions workflow's whole-file risks: a `permissions` block removed (the token
    falls back to the repository's default, often write), a `pull_request_target` workflow
    that checks out the pull request's own code, untrusted event text expanded into a script,
    and `secrets: inherit`."""
    facts = []
    blocks = {k[: k.index("permissions") + 1] for k in before if "permissions" in k}
    # `permissions: {}` (none at all) reads as no keys: only fewer `permissions:` lines is
    # a block removed
    fewer = len(re.findall(r"(?m)^\s*permissions:", old_text or "")) > len(
        re.findall(r"(?m)^\s*permissions:", text or "")
    )
    for block in sorted(blocks):
        if fewer and not any(k[: len(block)] == block for k in after):
            facts.append(Fact(
                path, locate(text, block[:-1]) if len(block) > 1 else None, EXPOSURE,
                f"`{'.'.join(block)}` block removed", effect="loosens", status="removed",
                why="the token gets the repository's default permissions (often write)",
                anchors=("permissions",),
            ))  # fmt: skip
    old_values = " ".join(str(v) for v in before.values())
    target = any("pull_request_target" in k for k in after)
    for segments, value in after.items():
        if not isinstance(value, str) or value == before.get(segments):
            continue
        head = _PR_HEAD.search(value)
        if target and head and not _PR_HEAD.search(str(before.get(segments) or "")):
            facts.append(Fact(
                path, locate(text, segments), EXPOSURE, f"`{segments[-1]}` `{head.group(0)}`",
                effect="loosens", status="added", anchors=(head.group(0),),
                why="a pull_request_target workflow runs the pull request's own code with "
                "the repository's secrets",
            ))  # fmt: skip
        injected = [m.group(0) for m in _INJECTABLE.finditer(value) if m.group(0) not in old_values]
        if injected and segments[-1] in ("run", "script"):
            facts.append(Fact(
                path, locate(text, segments), EXPOSURE, f"`run` expands `{injected[0]} }}}}`",
                effect="loosens", status="added", anchors=("run", injected[0].split(".")[-1]),
                why="untrusted event text is pasted into a shell script (script injection)",
            ))  # fmt: skip
        if segments[-1] == "secrets" and value.strip() == "inherit":
            facts.append(Fact(
                path, locate(text, segments), EXPOSURE, f"`{'.'.join(segments)}` `inherit`",
                effect="loosens", status="added", anchors=("secrets", "inherit"),
                why="every secret of the caller is passed to the called workflow",
            ))  # fmt: skip
    return facts


# Resources whose whole job is to guard or record: removing one opens or blinds something
_GUARD_KINDS = re.compile(
    r"^(NetworkPolicy|AuthorizationPolicy|PeerAuthentication|PodSecurityPolicy|"
    r"aws_flow_log|aws_cloudtrail|aws_wafv2_web_acl_association|aws_wafv2_web_acl|"
    r"aws_guardduty_detector|aws_s3_bucket_public_access_block|aws_config_configuration_recorder|"
    r"aws_s3_bucket_logging|aws_securityhub_account|AWS::EC2::FlowLog|AWS::CloudTrail::Trail|"
    r"AWS::WAFv2::WebACLAssociation|AWS::GuardDuty::Detector|AWS::S3::BucketPolicy)$"
)


def _guard_removed_facts(
    path: str,
    before: dict[tuple[str, ...], Any],
    after: dict[tuple[str, ...], Any],
    text: str | None,
) -> list[Fact]:
    """A guarding resource (a NetworkPolicy, a flow log, a trail, a WAF association, a
    public-access block) removed as a whole is ⚠: what it blocked is allowed, or what it
    recorded is no longer recorded."""

    def resources(flat: dict[tuple[str, ...], Any]) -> dict[tuple[str, ...], str]:
        out = {}
        for key, value in flat.items():
            if key[0] == "resource" and len(key) >= 3:
                out[key[:3]] = key[1]
            elif key[0] == "Resources" and len(key) >= 3 and key[2] == "Type":
                out[key[:2]] = str(value)
            elif "/" in key[0] and len(key) == 2 and key[1] == "kind":
                out[key[:1]] = str(value)
        return out

    old, new = resources(before), resources(after)
    # a guard renamed (one of its kind gone, one come) is no guard removed
    fewer = {
        kind
        for kind in set(old.values())
        if list(old.values()).count(kind) > list(new.values()).count(kind)
    }
    return [
        Fact(
            path,
            None,
            EXPOSURE,
            f"`{'.'.join(k[1:] if k[0] in ('resource', 'Resources') else k)}` ({kind}) removed",
            effect="loosens",
            status="removed",
            why="what it blocked is now allowed, or what it recorded is no longer recorded",
            anchors=(kind, k[-1]),
        )  # fmt: skip
        for k, kind in old.items()
        if k not in new and kind in fewer and _GUARD_KINDS.match(kind)
    ]


def _port_range_facts(
    path: str,
    kind: str,
    before: dict[tuple[str, ...], Any],
    after: dict[tuple[str, ...], Any],
    facts: list[Fact],
) -> list[Fact]:
    """A rule's port range (`from_port`/`to_port`, `FromPort`/`ToPort`) judged as one range:
    wider is ⚠ (more ports reachable), narrower ✓, moved neutral."""

    def ports(flat: dict[tuple[str, ...], Any]) -> dict[tuple[str, ...], tuple[float, float]]:
        out = {}
        for key, value in flat.items():
            if norm_key(key[-1]) == "fromport":
                to = next((v for k, v in flat.items() if k[:-1] == key[:-1]
                           and norm_key(k[-1]) == "toport"), value)  # fmt: skip
                low, high = amount(value), amount(to)
                if low is not None and high is not None:
                    out[key[:-1]] = (low, high)
        return out

    old, new = ports(before), ports(after)
    for owner, (low, high) in new.items():
        if owner not in old or old[owner] == (low, high):
            continue
        was_low, was_high = old[owner]
        if low == -1 or (low <= was_low and high >= was_high):
            effect, why = (
                "loosens",
                f"port range widened: {was_low:g}-{was_high:g} → {low:g}-{high:g}",
            )
        elif low >= was_low and high <= was_high:
            effect, why = (
                "tightens",
                f"port range narrowed: {was_low:g}-{was_high:g} → {low:g}-{high:g}",
            )
        else:
            continue
        subjects = {
            _subject(kind, key)
            for key in (*before, *after)
            if key[:-1] == owner and norm_key(key[-1]) in ("fromport", "toport")
        }
        first = next((f for f in facts if f.subject in subjects), None)
        facts = [  # one judged line per range; the other end is the same change
            Fact(**{**f.__dict__, "category": EXPOSURE, "effect": effect, "why": why})
            if f is first
            else Fact(**{**f.__dict__, "effect": "neutral", "why": why})
            if f.subject in subjects
            else f
            for f in facts
        ]
    return facts


def _merge_grants(path: str, facts: list[Fact]) -> list[Fact]:
    """Grants added to one file (IAM actions/resources, RBAC verbs) become one ⚠ line, grouped
    by statement or rule, so twenty one-attribute lines do not bury the rest."""
    grants = [f for f in facts if f.effect == "loosens" and "granted" in f.why]
    if len(grants) <= 1:
        return facts
    groups: dict[str, list[str]] = {}
    for fact in grants:
        parts = fact.subject.split("`")
        owner, key, change = (
            (parts[1], parts[3], "`".join(parts[4:]).strip())
            if len(parts) > 4
            else ("", parts[1] if len(parts) > 1 else "", fact.subject)
        )
        items = [a for a in fact.anchors[1:] if a]
        if key in ("apiGroups", "resources") and "rule " in owner and items:
            if all(item in owner for item in items):
                continue  # a new rule is named by its API groups and resources already
        groups.setdefault(owner, []).append(f"{key} {change.removeprefix('added ')}")
    prefix = _common_prefix(list(groups))
    text = "; ".join(
        f"`{owner[len(prefix) :] or owner}`: " + ", ".join(items) for owner, items in groups.items()
    )
    first = min((f.line for f in grants if f.line), default=None)
    merged = Fact(
        path,
        first,
        grants[0].category,
        f"grants added{f' to `{prefix.rstrip(chr(46))}`' if prefix else ''}: {text}",
        None,
        None,
        "loosens",
        "access granted",
        "changed",
        tuple(a for f in grants for a in f.anchors),
    )
    rest = [f for f in facts if f not in grants]
    return [merged, *rest]


def _common_prefix(owners: list[str]) -> str:
    """The shared leading path of statement owners, cut at a dot (`Role/x.rules.`)."""
    if len(owners) < 2:
        return ""
    first, last = min(owners), max(owners)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    cut = first[:size]
    return cut[: cut.rfind(".") + 1] if "." in cut else ""


def _script_fact(
    path: str,
    kind: str,
    segments: tuple[str, ...],
    before: str | None,
    after: str | None,
    new_text: str | None,
    line: int | None,
) -> Fact:
    """A multi-line script (a workflow step's `run`, a ConfigMap entry): its lines added and
    removed, in full, judged for downloads piped to a shell."""
    old = [x.strip() for x in (before or "").splitlines() if x.strip()]
    new = [x.strip() for x in (after or "").splitlines() if x.strip()]
    added = [x for x in new if x not in old]
    removed = [x for x in old if x not in new]
    judged = setting_fact(
        path=path, line=line, key=segments[-1], subject="", before=before, after=after,
        context=".".join(segments), fallback=None,
    )  # fmt: skip
    parts = []
    if added:
        parts.append("adds " + "; ".join(f"`{x}`" for x in added[:8]))
    if removed:
        parts.append("drops " + "; ".join(f"`{x}`" for x in removed[:8]))
    if new_text and added:
        for number, content in enumerate(new_text.splitlines(), 1):
            if added[0] in content:
                line = number
                break
    return Fact(
        path,
        line,
        judged.category if judged else CONFIG,
        _subject(kind, segments) + " " + ("; ".join(parts) or "reformatted"),
        None,
        None,
        judged.effect if judged else "neutral",
        judged.why if judged else "",
        "changed",
        (segments[-1], *(added or removed)[:2]),
    )


def _scalars(value: Any) -> bool:
    return value is None or (
        isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
    )


def _list_fact(
    path: str,
    kind: str,
    segments: tuple[str, ...],
    before: list[Any] | None,
    after: list[Any] | None,
    new_text: str | None,
    old_text: str | None,
    tree: dict[tuple[str, ...], Any],
) -> Fact | None:
    """A list of scalars that changed: the items added and removed, each named in full, and
    judged when the list grants something (IAM actions/resources, RBAC verbs/resources). In a
    Deny statement more items deny more."""
    old, new = [str(v) for v in before or []], [str(v) for v in after or []]
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    if not added and not removed:
        return None  # reordered only
    owner = segments[:-1]
    effect_value = tree.get((*owner, "effect")) or tree.get((*owner, "Effect")) or ""
    deny = str(effect_value).strip("'\"").lower() == "deny"
    judged = judge_items(segments[-1], added, removed, ".".join(segments), deny)
    text = new_text if added else old_text
    line = locate(text, segments)
    if text and line and (added or removed):
        first = (added or removed)[0]
        for number, content in enumerate(text.splitlines()[line - 1 :], line):
            if first in content:
                line = number
                break
    parts = []
    if added:
        parts.append("added " + ", ".join(f"`{v}`" for v in added))
    if removed:
        parts.append("removed " + ", ".join(f"`{v}`" for v in removed))
    if judged is None:  # not a grant list: judge the list as a whole (CIDRs, scripts)
        whole = setting_fact(
            path=path, line=None, key=segments[-1], subject="", before=before, after=after,
            context=".".join(segments), fallback=None,
        )  # fmt: skip
        if whole is not None:
            judged = (whole.category, whole.effect, whole.why)
    category, effect, why = judged if judged else (CONFIG, "neutral", "")
    if judged is None and before is not None and after is not None and len(new) <= 3:
        why = f"{show(before)} → {show(after)}"
    return Fact(
        path,
        line if (added or not removed) else None,
        category,
        _subject(kind, segments) + " " + "; ".join(parts),
        None,
        None,
        effect,  # type: ignore[arg-type]
        why
        if effect != "loosens"
        else (why.split(":")[0] + (" (a Deny statement)" if deny else "")),
        "changed",
        tuple([segments[-1], *(added or removed)[:3]]),
    )


def _fold(path: str, facts: list[Fact]) -> list[Fact]:
    """Many plain configuration changes of one file become one line, so a reviewer's eye
    lands on the judged ones."""
    plain = [f for f in facts if f.category == CONFIG and f.effect == "neutral"]
    if len(plain) <= 12:
        return facts
    kept = [f for f in facts if f not in plain]
    kept.append(
        Fact(
            path,
            None,
            CONFIG,
            f"{len(plain)} other settings",
            None,
            None,
            "neutral",
            ", ".join(f.subject for f in plain[:8]) + " …",
            "changed",
        )
    )
    return kept


# ---- Dockerfiles -------------------------------------------------------------------------


def _instructions(text: str | None) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuation lines joined."""
    if not text:
        return []
    out: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            # Docker drops comment and empty lines, also inside a continued instruction
            # (`apt-get install \` … `# why` … `bzip2 \`): they are no part of the command
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((start, word.upper(), rest.strip()))
    return out


_PIP_INSTALL = re.compile(r"pip3? install\s+([^&;|]*)")


def _pip_packages(command: str) -> list[str]:
    """Packages a `pip install` installs without pinning them (`==` or `@`)."""
    unpinned = []
    for match in _PIP_INSTALL.finditer(command):
        tokens = match.group(1).split()
        skip = False
        for token in tokens:
            if skip:
                skip = False
                continue
            if token in ("-r", "-c", "-e", "--requirement", "--constraint", "-i", "--index-url",
                         "--trusted-host", "--extra-index-url", "-f", "--find-links"):  # fmt: skip
                skip = True
                continue
            if token.startswith(("-", ".", "/")) or "==" in token or "@" in token:
                continue
            unpinned.append(token)
    return unpinned


def dockerfile_facts(path: str, old: str | None, new: str | None) -> list[Fact]:
    """Base images, the user, exposed ports, downloads piped to a shell, unpinned installs,
    ENV settings and the health check of a Dockerfile."""
    before, after = _instructions(old), _instructions(new)
    facts: list[Fact] = []
    froms_a = [(ln, args.split()[0]) for ln, ins, args in before if ins == "FROM" and args]
    froms_b = [(ln, args.split()[0]) for ln, ins, args in after if ins == "FROM" and args]
    # stages paired by structure (the images' longest common alignment), never by position:
    # a stage added in front of the others is one new `FROM`, not every `FROM` shifted
    pairs: list[tuple[str | None, tuple[int, str] | None]] = []
    matcher = difflib.SequenceMatcher(a=[f for _, f in froms_a], b=[f for _, f in froms_b])
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        olds, news = froms_a[i1:i2], froms_b[j1:j2]
        for k in range(max(len(olds), len(news))):
            pairs.append(
                (olds[k][1] if k < len(olds) else None, news[k] if k < len(news) else None)
            )
    for a, b in pairs:
        fact = setting_fact(
            path=path,
            line=b[0] if b else None,
            key="from",
            subject="base image `FROM`",
            before=a,
            after=b[1] if b else None,
        )
        if fact:
            facts.append(fact)

    def user(items: list[tuple[int, str, str]]) -> tuple[int | None, str]:
        users = [(ln, args) for ln, ins, args in items if ins == "USER"]
        return users[-1] if users else (None, "root (default)")

    (_, user_a), (line_b, user_b) = user(before), user(after)
    if user_a != user_b and (before or user_b != "root (default)"):
        root = lambda u: u.split(":")[0] in ("root", "0", "root (default)")  # noqa: E731
        effect = (
            "loosens"
            if root(user_b) and not root(user_a)
            else ("tightens" if root(user_a) and not root(user_b) else "neutral")
        )
        why = {"loosens": "the container runs as root", "tightens": "no longer runs as root"}
        facts.append(
            Fact(
                path,
                line_b,
                EXPOSURE,
                "container `USER`",
                user_a,
                user_b,
                effect,  # type: ignore[arg-type]
                why.get(effect, ""),
                "changed",
                ("USER", user_b.split()[0]),
            )
        )
    ports_a = {p for _, ins, args in before if ins == "EXPOSE" for p in args.split()}
    for line, ins, args in after:
        if ins == "EXPOSE":
            for port in args.split():
                if port not in ports_a:
                    facts.append(
                        Fact(
                            path,
                            line,
                            EXPOSURE,
                            "`EXPOSE`",
                            None,
                            port,
                            "loosens" if port.split("/")[0] in _ADMIN_PORTS else "neutral",
                            "a remote-administration port exposed"
                            if port.split("/")[0] in _ADMIN_PORTS
                            else "new port exposed",
                            "added",
                            ("EXPOSE", port),
                        )
                    )
    facts += _run_facts(path, before, after)
    facts += _copy_from_facts(path, before, after)
    for instruction in ("CMD", "ENTRYPOINT"):
        old_cmd = [(ln, args) for ln, ins, args in before if ins == instruction]
        new_cmd = [(ln, args) for ln, ins, args in after if ins == instruction]
        if [a for _, a in old_cmd[-1:]] != [a for _, a in new_cmd[-1:]]:
            facts.append(
                Fact(
                    path,
                    new_cmd[-1][0] if new_cmd else None,
                    CONFIG,
                    f"`{instruction}`",
                    old_cmd[-1][1] if old_cmd else None,
                    new_cmd[-1][1] if new_cmd else None,
                    "neutral",
                    "",
                    "changed" if old_cmd and new_cmd else ("added" if new_cmd else "removed"),
                    (instruction,),
                )
            )
    if froms_b and froms_b[-1][1].lower() == "scratch":
        certs = any(
            ins in ("COPY", "ADD") and ("ca-certificates" in args or "/etc/ssl" in args)
            for ln, ins, args in after
            if ln > froms_b[-1][0]
        )
        scratch_before = bool(froms_a) and froms_a[-1][1].lower() == "scratch"
        if not certs and not scratch_before:
            facts.append(
                Fact(
                    path,
                    froms_b[-1][0],
                    SUPPLY,
                    "final image `FROM scratch`",
                    None,
                    None,
                    "neutral",
                    "no CA certificates copied in: TLS connections from the image will fail",
                    "changed",
                    ("scratch", "CA certificates"),
                )
            )
    for fact in setting_facts(
        path, _env(before), _env(after), lambda key: (key, f"`ENV {key}`", "")
    ):
        key = fact.subject.strip("`").removeprefix("ENV ")
        if fact.after not in (None, "") and secret_named(key):
            # an ENV stays in the image for anyone who pulls it (a build secret belongs in
            # a `--mount=type=secret`)
            baked = "a secret baked into the image, readable by anyone who pulls it"
            fields = {**fact.__dict__, "category": EXPOSURE, "effect": "loosens", "why": baked}
            fact = Fact(**fields)
        facts.append(fact)
    facts += setting_facts(
        path, _env(before, "ARG"), _env(after, "ARG"), lambda key: (key, f"`ARG {key}`", "")
    )
    facts += _command_facts(path, before, after)
    health_a = any(ins == "HEALTHCHECK" for _, ins, _ in before)
    health_b = any(ins == "HEALTHCHECK" for _, ins, _ in after)
    if health_a and not health_b:
        facts.append(
            Fact(
                path,
                None,
                CONFIG,
                "`HEALTHCHECK`",
                "set",
                None,
                "neutral",
                "health check removed",
                "removed",
                ("HEALTHCHECK",),
            )
        )
    return facts


# Switches that turn TLS certificate verification off in a command
_TLS_OFF = re.compile(
    r"--no-check-certificate|--insecure\b|(?<!\S)-k(?!\S)|--trusted-host\b|"
    r"GIT_SSL_NO_VERIFY|NODE_TLS_REJECT_UNAUTHORIZED=0|sslverify\s*=?\s*(false|0)\b"
)


# Ports of remote shells, desktops and the Docker daemon: exposing one is a way in
_ADMIN_PORTS = {"22", "23", "3389", "5900", "2375", "2376", "5985", "5986"}

# Build commands that weaken what the image trusts or exposes: (pattern, what it means)
_DOCKER_SWITCHES = (
    (r"\bcurl\b[^|;&]*?\s(?:-[a-zA-Z]+k[a-zA-Z]*|-k[a-zA-Z]+)(?=\s|$)",
     "TLS certificate verification turned off"),
    (r"--allow-unauthenticated|--force-yes|--allow-insecure-repositories|--nogpgcheck|"
     r"--no-gpg-check|gpgcheck=0|--skip-signature|DOCKER_CONTENT_TRUST=0|strict-ssl\s+false",
     "package signatures or TLS not checked"),
    (r"\bchmod\s+(?:-R\s+)?(?:0?777|a\+w|o\+w|0?666)\b", "world-writable files"),
    # Redis built or started with protected mode off answers clients without a password on
    # every interface (`--protected-mode no`, or the default patched to 0 in config.c)
    (r"protected[-_]mode[\"']?[\s,]+[\"']?(?:no|0)\b|\bsed\b[^;&|]*protected[-_]mode[^;&|]*\\1\s*0",
     "Redis protected mode switched off (clients need no password, on every interface)"),
)  # fmt: skip


# Every switch a build command can throw, TLS verification off among them (one table, built once).
_BUILD_SWITCHES = (*_DOCKER_SWITCHES, (_TLS_OFF.pattern, "TLS certificate verification turned off"))


def _command_facts(
    path: str, before: list[tuple[int, str, str]], after: list[tuple[int, str, str]]
) -> list[Fact]:
    """`HEALTHCHECK` compared as a whole instruction (continuation lines included), and any
    `RUN`/`HEALTHCHECK`/`CMD`/`ENTRYPOINT` that gained a switch turning TLS verification off."""
    facts: list[Fact] = []
    old_health = [(ln, args) for ln, ins, args in before if ins == "HEALTHCHECK"]
    new_health = [(ln, args) for ln, ins, args in after if ins == "HEALTHCHECK"]
    if old_health and new_health and old_health[-1][1] != new_health[-1][1]:
        added = new_words(old_health[-1][1], new_health[-1][1])
        dropped = new_words(new_health[-1][1], old_health[-1][1])
        parts = [
            "adds " + " ".join(f"`{w}`" for w in added) if added else "",
            "drops " + " ".join(f"`{w}`" for w in dropped) if dropped else "",
        ]
        facts.append(
            Fact(
                path,
                new_health[-1][0],
                CONFIG,
                "`HEALTHCHECK` " + "; ".join(p for p in parts if p),
                status="changed",
                anchors=("HEALTHCHECK",),
            )  # fmt: skip
        )
    kinds = ("RUN", "HEALTHCHECK", "CMD", "ENTRYPOINT")
    commands = {
        side: "\n".join(" " * 0 + args if ins in kinds else "" for _, ins, args in items)
        for side, items in (("old", before), ("new", after))
    }
    lines = {args: ln for ln, ins, args in after if ins in kinds}
    for fact in switch_facts(path, commands["old"], commands["new"], _BUILD_SWITCHES, comment=""):
        if fact.line is not None:  # the instruction's own line, not the joined text's
            text = commands["new"].splitlines()[fact.line - 1]
            fact = Fact(**{**fact.__dict__, "line": lines.get(text, fact.line)})
        facts.append(fact)
    return facts


def _words(args: str) -> list[str]:
    return [w for w in re.split(r"\s+", args) if w and w not in ("\\", "&&", "||", ";")]


def _commands(args: str) -> list[list[str]]:
    return [_words(c) for c in re.split(r"&&|\|\||;", args) if c.strip()]


def _command_diff(old: str, new: str) -> tuple[list[str], list[str]]:
    """Words added and dropped, command by command (`a && b`), each command paired with the
    old one sharing most words: a package moved from one `apt-get install` to another is
    dropped from the first and added to the second."""
    olds = _commands(old)
    added: list[str] = []
    dropped: list[str] = []
    free = list(range(len(olds)))
    for command in _commands(new):
        best, score = None, 0.0
        for i in free:
            common = len(set(command) & set(olds[i])) / max(1, len(set(command) | set(olds[i])))
            if common > score:
                best, score = i, common
        if best is None or score < 0.3:
            added += command
            continue
        free.remove(best)
        added += [w for w in command if w not in olds[best]]
        dropped += [w for w in olds[best] if w not in command]
    for i in free:
        dropped += olds[i]
    return added, dropped


def _run_facts(
    path: str, before: list[tuple[int, str, str]], after: list[tuple[int, str, str]]
) -> list[Fact]:
    """`RUN`/`ADD` instructions changed, paired by structure (the pair sharing most words),
    never by position: words added and dropped, downloads piped to a shell, unpinned pip
    installs, and instructions removed."""
    facts: list[Fact] = []
    old = [(ln, ins, args) for ln, ins, args in before if ins in ("RUN", "ADD")]
    new = [(ln, ins, args) for ln, ins, args in after if ins in ("RUN", "ADD")]
    old_texts = [args for _, _, args in old]
    unmatched_old = [item for item in old if item[2] not in [a for _, _, a in new]]
    for line, ins, args in new:
        if args in old_texts:
            continue
        if ins == "ADD" and re.match(r"https?://", args):
            facts.append(
                Fact(
                    path,
                    line,
                    SUPPLY,
                    "`ADD` from a URL",
                    None,
                    args.split()[0],
                    "loosens",
                    "downloads without a checksum",
                    "added",
                    ("ADD",),
                )  # fmt: skip
            )
            continue
        words = set(_words(args))
        best, overlap = None, 0.0
        for item in unmatched_old:
            other = set(_words(item[2]))
            score = len(words & other) / max(1, len(words | other))
            if item[1] == ins and score > overlap:
                best, overlap = item, score
        judged = setting_fact(
            path=path, line=line, key="run", subject="`RUN`",
            before=best[2] if best and overlap >= 0.3 else None, after=args, fallback=None,
        )  # fmt: skip
        status: Literal["changed", "added"]
        if best is not None and overlap >= 0.3:
            unmatched_old.remove(best)
            added, dropped = _command_diff(best[2], args)
            change = "; ".join(
                part
                for part in (
                    "adds " + " ".join(f"`{w}`" for w in added[:12]) if added else "",
                    "drops " + " ".join(f"`{w}`" for w in dropped[:12]) if dropped else "",
                )
                if part
            )
            subject, status = f"`{ins}` {change or 'reordered'}", "changed"
            why, anchors = f"(was line {best[0]})", (ins, *(added or dropped)[:2])
        else:
            text = " ".join(args.split())
            subject, status = f"new `{ins}` `{text[:240]}{'…' if len(text) > 240 else ''}`", "added"
            why, anchors = "", (ins,)
        facts.append(
            Fact(
                path,
                line,
                judged.category if judged else CONFIG,
                subject,
                effect=judged.effect if judged else "neutral",
                why=judged.why if judged else why,
                status=status,
                anchors=anchors,
            )
        )
        for package in _pip_packages(args):
            if best is not None and package in _pip_packages(best[2]):
                continue
            facts.append(
                Fact(
                    path,
                    line,
                    SUPPLY,
                    f"`RUN pip install {package}`",
                    None,
                    None,
                    "loosens",
                    "unpinned dependency",
                    "added",
                    (package,),
                )  # fmt: skip
            )
    for line, ins, args in unmatched_old:
        text = " ".join(args.split())
        facts.append(
            Fact(
                path,
                None,
                CONFIG,
                f"`{ins}` removed `{text[:240]}`",
                None,
                None,
                "neutral",
                f"was line {line}",
                "removed",
                (ins, "removed"),
            )  # fmt: skip
        )
    return facts


def _copy_from_facts(
    path: str, before: list[tuple[int, str, str]], after: list[tuple[int, str, str]]
) -> list[Fact]:
    """`COPY --from=<image>` sources are images too: a moved tag is a supply-chain fact."""

    def sources(items: list[tuple[int, str, str]]) -> dict[str, tuple[int, str]]:
        out = {}
        for line, ins, args in items:
            match = re.search(r"--from=(\S+)", args) if ins == "COPY" else None
            if match and (":" in match.group(1) or "/" in match.group(1)):
                out[match.group(1).split("@")[0].rsplit(":", 1)[0]] = (line, match.group(1))
        return out

    return setting_facts(
        path, sources(before), sources(after), lambda _: ("image", "`COPY --from` image", "")
    )


def _env(items: list[tuple[int, str, str]], which: str = "ENV") -> dict[str, tuple[int, str]]:
    """`ENV` (or `ARG`) settings: name → (line, value); an `ARG` without a default is ""."""
    env: dict[str, tuple[int, str]] = {}
    for line, ins, args in items:
        if ins != which:
            continue
        if "=" in args:
            for match in re.finditer(r"""([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)""", args):
                env[match.group(1)] = (line, match.group(2).strip("'\""))
        else:
            key, _, value = args.partition(" ")
            env[key] = (line, value.strip())
    return env


# ---- CDK in TypeScript -------------------------------------------------------------------

_NEW = re.compile(r"new\s+([\w.]+)\s*(?:<[^<>]*>)?\s*$")
_CONSTRUCT_ID = re.compile(r"""\s*[\w.]+\s*,\s*['"`]([^'"`]+)['"`]""")
_METHOD = re.compile(r"(\w+)\.(add\w+|grant\w*)\s*$")
_CONST = re.compile(
    r"^\s*(?:export\s+)?(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(.+?)\s*$"
)
_PROP = re.compile(r"^\s*([A-Za-z_$][\w$]*|'[^']+'|\"[^\"]+\")\s*:\s*(.+?)\s*,?\s*$")
_SHORTHAND = re.compile(r"^\s*([A-Za-z_$][\w$]*)\s*,?\s*$")
_NAMED_OBJECT = re.compile(
    r"(?:(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=|"
    r"^\s*([A-Za-z_$][\w$]*)\s*:)\s*$",
    re.MULTILINE,
)
_METHOD_DEF = re.compile(
    r"^\s*(?:(?:public|private|protected|static|async|readonly|override)\s+)*"
    r"([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\("
)
_KEYWORDS = {"if", "for", "while", "switch", "catch", "function", "return", "super", "with"}
_OPENS_OBJECT = re.compile(r"(?:[(,:=\[?]|\breturn|\?\?|\|\||&&)\s*$")


def _top_level_parts(text: str) -> list[str]:
    """`a: 1, b: f(x, y), c` split at its top-level commas."""
    parts, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


# Calls that open or weaken wherever they stand in CDK TypeScript: (pattern, what it means)
_TS_SWITCHES = (
    (r"\bPeer\.anyIpv[46]\(\)", "open to the whole internet"),
    (r"\brejectUnauthorized\s*:\s*false", "TLS certificate verification turned off"),
    (r"\.grant(?:FullAccess|PublicAccess|PutAcl|Admin\w*)\(", "broad access granted"),
)  # fmt: skip


def _strip_comment(line: str) -> str:
    """A TypeScript line without its `//` comment (a `//` inside a string stays)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif line.startswith("//", i):
            return line[:i]
    return line


class _Frame:
    """An open bracket of a CDK TypeScript file: what it is and whose properties it holds."""

    def __init__(self, char: str, owner: str, kind: str, context: str) -> None:
        self.char, self.owner, self.kind, self.context = char, owner, kind, context
        self.items = 0  # objects met so far in an array
        self.opened, self.column = 0, 0  # where it opened (line, column)


def cdk_ts_settings(
    text: str | None, classes: dict[str, str] | None = None
) -> dict[tuple[str, str], tuple[int, str]]:
    """(construct, property) → (line, value source) of a CDK TypeScript file.

    Brackets are followed, so a property belongs to the construct (`new X(this, 'Id', {…})`,
    or an unnamed `new iam.PolicyStatement({…})` inside it, numbered) or `obj.addX(…)`/
    `obj.grantX(…)` call it sits in, and only object literals hold properties (not function
    bodies or interfaces). A shorthand property (`resources,`) is the property of that name;
    an array written over several lines is one value. `classes` (when given) gets each
    construct's class (`Handler` → `lambda.Function`)."""
    if not text:
        return {}
    out: dict[tuple[str, str], tuple[int, str]] = {}
    stack: list[_Frame] = [_Frame("", "stack", "block", "")]
    counts: Counter[str] = Counter()
    tail = ""  # the code before the current character, across lines (for what a `{` opens)
    pending: tuple[str, str, int, int, list[str]] | None = None  # a multi-line value
    quote = ""  # an open template literal (`…`) spans lines
    for number, line in enumerate(text.splitlines(), 1):
        code = line if quote else _strip_comment(line)
        frame = stack[-1]
        depth = len(stack)
        starts_in_object = frame.kind == "object" and not quote
        prop = _PROP.match(code) if starts_in_object else None
        short = _SHORTHAND.match(code) if starts_in_object and not prop else None
        const = _CONST.match(code) if not quote and frame.kind == "block" else None
        i = 0
        while i < len(code):
            ch = code[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
                i += 1
                continue
            if ch in "'\"`":
                end = code.find(ch, i + 1) if ch != "`" else -1
                while end > 0 and code[end - 1] == "\\":
                    end = code.find(ch, end + 1)
                if end < 0:
                    quote = ch if ch == "`" else ""
                    i = len(code) if ch != "`" else i + 1
                    continue
                tail += code[i : end + 1]
                i = end + 1
                continue
            if ch in "({[":
                before = tail.rstrip()
                owner, context = stack[-1].owner, stack[-1].context
                kind = {"(": "call", "[": "array"}.get(ch, "block")
                if ch == "(":
                    new = _NEW.search(before)
                    method = _METHOD.search(before)
                    if new:
                        ident = _CONSTRUCT_ID.match(code[i + 1 :])
                        if ident:
                            owner = ident.group(1)
                        else:
                            counts[f"{owner}/{new.group(1)}"] += 1
                            owner = f"{owner}/{new.group(1)}#{counts[f'{owner}/{new.group(1)}']}"
                        context = new.group(1)
                        if classes is not None:
                            classes[owner] = context
                    elif method:
                        owner = f"{method.group(1)}.{method.group(2)}"
                else:
                    parent = stack[-1]
                    named = _NAMED_OBJECT.search(before)
                    if ch == "{" and parent.kind == "array":  # the n-th object of a list
                        parent.items += 1
                        owner, kind = f"{parent.owner}[{parent.items}]", "object"
                    elif ch == "[" or _OPENS_OBJECT.search(before):
                        kind = "array" if ch == "[" else "object"
                        if named:  # `const helmValues = {`, `deployOptions: {`: an owner
                            owner = named.group(1) or f"{owner}.{named.group(2)}"
                    else:  # a block: a method's body holds that method's objects
                        method_def = _METHOD_DEF.match(code[:i])
                        if method_def and method_def.group(1) not in _KEYWORDS:
                            owner = method_def.group(1)
                stack.append(_Frame(ch, owner, kind, context))
                stack[-1].opened, stack[-1].column = number, i
            elif ch in ")}]" and len(stack) > 1:
                closed = stack.pop()
                if closed.kind == "object" and closed.opened == number and ch == "}":
                    # an object written on one line (`{ authType: X, resources }`): each of
                    # its properties is a setting of its owner
                    for part in _top_level_parts(code[closed.column + 1 : i]):
                        inline = _PROP.match(part) or _SHORTHAND.match(part)
                        if inline and not part.strip().startswith("..."):
                            key = inline.group(1).strip("'\"")
                            value = inline.group(2) if inline.re is _PROP else key
                            out.setdefault((closed.owner, key), (number, value.strip()))
            tail = (tail + ch)[-200:]
            i += 1
        tail = (tail + "\n")[-200:]
        if pending is not None:
            owner, key, start, level, parts = pending
            parts.append(code.strip())
            if len(stack) <= level:
                value = " ".join(" ".join(parts).split()).rstrip(",;").strip()
                if "{" not in value and "new " not in value:
                    out[(owner, key)] = (start, value)
                pending = None
            continue
        if const:
            value = const.group(2).rstrip(";").strip()
            if value and value[0] not in "{[(" and not value.startswith(("new ", "await ")):
                out[("const", const.group(1))] = (number, value)
            continue
        if prop:
            key, value = prop.group(1).strip("'\""), prop.group(2).rstrip(",").strip()
            if len(stack) > depth and stack[-1].kind == "array" and value.startswith("["):
                pending = (frame.owner, key, number, depth, [value])
                continue
            if len(stack) > depth or value in ("{", "[", "({"):
                continue  # an object or call written over lines: its properties are read
            out[(frame.owner, key)] = (number, value)
        elif short and len(stack) == depth:
            out[(frame.owner, short.group(1))] = (number, short.group(1))
    return out


_ITEM = re.compile(r"^(.*)\[(\d+)\]$")


def _align_items(
    before: dict[tuple[str, str], tuple[int, str]], after: dict[tuple[str, str], tuple[int, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """The old side's list items (`eventPatterns[3]`) renamed to the new item they are: an
    identical one first, then the rest in order, so an item inserted or removed in front does
    not make every later one "changed"."""

    def items(side: dict[tuple[str, str], tuple[int, str]]) -> dict[str, dict[int, dict]]:
        out: dict[str, dict[int, dict]] = {}
        for (owner, key), (_, value) in side.items():
            match = _ITEM.match(owner)
            if match:
                out.setdefault(match.group(1), {}).setdefault(int(match.group(2)), {})[key] = value
        return out

    old_items, new_items = items(before), items(after)
    rename: dict[str, str] = {}
    for base, olds in old_items.items():
        news = new_items.get(base, {})
        free_old, free_new = sorted(olds), sorted(news)
        for n in list(free_new):  # identical items
            same = next((o for o in free_old if olds[o] == news[n]), None)
            if same is not None:
                rename[f"{base}[{same}]"] = f"{base}[{n}]"
                free_old.remove(same)
                free_new.remove(n)
        for n in free_new:  # the rest: the old item sharing most settings, else in order
            if not free_old:
                break
            best = max(free_old, key=lambda o: (len(olds[o].items() & news[n].items()), -o))
            rename[f"{base}[{best}]"] = f"{base}[{n}]"
            free_old.remove(best)
        for o in free_old:
            rename[f"{base}[{o}]"] = f"{base}[removed {o}]"
    return {(rename.get(owner, owner), key): value for (owner, key), value in before.items()}


def cdk_ts_facts(path: str, old: str | None, new: str | None) -> list[Fact]:
    classes: dict[str, str] = {}
    before = cdk_ts_settings(old, classes)
    after = cdk_ts_settings(new, classes)
    before = _align_items(before, after)
    owners = {owner for owner, _ in before}
    facts = []
    for fact in setting_facts(
        path,
        before,
        after,
        lambda key: (key[1], f"`{key[0]}` `{key[1]}`", f"{key[0]} {classes.get(key[0], '')}"),
    ):
        owner = fact.subject.split("`")[1]
        if "above its default" in fact.why and owner not in owners:
            # a new construct's limit is its first value, not a raise of one running
            fact = Fact(**{**fact.__dict__, "effect": "neutral", "why": "set"})
        facts.append(fact)
    facts += switch_facts(path, old, new, _TS_SWITCHES, comment="//")
    return _fold(path, facts)


def iac_facts(path: str, kind: str, old: str | None, new: str | None) -> list[Fact] | None:
    """The facts of one IaC file of `kind`; None when it does not parse."""
    if kind == "dockerfile":
        return dockerfile_facts(path, old, new)
    if kind == "cdk-typescript":
        return cdk_ts_facts(path, old, new)
    if kind == "cdk-python":
        return []  # python_diff reads it
    if kind == "helm":
        return helm_facts(path, old, new)
    facts = tree_facts(path, kind, old, new)
    if kind == "github-actions" and facts is not None:
        return [_expected_grant(fact, new) for fact in facts]
    return facts


# A write scope a workflow needs for what it visibly does: (scope, what in the workflow needs
# it, why). Granting it there is the documented set-up, not a loosening.
_NEEDED_SCOPES = (
    ("security-events", re.compile(r"codeql-action/|upload-sarif|sarif_file|\.sarif\b"),
     "code-scanning results are uploaded (SARIF), which needs it"),
    ("id-token", re.compile(r"configure-aws-credentials|google-github-actions/auth|azure/login|"
                            r"pypi-publish|sigstore|cosign|attest"),
     "OIDC sign-in or signing, which needs it"),
)  # fmt: skip


def _expected_grant(fact: Fact, text: str | None) -> Fact:
    """A write grant the workflow's own steps need is a plain fact, not a ⚠."""
    if fact.effect != "loosens" or "permissions" not in fact.subject:
        return fact
    for scope, needs, why in _NEEDED_SCOPES:
        if f"`{scope}`" in fact.subject and needs.search(text or ""):
            return replace(fact, effect="neutral", why=why)
    return fact


# ---- Helm templates ----------------------------------------------------------------------

_DIRECTIVE_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")


_TEMPLATE_VALUE = re.compile(r"""^(\s*(?:-\s+)?)([\w./"'-]+:\s+)?(.*\{\{.*\}\}.*?)\s*$""")


def _quote_template_value(line: str) -> str:
    """A value holding a template expression anywhere (`name: {{ template "x" . }}-role`,
    `- {{ .Values.host }}`) as that text, quoted whole, so YAML reads it as a string."""
    match = _TEMPLATE_VALUE.match(line)
    if not match:
        return line
    lead, key, value = match.group(1), match.group(2) or "", match.group(3).strip()
    if (key or lead.strip()) and not (value[0] in "\"'" and value[-1] == value[0]):
        return lead + key + json.dumps(value)
    return line


def _render_blank(text: str | None) -> str | None:
    """A Helm template made YAML without Helm: lines that are only template directives become
    blank (so line numbers stay), inline expressions become quoted text."""
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        if _DIRECTIVE_LINE.match(line) or line.strip().startswith("{{/*"):
            out.append("")
            continue
        out.append(_quote_template_value(line))
    return "\n".join(out) + "\n"


def helm_facts(path: str, old: str | None, new: str | None) -> list[Fact]:
    """A Helm template: read as YAML with its directives blanked (settings before → after,
    judged like Kubernetes), plus its changed template lines read as text (conditions and
    includes that YAML cannot see), each with its line."""
    import difflib

    facts: list[Fact] = []
    rendered = tree_facts(path, "kubernetes", _render_blank(old), _render_blank(new))
    seen = set()
    if rendered:
        for fact in rendered:
            if '"{{' in show(fact.after) and fact.before is None and fact.status == "added":
                pass
            facts.append(fact)
            if fact.line:
                seen.add(fact.line)
    old_lines = (old or "").splitlines()
    new_lines = (new or "").splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        removed = [x.strip() for x in old_lines[i1:i2] if x.strip()]
        for offset, content in enumerate(new_lines[j1:j2]):
            number = j1 + offset + 1
            text = content.strip()
            if not text or (rendered is not None and "{{" not in text) or number in seen:
                continue
            was = ""
            if op == "replace" and removed:
                was = removed.pop(0)
            facts.append(
                Fact(
                    path,
                    number,
                    CONFIG,
                    f"template line `{text[:240]}`",
                    None,
                    None,
                    "neutral",
                    f"was `{was[:240]}`" if was else "added",
                    "changed",
                    (text[:40],),
                )
            )
        for text in removed:
            if rendered is not None and "{{" not in text:
                continue
            facts.append(
                Fact(
                    path,
                    None,
                    CONFIG,
                    f"template line removed `{text[:240]}`",
                    None,
                    None,
                    "neutral",
                    f"was line {i1 + 1}",
                    "removed",
                    (text[:40],),
                )  # fmt: skip
            )
    return _fold(path, facts)
