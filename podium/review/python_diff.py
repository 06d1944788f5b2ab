"""Python changes, read through `ast`: definitions added, removed or changed; module-level
settings; and the facts inside changed code a reviewer must see — changed call arguments
(`memory_size=128` → `1024`), new branches and early returns, new keys read from requests,
events and the environment, new keys in returned dicts, decorators (routes, auth) and broad
`except` clauses that swallow errors."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from podium.review.facts import (
    BEHAVIOUR,
    CONFIG,
    EXPOSURE,
    REDACTED,
    Effect,
    Fact,
    fallback_secret,
    judge_items,
    rate,
    setting_fact,
    setting_facts,
    show,
    switch_facts,
)


@dataclass
class PythonDelta:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    error: str | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.error)


@dataclass(frozen=True)
class _Definition:
    kind: str  # function, async function, class, method
    signature: str
    body: str


def _definitions(tree: ast.Module) -> dict[str, _Definition]:
    found: dict[str, _Definition] = {}

    def visit(nodes: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "method" if in_class else "function"
                if isinstance(node, ast.AsyncFunctionDef):
                    kind = "async " + kind
                signature = f"({ast.unparse(node.args)})"
                if node.returns is not None:
                    signature += f" -> {ast.unparse(node.returns)}"
                body = ast.dump(ast.Module(body=node.body, type_ignores=[]))
                decorators = ",".join(ast.unparse(d) for d in node.decorator_list)
                found[prefix + node.name] = _Definition(kind, signature, body + decorators)
            elif isinstance(node, ast.ClassDef):
                bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
                # A class's own fingerprint leaves out its methods: they are reported apart.
                own = [
                    n
                    for n in node.body
                    if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                ]
                body = ast.dump(ast.Module(body=own, type_ignores=[]))
                found[prefix + node.name] = _Definition("class", f"({bases})", body)
                visit(node.body, f"{prefix}{node.name}.", True)

    visit(tree.body, "", False)
    return found


def python_delta(old: str | None, new: str | None) -> PythonDelta:
    """Functions, methods and classes added, removed or changed between two sources."""
    delta = PythonDelta()
    trees = []
    for label, source in (("before", old), ("after", new)):
        if source is None:
            trees.append(ast.Module(body=[], type_ignores=[]))
            continue
        try:
            trees.append(ast.parse(source))
        except SyntaxError as error:
            delta.error = f"does not parse {label} the push (SyntaxError, line {error.lineno})"
            return delta
    before, after = _definitions(trees[0]), _definitions(trees[1])
    for name in after.keys() - before.keys():
        d = after[name]
        delta.added.append(f"{d.kind} `{name}{d.signature if d.kind != 'class' else ''}`")
    for name in before.keys() - after.keys():
        delta.removed.append(f"{before[name].kind} `{name}`")
    for name in before.keys() & after.keys():
        old_d, new_d = before[name], after[name]
        if old_d.signature != new_d.signature:
            what = "bases" if new_d.kind == "class" else "signature"
            delta.changed.append(
                f"{new_d.kind} `{name}` {what} `{old_d.signature}` → `{new_d.signature}`"
            )
        elif old_d.body != new_d.body:
            delta.changed.append(f"{new_d.kind} `{name}` body")
    for items in (delta.added, delta.removed, delta.changed):
        items.sort(key=lambda s: s.split("`")[1])
    return delta


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


_AUTH_NAME = re.compile(
    r"(?i)auth|login|permission|jwt|token|verify|signature|csrf|admin|requires?_|"
    r"scope|role|acl|guard|protected|passes_test|staff_member|superuser_required|"
    r"member_required|logged_in"
)
# Calls whose removal means a check no longer runs (a token *generator* is no check).
_CHECK_CALL = re.compile(
    r"(?i)verify|check|authenticat|authoriz|permission|login_required|require|csrf|signature|"
    r"validate|has_perm|is_admin|is_authenticated|ensure_|guard|enforce|rate_?limit|throttl"
)
# Checks that guard access (narrower than _CHECK_CALL: a form's `validate()` is no guard)
_SECURITY_CHECK = re.compile(
    r"(?i)verify|authenticat|authoriz|permission|csrf|signature|has_perm|is_admin|"
    r"is_authenticated|login_required|check_(?:\w*_)?(?:perm|auth|access|token|signature|scope|"
    r"role|owner|object|throttle|rate|ip|origin|host|csrf|credential|password)|rate_?limit|"
    r"throttl|enforce|require_(?:auth|login|role|scope|perm)"
)
_DENIAL = re.compile(
    r"\b40[13]\b|HTTP_40[13]|PermissionDenied|Unauthori[sz]ed|Forbidden|NotAuthenticated|"
    r"AuthenticationFailed|PermissionError|AccessDenied|NotAuthori[sz]ed"
)
# Decorators that switch a protection off (`@csrf_exempt`, Django 5.1's `@login_not_required`,
# DRF's `@permission_classes([AllowAny])`): added, they loosen; the auth words in them do not
# make them checks.
# A project's own exception for a refused credential (`TokenError`, `InvalidToken`,
# `AuthError`, `SignatureExpired`): raising it refuses the request like a 401/403
_REFUSAL = re.compile(
    r"\b(?:Invalid(?:Token|Signature|Grant|Credentials?)|"
    r"(?:Token|Auth\w*|Permission|Credentials?|Signature|Access)(?:Error|Exception|Invalid|Expired|Denied))\b"
)
_EXEMPT_DECORATOR = re.compile(
    r"(?i)_exempt\b|login_not_required|allow_?any|anonymous|\bpublic\b|skip_auth|no_auth|"
    r"(permission|authentication)_classes\(\s*[\[(]\s*[\])]"
)
_LIMIT_DECORATOR = re.compile(r"(?i)rate_?limit|throttl|limiter|\bretry\b|retry\(|backoff|limit\(")
_ROUTE = re.compile(r"(?i)\.(route|get|post|put|patch|delete|head|options|websocket|api_route)\(")
_INPUT_ROOT = re.compile(
    r"(?i)^(event|request|req|body|params|query|headers|os\.environ|environ|config|cfg|"
    r"settings|payload|args|form|data|ctx|context|record|message|msg|self\.request|kwargs)\b"
)
_MAX_BEHAVIOUR = 25
_DEPENDS = ("Depends", "Security", "fastapi.Depends", "fastapi.Security")
# FastAPI dependencies that identify the caller (`get_current_user`, `current_active_user`,
# `oauth2_scheme`, `api_key_header`): removed, the endpoint no longer knows who calls
_USER_DEPENDENCY = re.compile(
    r"(?i)current_\w*user|get_\w*user\b|authenticated_user|api_?key|bearer|oauth2?_scheme|"
    r"principal|get_\w*(account|member|session)\b"
)


def python_settings(
    source: str | None, *, include_calls: bool = False
) -> dict[str, tuple[int, str]]:
    """Module- and class-level `NAME = value` assignments whose value is not a call (calls are
    compared argument by argument): name → (line, source text of the value). With
    `include_calls`, calls (marked with CALL_MARK) and annotations without a value
    (`(no default)`) are included too."""
    tree = _parse(source)
    if tree is None:
        return {}
    values: dict[str, tuple[int, str]] = {}

    def scan(nodes: list[ast.stmt], scope: str, branched: bool = False) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef):
                scan(node.body, f"{scope}{node.name}.")
                continue
            if isinstance(node, ast.If | ast.Try | ast.With):
                # settings chosen at import time (`if not DATABASE_URL:` … `else:`, `try:` …
                # `except ImportError:`) are settings too; the first assignment of a name
                # stands for it (the main branch)
                for block in _blocks(node):
                    scan(block, scope, branched=True)
                continue
            value: ast.expr | None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            else:
                continue
            if isinstance(value, ast.Lambda) or (
                not include_calls and (value is None or isinstance(value, ast.Call))
            ):
                continue
            # A call's value is compared argument by argument; it is kept here (marked) only
            # so a setting that gains or loses a call (`secrets.token_urlsafe(32)` → no
            # default) is still seen.
            text = (
                "(no default)"
                if value is None
                else (CALL_MARK if isinstance(value, ast.Call) else "") + ast.unparse(value)
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    if branched and f"{scope}{target.id}" in values:
                        continue
                    values[f"{scope}{target.id}"] = (node.lineno, text)

    scan(tree.body, "")
    return values


CALL_MARK = "\x00call:"


def _blocks(node: ast.If | ast.Try | ast.With) -> list[list[ast.stmt]]:
    """The statement lists of a module-level `if`/`try`/`with`, main branch first."""
    if isinstance(node, ast.If):
        return [node.body, node.orelse]
    if isinstance(node, ast.Try):
        return [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
    return [node.body]


def _parse(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _callee(node: ast.expr) -> str:
    """A call's target with inner calls' arguments left out: `client.get().json`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_callee(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_callee(node.func)}()"
    if isinstance(node, ast.Subscript):
        return f"{_callee(node.value)}[…]"
    return ast.unparse(node)


@dataclass
class _Call:
    callee: str
    ident: str | None  # a construct id: the first string among the first two positionals
    line: int
    args: dict[str, tuple[int, str]]  # "kw" or "#i" -> (line, source)
    text: str
    guards: tuple[str, ...] = ()  # the `if` tests it runs under, innermost last


@dataclass
class _Scope:
    """What one function (or the module, or a class body) does, as comparable pieces."""

    calls: dict[tuple[str, str], _Call] = field(default_factory=dict)
    branches: dict[str, int] = field(default_factory=dict)  # if-test source -> line
    # if-test source -> what its body does: "deny" (refuses, redirects to a login), "allow"
    # (`return True`), or ""
    branch_acts: dict[str, str] = field(default_factory=dict)
    early_returns: dict[str, int] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    response_keys: dict[str, int] = field(default_factory=dict)
    decorators: dict[str, int] = field(default_factory=dict)
    depends: set[str] = field(default_factory=set)
    handlers: dict[str, int] = field(default_factory=dict)  # swallowing broad excepts
    raises: dict[str, int] = field(default_factory=dict)  # `raise X(...)` source -> line
    bases: dict[str, int] = field(default_factory=dict)  # a class's base classes -> line
    final_return: tuple[int, str] | None = None  # a function's last statement's `return`
    branch_firsts: dict[str, str] = field(default_factory=dict)  # if-test -> its first statement


def _scopes(tree: ast.Module) -> dict[str, _Scope]:
    scopes: dict[str, _Scope] = {}

    def visit_body(body: list[ast.stmt], name: str, *, function: bool) -> None:
        scope = scopes.setdefault(name, _Scope())
        counts: Counter[str] = Counter()
        for index, stmt in enumerate(body):
            last = index == len(body) - 1
            walk(stmt, scope, name, counts, nested=False, last=last and function)

    def walk(
        node: ast.AST,
        scope: _Scope,
        name: str,
        counts: Counter[str],
        *,
        nested: bool,
        last: bool,
        in_call: bool = False,
        guards: tuple[str, ...] = (),
    ) -> None:
        """Collect `node` into `scope`; inside a call's arguments (`in_call`) calls are not
        recorded on their own (the outer call's arguments carry them) but reads still are."""
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qual = node.name if name == "<module>" else f"{name}.{node.name}"
            inner = scopes.setdefault(qual, _Scope())
            for d in node.decorator_list:
                inner.decorators[ast.unparse(d)] = d.lineno
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    text = ast.unparse(default)
                    if text.startswith(("Depends(", "Security(")):
                        inner.depends.add(text)
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                # `user: Annotated[User, Depends(get_current_user)]`
                if arg.annotation is not None:
                    for sub in ast.walk(arg.annotation):
                        if isinstance(sub, ast.Call) and _callee(sub.func) in _DEPENDS:
                            inner.depends.add(ast.unparse(sub))
            visit_body(node.body, qual, function=True)
            return
        if isinstance(node, ast.ClassDef):
            qual = node.name if name == "<module>" else f"{name}.{node.name}"
            inner = scopes.setdefault(qual, _Scope())
            for d in node.decorator_list:  # `@method_decorator(login_required, …)` on a view
                inner.decorators[ast.unparse(d)] = d.lineno
            for base in node.bases:  # `LoginRequiredMixin`, `CsrfExemptMixin`
                inner.bases[ast.unparse(base)] = base.lineno
            visit_body(node.body, qual, function=False)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Call):
            if (
                not in_call
                or _construct_id(node) is not None
                or any(kw.arg in _GRANT_ARGS for kw in node.keywords)
            ):
                _record_call(node, scope, counts, guards)
            if _callee(node.func).endswith((".get", ".getlist", "getenv")) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    text = ast.unparse(node)
                    if _INPUT_ROOT.match(text) or text.startswith("os.getenv"):
                        scope.reads.setdefault(text, node.lineno)
            for child in ast.iter_child_nodes(node.func):
                walk(child, scope, name, counts, nested=nested, last=False, in_call=in_call,
                     guards=guards)  # fmt: skip
            for child in [*node.args, *(kw.value for kw in node.keywords)]:
                walk(child, scope, name, counts, nested=nested, last=False, in_call=True,
                     guards=guards)  # fmt: skip
            return
        if isinstance(node, ast.If):
            scope.branches.setdefault(ast.unparse(node.test), node.lineno)
            scope.branch_acts.setdefault(ast.unparse(node.test), _acts(node.body))
            scope.branch_firsts.setdefault(ast.unparse(node.test), ast.unparse(node.body[0]))
            test = ast.unparse(node.test)
            walk(node.test, scope, name, counts, nested=True, last=False, guards=guards)
            for stmt in node.body:
                walk(stmt, scope, name, counts, nested=True, last=False, guards=(*guards, test))
            for stmt in node.orelse:
                walk(stmt, scope, name, counts, nested=True, last=False,
                     guards=(*guards, f"not ({test})"))  # fmt: skip
            return
        if isinstance(node, ast.Return) and node.value is not None:
            if nested or not last:
                scope.early_returns.setdefault(ast.unparse(node), node.lineno)
            else:
                scope.final_return = (node.lineno, ast.unparse(node.value))
            for key, line in _dict_keys(node.value):
                scope.response_keys.setdefault(key, line)
        if isinstance(node, ast.Raise) and node.exc is not None:
            scope.raises.setdefault(ast.unparse(node.exc), node.lineno)
        if isinstance(node, ast.ExceptHandler):
            kind = ast.unparse(node.type) if node.type is not None else ""
            raises = any(isinstance(n, ast.Raise) for n in ast.walk(node))
            if kind in ("", "Exception", "BaseException") and not raises:
                scope.handlers.setdefault(f"except {kind}".strip() + ":", node.lineno)
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            text = ast.unparse(node)
            if _INPUT_ROOT.match(text) and isinstance(node.slice, ast.Constant):
                scope.reads.setdefault(text, node.lineno)
        for child in ast.iter_child_nodes(node):
            inner_nested = nested or isinstance(
                node, ast.For | ast.While | ast.Try | ast.With | ast.AsyncFor | ast.AsyncWith
            )
            walk(child, scope, name, counts, nested=inner_nested, last=last, in_call=in_call,
                 guards=guards)  # fmt: skip

    visit_body(tree.body, "<module>", function=False)
    for scope in scopes.values():  # `a["x"]["y"]` read also reads `a["x"]`: keep the longest
        keys = list(scope.reads)
        for key in keys:
            if any(other != key and other.startswith(key) for other in keys):
                scope.reads.pop(key, None)
    return scopes


def _dict_keys(node: ast.AST) -> list[tuple[str, int]]:
    keys = []
    for inner in ast.walk(node):
        if isinstance(inner, ast.Dict):
            for key in inner.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keys.append((key.value, key.lineno))
    return keys


def _construct_id(node: ast.Call) -> str | None:
    """A CDK construct's id (`Role(self, "LaunchTemplateRole", …)`): a string second
    positional after a scope, so constructs nested in another call's arguments count too."""
    if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
        value = node.args[1].value
        if isinstance(value, str) and isinstance(node.args[0], ast.Name):
            return value
    return None


def _record_call(
    node: ast.Call, scope: _Scope, counts: Counter[str], guards: tuple[str, ...] = ()
) -> None:
    callee = _callee(node.func)
    ident = None
    for arg in node.args[:2]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            ident = arg.value
            break
    args: dict[str, tuple[int, str]] = {}
    for i, arg in enumerate(node.args):
        args[f"#{i + 1}"] = (arg.lineno, ast.unparse(arg))
    for kw in node.keywords:
        args[kw.arg or "**"] = (kw.value.lineno, ast.unparse(kw.value))
    if ident is None:
        counts[callee] += 1
        key = (callee, f"#{counts[callee]}")
    else:
        key = (callee, ident)
    scope.calls[key] = _Call(callee, ident, node.lineno, args, ast.unparse(node), guards)


def _in(scope: str) -> str:
    return "" if scope == "<module>" else f" in `{scope}`"


def names_used(source: str | None) -> set[str]:
    """Every name and attribute a Python source mentions (empty when it does not parse)."""
    tree = _parse(source)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }


def python_facts(
    path: str, old: str | None, new: str | None, *, used_elsewhere: frozenset[str] = frozenset()
) -> list[Fact]:
    """The facts inside a Python change (see the module docstring), each with its line.

    Args:
        used_elsewhere: names the push's other new Python files mention; a security check
            whose call disappears here but is still used there was moved, not removed.
    """
    before_tree, after_tree = _parse(old), _parse(new)
    if after_tree is None and new is not None:
        return []
    before = _scopes(before_tree) if before_tree is not None else {}
    after = _scopes(after_tree) if after_tree is not None else {}
    facts: list[Fact] = []
    behaviour: list[Fact] = []
    # Names the push still uses anywhere: a check still referenced was moved, not removed.
    callees = names_used(new) | set(used_elsewhere)

    def add(fact: Fact | None) -> None:
        if fact is None:
            return
        if fact.category == BEHAVIOUR and fact.effect == "neutral":
            behaviour.append(fact)
        else:
            facts.append(fact)

    # if-tests of every new function: a refusing branch found here was moved, not removed
    elsewhere = frozenset(t for scope in after.values() for t in scope.branches)
    # module-level settings
    old_settings = python_settings(old, include_calls=True)
    new_settings = python_settings(new, include_calls=True)
    for name in sorted(old_settings.keys() | new_settings.keys()):
        a, b = old_settings.get(name), new_settings.get(name)
        if a and b and a[1] == b[1]:
            continue
        if all(v is None or v[1].startswith(CALL_MARK) for v in (a, b)):
            # calls on both sides (or one): compared as calls, but for a call wrapped or
            # unwrapped (`view = login_required(View.as_view())` → `View.as_view()`)
            wrapped = _rewrapped(path, name, a, b, callees)
            if wrapped is not None:
                add(wrapped)
            elif b is not None and (a is not None or before_tree is not None):
                # a secret given a literal fallback (`os.getenv("SECRET_KEY", "…")`) is judged
                # on the whole call, not argument by argument
                old_text = a[1].removeprefix(CALL_MARK) if a else None
                new_text = b[1].removeprefix(CALL_MARK)
                key = name.rsplit(".", 1)[-1]
                if fallback_secret(key, new_text) and not fallback_secret(key, old_text or ""):
                    add(
                        setting_fact(
                            path=path,
                            line=b[0],
                            key=key,
                            subject=f"`{name}`",
                            before=old_text,
                            after=new_text,
                            context=name,
                        )  # fmt: skip
                    )
            continue
        a = a and (a[0], a[1].removeprefix(CALL_MARK))
        b = b and (b[0], b[1].removeprefix(CALL_MARK))
        if a is None and b is not None and before_tree is None:
            continue  # a new file: its definitions are listed, not each constant
        keyed = _dict_setting_facts(path, name, a, b, new)
        if keyed is not None:
            for fact in keyed:
                add(fact)
            continue
        located = b or a
        line = located[0] if located else None
        add(
            setting_fact(
                path=path,
                line=line,
                key=name.rsplit(".", 1)[-1],
                subject=f"`{name}`",
                before=a[1] if a else None,
                after=b[1] if b else None,
                context=name,
            )
        )

    for name in sorted(after.keys() | before.keys()):
        new_scope, old_scope = after.get(name), before.get(name)
        if new_scope is None:
            continue  # a removed function is listed with the definitions
        fresh = old_scope is None
        old_scope = old_scope or _Scope()
        for fact in _call_facts(path, name, old_scope, new_scope, fresh=fresh, callees=callees):
            add(fact)
        if not fresh:
            for fact in _base_facts(path, name, before, after):
                add(fact)
        # decorators whose arguments changed (`@limiter.limit("5/minute")` → `"100/minute"`,
        # `@retry(stop=…)` → `@retry()`): the same decorator, its arguments judged
        rewritten = _paired_decorators(old_scope.decorators, new_scope.decorators)
        for old_text, new_text in rewritten.items():
            for fact in _decorator_arg_facts(
                path, name, old_text, new_text, new_scope.decorators[new_text]
            ):
                add(fact)
        # decorators: routes and auth
        for text, line in new_scope.decorators.items():
            if text in old_scope.decorators or text in rewritten.values():
                continue
            if _EXEMPT_DECORATOR.search(text):
                moved = _moved_protection(name, text, before, after, exempt=True)
                if moved:
                    why = f"exemption moved from {moved} (the view was exempt before)"
                    add(_exposure_fact(path, line, name, text, "added", "neutral", why))
                    continue
                why = "a protection is switched off for this view"
                add(_exposure_fact(path, line, name, text, "added", "loosens", why))
                continue
            if _AUTH_NAME.search(text):
                add(_exposure_fact(path, line, name, text, "added", "tightens", "auth required"))
            elif _ROUTE.search("." + text.split(".", 1)[-1]) or _ROUTE.search(text):
                add(
                    Fact(
                        path,
                        line,
                        EXPOSURE,
                        f"route `@{text}` on `{name}`",
                        after=text,
                        why="new or changed endpoint",
                        status="added",
                        anchors=(name.split(".")[-1],),
                    )
                )
        for text, old_line in old_scope.decorators.items():
            if text in new_scope.decorators or fresh or text in rewritten:
                continue
            if _LIMIT_DECORATOR.search(text) and not any(
                _LIMIT_DECORATOR.search(t) for t in new_scope.decorators
            ):
                why = f"rate limit or retry cap removed (was line {old_line})"
                add(_exposure_fact(path, None, name, text, "removed", "loosens", why))
                continue
            if _EXEMPT_DECORATOR.search(text):
                why = f"exemption removed (was line {old_line})"
                add(_exposure_fact(path, None, name, text, "removed", "tightens", why))
                continue
            if _AUTH_NAME.search(text):
                at = new_scope.decorators and min(new_scope.decorators.values()) or None
                moved = _protection_to_base(name, text, before, after)
                if moved:
                    why = f"moved to {moved} (was line {old_line})"
                    add(_exposure_fact(path, at, name, text, "removed", "neutral", why))
                    continue
                why = f"authentication check removed (was line {old_line})"
                add(_exposure_fact(path, at, name, text, "removed", "loosens", why))
        if not fresh:
            for text, old_line in old_scope.raises.items():
                if text in new_scope.raises or not _DENIAL.search(text):
                    continue
                if _raised_by_new_helper(text, before, after, new_scope):
                    continue  # moved into a function it now calls (`require_delete(request)`)
                why = f"a permission check no longer refuses the request (was line {old_line})"
                add(_exposure_fact(path, None, name, text, "removed", "loosens", why, raised=True))
            for text, line in new_scope.raises.items():
                if text in old_scope.raises or not _DENIAL.search(text):
                    continue
                why = "a request is now refused here"
                add(_exposure_fact(path, line, name, text, "added", "tightens", why, raised=True))
        for dep in sorted(old_scope.depends - new_scope.depends):
            if (_AUTH_NAME.search(dep) or _USER_DEPENDENCY.search(dep)) and not fresh:
                add(
                    Fact(
                        path,
                        None,
                        EXPOSURE,
                        f"dependency `{dep}` of `{name}`",
                        before=dep,
                        effect="loosens",
                        why="authentication dependency removed",
                        status="removed",
                        anchors=(dep,),
                    )
                )
        # Only more swallowing handlers than before is a flag (`except BaseException` →
        # `except Exception` narrows one).
        newly_swallowing = not fresh and len(new_scope.handlers) > len(old_scope.handlers)
        for text, line in new_scope.handlers.items():
            if text not in old_scope.handlers:
                add(
                    Fact(
                        path,
                        line,
                        BEHAVIOUR,
                        f"`{text}` in `{name}`",
                        after=text,
                        effect="loosens" if newly_swallowing else "neutral",
                        why="a broad except that swallows errors",
                        status="added",
                        anchors=("except",),
                    )
                )
        if fresh:
            continue
        for fact in _code_changes(path, name, old_scope, new_scope, elsewhere):
            add(fact)
    if len(behaviour) > _MAX_BEHAVIOUR:
        left = len(behaviour) - _MAX_BEHAVIOUR
        behaviour = behaviour[:_MAX_BEHAVIOUR]
        behaviour.append(Fact(path, None, BEHAVIOUR, f"… and {left} more code changes"))
    facts += _insecure_facts(path, old, new)
    return hide_fallback_secrets(new, facts + behaviour)


# Code that switches a protection off wherever it stands (an argument, a dict, an assignment):
# (pattern, what it means)
_INSECURE = (
    (r"\b_create_unverified_context\(|\bCERT_NONE\b", "TLS certificate verification turned off"),
    (r"\bcheck_hostname\s*=\s*False", "TLS host name check turned off"),
    (r"\b(?:AutoAddPolicy|WarningPolicy)\(", "unknown SSH host keys accepted"),
    (r"""['"]?verify_(?:signature|exp|aud|iss|iat|nbf)['"]?\s*[:=]\s*False""",
     "a token check turned off"),
    (r"""\balgorithms\s*=\s*\[[^\]]*['"]none['"]""", "unsigned tokens accepted"),
    (r"\bverify_ssl\s*=\s*False|\bssl_verify\s*=\s*False|\bsslmode\s*=\s*['\"]disable",
     "TLS turned off"),
    (r"\.grant_(?:full_access|public_access|put_acl|admin\w*)\(", "broad access granted"),
)  # fmt: skip


def _insecure_facts(path: str, old: str | None, new: str | None) -> list[Fact]:
    """Switches that turn a protection off (`ssl._create_unverified_context()`,
    `options={"verify_signature": False}`, `paramiko.AutoAddPolicy()`): see `switch_facts`."""
    return switch_facts(path, old, new, _INSECURE, comment="#")


def hide_fallback_secrets(source: str | None, facts: list[Fact]) -> list[Fact]:
    """The literal fallback of a secret-named lookup (`os.getenv("DB_PASSWORD", "…")`) is
    never shown, in any fact (call arguments, keys read, settings)."""
    literals = set()
    for line in (source or "").splitlines():
        for match in _FALLBACK_LOOKUP.finditer(line):
            if fallback_secret(line.split("=", 1)[0].strip(), match.group(0)):
                literals.add(match.group(2))
    if not literals:
        return facts

    def hide(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for literal in literals:
            value = value.replace(literal, REDACTED)
        return value

    return [
        replace(f, subject=hide(f.subject), before=hide(f.before), after=hide(f.after))
        for f in facts
    ]


_FALLBACK_LOOKUP = re.compile(
    r"""(?:getenv|environ\.get|config)\(\s*['"]([^'"]+)['"]\s*,\s*(?:default\s*=\s*)?"""
    r"""['"]([^'"]+)['"]"""
)


# Base classes that exempt a view from a protection (`CsrfExemptMixin`), or that require
# authentication or a permission (`LoginRequiredMixin`, `PermissionRequiredMixin`)
_EXEMPT_BASE = re.compile(r"(?i)exempt|allow_?any|login_?not_?required|anonymous|public")
_AUTH_BASE = re.compile(
    r"(?i)login_?required|permission_?required|user_?passes_?test|staff_?required|"
    r"superuser_?required|access_?mixin|authenticat\w*_?(required|mixin)|requires?_?auth"
)


def _protection(text: str) -> str:
    """Which protection an exemption or requirement is about: `csrf`, `login`, …"""
    match = re.search(r"(?i)csrf|xframe|clickjack|login|auth|permission|staff|superuser", text)
    return match.group(0).lower() if match else "auth"


def _class_marks(scopes: dict[str, _Scope], cls: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """Protection → what carries it, among a class's bases and the decorators of the class
    and its methods that match `pattern`."""
    marks: dict[str, str] = {}
    scope = scopes.get(cls)
    if scope is not None:
        for base in scope.bases:
            if pattern.search(base):
                marks.setdefault(_protection(base), f"base `{base}`")
    for name, other in scopes.items():
        if name == cls or name.startswith(cls + "."):
            for text in other.decorators:
                if pattern.search(text):
                    marks.setdefault(_protection(text), f"decorator `@{text}`")
    return marks


def _moved_protection(
    name: str, text: str, before: dict[str, _Scope], after: dict[str, _Scope], *, exempt: bool
) -> str:
    """Where an exemption (or requirement) added as `text` on `name` came from when its class
    carried the same one before by a base class that is gone: that base, else ""."""
    cls = name.split(".")[0]
    pattern = _EXEMPT_BASE if exempt else _AUTH_BASE
    old_scope, new_scope = before.get(cls), after.get(cls)
    if old_scope is None or new_scope is None:
        return ""
    for base in old_scope.bases:
        if base not in new_scope.bases and pattern.search(base):
            if _protection(base) == _protection(text):
                return f"base `{base}`"
    return ""


def _protection_to_base(
    name: str, text: str, before: dict[str, _Scope], after: dict[str, _Scope]
) -> str:
    """The base class a removed auth decorator `text` of `name` moved to (`@method_decorator(
    login_required)` → `LoginRequiredMixin`), else ""."""
    return _moved_protection(name, text, after, before, exempt=False)


def _base_facts(
    path: str, cls: str, before: dict[str, _Scope], after: dict[str, _Scope]
) -> Iterator[Fact]:
    """A class's base classes that exempt it from a protection or require authentication,
    added or removed: an exemption gained or a requirement lost is ⚠, the other way ✓, and
    one that moved to a decorator of the class (or back) is a plain fact."""
    old_scope, new_scope = before.get(cls), after.get(cls)
    if old_scope is None or new_scope is None:
        return
    for exempt, pattern in ((True, _EXEMPT_BASE), (False, _AUTH_BASE)):
        old_marks = _class_marks(before, cls, pattern)
        new_marks = _class_marks(after, cls, pattern)
        for base, line in new_scope.bases.items():
            if base in old_scope.bases or not pattern.search(base):
                continue
            moved = old_marks.get(_protection(base), "")
            effect: Effect = "neutral" if moved else ("loosens" if exempt else "tightens")
            why = (
                f"moved from {moved}"
                if moved
                else ("a protection is switched off for this view" if exempt else "auth required")
            )
            yield Fact(path, line, EXPOSURE, f"base class `{base}` of `{cls}` added",
                       effect=effect, why=why, status="added", anchors=(cls, base))  # fmt: skip
        for base, line in old_scope.bases.items():
            if base in new_scope.bases or not pattern.search(base):
                continue
            moved = new_marks.get(_protection(base), "")
            effect = "neutral" if moved else ("tightens" if exempt else "loosens")
            why = (
                f"moved to {moved}"
                if moved
                else ("exemption removed" if exempt else "authentication check removed")
            )
            yield Fact(path, None, EXPOSURE, f"base class `{base}` of `{cls}` removed",
                       effect=effect, why=f"{why} (was line {line})", status="removed",
                       anchors=(cls, base))  # fmt: skip


def _raised_by_new_helper(
    text: str, before: dict[str, _Scope], after: dict[str, _Scope], scope: _Scope
) -> bool:
    """Whether a function new in the file, which `scope` calls, raises `text`."""
    called = {call.callee.rsplit(".", 1)[-1] for call in scope.calls.values()}
    return any(
        name not in before and name.rsplit(".", 1)[-1] in called and text in helper.raises
        for name, helper in after.items()
    )


def _paired_decorators(old: dict[str, int], new: dict[str, int]) -> dict[str, str]:
    """Old decorator text → new text of the same decorator (one callee on each side, its
    arguments changed)."""

    def callee(text: str) -> str:
        return text.split("(", 1)[0]

    def plain(text: str) -> bool:  # routes keep their own fact (a new or changed endpoint)
        route = _ROUTE.search("." + text.split(".", 1)[-1]) or _ROUTE.search(text)
        return "(" in text and not route

    gone = [t for t in old if t not in new and plain(t)]
    came = [t for t in new if t not in old and plain(t)]
    pairs = {}
    for text in gone:
        same = [t for t in came if callee(t) == callee(text)]
        if len(same) == 1 and sum(callee(t) == callee(text) for t in gone) == 1:
            pairs[text] = same[0]
    return pairs


def _call_args(text: str) -> dict[str, str] | None:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call):
        return None
    args = {f"#{i + 1}": ast.unparse(a) for i, a in enumerate(node.args)}
    args.update({kw.arg or "**": ast.unparse(kw.value) for kw in node.keywords})
    return args


def _decorator_arg_facts(
    path: str, name: str, old_text: str, new_text: str, line: int
) -> list[Fact]:
    """One decorator's changed arguments, each judged (a positional rate such as
    `"5/minute"` as a rate limit, keywords by their names)."""
    old_args, new_args = _call_args(old_text), _call_args(new_text)
    if old_args is None or new_args is None:
        return []
    callee = new_text.split("(", 1)[0]

    def describe(arg: str) -> tuple[str, str, str]:
        a, b = old_args.get(arg), new_args.get(arg)
        positional = arg.startswith("#")
        key = ("rate" if rate(a) is not None or rate(b) is not None else callee.rsplit(".")[-1]
               ) if positional else arg  # fmt: skip
        label = f"argument {arg[1:]}" if positional else f"{arg}="
        return key, f"decorator `@{callee}({label})` on `{name}`", callee

    return setting_facts(
        path,
        {arg: (line, value) for arg, value in old_args.items()},
        {arg: (line, value) for arg, value in new_args.items()},
        describe,
        fallback=BEHAVIOUR,
        removed_line=line,
    )


def _exposure_fact(
    path: str,
    line: int | None,
    name: str,
    text: str,
    status: Literal["added", "removed"],
    effect: Effect,
    why: str,
    *,
    raised: bool = False,
) -> Fact:
    # A decorator `@text` of `name` (with `raised`: a denying `raise text` in it) that the
    # push added or removed; a decorator's text is shown on the side it stands.
    code: str | None = None
    if raised:
        subject = f"`raise {_short(text)}` {status}{_in(name)}"
        anchor = _last_word(text.split("(")[0])
    else:
        subject, anchor, code = f"decorator `@{text}` on `{name}`", text.split("(")[0], text
    return Fact(
        path,
        line,
        EXPOSURE,
        subject,
        before=code if status == "removed" else None,
        after=code if status == "added" else None,
        effect=effect,
        why=why,
        status=status,
        anchors=(anchor,),
    )


def _last_word(text: str) -> str:
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+", text)
    return words[-1] if words else text


def _key_of(text: str) -> str:
    keys = re.findall(r"""\(?\[?['"]([^'"]+)['"]""", text)
    return keys[-1] if keys else text


# Functions whose answer is an access decision (`has_permission`, `test_func`, `can_edit`)
_DECIDES = re.compile(
    r"(?i)^(has_\w*perm\w*|has_access|test_func|is_authori[sz]ed|authori[sz]e\w*|can_\w+|"
    r"check_\w*(perm|access|auth)\w*|allow\w*|is_allowed|permits?)$"
)


def _refusal_facts(
    path: str, name: str, old: _Scope, new: _Scope, paired: set[str], elsewhere: frozenset[str]
) -> Iterator[Fact]:
    """Access decisions that went away: an `if` whose body refused the request (a denial
    raised or returned, `abort(403)`, a redirect to the login, `return False`) removed, and not
    moved elsewhere in the file (⚠; one added is ✓); an access-deciding function
    (`has_permission`) that now answers `True` outright (⚠); and a new early `return` placed
    before a security check that used to run for every request (⚠)."""
    short = name.rsplit(".", 1)[-1]

    def refuses(scope: _Scope, text: str) -> bool:
        # a refusal by status or exception, or a bare `return False` in access code (a
        # validator's `return False` is no access decision)
        if scope.branch_acts.get(text) != "deny":
            return False
        first = scope.branch_firsts.get(text, "")
        return bool(
            _DENIAL.search(first) or _REFUSAL.search(first)
            or re.search(r"(?i)abort|forbidden|unauthori|login", first)
            or _AUTH_NAME.search(text) or _DECIDES.match(short)
        )  # fmt: skip

    # (a test that still refuses in another function of the file was moved, not removed)
    gone = [t for t in old.branches
            if t not in new.branches and t not in paired and refuses(old, t)
            and t not in elsewhere]  # fmt: skip
    came = [t for t in new.branches
            if t not in old.branches and t not in paired and refuses(new, t)]  # fmt: skip
    for was, now in zip(gone, came, strict=False):
        # a refusing test replaced by another (`is_staff` → `is_superuser`): which admits
        # more is not read from the names, so it is shown, not judged
        yield Fact(
            path, new.branches[now], EXPOSURE,
            f"access check{_in(name)} `if {_short(was)}:` → `if {_short(now)}:`",
            why="a refusing condition replaced", anchors=(_last_word(now),),
        )  # fmt: skip
    for text in gone[len(came) :]:
        yield Fact(
            path, None, EXPOSURE, f"access check `if {_short(text)}:` removed{_in(name)}",
            effect="loosens", status="removed",
            why=f"requests it refused now get through (was line {old.branches[text]})",
            anchors=(_last_word(text),),
        )  # fmt: skip
    for text in came[len(gone) :]:
        yield Fact(
            path, new.branches[text], EXPOSURE,
            f"access check `if {_short(text)}:` added{_in(name)}",
            effect="tightens", status="added", why="requests matching it are refused",
            anchors=(_last_word(text),),
        )  # fmt: skip
    if (
        _DECIDES.match(short)
        and new.final_return is not None
        and new.final_return[1] == "True"
        and old.final_return is not None
        and old.final_return[1] != "True"
    ):
        yield Fact(
            path, new.final_return[0], EXPOSURE, f"`{name}` now returns `True`",
            before=old.final_return[1], after="True", effect="loosens",
            why="the access decision lets everyone in", anchors=(short, "True"),
        )  # fmt: skip
    checks = [
        c for c in new.calls.values()
        if _SECURITY_CHECK.search(c.callee.rsplit(".", 1)[-1]) and not c.guards
    ]  # fmt: skip
    for text, line in new.early_returns.items():
        if text in old.early_returns or re.search(r"(?i)40[13]|forbidden|unauthori|False", text):
            continue
        skipped = [c for c in checks if c.line > line]
        if skipped:
            yield Fact(
                path, line, EXPOSURE,
                f"new early `{_short(text)}`{_in(name)} before `{_short(skipped[0].text)}`",
                effect="loosens", status="added",
                why="returns before the security check for the requests it matches",
                anchors=("return", skipped[0].callee.rsplit(".", 1)[-1]),
            )  # fmt: skip


def _code_changes(
    path: str, name: str, old: _Scope, new: _Scope, elsewhere: frozenset[str] = frozenset()
) -> Iterator[Fact]:
    """Behaviour facts of one scope's code: the branches, early returns, keys read and keys
    returned that the change adds and (but for early returns) removes."""
    # (old items, new items, subject of one added, of one removed or None, anchor, why)
    Kind = tuple[dict[str, int], dict[str, int], str, str | None, Callable[[str], str], str]
    kinds: list[Kind] = [
        (old.branches, new.branches, "new branch `if {}:`", "branch `if {}:` removed",
         _last_word, ""),
        (old.early_returns, new.early_returns, "new early `{}`", None,
         lambda _: "return", ""),
        (old.reads, new.reads, "reads new key `{}`", "no longer reads `{}`",
         _key_of, "new input"),
        (old.response_keys, new.response_keys, "returns new key `{!r}`",
         "no longer returns key `{!r}`", str, ""),
    ]  # fmt: skip
    judged, paired = _condition_facts(path, name, old, new)
    yield from judged
    refusals = list(_refusal_facts(path, name, old, new, paired, elsewhere))
    yield from refusals
    # a judged access check is not listed again as a plain branch
    paired = (
        paired
        | {  # the tests an access-check fact names
            part[3:-1]
            for f in refusals
            for part in f.subject.split("`")[1::2]
            if part.startswith("if ")
        }
    )
    for old_items, new_items, gained, lost, anchor, why in kinds:
        for text, line in new_items.items():
            if text not in old_items and text not in paired:
                subject = gained.format(text) + _in(name)
                anchors = (anchor(text),)
                yield Fact(path, line, BEHAVIOUR, subject, why=why, status="added", anchors=anchors)
        for text in old_items:
            if lost is not None and text not in new_items and text not in paired:
                subject, anchors = lost.format(text) + _in(name), (anchor(text),)
                yield Fact(path, None, BEHAVIOUR, subject, status="removed", anchors=anchors)


def _call_facts(
    path: str, scope: str, old: _Scope, new: _Scope, *, fresh: bool, callees: set[str]
) -> list[Fact]:
    """Facts of one scope's calls. `callees`: every callee of the new file, any scope.

    Calls are paired by structure: a construct by its id, any other call by its identical
    text, else by the arguments it shares with one old call of the same callee; never by
    position, so a deleted `raise HTTPException(403)` is not read as a change of an unchanged
    `raise HTTPException(400)`."""
    facts: list[Fact] = []
    pairs = _pair_calls(old, new)
    paired_old = {id(c) for c in pairs.values()}
    for key, call in new.calls.items():
        ident = f" of `{call.ident}`" if call.ident else ""
        previous = pairs.get(key)
        if previous is None:
            judged = []
            opened = _OPEN_WORLD.search(call.text)
            if opened and not fresh:
                judged.append(
                    Fact(
                        path,
                        call.line,
                        EXPOSURE,
                        f"new call `{_call_text(call)}`{_in(scope)}",
                        effect="loosens",
                        why="open to the whole internet",
                        status="added",
                        anchors=(call.callee.rsplit(".", 1)[-1], opened.group(0)),
                    )  # fmt: skip
                )
            for arg, (line, text) in call.args.items():
                if arg.startswith("#"):
                    continue
                grant = _list_grant(path, line, scope, call, arg, None, text)
                if grant is not None:
                    judged.append(grant)
                    continue
                fact = setting_fact(
                    path=path,
                    line=line,
                    key=arg,
                    subject=f"`{call.callee}({arg}=)`{ident}{_in(scope)}",
                    before=None,
                    after=text,
                    context=call.callee,
                    fallback=None,
                )
                if fact is not None and call.ident and "above its default" in fact.why:
                    # a new construct's limit is its first value, not a raise of one running
                    fact = Fact(**{**fact.__dict__, "effect": "neutral", "why": "set"})
                if fact is not None:
                    judged.append(fact)
            facts += judged
            if not fresh and not judged:
                facts.append(
                    Fact(
                        path,
                        call.line,
                        BEHAVIOUR,
                        f"new call `{_call_text(call)}`{_in(scope)}",
                        status="added",
                        anchors=(call.callee.rsplit(".", 1)[-1],),
                    )
                )
            continue
        guarded = _guard_fact(path, scope, previous, call)
        if guarded is not None:
            facts.append(guarded)
        for arg in sorted(call.args.keys() | previous.args.keys()):
            a, b = previous.args.get(arg), call.args.get(arg)
            if a is not None and b is not None and a[1] == b[1]:
                continue
            line = b[0] if b else call.line
            label = f"argument {arg[1:]}" if arg.startswith("#") else f"{arg}="
            grant = _list_grant(path, line, scope, call, arg, a and a[1], b and b[1])
            if grant is not None:
                facts.append(grant)
                continue
            keyed = _dict_arg_facts(path, scope, call, label, ident, a, b)
            if keyed is not None:
                facts += keyed
                continue
            if b and _OPEN_WORLD.search(b[1]) and not (a and _OPEN_WORLD.search(a[1])):
                facts.append(
                    Fact(
                        path,
                        line,
                        EXPOSURE,
                        f"`{call.callee}({label})`{ident}{_in(scope)}",
                        before=a and a[1],
                        after=b[1],
                        effect="loosens",
                        why="open to the whole internet",
                        anchors=(call.callee.rsplit(".", 1)[-1],),
                    )  # fmt: skip
                )
                continue
            facts.append(
                setting_fact(  # type: ignore[arg-type]
                    path=path,
                    line=line,
                    key=arg if not arg.startswith("#") else call.callee.rsplit(".", 1)[-1],
                    subject=f"`{call.callee}({label})`{ident}{_in(scope)}",
                    before=a[1] if a else None,
                    after=b[1] if b else None,
                    context=call.callee,
                    fallback=BEHAVIOUR,
                )
            )
    if not fresh:
        for call in old.calls.values():
            if id(call) in paired_old:
                continue
            # A check that still runs elsewhere in the file was moved, not removed.
            loosens = bool(_CHECK_CALL.search(call.callee.rsplit(".", 1)[-1])) and (
                call.callee.rsplit(".", 1)[-1] not in callees
            )
            facts.append(
                Fact(
                    path,
                    None,
                    EXPOSURE if loosens else BEHAVIOUR,
                    f"call `{_short(call.text)}` removed{_in(scope)}",
                    effect="loosens" if loosens else "neutral",
                    why=f"a security check no longer runs (was line {call.line})"
                    if loosens
                    else f"was line {call.line}",
                    status="removed",
                    anchors=(call.callee.rsplit(".", 1)[-1],),
                )
            )
    return facts


def _guard_fact(path: str, scope: str, old: _Call, new: _Call) -> Fact | None:
    """A security check (`verify_token_type()`, `check_permissions(…)`) that now runs only
    under a new condition is skipped whenever the condition is false (⚠); one freed from a
    condition now always runs (✓). A condition merely rewritten is left to the `if` rules."""
    name = new.callee.rsplit(".", 1)[-1]
    if not _SECURITY_CHECK.search(name):
        return None
    gained = [g for g in new.guards if g not in old.guards]
    lost = [g for g in old.guards if g not in new.guards]
    if gained and not lost:
        return Fact(
            path,
            new.line,
            EXPOSURE,
            f"check `{_short(new.text)}`{_in(scope)} now runs only when `{' and '.join(gained)}`",
            effect="loosens",
            why=f"skipped otherwise (was unconditional at line {old.line})"
            if not old.guards
            else f"skipped otherwise (was line {old.line})",
            anchors=(name, *gained),
        )
    if lost and not gained:
        return Fact(
            path,
            new.line,
            EXPOSURE,
            f"check `{_short(new.text)}`{_in(scope)} no longer depends on `{' and '.join(lost)}`",
            effect="tightens",
            why=f"runs in more cases (was line {old.line})",
            anchors=(name,),
        )
    return None


def _pair_calls(old: _Scope, new: _Scope) -> dict[tuple[str, str], _Call]:
    """New call key → the old call it is the same call site as (see `_call_facts`)."""
    pairs: dict[tuple[str, str], _Call] = {}
    free = dict(old.calls)
    for key, call in new.calls.items():  # constructs: by id
        if call.ident is not None and key in free:
            pairs[key] = free.pop(key)
    unnamed_old = [(k, c) for k, c in free.items() if c.ident is None]
    for key, call in new.calls.items():  # identical text
        if key in pairs or call.ident is not None:
            continue
        for index, (_, other) in enumerate(unnamed_old):
            if other.callee == call.callee and other.text == call.text:
                pairs[key] = other
                unnamed_old.pop(index)
                break
    for key, call in new.calls.items():  # shared arguments
        if key in pairs or call.ident is not None:
            continue
        mine = {(arg, text) for arg, (_, text) in call.args.items()}
        best, shared = None, 0
        for index, (_, other) in enumerate(unnamed_old):
            if other.callee != call.callee:
                continue
            common = len(mine & {(arg, text) for arg, (_, text) in other.args.items()})
            if common > shared:
                best, shared = index, common
        if best is not None:
            pairs[key] = unnamed_old.pop(best)[1]
    for key, call in new.calls.items():  # the one call of this callee here, before and after
        if key in pairs or call.ident is not None:
            continue
        same_new = [k for k, c in new.calls.items() if c.callee == call.callee and k not in pairs]
        same_old = [i for i, (_, c) in enumerate(unnamed_old) if c.callee == call.callee]
        if len(same_new) == 1 and len(same_old) == 1:
            pairs[key] = unnamed_old.pop(same_old[0])[1]
    return pairs


_OPEN_WORLD = re.compile(r"0\.0\.0\.0/0|::/0|any_?ipv[46]")
_GRANT_ARGS = {"actions", "resources", "not_actions", "not_resources", "verbs"}


def _list_grant(
    path: str, line: int, scope: str, call: _Call, arg: str, before: str | None, after: str | None
) -> Fact | None:
    """IAM actions/resources given to a call as literal lists (`PolicyStatement(actions=[…])`):
    the items added and removed, judged (a Deny statement denies more)."""
    if arg not in _GRANT_ARGS:
        return None
    lists: list[list[str]] = []
    for text in (before, after):
        if text is None:
            lists.append([])
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        if not isinstance(value, list | tuple):
            return None
        lists.append([str(v) for v in value])
    added = [v for v in lists[1] if v not in lists[0]]
    removed = [v for v in lists[0] if v not in lists[1]]
    if not added and not removed:
        return None
    deny = "deny" in call.text.lower() and "effect" in call.text.lower()
    judged = judge_items(arg, added, removed, call.callee, deny)
    if judged is None:
        return None
    category, effect, why = judged
    parts = []
    if added:
        parts.append("added " + ", ".join(f"`{v}`" for v in added))
    if removed:
        parts.append("removed " + ", ".join(f"`{v}`" for v in removed))
    ident = f" of `{call.ident}`" if call.ident else ""
    subject = f"`{call.callee}({arg}=)`{ident}{_in(scope)} " + "; ".join(parts)
    return Fact(
        path,
        line,
        category,
        subject,
        effect=effect,
        why=why.split(":")[0],
        anchors=(arg, *(added or removed)[:2]),
    )


def _outer(text: str) -> str:
    """The outermost callee of a call's source (`login_required` of `login_required(V())`)."""
    return text.split("(", 1)[0].strip()


def _rewrapped(
    path: str,
    name: str,
    a: tuple[int, str] | None,
    b: tuple[int, str] | None,
    callees: set[str],
) -> Fact | None:
    """A module-level name whose call gained or lost a wrapper (`login_required(…)`,
    `csrf_exempt(…)`, `cache_page(…)`): the assignment before and after. A removed auth
    wrapper whose check runs nowhere else in the file loosens; an exempting one added is
    judged by the rules (`csrf_exempt` loosens)."""
    if a is None or b is None:
        return None
    old, new = a[1].removeprefix(CALL_MARK), b[1].removeprefix(CALL_MARK)
    if _outer(old) == _outer(new) or not (old in new or new in old):
        return None
    fact = setting_fact(
        path=path, line=b[0], key=name.rsplit(".", 1)[-1], subject=f"`{name}` =",
        before=old, after=new, context=name, fallback=BEHAVIOUR,
    )  # fmt: skip
    lost = _outer(old).rsplit(".", 1)[-1]
    if (
        fact is not None
        and fact.effect == "neutral"
        and new in old
        and _CHECK_CALL.search(lost)
        and not _EXEMPT_DECORATOR.search(lost)
        and lost not in callees  # still used in the file: the check moved, not removed
    ):
        return Fact(
            path, b[0], EXPOSURE, f"`{name}` =", before=old, after=new, effect="loosens",
            why=f"`{lost}` no longer wraps it", anchors=(name.rsplit(".", 1)[-1], lost),
        )  # fmt: skip
    return fact


def _acts(body: list[ast.stmt]) -> str:
    """What an `if` body does first: "deny" (raises a denial, returns a refusal or a redirect
    to a login), "allow" (`return True`), or ""."""
    for stmt in body:
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            text = ast.unparse(stmt.exc)
            return "deny" if _DENIAL.search(text) or _REFUSAL.search(text) else ""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            text = ast.unparse(stmt.value)  # Flask's `abort(403)`, `deny(request)`
            if re.match(r"(?:\w+\.)?abort\(\s*(?:code\s*=\s*)?40[13]\b", text):
                return "deny"
        if isinstance(stmt, ast.Return):
            text = ast.unparse(stmt.value) if stmt.value is not None else ""
            if text == "True":
                return "allow"
            if text == "False" or re.search(
                r"(?i)forbidden|40[13]|unauthori|permission_denied|redirect_to_login|login", text
            ):
                return "deny"
            return ""
    return ""


def _atoms(node: ast.expr, positive: bool, joiner: str) -> set[tuple[str, bool, str]]:
    """The leaves of a condition (comparisons, calls, names), each with its polarity (False
    under an odd number of `not`) and the boolean operator that joins it (`or`, `and`, "")."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _atoms(node.operand, not positive, joiner)
    if isinstance(node, ast.BoolOp):
        op = "or" if isinstance(node.op, ast.Or) else "and"
        out: set[tuple[str, bool, str]] = set()
        for value in node.values:
            out |= _atoms(value, positive, op)
        return out
    return {(ast.unparse(node), positive, joiner)}


def _condition_facts(path: str, name: str, old: _Scope, new: _Scope) -> tuple[list[Fact], set[str]]:
    """An `if` of an access check whose condition changed, paired with the old one by the
    conditions they share (never by position) and judged by what its body does: a branch
    that refuses now firing for fewer requests, or one that lets in (`return True`) firing
    for more, loosens access (`or request.path.startswith('/metrics')` in a login check,
    `user.is_superuser or …` in a permission check); the other way round tightens. Returns
    the facts and the condition texts (old and new) they pair."""
    facts: list[Fact] = []
    paired: set[str] = set()
    gone = [t for t in old.branches if t not in new.branches]
    for text, line in new.branches.items():
        if text in old.branches:
            continue
        act = new.branch_acts.get(text, "")
        try:
            mine = _atoms(ast.parse(text, mode="eval").body, True, "")
        except SyntaxError:
            continue
        best, shared = None, 0
        for other in gone:
            if other in paired or old.branch_acts.get(other, "") != act:
                continue
            theirs = _atoms(ast.parse(other, mode="eval").body, True, "")
            common = len({a[0] for a in mine} & {a[0] for a in theirs})
            if common > shared:
                best, shared = other, common
        if best is None or not act:
            continue
        if not (_AUTH_NAME.search(name) or _AUTH_NAME.search(text) or act == "deny"):
            continue
        theirs = _atoms(ast.parse(best, mode="eval").body, True, "")
        known, kept = {a[0] for a in theirs}, {a[0] for a in mine}
        more: list[str] = []
        fewer: list[str] = []
        # an operand gained under `or` (or under `and` inside a `not`) makes the branch fire
        # for more requests; one lost, for fewer
        for atoms, seen, gained in ((mine, known, True), (theirs, kept, False)):
            for atom, positive, joiner in sorted(atoms):
                if atom in seen or not joiner:
                    continue
                fires_more = ((joiner == "or") == positive) == gained
                (more if fires_more else fewer).append(atom)
        if not more and not fewer:
            continue
        lets_in = fewer if act == "deny" else more
        keeps_out = more if act == "deny" else fewer
        if lets_in:
            effect: Effect = "loosens"
            why = (
                (
                    "requests matching it now skip the check that refuses them"
                    if act == "deny"
                    else "more callers are let in"
                )
                + ": "
                + ", ".join(f"`{w}`" for w in lets_in)
            )
        else:
            effect = "tightens"
            why = "the check applies to more requests: " + ", ".join(f"`{w}`" for w in keeps_out)
        paired |= {text, best}
        facts.append(
            Fact(
                path,
                line,
                EXPOSURE if effect == "loosens" else BEHAVIOUR,
                f"condition of an access check in `{name}`",
                before=f"if {best}:",
                after=f"if {text}:",
                effect=effect,
                why=why,
                anchors=(_last_word((lets_in or keeps_out)[0]),),
            )  # fmt: skip
        )
    return facts, paired


def _call_text(call: _Call) -> str:
    """A new call as shown: whole when short, else every argument by name with its value
    shortened (a cut text would hide the keywords after the cut, `ssl_policy=` …)."""
    text = " ".join(call.text.split())
    if len(text) <= 100:
        return text
    parts = []
    for arg, (_, value) in call.args.items():
        value = " ".join(value.split())
        value = value if len(value) <= 30 else value[:29] + "…"
        parts.append(value if arg.startswith("#") else f"{arg}={value}")
    return f"{call.callee}({', '.join(parts)})"


def _str_dict(text: str) -> dict[str, ast.expr] | None:
    """A dict literal with string keys, its values as parsed; None when the text is none."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Dict) or not all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        return None
    return {k.value: v for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[union-attr]


def _dict_leaves(text: str, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str] | None:
    """A dict literal's leaves by key path (nested dicts followed); None when it is none."""
    items = _str_dict(text)
    if items is None:
        return None
    out: dict[tuple[str, ...], str] = {}
    for key, v in items.items():
        path = (*prefix, key)
        inner = _dict_leaves(ast.unparse(v), path) if isinstance(v, ast.Dict) else None
        if inner:
            out.update(inner)
        else:
            out[path] = ast.unparse(v)
    return out


def _dict_setting_facts(
    path: str,
    name: str,
    a: tuple[int, str] | None,
    b: tuple[int, str] | None,
    source: str | None,
) -> list[Fact] | None:
    """A module-level dict setting (`REST_FRAMEWORK = {…}`, `CACHES = {…}`) compared key by
    key, nested keys followed, each judged in its context (`DEFAULT_THROTTLE_RATES.anon`) and
    located at its own line; None when either side is no dict literal."""
    if a is None or b is None:
        return None
    old, new = _dict_leaves(a[1]), _dict_leaves(b[1])
    if old is None or new is None:
        return None
    lines = (source or "").splitlines()

    def at(keys: tuple[str, ...]) -> int:
        for number in range(b[0] - 1, len(lines)):  # the key's own line, from the setting on
            if re.search(rf"""['"]{re.escape(keys[-1])}['"]\s*:""", lines[number]):
                return number + 1
        return b[0]

    return setting_facts(
        path,
        {keys: (None, value) for keys, value in old.items()},
        {keys: (at(keys), value) for keys, value in new.items()},
        lambda keys: (keys[-1], f"`{name}` `{'.'.join(keys)}`", f"{name}.{'.'.join(keys)}"),
    )


def _dict_arg_facts(
    path: str,
    scope: str,
    call: _Call,
    label: str,
    ident: str,
    a: tuple[int, str] | None,
    b: tuple[int, str] | None,
) -> list[Fact] | None:
    """A dict literal given to a call (`configure(default={'hosts': …, 'timeout': 60.0})`)
    compared key by key, each key judged by the rules; None when either side is no dict."""
    if a is None or b is None:
        return None
    sides = []
    for text in (a[1], b[1]):
        items = _str_dict(text)
        if items is None:
            return None
        sides.append({key: ast.unparse(v) for key, v in items.items()})
    old, new = sides
    facts = []
    for key in [*new, *(k for k in old if k not in new)]:
        if old.get(key) == new.get(key):
            continue
        fact = setting_fact(
            path=path, line=b[0], key=key,
            subject=f"`{call.callee}({label})`{ident}{_in(scope)} `{key}`",
            before=old.get(key), after=new.get(key), context=f"{call.callee} {label}",
            fallback=BEHAVIOUR,
        )  # fmt: skip
        if fact is not None:
            facts.append(fact)
    return facts


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


__all__ = ["PythonDelta", "python_delta", "python_facts", "python_settings", "show", "CONFIG"]
