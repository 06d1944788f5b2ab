"""Infrastructure as code: which kind a file is, and the settings a push changed in it.

Kinds: CloudFormation/SAM (YAML and JSON), Terraform (HCL, read with python-hcl2), Kubernetes
manifests, Dockerfiles, GitHub Actions workflows, GitLab CI, and CDK apps in TypeScript
(CDK in Python is read by `python_diff` through `ast`). Each file is read into a tree, the trees
before and after are compared setting by setting, and every changed setting is judged by
`facts.judge` (exposure and auth, limits, data, supply chain). Lines are found by walking the
setting's path through the file's text.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import PurePosixPath
from typing import Any

import yaml

from podium.review.facts import CONFIG, EXPOSURE, SUPPLY, Fact, setting_fact

IAC_KINDS = (
    "cloudformation",
    "terraform",
    "kubernetes",
    "dockerfile",
    "github-actions",
    "gitlab-ci",
    "cdk-typescript",
    "cdk-python",
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
    if suffix == ".ts" and "aws-cdk-lib" in text:
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


def _clean_hcl(value: Any) -> Any:
    """python-hcl2's output without its quoting and block markers; a list holding one block
    is that block."""
    if isinstance(value, dict):
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
                merged[str(i)] = item
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
        if isinstance(item.get("uses"), str):
            return item["uses"].split("@")[0]
        if isinstance(item.get("run"), str):
            return "run: " + item["run"].strip().splitlines()[0][:40]
    return str(index)


def flatten(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """A tree as path → scalar (or short list of scalars). Lists of mappings are keyed by
    their `name`/`id`/`Sid`/`uses` so an insertion does not shift every later item."""
    out: dict[tuple[str, ...], Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, (*prefix, str(key))))
    elif isinstance(value, list) and any(isinstance(i, dict | list) for i in value):
        for index, item in enumerate(value):
            out.update(flatten(item, (*prefix, _list_key(item, index))))
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
    for segment in segments:
        for word in [w for w in segment.split("/") if w] or [segment]:
            pattern = re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(word) + r"(?![A-Za-z0-9_-])")
            for number in range(position, len(lines)):
                if pattern.search(lines[number]):
                    position, found = number, number + 1
                    break
    return found


_NOISE = ("Properties", "spec", "template", "containers", "metadata", "resource", "Resources")


def _subject(kind: str, segments: tuple[str, ...]) -> str:
    shown = [s for s in segments if s not in _NOISE]
    if kind == "kubernetes" and segments:
        shown = [segments[0], *[s for s in segments[1:] if s not in _NOISE]]
    if not shown:
        shown = list(segments)
    owner, key = shown[:-1], shown[-1]
    return (f"`{'.'.join(owner)}` " if owner else "") + f"`{key}`"


def tree_facts(
    path: str, kind: str, old_text: str | None, new_text: str | None
) -> list[Fact] | None:
    """The facts of a structured IaC file (everything but Dockerfiles and CDK); None when
    either side does not parse."""
    try:
        before = flatten(read_tree(kind, path, old_text)) if old_text else {}
        after = flatten(read_tree(kind, path, new_text)) if new_text else {}
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
        fact = setting_fact(
            path=path,
            line=line if b is not None else None,
            key=key,
            subject=_subject(kind, segments),
            before=a,
            after=b,
            context=".".join(segments),
            fallback=CONFIG,
        )
        if fact is not None:
            if b is None and line is not None:  # removed: name the old line
                fact = Fact(**{**fact.__dict__, "why": (fact.why + f" (was line {line})").strip()})
            facts.append(fact)
    return _fold(path, facts)


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
        if not pending and (not line or line.startswith("#")):
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
            if token in ("-r", "-c", "-e", "--requirement", "--constraint", "-i", "--index-url"):
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
    for i in range(max(len(froms_a), len(froms_b))):
        a = froms_a[i][1] if i < len(froms_a) else None
        b = froms_b[i] if i < len(froms_b) else None
        if b is not None and a == b[1]:
            continue
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
                            "neutral",
                            "new port exposed",
                            "added",
                            ("EXPOSE", port),
                        )
                    )
    runs_a = {args for _, ins, args in before if ins in ("RUN", "ADD")}
    for line, ins, args in after:
        if ins not in ("RUN", "ADD") or args in runs_a:
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
                )
            )
            continue
        fact = setting_fact(
            path=path, line=line, key="run", subject="`RUN`", before=None, after=args, fallback=None
        )
        if fact is not None:
            facts.append(Fact(**{**fact.__dict__, "anchors": ("curl", "sh")}))
        for package in _pip_packages(args):
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
                )
            )
    env_a = _env(before)
    env_b = _env(after)
    for key in sorted(env_a.keys() | env_b.keys()):
        old_env, new_env = env_a.get(key), env_b.get(key)
        if (old_env and old_env[1]) == (new_env and new_env[1]):
            continue
        fact = setting_fact(
            path=path,
            line=new_env[0] if new_env else None,
            key=key,
            subject=f"`ENV {key}`",
            before=old_env[1] if old_env else None,
            after=new_env[1] if new_env else None,
        )
        if fact:
            facts.append(fact)
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


def _env(items: list[tuple[int, str, str]]) -> dict[str, tuple[int, str]]:
    env: dict[str, tuple[int, str]] = {}
    for line, ins, args in items:
        if ins != "ENV":
            continue
        if "=" in args:
            for match in re.finditer(r"""([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)""", args):
                env[match.group(1)] = (line, match.group(2).strip("'\""))
        else:
            key, _, value = args.partition(" ")
            env[key] = (line, value.strip())
    return env


# ---- CDK in TypeScript -------------------------------------------------------------------

_CONSTRUCT = re.compile(r"new\s+([\w.]+)\(\s*this\s*,\s*['\"`]([^'\"`]+)['\"`]")
_METHOD = re.compile(r"(\w+)\.(add\w+|grant\w*)\(")
_PROP = re.compile(r"^\s*([A-Za-z_$][\w$]*)\s*:\s*(.+?)\s*,?\s*$")


def cdk_ts_settings(text: str | None) -> dict[tuple[str, str], tuple[int, str]]:
    """(construct id, property) → (line, value source) of a CDK TypeScript file; line based,
    one property a line, as CDK code is written."""
    if not text:
        return {}
    out: dict[tuple[str, str], tuple[int, str]] = {}
    owner = "stack"
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        construct = _CONSTRUCT.search(code)
        if construct:
            owner = construct.group(2)
        method = _METHOD.search(code)
        if method and not construct:
            owner = f"{method.group(1)}.{method.group(2)}"
        prop = _PROP.match(code)
        if prop and not construct:
            value = prop.group(2).rstrip(",").strip()
            if value in ("{", "[", "({"):
                continue
            out[(owner, prop.group(1))] = (number, value)
    return out


def cdk_ts_facts(path: str, old: str | None, new: str | None) -> list[Fact]:
    before, after = cdk_ts_settings(old), cdk_ts_settings(new)
    facts: list[Fact] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a and b and a[1] == b[1]:
            continue
        owner, prop = key
        fact = setting_fact(
            path=path,
            line=b[0] if b else None,
            key=prop,
            subject=f"`{owner}` `{prop}`",
            before=a[1] if a else None,
            after=b[1] if b else None,
            context=owner,
            fallback=CONFIG,
        )
        if fact is not None:
            facts.append(fact)
    return _fold(path, facts)


def iac_facts(path: str, kind: str, old: str | None, new: str | None) -> list[Fact] | None:
    """The facts of one IaC file of `kind`; None when it does not parse."""
    if kind == "dockerfile":
        return dockerfile_facts(path, old, new)
    if kind == "cdk-typescript":
        return cdk_ts_facts(path, old, new)
    if kind == "cdk-python":
        return []  # python_diff reads it
    return tree_facts(path, kind, old, new)
