"""The general reader: every changed statement of a file, named by its enclosing block.

The kind-specific readers (`python_diff`, `iac`) know what a setting or a call means and judge
it; they do not see every shape a commit brings (logic in a TypeScript library, an item in a
container's command list, a package inside a long `RUN` line). This reader knows no meaning:
it cuts each side of a file into statements, names each by its enclosing block (a Python
function, method or class; a TypeScript/JavaScript function, method or class; a Terraform
block; a YAML/JSON property path, list items by their `name`/`Name`/`id`; a GitHub Actions
step, the lines of its `run:` script included; a Dockerfile stage, a `RUN` line cut into its
commands), and compares the sides block by block. A statement is paired with the one it
replaced by structure, never by position: the same key (assignment target, setting, command),
else most shared words, else the one replacement between the same unchanged neighbours. What
the kind-specific readers already said is not repeated; the rest are plain facts (never a ⚠),
a block's lines capped with a count of what was left out.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from podium.review.facts import STATEMENTS, Fact, differing_parts, new_words
from podium.review.python_diff import hide_fallback_secrets
from podium.review.secrets import redact_text

MAX_PER_BLOCK = 8  # a block's lines past this are counted, not shown
_LEFT_OUT = "more changed statements"  # the words of that count's line
_MAX_TEXT = 160
_MAX_WORDS = 16
_WORD = re.compile(r"[A-Za-z0-9_](?:[\w.\-/:@]*[\w/])?")


@dataclass(frozen=True)
class Statement:
    """One statement of one side: where it is, what it says, and what pairs it."""

    block: str
    line: int
    text: str  # one line, whitespace collapsed
    key: str = ""  # the assignment target, setting or command it sets (pairs two versions)
    rank: int = 3  # lower is shown first when a block is capped (exits, tests, then the rest)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---- Python -----------------------------------------------------------------------------------

_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _python(text: str) -> list[Statement] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.splitlines()
    encoded = [line.encode() for line in lines]
    out: list[Statement] = []

    def segment(node: ast.expr | ast.stmt) -> str:
        """`ast.get_source_segment` without splitting the whole file again for every node."""
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        end = node.end_col_offset if node.end_col_offset is not None else len(encoded[last])
        if first == last:
            return encoded[first][node.col_offset : end].decode(errors="replace")
        parts = [encoded[first][node.col_offset :], *encoded[first + 1 : last], encoded[last][:end]]
        return b"\n".join(parts).decode(errors="replace")

    def header(node: ast.stmt | ast.excepthandler, body_start: int) -> str:
        start = node.lineno
        end = max(start, body_start - 1)
        head = " ".join(lines[start - 1 : end])
        return _one_line(head.split("#")[0] if "#" in head and "'" not in head else head)

    def walk(body: Iterable[ast.stmt], block: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{block}.{node.name}" if block != "module" else node.name
                for dec in node.decorator_list:
                    seg = segment(dec)
                    out.append(Statement(name, dec.lineno, "@" + _one_line(seg), "@" + seg[:20], 1))
                out.append(
                    Statement(name, node.lineno, header(node, node.body[0].lineno), "def", 1)
                )
                walk(node.body, name)
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring
            if isinstance(node, _COMPOUND):
                if not isinstance(node, ast.Try):
                    key = "if" if isinstance(node, ast.If) else type(node).__name__.lower()
                    out.append(
                        Statement(block, node.lineno, header(node, node.body[0].lineno), key, 2)
                    )
                walk(node.body, block)
                for handler in getattr(node, "handlers", []):
                    head = header(handler, handler.body[0].lineno)
                    out.append(Statement(block, handler.lineno, head, "except", 2))
                    walk(handler.body, block)
                walk(getattr(node, "orelse", []), block)
                walk(getattr(node, "finalbody", []), block)
                continue
            seg = _one_line(segment(node))
            rank = 0 if isinstance(node, ast.Raise | ast.Return) else 3
            out.append(Statement(block, node.lineno, seg, _key(seg), rank))

    walk(tree.body, "module")
    return out


# ---- brace languages: TypeScript/JavaScript, Terraform/HCL, JSON --------------------------------

_TS_NAMED = [
    re.compile(r"\b(?:class|interface|enum|namespace)\s+([A-Za-z_$][\w$]*)"),
    re.compile(r"\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)"),
    re.compile(r"\b(?:func|fn)\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)"),  # Go, Rust
    re.compile(
        r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]*)?=\s*(?:async\s*)?(?:\(|function)"
    ),
    re.compile(
        r"^\s*(?:(?:public|private|protected|static|async|readonly|get|set|override)\s+)*"
        r"([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\([^;]*$"
    ),
]
_STRING = re.compile(r"""(['"`])(?:\\.|(?!\1).)*\1""")
_NOT_NAMES = {"if", "for", "while", "switch", "catch", "return", "function", "else", "do", "try",
              "func", "fn", "def", "sub", "new", "synchronized"}  # fmt: skip
_HCL_HEAD = re.compile(r'^\s*([A-Za-z_][\w-]*)((?:\s+"[^"]*")*)\s*(=\s*[\w.]*\(?\s*)?[{\[(]\s*$')
_JSON_HEAD = re.compile(r'^\s*"([^"]+)"\s*:\s*[{\[]')


def _brace_label(line: str, kind: str) -> str | None:
    if kind == "hcl":
        m = _HCL_HEAD.match(line)
        if not m:
            return None
        names = re.findall(r'"([^"]*)"', m.group(2))
        if m.group(1) in ("resource", "data") and len(names) == 2:
            return f"{names[0]}.{names[1]}"
        return ".".join([m.group(1), *names]) if m.group(1) != "content" else None
    if kind == "json":
        m = _JSON_HEAD.match(line)
        return m.group(1) if m else None
    for pattern in _TS_NAMED:
        m = pattern.search(line)
        if m and m.group(1) not in _NOT_NAMES:
            return m.group(1)
    return None


def _braces(text: str, kind: str) -> list[Statement]:
    """Statements of a brace language: each line with a word, in the innermost named block open
    at its start (an unnamed brace, such as an `if` or an object literal, names nothing)."""
    out: list[Statement] = []
    stack: list[str | None] = []
    in_comment = False
    comment = "#" if kind in ("hcl", "sh") else "//"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if in_comment:
            if "*/" not in line:
                continue
            line, in_comment = line.split("*/", 1)[1], False
        # strings out first: `'arn:…:*/*'` and `"https://…"` open no comment
        bare = _STRING.sub('""', line)
        if "/*" in bare and "*/" not in bare.split("/*", 1)[1]:
            bare, in_comment = bare.split("/*", 1)[0], True
        bare = re.sub(r"/\*.*?\*/", "", bare).split(comment)[0]
        if kind == "hcl":
            bare = bare.split("//")[0]
        stripped = line.strip()
        if not bare.strip():
            continue
        names = [s for s in stack if s]
        block = ".".join(names[-2:]) if kind != "json" else ".".join(names)
        if re.search(r"\w", bare):
            out.append(
                Statement(
                    block or "top", number, _one_line(stripped), _key(stripped), _rank(stripped)
                )
            )
        opened = bare.count("{") + bare.count("[") * (kind == "json") - bare.count("}")
        opened -= bare.count("]") * (kind == "json")
        if opened > 0:
            label = _brace_label(stripped, kind)
            stack.append(label)
            stack.extend([None] * (opened - 1))
        elif opened < 0:
            del stack[len(stack) + opened :]
    return out


# ---- YAML (CloudFormation, Kubernetes, Helm values, GitHub Actions) -----------------------------

_YAML_KEY = re.compile(r"^(-\s+)?([\"']?[\w.\-/$@{}]+[\"']?)\s*:(?:\s+|$)(.*)$")
_ITEM_NAMES = ("name", "Name", "id", "Id", "Sid", "uses", "key", "Key")


def _yaml(text: str) -> list[Statement]:
    out: list[Statement] = []
    stack: list[tuple[int, str]] = []  # (indent, label)
    script: tuple[int, str] | None = None  # a block scalar's indent and path
    lines = text.splitlines()
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if script is not None:
            if not stripped or indent > script[0]:
                if stripped and not stripped.startswith("#"):
                    out.append(Statement(script[1], number, _one_line(stripped), _key(stripped), 2))
                continue
            script = None
        if not stripped or stripped.startswith(("#", "{{")):
            continue
        item = stripped.startswith("- ") or stripped == "-"
        body = stripped[2:].strip() if item else stripped
        key_indent = indent + (len(stripped) - len(body) if item else 0)
        # an item's dash may stand at its list key's indent (`Key:` then `- Name: x` below it):
        # it closes deeper frames and the item before it, not the list's key
        while stack and (
            stack[-1][0] > indent
            or (stack[-1][0] == indent and (not item or stack[-1][1].startswith("[")))
            or (not item and stack[-1][0] >= key_indent)
        ):
            stack.pop()
        if item:
            label = "[]"
            m = _YAML_KEY.match(body)
            if m and m.group(2) not in _ITEM_NAMES:
                for ahead in lines[number : number + 12]:  # the item's name, when it has one
                    a = ahead.strip()
                    if len(ahead) - len(ahead.lstrip()) < key_indent or a.startswith("- "):
                        break
                    n = _YAML_KEY.match(a)
                    if (
                        n
                        and n.group(2) in _ITEM_NAMES
                        and len(ahead) - len(ahead.lstrip()) == key_indent
                    ):
                        label = f"[{n.group(3).strip()}]"
                        break
            elif m:
                label = f"[{m.group(3).strip()}]"
            stack.append((indent, label))
        block = _path(stack)
        m = _YAML_KEY.match(body)
        key = m.group(2).strip("\"'") if m else ""
        out.append(Statement(block or "top", number, _one_line(body), key or _key(body), 3))
        if m:
            stack.append((key_indent, key))
            value = m.group(3).split(" #")[0].strip()
            if value[:1] in ("|", ">"):
                script = (key_indent, _path(stack))
    documents = _documents(lines)
    return [
        replace(st, block=f"{doc} {st.block}" if st.block != "top" else doc)
        if (doc := documents[st.line - 1])
        else st
        for st in out
    ]


def _documents(lines: list[str]) -> list[str]:
    """Per line, the Kubernetes object its document describes (`Deployment/web`), so that
    two objects of one file never share a block; "" outside such a document."""
    labels: list[str] = []
    start = 0
    for end in [*(i for i, line in enumerate(lines) if line.rstrip() == "---"), len(lines)]:
        doc = lines[start:end]
        kind = next((m.group(1) for m in map(_KIND.match, doc) if m), "")
        name = ""
        for i, line in enumerate(doc):
            if line.rstrip() == "metadata:":
                name = next((m.group(1) for m in map(_NAME.match, doc[i + 1 : i + 8]) if m), "")
                break
        label = f"{kind}/{name}" if kind and name else ""
        labels += [label] * (end - start + (end < len(lines)))
        start = end + 1
    return labels


_KIND = re.compile(r"^kind:\s*['\"]?([\w.-]+)")
_NAME = re.compile(r"^\s{2}name:\s*['\"]?([^'\"\s#]+)")


def _path(stack: list[tuple[int, str]]) -> str:
    parts: list[str] = []
    for _, label in stack:
        if label.startswith("[") and parts:
            parts[-1] += label
        else:
            parts.append(label)
    return ".".join(p for p in parts if p not in ("Properties", "Resources"))


# ---- Dockerfile --------------------------------------------------------------------------------

_SPLIT_COMMANDS = re.compile(r"\s*(?:&&|\|\||;)\s*")


def _dockerfile(text: str) -> list[Statement]:
    out: list[Statement] = []
    stage = "stage 1"
    stages = 0
    pending: list[tuple[int, str]] = []
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        stripped = raw.strip()
        if stripped.startswith("#") and (pending or not stripped[1:].strip().startswith("syntax")):
            continue
        if stripped:
            pending.append((number, stripped.removesuffix("\\").strip()))
        if stripped.endswith("\\") or not pending:
            continue
        first = pending[0][1]
        word, _, rest = first.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages += 1
            alias = re.search(r"(?i)\sAS\s+(\S+)", first)
            stage = f"stage {alias.group(1) if alias else stages}"
            out.append(Statement(stage, pending[0][0], _one_line(first), "FROM", 1))
        elif word == "RUN":
            # a RUN line is cut into its commands, each at the line it starts on
            for k, (line, part) in enumerate(pending):
                text_part = part[4:] if k == 0 else part
                for command in _SPLIT_COMMANDS.split(text_part):
                    if re.search(r"\w", command):
                        out.append(
                            Statement(
                                f"{stage} RUN", line, _one_line(command), _command_key(command), 2
                            )
                        )
        else:
            joined = _one_line(" ".join(p for _, p in pending))
            key = word + (
                " " + rest.split("=")[0].split()[0]
                if word in ("ENV", "ARG", "LABEL") and rest
                else ""
            )
            out.append(Statement(stage, pending[0][0], joined, key, 2))
        pending = []
    return _join_continued(out)


def _join_continued(items: list[Statement]) -> list[Statement]:
    """A command's arguments continued on the lines after it (a package per line) are one
    command: `apk add` and the packages listed below it."""
    out: list[Statement] = []
    for s in items:
        prev = out[-1] if out else None
        continued = (
            prev is not None
            and s.block == prev.block
            and s.block.endswith("RUN")
            and s.line > prev.line
            and not s.key
        )
        if continued and prev is not None:
            out[-1] = Statement(prev.block, prev.line, f"{prev.text} {s.text}", prev.key, prev.rank)
        else:
            out.append(s)
    return out


_COMMANDS = re.compile(r"^(?:sudo\s+)?(?:[A-Z_]+=\S+\s+)*([a-z][\w.+-]*(?:\s+(?:[a-z][\w-]*))?)")


def _command_key(command: str) -> str:
    """A command's name and subcommand (`apk add`, `pip install`): what pairs two versions. An
    argument line continuing the command above (`php83-gd`, `/opt/x`) has none."""
    words = command.split()
    if (
        not words
        or words[0].startswith(("-", "/", "$", '"', "'"))
        or not re.match(r"^[a-z]", words[0])
    ):
        return ""
    if len(words) == 1 and "-" in words[0]:
        return ""  # a package name alone on its line
    m = _COMMANDS.match(command)
    return m.group(1) if m else ""


# ---- shared ------------------------------------------------------------------------------------


def _key(text: str) -> str:
    """What a statement sets or calls: `x` of `const x = …`, `self.y` of `self.y = …`, the key
    of `key: value`, `return`/`raise`/`throw`, or the callee of a call."""
    t = re.sub(
        r"^(?:export\s+)?(?:const|let|var|readonly|public|private|protected|static)\s+", "", text
    )
    m = re.match(r"^([\w.$\[\]\"']+)\s*(?::[^=]*)?(?:[+\-*/|&]?=(?!=)|:\s)", t)
    if m:
        return m.group(1)
    m = re.match(r"^(return|raise|throw|await|yield|if|elif|else if|for|while|except)\b", t)
    if m:
        return m.group(1)
    m = re.match(r"^([\w.$]+)\s*\(", t)
    return m.group(1) + "(" if m else ""


def _rank(text: str) -> int:
    if re.match(r"^(return|raise|throw)\b", text):
        return 0
    if re.match(r"^(if|else if|\}\s*else|catch|\}\s*catch|for|while|switch)\b", text):
        return 2
    return 3


def read(path: str, text: str | None) -> list[Statement] | None:
    """The statements of one side of a file, or None when this reader has no reading of its
    kind (an unknown language) or the file does not parse."""
    if text is None:
        return []
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith((".py", ".pyi")):
        return _python(text)
    if name.endswith((".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")):
        return _braces(text, "ts")
    if name.endswith((".tf", ".hcl", ".tfvars")):
        return _braces(text, "hcl")
    if name.endswith(".json"):
        return _braces(text, "json")
    if name.endswith((".yaml", ".yml")):
        return _yaml(text)
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return _dockerfile(text)
    if name.endswith(_BRACE_LANGUAGES):
        return _braces(text, "ts")
    if name.endswith((".sh", ".bash")):
        return _braces(text, "sh")
    if name.endswith((".toml", ".ini", ".cfg", ".conf", ".properties", ".env")) or name in (
        "makefile", "gnumakefile", ".env",
    ):  # fmt: skip
        return _sections(text, _MAKE_TARGET if "makefile" in name else _SECTION)
    return None


_BRACE_LANGUAGES = (".go", ".java", ".kt", ".rs", ".c", ".h", ".cc", ".cpp", ".cs", ".php",
                    ".groovy", ".gradle", ".scala", ".swift")  # fmt: skip
_SECTION = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*$")  # `[tool.ruff]`, `[[package]]`, `[main]`
_MAKE_TARGET = re.compile(r"^([\w.%/$() -]+?)\s*::?(?!=)")


def _sections(text: str, header: re.Pattern[str]) -> list[Statement]:
    """Statements of a file of sections (TOML, INI, a Makefile's targets): each line with a
    word, in the section or target it stands under."""
    out: list[Statement] = []
    block = "top"
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        head = header.match(raw)
        if head and not raw[:1].isspace():
            block = head.group(1).strip()
        if re.search(r"\w", stripped):
            line = _one_line(stripped)
            out.append(Statement(block, number, line, _key(line), _rank(line)))
    return out


# ---- comparing two sides -----------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text) if len(w) > 1}


def _similar(a: Statement, b: Statement) -> float:
    wa, wb = _words(a.text), _words(b.text)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _pairs(
    old: list[Statement], new: list[Statement], removed: list[int], added: list[int]
) -> list[tuple[int | None, int | None]]:
    """Pairs of (old index, new index) for one block: the same key first, then most shared
    words, then a lone replacement between the same unchanged neighbours; the rest alone."""
    pairs: list[tuple[int | None, int | None]] = []
    left, right = set(removed), set(added)
    candidates = sorted(
        (
            (-(old[i].key == new[j].key and bool(old[i].key)) - _similar(old[i], new[j]), i, j)
            for i in removed
            for j in added
        ),
    )
    for score, i, j in candidates:
        if i in left and j in right and score <= -0.5:
            pairs.append((i, j))
            left.discard(i)
            right.discard(j)
    return pairs + [(i, None) for i in sorted(left)] + [(None, j) for j in sorted(right)]


def _changes(
    old: list[Statement], new: list[Statement]
) -> dict[str, list[tuple[Statement | None, Statement | None]]]:
    """Per block, the statements removed, added and replaced. Within a block the sides are
    aligned on their unchanged statements, so an unchanged statement is never reported and one
    replaced between the same neighbours is paired with its replacement."""
    by_old: dict[str, list[int]] = defaultdict(list)
    by_new: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(old):
        by_old[s.block].append(i)
    for j, s in enumerate(new):
        by_new[s.block].append(j)
    result: dict[str, list[tuple[Statement | None, Statement | None]]] = {}
    for block in [*by_new, *(b for b in by_old if b not in by_new)]:
        a, b = by_old.get(block, []), by_new.get(block, [])
        matcher = difflib.SequenceMatcher(
            None, [old[i].text for i in a], [new[j].text for j in b], autojunk=False
        )
        removed: list[int] = []
        added: list[int] = []
        lone: list[tuple[int, int]] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == 1 and j2 - j1 == 1:
                lone.append((a[i1], b[j1]))
                continue
            removed += a[i1:i2]
            added += b[j1:j2]
        # a statement moved within its block is neither removed nor added
        moved = {old[i].text for i in removed} & {new[j].text for j in added}
        removed = [i for i in removed if old[i].text not in moved]
        added = [j for j in added if new[j].text not in moved]
        pairs = _pairs(old, new, removed, added)
        found = [(old[i], new[j]) for i, j in lone] + [
            (old[i] if i is not None else None, new[j] if j is not None else None) for i, j in pairs
        ]
        if found:
            result[block] = sorted(found, key=lambda p: _side(p).line)
    return result


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _listed(words: list[str]) -> str:
    shown = ", ".join(f"`{w}`" for w in words[:_MAX_WORDS])
    return shown + (f" (+{len(words) - _MAX_WORDS} more)" if len(words) > _MAX_WORDS else "")


def _renamed(added: list[str], dropped: list[str]) -> tuple[str, list[str], list[str]]:
    """A long list renamed the same way (`php83-gd` → `php84-gd` for thirty packages) as one
    phrase, and the words that are not part of it."""
    groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for d in dropped:
        parts = re.split(r"([-_./:@])", d)
        for a in added:
            other = re.split(r"([-_./:@])", a)
            if len(other) != len(parts):
                continue
            diff = [k for k, (x, y) in enumerate(zip(parts, other, strict=True)) if x != y]
            if len(diff) == 1:
                groups[(parts[diff[0]], other[diff[0]])].append((d, a))
    if not groups:
        return "", added, dropped
    (was, now), members = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(members) < 3:
        return "", added, dropped
    gone = {d for d, _ in members}
    came = {a for _, a in members}
    phrase = f"`{was}` → `{now}` in {len(members)} words (`{members[0][0]}` → `{members[0][1]}`, …)"
    return phrase, [a for a in added if a not in came], [d for d in dropped if d not in gone]


def _describe(before: Statement | None, after: Statement | None) -> str:
    if before is None and after is not None:
        return f"added `{_cut(after.text)}`"
    if after is None and before is not None:
        return f"removed `{_cut(before.text)}`"
    assert before is not None and after is not None
    added = new_words(before.text, after.text)
    dropped = new_words(after.text, before.text)
    if max(len(before.text), len(after.text)) <= _MAX_TEXT and len(added) + len(dropped) <= 8:
        return f"`{before.text}` → `{after.text}`"
    phrase, added, dropped = _renamed(added, dropped)
    parts = [p for p in (phrase,) if p]
    if added:
        parts.append("adds " + _listed(added))
    if dropped:
        parts.append("drops " + _listed(dropped))
    head = _cut(after.text.split(" ", 3)[0] if after.key else after.text[:40])
    return f"`{head}…` changed: " + ("; ".join(parts) or "reformatted")


def _side(pair: tuple[Statement | None, Statement | None]) -> Statement:
    """The statement a change is shown at: the new one, or the removed one."""
    found = pair[1] or pair[0]
    assert found is not None
    return found


def _told(a: Statement | None, b: Statement | None, at_line: dict[int | None, str]) -> bool:
    """Whether a kind-specific reader already said this change: a fact at the statement's line
    (any line, for a removal) holds the part that changed, verbatim."""
    if b is None:
        assert a is not None
        told = " ".join(at_line.values())
        return a.text in told or (bool(a.key) and f"`{a.key}`" in told and "removed" in told)
    told = at_line.get(b.line, "")
    if a is None:  # added: said whole anywhere in the file, or every word of it at its line
        whole = " ".join(_one_line(text) for text in at_line.values())
        return b.text in whole or (bool(told) and _words(b.text) <= _words(told))
    if not told:
        return False
    was, now = (part.strip(" ;,") for part in differing_parts(a.text, b.text))
    return all(part in told for part in (was, now) if part)


def statement_facts(
    path: str, old: str | None, new: str | None, *, said: Iterable[Fact] = ()
) -> list[Fact]:
    """Plain facts for the changed statements of one file that the facts `said` (the
    kind-specific readers' facts of this file) do not already name: one line per statement,
    grouped by enclosing block, at most MAX_PER_BLOCK a block and then a count."""
    before, after = read(path, old), read(path, new)
    if before is None or after is None:
        return []
    said = list(said)
    at_line: dict[int | None, str] = defaultdict(str)
    for fact in said:
        at_line[fact.line] += " " + fact.render()
    facts: list[Fact] = []
    for block, changes in _changes(before, after).items():
        fresh = [(a, b) for a, b in changes if not _told(a, b, at_line)]
        if not fresh:
            continue
        ranked = sorted(fresh, key=lambda p: (_side(p).rank, _side(p).line))
        shown = sorted(ranked[:MAX_PER_BLOCK], key=lambda p: _side(p).line)
        for a, b in shown:
            where = b if b is not None else a
            assert where is not None
            facts.append(
                Fact(
                    path,
                    where.line if b is not None else None,
                    STATEMENTS,
                    f"in `{block}`{f' (line {where.line} before)' if b is None else ''}: "
                    f"{_describe(a, b)}",
                    status="changed",
                )
            )
        if len(fresh) > len(shown):
            lines = sorted(_side(p).line for p in fresh)
            facts.append(
                Fact(
                    path,
                    None,
                    STATEMENTS,
                    f"in `{block}`: {len(fresh) - len(shown)} {_LEFT_OUT} "
                    f"(lines {lines[0]}–{lines[-1]})",
                )
            )
    if path.endswith((".py", ".pyi")):  # a secret-named lookup's literal fallback, too
        facts = hide_fallback_secrets(new, hide_fallback_secrets(old, facts))
    return _redacted(facts)


def left_out(fact: Fact) -> bool:
    """Whether `fact` is a block's count of the statements it did not show (which sorts
    after the block's lines)."""
    return fact.category == STATEMENTS and fact.line is None and _LEFT_OUT in fact.subject


def _redacted(facts: list[Fact]) -> list[Fact]:
    """The facts with every secret-like string in their text replaced: this reader shows code
    as it is written, and code may hold a literal password or key."""
    if not facts:
        return facts
    text, count = redact_text("\n".join(f.subject for f in facts))
    subjects = text.split("\n")
    if not count:
        return facts
    if len(subjects) != len(facts):  # a redaction spanning lines: each on its own
        subjects = [redact_text(f.subject)[0] for f in facts]
    return [replace(f, subject=subject) for f, subject in zip(facts, subjects, strict=True)]
