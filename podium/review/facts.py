"""Material facts of a change, and the rules that say what a changed setting means.

A fact is one line a reviewer must see: where (file and line), what (the setting, argument or
behaviour), before and after, its category (exposure and auth, limits, data, supply chain,
behaviour) and whether it loosens security (a ⚠ risk flag), tightens it, or is neutral.
The same rules judge a Terraform attribute, a CloudFormation property, a CDK argument in
Python or TypeScript, a Kubernetes field and a CI setting: they look at the setting's name
(normalised: `memory_size`, `MemorySize` and `memorySize` are one key) and its values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Effect = Literal["loosens", "tightens", "neutral"]
EXPOSURE = "exposure and auth"
LIMITS = "limits"
DATA = "data"
SUPPLY = "supply chain"
BEHAVIOUR = "behaviour"
CONFIG = "configuration"
SCANNERS = "scanner findings"
STATEMENTS = "changed statements"  # the general reader's plain lines (podium/review/statements.py)
CATEGORIES = (EXPOSURE, LIMITS, DATA, SUPPLY, BEHAVIOUR, SCANNERS, CONFIG, STATEMENTS)

_MAX_VALUE = 200  # a list is shown whole (up to _MAX_LIST): a cut list hides its new items
_MAX_LIST = 1000
REDACTED = "«redacted»"
_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api[_-]?key|private|credential")


def show(value: Any) -> str:
    """A value as the summary shows it: short, one line, in backticks."""
    if value is None:
        return "(unset)"
    if isinstance(value, list | tuple) and all(not isinstance(v, dict | list) for v in value):
        text = "[" + ", ".join(str(v) for v in value) + "]"
        limit = _MAX_LIST
    else:
        text = value if isinstance(value, str) else repr(value)
        limit = _MAX_VALUE
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


@dataclass(frozen=True)
class Fact:
    """One material change, located and judged."""

    path: str
    line: int | None
    category: str
    subject: str  # markdown, e.g. "`ApiFunction` `MemorySize`"
    before: Any = None
    after: Any = None
    effect: Effect = "neutral"
    why: str = ""
    status: Literal["changed", "added", "removed"] = "changed"
    anchors: tuple[str, ...] = ()  # words a summary must contain to be said to name it

    @property
    def where(self) -> str:
        return f"`{self.path}` line {self.line}" if self.line else f"`{self.path}`"

    def change_text(self) -> str:
        if self.before is None and self.after is None:
            return ""  # the subject says what changed: never "(unset) → (unset)"
        if (
            isinstance(self.before, str)
            and isinstance(self.after, str)
            and max(len(self.before), len(self.after)) > 120
        ):  # a long expression: the words it gained and lost, in full
            added = _new_words(self.before, self.after)
            dropped = _new_words(self.after, self.before)
            parts = [
                "adds " + ", ".join(f"`{w}`" for w in added[:12]) if added else "",
                "drops " + ", ".join(f"`{w}`" for w in dropped[:12]) if dropped else "",
            ]
            return "changed: " + (
                "; ".join(p for p in parts if p) or _regrouped(self.before, self.after)
            )
        before, after = _spelled(self.before, self.path), _spelled(self.after, self.path)
        if self.status == "added":
            return f"added ({show(after)})" if after is not None else ""
        if self.status == "removed":
            return f"removed (was {show(before)})" if before is not None else ""
        return f"{show(before)} → {show(after)}"

    def render(self) -> str:
        """The fact as one markdown line (without the list bullet)."""
        prefix = {"loosens": "⚠ ", "tightens": "✓ tightens: ", "neutral": ""}[self.effect]
        why = f" — {self.why}" if self.why else ""
        change = self.change_text()
        return f"{prefix}{self.where}: {self.subject}{' ' + change if change else ''}{why}"


def _spelled(value: Any, path: str) -> Any:
    """A boolean as the file spells it: `True` in Python, `true` in YAML, JSON, HCL and
    TypeScript."""
    if path.endswith(".py"):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
        return [_spelled(v, path) for v in value]
    return value


def differing_parts(a: str, b: str) -> tuple[str, str]:
    """The part of each text that differs: their common start and end cut off, widened to
    whole words so each side reads as code."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    while start > 0 and (a[start - 1].isalnum() or a[start - 1] in "._"):
        start -= 1
    while end > 0 and (a[len(a) - end].isalnum() or a[len(a) - end] in "._"):
        end -= 1
    return a[start : len(a) - end].strip(), b[start : len(b) - end].strip()


def _regrouped(before: str, after: str) -> str:
    """Two long expressions with the same words: only whitespace moved ("reformatted"), or
    their grouping or operators changed, shown as the part that differs on each side."""
    a, b = " ".join(before.split()), " ".join(after.split())
    if a == b:
        return "reformatted"
    old, new = differing_parts(a, b)
    old = old if len(old) <= 160 else old[:159] + "…"
    new = new if len(new) <= 160 else new[:159] + "…"
    return f"grouping or operators changed: `{old or '∅'}` → `{new or '∅'}`"


def norm_key(key: str) -> str:
    """`memory_size`, `MemorySize`, `memorySize` and `memory-size` are one key."""
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower()


def falsy(value: Any) -> bool:
    return _text(value).strip("'\"") in ("", "false", "0", "no", "off", "none", "null", "disabled")


_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "eighteen": 18,
}  # fmt: skip
_UNIT_DAYS = {
    "second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7,
    "month": 30, "year": 365,
}  # fmt: skip

_WORD_DURATION = re.compile(
    r"\b(" + "|".join(_WORD_NUMBERS) + r")_(second|minute|hour|day|week|month|year)"
)
_WILD_POLICY = re.compile(
    r"""(?i)(action|resource|principal)"?\s*[:=]\s*\[?\s*["'][a-z0-9-]*:?\*["']"""
)


def amount(value: Any, key: str = "") -> float | None:
    """A number from a setting's value: `1024`, `"512Mi"`, `"30m"`, `Duration.days(30)`,
    `RetentionDays.ONE_MONTH` (durations in days); None when the value is not a quantity
    (`db.t3.micro` has digits but is no amount)."""
    text = _text(value).strip()
    if "infinite" in text:
        return float("inf")
    word = _WORD_DURATION.search(text)
    if word:
        return _WORD_NUMBERS[word.group(1)] * _UNIT_DAYS[word.group(2)]
    unit = re.search(
        r"(second|minute|hour|day|week|month|year)s?(?:\(\s*|\s*=\s*)(\d+(?:\.\d+)?)", text
    )  # `Duration.days(30)`, `timedelta(minutes=5)`
    if unit:
        return float(unit.group(2)) * _UNIT_DAYS[unit.group(1)]
    match = re.fullmatch(r"['\"]?(-?\d+(?:\.\d+)?)\s*([a-z]*)['\"]?", text)
    if not match:
        return _product(text)
    number, suffix = float(match.group(1)), match.group(2)
    if suffix in ("m",) and "cpu" in key.lower():
        return number / 1000  # millicores
    scale = {
        "": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "ki": 1 / 1024, "k": 1 / 1000,
        "mi": 1, "mb": 1, "gi": 1024, "g": 1024, "gb": 1024, "ti": 1024**2,
    }.get(suffix)  # fmt: skip
    return None if scale is None else number * scale


def _product(text: str) -> float | None:
    """A plain product of numbers (`50 * 1024 * 1024`, as sizes are written in settings)."""
    if not re.fullmatch(r"\(?\s*\d+(?:\.\d+)?(?:\s*\*\s*\d+(?:\.\d+)?)+\s*\)?", text):
        return None
    result = 1.0
    for factor in re.findall(r"\d+(?:\.\d+)?", text):
        result *= float(factor)
    return result


def direction(before: Any, after: Any, key: str = "") -> str:
    """`raised`, `lowered` or "" from the amounts of two values."""
    a, b = amount(before, key), amount(after, key)
    if a is None or b is None or a == b:
        return ""
    return "raised" if b > a else "lowered"


# ---- the rules ---------------------------------------------------------------------------

_LIMIT_KEYS = {
    "timeout", "timeoutseconds", "timeoutminutes", "timeoutinminutes", "timeouts", "memory",
    "memorysize", "memorymb", "memorylimit", "reservedconcurrentexecutions",
    "reservedconcurrency", "provisionedconcurrency", "provisionedconcurrentexecutions",
    "concurrency", "maxconcurrency", "replicas", "minreplicas", "maxreplicas", "mincapacity",
    "maxcapacity", "desiredcount", "desiredcapacity", "minsize", "maxsize", "cpu",
    "ephemeralstoragesize", "ephemeralstorage", "throttlingratelimit", "throttlingburstlimit",
    "ratelimit", "burstlimit", "batchsize", "instancetype", "instanceclass", "nodecount",
    "parallelism", "maxsurge", "maxunavailable", "targetcpuutilizationpercentage",
    "averageutilization", "readcapacity", "writecapacity", "readcapacityunits",
    "writecapacityunits", "billingmode", "visibilitytimeout", "maxreceivecount",
    "allocatedstorage", "maxallocatedstorage", "maxparallel", "workers", "maxbodysize",
    "proxybodysize", "proxyreadtimeout", "limitrps", "limitconnections", "dbinstanceclass",
}  # fmt: skip
_RETENTION_KEYS = {
    "retention", "retentionindays", "retentiondays", "logretention", "retentionperiod",
    "backupretentionperiod", "backupretention", "messageretentionperiod", "expiration",
    "expirationindays", "days", "retentionperiodhours", "retentionhours", "expireafter",
    "noncurrentversionexpiration",
}  # fmt: skip
_PROTECT_KEYS = {
    "deletionprotection", "deletionprotectionenabled", "terminationprotection",
    "enableterminationprotection", "preventdestroy", "pointintimerecovery",
    "pointintimerecoveryenabled", "versioned", "versioning", "backup", "backupenabled",
    "storageencrypted", "encrypted", "sseenabled", "enforcessl", "requiressl",
    "multiaz", "copytagstosnapshot", "runasnonroot", "readonlyrootfilesystem",
    "enablekeyrotation", "mfadelete",
}  # fmt: skip
_EXPOSE_BOOL_KEYS = {
    "publicreadaccess", "publicaccess", "publiclyaccessible", "associatepublicipaddress",
    "mappubliciponlaunch", "internetfacing", "privileged", "allowprivilegeescalation",
    "hostnetwork", "hostpid", "hostipc", "automountserviceaccounttoken", "publicnetworkaccess",
    "anonymousaccess", "allowanonymous", "skipfinalsnapshot", "forcedestroy",
    "autodeleteobjects",
}  # fmt: skip
_DATA_BOOL_KEYS = {"skipfinalsnapshot", "forcedestroy", "autodeleteobjects"}
_ENCRYPTION_KEYS = {
    "encryption", "kmskeyid", "kmskey", "encryptionkey", "ssealgorithm",
    "serversideencryption", "kmsmasterkeyid", "storageencryption", "kmskeyarn",
    "encryptionatrest",
}  # fmt: skip
_BLOCK_PUBLIC_KEYS = {
    "blockpublicaccess", "blockpublicacls", "blockpublicpolicy", "ignorepublicacls",
    "restrictpublicbuckets",
}  # fmt: skip
_OPEN_CIDR = re.compile(r"0\.0\.0\.0/0|::/0|any_?ipv[46]")
_WILDCARD_ACTION = re.compile(r"""(?:^|[\s\['"(,])(?:[a-z0-9-]+:)?\*(?:$|[\s\]'"),])""")
_PIPE_SHELL = re.compile(r"(?:curl|wget)[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b")


def _image_effect(before: Any, after: Any) -> tuple[Effect, str]:
    text = _text(after).strip("'\"")
    if after is None:
        return "neutral", "image removed"
    if text == "scratch":
        return "neutral", "empty base image"
    if "@sha256:" in text:
        return (
            ("neutral", "pinned by digest")
            if "@sha256:" in _text(before)
            else (
                "tightens",
                "pinned by digest",
            )
        )
    if "@sha256:" in _text(before):
        return "loosens", "no longer pinned by digest"
    name = text.rsplit("/", 1)[-1]
    if ":" not in name or name.endswith(":latest"):
        return "loosens", "unpinned image (no tag or `latest`)"
    was, now = registry(_text(before).strip("'\"")), registry(text)
    if before is not None and "$" not in was + now and was != now:
        return "loosens", f"base image from another registry (`{was}` → `{now}`)"
    return "neutral", "base image changed"


def registry(image: str) -> str:
    """The registry an image reference is pulled from (`docker.io` when it names none)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def action_ref_effect(before: Any, after: Any) -> tuple[Effect, str]:
    """A GitHub Actions `uses:` reference: pinned to a commit, a tag, or a moving branch."""
    ref = _text(after).strip("'\"")
    if after is None:
        return "neutral", "step removed"
    if ref.startswith(("./", "docker://")):
        return "neutral", "local action"
    _, _, version = ref.partition("@")
    if re.fullmatch(r"[0-9a-f]{40}", version):
        return ("tightens", "pinned to a commit") if before is not None else ("neutral", "")
    if not version or version in ("main", "master", "latest", "dev", "develop", "head"):
        return "loosens", "action not pinned (moving branch)"
    return "neutral", "action version changed" if before is not None else "new action"


_GRANT_KEYS = {"action", "actions", "verbs", "resource", "resources", "apigroups"}
_EXEMPT_KEYS = {"notaction", "notactions", "notresource", "notresources"}


def judge_items(
    key: str, added: list[Any], removed: list[Any], context: str = "", deny: bool = False
) -> tuple[str, Effect, str] | None:
    """What items added to or removed from a list setting mean (IAM actions and resources,
    RBAC verbs and resources); None when `key` is no such list."""
    k = norm_key(key)
    ctx = context.lower()
    if k in _EXEMPT_KEYS:  # NotAction: a Deny exempting more actions denies less
        what = "actions" if "action" in k else "resources"
        if deny and added:
            return EXPOSURE, "loosens", f"Deny statement exempts more {what}"
        if deny and removed:
            return EXPOSURE, "tightens", f"Deny statement exempts fewer {what}"
        if added:
            return EXPOSURE, "tightens", f"Allow excludes more {what}"
        return EXPOSURE, "loosens", f"Allow excludes fewer {what}"
    if "capabilities" in ctx and k in ("add", "drop"):
        risky = [c for c in (added if k == "add" else removed) if c.upper() != "NET_BIND_SERVICE"]
        if risky:
            what = "Linux capabilities added" if k == "add" else "fewer capabilities dropped"
            return EXPOSURE, "loosens", f"{what}: " + ", ".join(f"`{c}`" for c in risky)
        return EXPOSURE, "tightens", "fewer capabilities" if k == "add" else "more dropped"
    if k not in _GRANT_KEYS or ("limits" in ctx or "requests" in ctx):
        return None
    what = {"verbs": "RBAC verbs", "apigroups": "RBAC API groups"}.get(
        k, ("IAM/RBAC " + ("actions" if "action" in k else "resources"))
    )
    if deny:  # a Deny statement: more items deny more
        if added and not removed:
            return EXPOSURE, "tightens", f"Deny statement covers more {what}"
        if removed and not added:
            return EXPOSURE, "loosens", f"Deny statement covers fewer {what}"
        return EXPOSURE, "neutral", f"Deny statement's {what} changed"
    if "*" in removed and "*" not in added:
        return EXPOSURE, "tightens", f"{what} narrowed from `*`"
    if added:
        return EXPOSURE, "loosens", f"{what} granted: " + ", ".join(f"`{a}`" for a in added)
    return EXPOSURE, "tightens", f"{what} no longer granted"


def judge(key: str, before: Any, after: Any, context: str = "") -> tuple[str, Effect, str] | None:
    """What a change of setting `key` means: (category, effect, why), or None when this key
    is not one the rules know (the caller then reports it as a plain setting).

    Args:
        key: the setting's own name (last path segment).
        before, after: its values; None when absent.
        context: the whole path, lower-case, for keys whose sense depends on where they sit.
    """
    k = norm_key(key.rsplit("/", 1)[-1])
    ctx = context.lower()
    b, a = _text(before), _text(after)
    if len(_BROAD_POLICY.findall(a)) > len(_BROAD_POLICY.findall(b)):
        name = _BROAD_POLICY.findall(str(after))[-1]
        return EXPOSURE, "loosens", f"broad AWS managed policy attached: {name}"
    if fallback_secret(key, a) and not fallback_secret(key, b):
        return (
            EXPOSURE,
            "loosens",
            "a hard-coded fallback secret, used when the environment has none",
        )
    if (k.endswith("arn") or k in ("resource", "resources")) and (
        len(_ARN_WILDCARD.findall(a)) > len(_ARN_WILDCARD.findall(b)) and before is not None
    ):
        return EXPOSURE, "loosens", "wildcard added to an ARN: it matches more resources"
    if k == "values" and "condition" in ctx and before is not None:
        # an IAM condition's values (`aws:SourceArn` ArnLike …): a wildcard added admits more
        if len(_ARN_WILDCARD.findall(a)) > len(_ARN_WILDCARD.findall(b)):
            return EXPOSURE, "loosens", "wildcard added to a condition: it admits more callers"
    if len(_EXEMPT_CALL.findall(a)) > len(_EXEMPT_CALL.findall(b)):
        return (
            EXPOSURE,
            "loosens",
            "a protection is exempted: "
            + ", ".join(
                sorted(set(_EXEMPT_CALL.findall(a)) - set(_EXEMPT_CALL.findall(b)))
                or set(_EXEMPT_CALL.findall(a))
            ),
        )
    if len(_EXEMPT_CALL.findall(b)) > len(_EXEMPT_CALL.findall(a)) and after is not None:
        return EXPOSURE, "tightens", "a protection is no longer exempted"
    if k in _PERMISSION_CLASS_KEYS:
        return _permission_classes(before, after)
    web = _web_setting(key, k, before, after, a, b, ctx)
    if web is not None:
        return web
    if "policyattachment" in norm_key(ctx) or k in ("managedpolicyarns", "policyarns"):
        added, removed = _new_words(before, after), _new_words(after, before)
        granted = [w for w in added if re.search(r"Policy|Access|ReadOnly|Admin", w)]
        if granted:
            return EXPOSURE, "loosens", "managed policy attached: " + ", ".join(granted)
        if [w for w in removed if re.search(r"Policy|Access|ReadOnly|Admin", w)]:
            return EXPOSURE, "tightens", "managed policy detached"
    if k == "foreach" and "dynamic" not in ctx:
        if before is None and after is not None:
            return CONFIG, "neutral", "the block is now conditional (a `dynamic` block)"
        if after is None and before is not None:
            return CONFIG, "neutral", "the block is no longer conditional"
    infra = _infra_setting(k, before, after, a, b, ctx)
    if infra is not None:
        return infra
    # --- exposure and auth
    if k in ("authtype", "authorizationtype", "authmode", "authenticationtype", "authorization"):
        if "none" in a and "none" not in b:
            return EXPOSURE, "loosens", "callers need no authentication"
        if "none" in b and a and "none" not in a:
            return EXPOSURE, "tightens", "callers must authenticate"
        return EXPOSURE, "neutral", "auth type changed"
    if k in ("authorizer", "authorizerid", "defaultauthorizer", "authorizers", "authorizerarn"):
        if after is None or falsy(after):
            return EXPOSURE, "loosens", "authorizer removed"
        if before is None:
            return EXPOSURE, "tightens", "authorizer added"
        return EXPOSURE, "neutral", "authorizer changed"
    if (
        "cidr" in k
        or "sourcerange" in k
        or "ingress" in k
        or k in ("sourceranges", "sourceaddressprefix", "allowedips", "ipranges", "peer")
    ):
        if _OPEN_CIDR.search(a) and not _OPEN_CIDR.search(b):
            return EXPOSURE, "loosens", "open to the whole internet"
        if _OPEN_CIDR.search(b) and not _OPEN_CIDR.search(a):
            return EXPOSURE, "tightens", "no longer open to the whole internet"
        return EXPOSURE, "neutral", "network range changed"
    if k in _BLOCK_PUBLIC_KEYS:
        strong = lambda v: "block_all" in v or (v.strip("'\"") == "true")  # noqa: E731
        if strong(b) and not strong(a):
            return EXPOSURE, "loosens", "public access no longer fully blocked"
        if strong(a) and not strong(b):
            return EXPOSURE, "tightens", "public access blocked"
        return EXPOSURE, "neutral", ""
    if k in ("acl", "cannedacl", "accesscontrol", "objectownership"):
        if "public" in a and "public" not in b:
            return EXPOSURE, "loosens", "public ACL"
        if "public" in b and "public" not in a:
            return EXPOSURE, "tightens", "no longer a public ACL"
        return EXPOSURE, "neutral", ""
    if k in _EXPOSE_BOOL_KEYS:
        category = DATA if k in _DATA_BOOL_KEYS else EXPOSURE
        if not falsy(after) and falsy(before):
            return category, "loosens", _EXPOSE_WHY.get(k, "enabled")
        if falsy(after) and not falsy(before):
            return category, "tightens", "disabled"
        return category, "neutral", ""
    if k in ("action", "actions", "notaction", "verbs", "resource", "resources", "principal",
             "principals", "apigroups"):  # fmt: skip
        if isinstance(after, dict) or ("limits" in ctx and k == "resources"):
            return None
        wild_a = bool(_WILDCARD_ACTION.search(a)) or a.strip("'\"") == "*"
        wild_b = bool(_WILDCARD_ACTION.search(b)) or b.strip("'\"") == "*"
        what = "principal" if "principal" in k else "IAM/RBAC " + k
        if wild_a and not wild_b:
            return EXPOSURE, "loosens", f"wildcard {what} (`*`)"
        if wild_b and not wild_a and after is not None:
            return EXPOSURE, "tightens", f"{what} narrowed from `*`"
        return EXPOSURE, "neutral", f"{what} changed"
    if k == "effect" and ("allow" in a or "deny" in a):
        if "allow" in a and "deny" in b:
            return EXPOSURE, "loosens", "Deny became Allow"
        return EXPOSURE, "neutral", ""
    if k in ("policy", "policydocument", "assumerolepolicy", "inlinepolicy", "policytext"):
        wild = re.compile(
            r"""(?i)(action|resource|principal)"?\s*[:=]\s*\[?\s*["'][a-z0-9-]*:?\*["']"""
        )
        if wild.search(a) and not wild.search(b):
            return EXPOSURE, "loosens", "policy grants a wildcard (`*`)"
        return EXPOSURE, "neutral", "policy changed"
    if k == "permissions" and ("write-all" in a or "write-all" in b or k in ctx):
        if "write-all" in a and "write-all" not in b:
            return EXPOSURE, "loosens", "the token may write everything"
        if "write-all" in b and "write-all" not in a:
            return EXPOSURE, "tightens", "token permissions narrowed"
        return EXPOSURE, "neutral", "token permissions changed"
    if ".permissions" in ctx or ctx.startswith("permissions"):
        if a == "write" and b != "write":
            return EXPOSURE, "loosens", f"the token may write {key}"
        if b == "write" and a != "write":
            return EXPOSURE, "tightens", f"the token may no longer write {key}"
        return EXPOSURE, "neutral", ""
    if k in ("alloworigins", "allowedorigins", "corsallowedorigins", "alloworigin",
             "accesscontrolalloworigin", "origins"):  # fmt: skip
        if ("*" in a or "all_origins" in a) and not ("*" in b or "all_origins" in b):
            return EXPOSURE, "loosens", "CORS allows any origin"
        if "*" in b and "*" not in a:
            return EXPOSURE, "tightens", "CORS no longer allows any origin"
        return EXPOSURE, "neutral", "CORS origins changed"
    if k == "type" and ("loadbalancer" in a + b or "nodeport" in a + b):
        if a in ("loadbalancer", "nodeport") and b not in ("loadbalancer", "nodeport"):
            return EXPOSURE, "loosens", "service exposed outside the cluster"
        if b in ("loadbalancer", "nodeport") and a not in ("loadbalancer", "nodeport"):
            return EXPOSURE, "tightens", "service no longer exposed outside the cluster"
        return EXPOSURE, "neutral", ""
    if k == "scheme" and ("internet-facing" in a + b):
        if "internet-facing" in a:
            return EXPOSURE, "loosens", "load balancer faces the internet"
        return EXPOSURE, "tightens", "load balancer no longer faces the internet"
    if k in ("runasuser", "user") and ("context" in ctx or k == "runasuser"):
        if a.strip("'\"") in ("0", "root") and b.strip("'\"") not in ("0", "root"):
            return EXPOSURE, "loosens", "runs as root"
        return EXPOSURE, "neutral", ""
    if k == "when" and ("manual" in a or "manual" in b):
        if "manual" in b and "manual" not in a:
            return EXPOSURE, "loosens", "manual approval gate removed"
        if "manual" in a and "manual" not in b:
            return EXPOSURE, "tightens", "manual approval gate added"
    if k in ("verify", "verifyssl", "sslverify", "tlsverify", "checkhostname", "verifytls"):
        if falsy(after) and after is not None and (before is None or not falsy(before)):
            return EXPOSURE, "loosens", "TLS certificate verification turned off"
        if not falsy(after) and falsy(before) and before is not None:
            return EXPOSURE, "tightens", "TLS certificate verification turned on"
        return EXPOSURE, "neutral", ""
    if k == "ref" and "include" in ctx:
        if a.strip("'\"") in ("main", "master", "head", "develop"):
            return SUPPLY, "loosens", "included CI template not pinned (moving branch)"
        return SUPPLY, "neutral", "included CI template version changed"
    if k in ("pullrequesttarget",) or "pull_request_target" in k:
        return EXPOSURE, "loosens", "runs fork pull requests with the repository's secrets"
    # --- data
    if k in _RETENTION_KEYS or (k == "days" and "expiration" in ctx):
        change = direction(before, after)
        if after is None and before is not None:
            return DATA, "neutral", "retention setting removed"
        if change == "lowered":
            return DATA, "loosens", "shorter retention: data is deleted sooner"
        return DATA, "neutral", "longer retention" if change == "raised" else ""
    if k in ("removalpolicy", "deletionpolicy", "updatereplacepolicy"):
        if ("destroy" in a or "delete" in a) and not ("destroy" in b or "delete" in b):
            return DATA, "loosens", "the resource's data is deleted with the stack"
        if ("retain" in a or "snapshot" in a) and not ("retain" in b or "snapshot" in b):
            return DATA, "tightens", "data kept when the resource is removed"
        return DATA, "neutral", ""
    if k in _PROTECT_KEYS:
        category = EXPOSURE if k in ("runasnonroot", "readonlyrootfilesystem", "enforcessl",
                                     "requiressl") else DATA  # fmt: skip
        if falsy(after) and not falsy(before):
            return (
                category,
                "loosens",
                "protection turned off" if after is not None else ("protection removed"),
            )
        if not falsy(after) and falsy(before):
            return category, "tightens", "protection turned on"
        return category, "neutral", ""
    if k in _ENCRYPTION_KEYS:
        if falsy(after) or "unencrypted" in a:
            return (
                DATA,
                "loosens",
                "encryption turned off" if after is not None else ("encryption setting removed"),
            )
        if falsy(before) or "unencrypted" in b:
            return DATA, "tightens", "encryption turned on"
        return DATA, "neutral", "encryption changed"
    # --- supply chain
    if k in ("image", "baseimage", "from", "containerimage", "imageuri"):
        effect, why = _image_effect(before, after)
        return SUPPLY, effect, why
    if k == "uses":
        effect, why = action_ref_effect(before, after)
        return SUPPLY, effect, why
    if k in ("run", "script", "command", "beforescript", "afterscript", "commands"):
        if _PIPE_SHELL.search(a) and not _PIPE_SHELL.search(b):
            return SUPPLY, "loosens", "pipes a download into a shell"
        return None
    if k in ("runtime", "layers", "include", "remote", "imagepullpolicy", "engineversion"):
        return SUPPLY, "neutral", ""
    # --- limits: a raised or removed timeout, size, concurrency, rate or retry cap loosens
    loosenable = _loosenable_limit(k)
    if loosenable:
        if "stop_after_attempt" in a + b:
            before, after = (_attempts(before), _attempts(after))
        change = direction(before, after, key)
        if after is None and before is not None:
            return LIMITS, "loosens", f"{loosenable} removed"
        if before is not None and a.strip("'\"") in ("none", "null", "unlimited", "-1", "inf",
                                                    "math.inf", "float('inf')"):  # fmt: skip
            return LIMITS, "loosens", f"{loosenable} removed (unlimited)"
        if change == "raised" and loosenable == "retry cap":
            return LIMITS, "neutral", "retry cap raised"  # still capped
        if change == "raised":
            return LIMITS, "loosens", f"{loosenable} raised"
        if change == "lowered":
            return LIMITS, "tightens", f"{loosenable} lowered"
        if before is None and after is not None:
            default = _known_default(k, ctx)
            change = direction(default, after, key) if default is not None else ""
            if change == "raised":
                return LIMITS, "loosens", f"{loosenable} raised above its default ({default})"
            if change == "lowered":
                return LIMITS, "tightens", f"{loosenable} lowered below its default ({default})"
            return LIMITS, "neutral", f"{loosenable} set"
        return LIMITS, "neutral", ""
    if k in _LIMIT_KEYS or (("limits" in ctx or "requests" in ctx) and k in ("cpu", "memory")):
        return LIMITS, "neutral", direction(before, after, key)
    return None


# AWS managed policies that grant a whole account's worth (read everything, do everything)
_BROAD_POLICY = re.compile(
    r"(?:arn:aws[\w-]*:iam::aws:policy/|ManagedPolicyName\(\s*['\"])"
    r"(AdministratorAccess|PowerUserAccess|ReadOnlyAccess|IAMFullAccess)\b",
    re.IGNORECASE,
)
# A default given to an environment or config lookup: `os.getenv("SECRET_KEY", "literal")`,
# `environ.get(…, "…")`, `config("…", default="…")`
_FALLBACK = re.compile(
    r"""(?:getenv|environ\.get|config)\(\s*['"]([^'"]+)['"]\s*,\s*(?:default\s*=\s*)?"""
    r"""['"]([^'"]+)['"]"""
)


def fallback_secret(key: str, text: str) -> bool:
    """A secret-named setting (or lookup of a secret-named variable) falling back to a
    non-empty literal."""
    for match in _FALLBACK.finditer(text):
        named = _SECRET_KEY.search(key) or _SECRET_KEY.search(match.group(1))
        if named and not _SECRET_PARAMETER.search(norm_key(match.group(1))):
            return True
    return False


_SIZE_KEYS = {
    "maxbodysize", "proxybodysize", "maxcontentlength", "clientmaxbodysize", "maxuploadsize",
    "datauploadmaxmemorysize", "maxrequestsize", "maxpayloadsize", "maxfilesize",
    "maxmessagesize", "payloadlimit", "bodylimit", "fileuploadmaxmemorysize",
    "datauploadmaxnumberfields", "datauploadmaxnumberfiles",
}  # fmt: skip
# A size limit by its name's shape: `MAX_UPLOAD_BYTES`, `max_body_size_mb`, `upload_limit`
_SIZE_SHAPE = re.compile(
    r"^max\w*(upload|body|request|payload|file|content|message|attachment|post|form)\w*"
    r"(size|bytes|length|mb|kb)?$|"
    r"(upload|body|request|payload|attachment)(size|bytes|length|limit|mb|kb)\w*$"
)


# a wildcard inside an ARN or a quoted `"*"` argument, not Terraform's `resource.*.arn` splat
_ARN_WILDCARD = re.compile(r"""["']\*["']|[\w:/-]\*(?=["'\s,\]]|$)|:\*""")


# Wrappers that switch a protection off for a view (Django, DRF): `csrf_exempt(view)`, …
_EXEMPT_CALL = re.compile(
    r"\b(csrf_exempt|login_not_required|xframe_options_exempt|permission_exempt|auth_exempt)\b"
)
_PERMISSION_CLASS_KEYS = {
    "permissionclasses",
    "authenticationclasses",
    "defaultpermissionclasses",
    "defaultauthenticationclasses",
}
# Permission classes that let callers in without authenticating (DRF's AllowAny,
# IsAuthenticatedOrReadOnly, and project variants such as IsAuthenticatedOrLoginNotRequired)
_WEAK_PERMISSION = re.compile(r"AllowAny|OrReadOnly|LoginNotRequired|Anonymous|Public|NoAuth")


# Middleware whose removal drops a protection for every request (Django, Starlette, Flask)
_GUARD_MIDDLEWARE = re.compile(
    r"(?i)csrf|security|authentication|auth\w*middleware|xframe|clickjack|ratelimit|throttl|"
    r"trustedhost|httpsredirect|sessionmiddleware"
)
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|\s+per\s+)\s*(\d*)\s*([a-z]+)", re.IGNORECASE)
_PER_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
                "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip


def rate(value: Any) -> float | None:
    """Requests per second of a rate limit written `5/minute`, `100/min`, `10 per second`."""
    match = _RATE.search(_text(value))
    if not match:
        return None
    unit = _PER_SECONDS.get(match.group(3).rstrip("s") or "s", _PER_SECONDS.get(match.group(3)))
    if unit is None:
        return None
    return float(match.group(1)) / (unit * float(match.group(2) or 1))


def _web_setting(
    key: str, k: str, before: Any, after: Any, a: str, b: str, ctx: str
) -> tuple[str, Effect, str] | None:
    """Web framework settings that open or close a whole application: debug mode, hosts,
    cookies, HSTS, CORS-all switches, middleware, throttles, route dependencies, password
    validators, rate strings and credential lifetimes."""
    if key in ("DEBUG", "FLASK_DEBUG", "APP_DEBUG", "TEMPLATE_DEBUG"):
        # only a literal switch: `DEBUG = env.bool("DEBUG")` reads the environment
        if a.strip("'\"") in ("true", "1", "yes", "on") and falsy(before):
            return EXPOSURE, "loosens", "debug mode on: errors show code and settings"
        if falsy(after) and not falsy(before) and before is not None:
            return EXPOSURE, "tightens", "debug mode off"
        return None
    if k in ("allowedhosts", "trustedhosts", "csrftrustedorigins"):
        if "*" in a and "*" not in b:
            return EXPOSURE, "loosens", "any host or origin accepted"
        if "*" in b and "*" not in a:
            return EXPOSURE, "tightens", "hosts narrowed from `*`"
        return EXPOSURE, "neutral", ""
    if k in ("corsallowallorigins", "corsoriginallowall", "corsallowcredentials"):
        if not falsy(after) and after is not None and falsy(before):
            return (
                EXPOSURE,
                "loosens",
                "CORS allows any origin" if "all" in k else ("CORS sends credentials"),
            )
        if falsy(after) and not falsy(before):
            return EXPOSURE, "tightens", "CORS narrowed"
        return None
    if k.endswith(("cookiesecure", "cookiehttponly", "securesslredirect", "sslredirect")):
        if falsy(after) and not falsy(before) and before is not None:
            what = "sent over plain HTTP" if "secure" in k or "ssl" in k else "readable by scripts"
            return EXPOSURE, "loosens", f"protection turned off: {what}"
        if not falsy(after) and falsy(before):
            return EXPOSURE, "tightens", "protection turned on"
        return None
    if k in ("securehstsseconds", "hstsmaxage", "stricttransportsecurity"):
        change = direction(before, after)
        if change == "lowered" or (after is None and before is not None):
            return EXPOSURE, "loosens", "HSTS shortened or removed"
        return EXPOSURE, "tightens" if change == "raised" else "neutral", "HSTS"
    if k in ("middleware", "middlewareclasses", "usermiddleware"):
        gone = [w for w in _new_words(after, before) if _GUARD_MIDDLEWARE.search(w)]
        gained = [w for w in _new_words(before, after) if _GUARD_MIDDLEWARE.search(w)]
        if gone:
            return EXPOSURE, "loosens", "protective middleware removed: " + ", ".join(gone)
        if gained:
            return EXPOSURE, "tightens", "protective middleware added: " + ", ".join(gained)
        return CONFIG, "neutral", "middleware changed"
    if k in ("throttleclasses", "defaultthrottleclasses"):
        if before is not None and (after is None or falsy(after) or after in ("[]", "()")):
            return LIMITS, "loosens", "rate limiting removed"
        if after is not None and (before is None or falsy(before) or before in ("[]", "()")):
            return LIMITS, "tightens", "rate limiting added"
        return LIMITS, "neutral", "throttles changed"
    if k == "dependencies" and re.search(r"Depends|Security", a + b, re.IGNORECASE):
        gone = [w for w in re.findall(r"(?:depends|security)\((\w+)", b)
                if w not in re.findall(r"(?:depends|security)\((\w+)", a)]  # fmt: skip
        if any(re.search(r"auth|admin|user|token|verify|permission|login|scope|key", w)
               for w in gone):  # fmt: skip
            return EXPOSURE, "loosens", "authentication dependency removed: " + ", ".join(gone)
        return None
    if k in ("authpasswordvalidators", "passwordvalidators"):
        if len(_words(after)) < len(_words(before)):
            return EXPOSURE, "loosens", "fewer password rules"
        return EXPOSURE, "neutral", ""
    if ("throttle" in ctx or "ratelimit" in norm_key(ctx) or k in ("rate", "ratelimit")) and (
        rate(before) is not None and rate(after) is not None
    ):
        old, new = rate(before), rate(after)
        if old is not None and new is not None and new > old:
            return LIMITS, "loosens", "rate limit raised"
        if old is not None and new is not None and new < old:
            return LIMITS, "tightens", "rate limit lowered"
        return None
    if _PROTECTION_SWITCH.search(k):
        if falsy(after) and after is not None and not falsy(before) and before is not None:
            return EXPOSURE, "loosens", "protection turned off"
        if not falsy(after) and falsy(before) and before is not None:
            return EXPOSURE, "tightens", "protection turned on"
        return None
    if k.endswith("samesite"):
        if a.strip("'\"") == "none" and b.strip("'\"") != "none":
            return EXPOSURE, "loosens", "cookie sent with cross-site requests"
        if b.strip("'\"") == "none" and a.strip("'\"") != "none":
            return EXPOSURE, "tightens", "cookie no longer sent cross-site"
        return None
    if k in ("xframeoptions", "frameoptions") and before is not None:
        strict = ("deny", "sameorigin")
        if b.strip("'\"") in strict and a.strip("'\"") not in strict:
            return EXPOSURE, "loosens", "pages may be framed by other sites (clickjacking)"
        return None
    if _GUESS_LIMIT.search(k) and _LOGIN_WORD.search(k):
        return _bound(
            before, after, "raised", "more failed logins allowed before a lockout",
            "fewer failed logins allowed", removed_loosens=True,
        )  # fmt: skip
    if _PASSWORD_STRENGTH.search(k):
        return _bound(
            before, after, "lowered", "weaker passwords or password hashing",
            "stronger passwords or password hashing", removed_loosens=True,
        )  # fmt: skip
    if k == "passwordhashers":
        weak = [w for w in _new_words(before, after) if _WEAK_HASHER.search(w)]
        if weak:
            return EXPOSURE, "loosens", "weak password hasher: " + ", ".join(weak)
        return EXPOSURE, "neutral", ""
    if _CREDENTIAL_LIFETIME.search(k) and not re.search(r"log|retention|backup|histor|storage", k):
        return _bound(
            before, after, "raised", "credentials stay valid longer", "credentials expire sooner"
        )
    return None


def _bound(
    before: Any,
    after: Any,
    loosening: str,
    loosens: str,
    tightens: str,
    *,
    removed_loosens: bool = False,
) -> tuple[str, Effect, str] | None:
    """A limit judged by the direction its amount moved: `loosening` ("raised" or "lowered")
    loosens, the other way tightens; with `removed_loosens`, a value removed loosens too."""
    change = direction(before, after)
    if change == loosening or (removed_loosens and after is None and before is not None):
        return EXPOSURE, "loosens", loosens
    if change:
        return EXPOSURE, "tightens", tightens
    return None


_AUTH_ANNOTATIONS = {"authtype", "authurl", "authsecret", "authsignin", "authrealm",
                     "authtlssecret", "authtlsverifyclient", "authresponseheaders"}  # fmt: skip
_ALLOW_LISTS = {
    "whitelistsourcerange", "allowlistsourcerange", "loadbalancersourceranges",
    "sourceranges", "authorizednetworks", "masterauthorizednetworks", "ipallowlist",
    "allowedips", "ipwhitelist", "publicaccesscidrs", "allowedcidrblocks", "ipranges",
    "trustedips", "allowedsourceranges",
}  # fmt: skip
_OFF = {"off", "optional", "false", "disabled", "none", "0", "no"}
_ON = {"on", "required", "true", "enabled", "1", "yes"}
_ENCRYPTION_SWITCH = re.compile(r"encrypt\w*(enabled|enable)$|^encrypt(ed|atrest|intransit)$")
_PUBLIC_SWITCH = re.compile(
    r"public\w*(access|accessible|endpoint|ip|read|network|enabled)$|tobepublic$|"
    r"endpointpublicaccess|allowpublic\w*$"
)
_HTTPS_ONLY = re.compile(
    r"(enforce|require|only)\w*(https|ssl|tls)$|(https|ssl|tls)\w*(only|enforced?|required)$"
)
_EVERYONE = re.compile(
    r"(?i)\ballUsers\b|\ballAuthenticatedUsers\b|system:(unauthenticated|anonymous)"
)


def isinstance_bool(before: Any, after: Any) -> bool:
    """Both values (where present) read as switches: true/false, on/off, 1/0."""
    return all(
        v is None or isinstance(v, bool) or _text(v).strip("'\"") in _ON | _OFF
        for v in (before, after)
    )


def _tls_version(text: str) -> float | None:
    """`TLS1_2`, `tlsv1.2`, `1.2` → 1.2."""
    match = re.search(r"(\d)[._](\d)", text)
    return float(f"{match.group(1)}.{match.group(2)}") if match else None


_BROAD_ROLES = {"cluster-admin", "admin", "edit", "system:masters", "system:aggregate-to-admin"}
_ANYONE = re.compile(r"system:(unauthenticated|anonymous|authenticated)\b")
_INSECURE_KEYS = {
    "insecureskipverify", "insecure", "skiptlsverify", "tlsinsecure", "insecuretls",
    "skipverify", "insecureskiptlsverify", "disablesslverification", "tlsskipverify",
    "allowinsecure", "sslnoverify",
}  # fmt: skip
_LOGGING_KEYS = {
    "enablelogging", "logging", "enablelogfilevalidation", "accesslogging", "auditlogging",
    "loggingenabled", "logsenabled", "enableaccesslogs", "accesslogsenabled",
    "enablecloudwatchlogsexports", "enabledcloudwatchlogsexports", "islogging",
}  # fmt: skip
_LOGGING_BLOCK = re.compile(r"accesslog|loggingconfig|logging|auditlog|flowlog|logdestination")
# Where a logging block sends its records: removed, the records stop
_LOG_TARGET_KEYS = {
    "bucket", "targetbucket", "destinationbucketname", "destination", "destinationarn",
    "loggroupname", "cloudwatchlogsloggrouparn", "s3bucketname", "logdestination",
    "targetprefix", "logdestinationtype",
}  # fmt: skip


def _infra_setting(
    k: str, before: Any, after: Any, a: str, b: str, ctx: str
) -> tuple[str, Effect, str] | None:
    """Infrastructure switches that open or blind a system: TLS verification skipped, a
    binding to a broad role or to anyone, the host's filesystem mounted into a pod, logging
    turned off or its block removed, a service-account token mounted, a checkout that keeps
    its credentials."""
    nctx = norm_key(ctx)
    bare_a, bare_b = a.strip("'\""), b.strip("'\"")
    if k in _AUTH_ANNOTATIONS and after is None and before is not None:
        return EXPOSURE, "loosens", "authentication removed"
    if k in _ALLOW_LISTS and before is not None and (after is None or falsy(after)):
        return EXPOSURE, "loosens", "source allow-list removed: any address may connect"
    if "mfa" in k and bare_a in _OFF and bare_b in _ON:
        return EXPOSURE, "loosens", "multi-factor authentication no longer required"
    if "mfa" in k and bare_b in _OFF and bare_a in _ON:
        return EXPOSURE, "tightens", "multi-factor authentication required"
    if "passwordpolicy" in nctx and before is not None:
        if k in ("minimumlength", "minlength") and direction(before, after) == "lowered":
            return EXPOSURE, "loosens", "shorter passwords allowed"
        if k.startswith("require") and falsy(after) and not falsy(before):
            return EXPOSURE, "loosens", "weaker password rule"
        if k.startswith("require") and not falsy(after) and falsy(before):
            return EXPOSURE, "tightens", "stronger password rule"
    if _ENCRYPTION_SWITCH.search(k) and before is not None and isinstance_bool(before, after):
        if falsy(after) and not falsy(before):
            return DATA, "loosens", "encryption turned off"
        if not falsy(after) and falsy(before):
            return DATA, "tightens", "encryption turned on"
    if _PUBLIC_SWITCH.search(k) and isinstance_bool(before, after):
        if not falsy(after) and after is not None and (before is None or falsy(before)):
            if before is not None or "public" in k:
                return EXPOSURE, "loosens", "publicly reachable"
        if falsy(after) and before is not None and not falsy(before):
            return EXPOSURE, "tightens", "no longer public"
    if _HTTPS_ONLY.search(k) and isinstance_bool(before, after):
        if falsy(after) and before is not None and not falsy(before):
            return EXPOSURE, "loosens", "plain HTTP or old TLS accepted"
        if not falsy(after) and falsy(before):
            return EXPOSURE, "tightens", "HTTPS enforced"
    if k in ("member", "members", "principals") and _EVERYONE.search(a) and not _EVERYONE.search(b):
        return EXPOSURE, "loosens", "granted to everyone"
    if ("tls" in k or "ssl" in k) and ("min" in k or "protocol" in k) and before is not None:
        old, new = _tls_version(b), _tls_version(a)
        if old is not None and new is not None and new < old:
            return EXPOSURE, "loosens", "older TLS versions allowed"
        if old is not None and new is not None and new > old:
            return EXPOSURE, "tightens", "only newer TLS versions"
    if k == "protocol" and bare_b == "https" and bare_a == "http":
        return EXPOSURE, "loosens", "plain HTTP instead of HTTPS"
    if k in _INSECURE_KEYS:
        if not falsy(after) and after is not None and falsy(before):
            return EXPOSURE, "loosens", "TLS certificate verification skipped"
        if falsy(after) and not falsy(before) and before is not None:
            return EXPOSURE, "tightens", "TLS certificate verification turned on"
        return None
    if k == "name" and "roleref" in nctx:
        if a.strip("'\"") in _BROAD_ROLES and b.strip("'\"") not in _BROAD_ROLES:
            return EXPOSURE, "loosens", f"bound to the broad role `{a.strip()}`"
        if b.strip("'\"") in _BROAD_ROLES and a.strip("'\"") not in _BROAD_ROLES:
            return EXPOSURE, "tightens", "no longer bound to a broad role"
        return EXPOSURE, "neutral", "role binding changed"
    if k == "name" and "subjects" in nctx and _ANYONE.search(a) and not _ANYONE.search(b):
        return EXPOSURE, "loosens", "bound to every (or every unauthenticated) caller"
    if k == "path" and "hostpath" in nctx:
        if after is not None and before is None:
            return EXPOSURE, "loosens", "the host's filesystem is mounted into the pod"
        if after is None and before is not None:
            return EXPOSURE, "tightens", "host path no longer mounted"
        return EXPOSURE, "neutral", "host path changed"
    if k == "automount" and "serviceaccount" in nctx:
        if not falsy(after) and after is not None and falsy(before):
            return EXPOSURE, "loosens", "service-account token mounted"
        return None
    if k == "persistcredentials":
        if not falsy(after) and after is not None and (before is not None and falsy(before)):
            return EXPOSURE, "loosens", "the job's token stays in the checkout"
        return None
    if k in _LOGGING_KEYS or (k == "enabled" and _LOGGING_BLOCK.search(nctx)):
        if (falsy(after) or (isinstance(after, list) and not after)) and not falsy(before):
            return DATA, "loosens", "logging turned off" if after is not None else "logging removed"
        if not falsy(after) and falsy(before) and after is not None:
            return DATA, "tightens", "logging turned on"
        return DATA, "neutral", ""
    if k in _LOG_TARGET_KEYS and _LOGGING_BLOCK.search(nctx) and after is None:
        if before is not None:
            return DATA, "loosens", "logging removed"
    return None


# Switches that turn a protection on (`WTF_CSRF_ENABLED`, `MFA_REQUIRED`, `RATELIMIT_ENABLE`)
_PROTECTION_SWITCH = re.compile(
    r"(csrf|auth|mfa|2fa|otp|captcha|ratelimit|throttl|sslverif|tlsverif|verifyssl|hsts|apikey|"
    r"signature|emailverification|audit)\w*(enabled|enable|required|protection|check|verify)$"
)
# Failed-login limits (django-axes `AXES_FAILURE_LIMIT`, `LOGIN_ATTEMPTS_LIMIT`)
_GUESS_LIMIT = re.compile(
    r"(failure|failed|login|attempt|lockout|guess)\w*(limit|attempts|max)$|"
    r"^max\w*(login|failed|failure)\w*"
)
# …of logins only (a CronJob's `failedJobsHistoryLimit` is no login limit)
_LOGIN_WORD = re.compile(r"login|signin|auth|password|axes|lockout|guess|otp")
# Password rules and hashing cost: lowered, passwords are easier to guess or crack
_PASSWORD_STRENGTH = re.compile(
    r"(password|passwd)\w*(minlength|length|min)$|^min\w*passwordlength$|"
    r"(hash|bcrypt|pbkdf2|argon2?|scrypt)\w*(rounds|iterations|workfactor|cost|timecost|memorycost)$"
)
_WEAK_HASHER = re.compile(r"(?i)md5|sha1|unsalted|crypt\b|CryptPasswordHasher")
# Lifetimes of tokens and sessions: raised, a stolen credential works longer
_CREDENTIAL_LIFETIME = re.compile(
    r"(access|refresh|token|jwt|session|cookie|otp|reset|login)\w*"
    r"(lifetime|expire|expires|expiry|expiration|ttl|age|minutes|seconds|hours|days)$"
)


def _permission_classes(before: Any, after: Any) -> tuple[str, Effect, str]:
    """A view's (or the default) permission or authentication classes changed."""
    old, new = set(_words(before)), set(_words(after))
    weak_new = sorted(w for w in new - old if _WEAK_PERMISSION.search(w))
    if weak_new:
        return (
            EXPOSURE,
            "loosens",
            "callers may get in without authenticating: " + ", ".join(weak_new),
        )
    if before is not None and (after is None or falsy(after) or not new):
        return EXPOSURE, "loosens", "no permission or authentication class left"
    gone = sorted(old - new)
    if gone and before is not None and not _WEAK_PERMISSION.search(" ".join(gone)):
        return EXPOSURE, "loosens", "permission or authentication class removed: " + ", ".join(gone)
    if any(_WEAK_PERMISSION.search(w) for w in old - new) or (new - old and before is not None):
        return EXPOSURE, "tightens", "stricter permission or authentication classes"
    return EXPOSURE, "neutral", "permission or authentication classes set"


def _words(value: Any) -> list[str]:
    return re.findall(r"[A-Za-z0-9_.:/*${}@-]+", "" if value is None else str(value))


def _new_words(before: Any, after: Any) -> list[str]:
    """Words of `after` that `before` lacks (in order, once each)."""
    old = set(_words(before))
    seen: list[str] = []
    for word in _words(after):
        if word not in old and word not in seen:
            seen.append(word)
    return seen


# Limits whose framework or client default is well known, so a limit set where none was is
# judged against it: (normalised key, a pattern the setting's context must match, default).
# Django's request-size settings; Elasticsearch/OpenSearch clients' request timeout (10 s);
# httpx's timeout (5 s); nginx's (and ingress-nginx's) body size (1m).
_KNOWN_DEFAULTS: tuple[tuple[str, str, Any], ...] = (
    ("datauploadmaxmemorysize", "", 2621440),
    ("fileuploadmaxmemorysize", "", 2621440),
    ("datauploadmaxnumberfields", "", 1000),
    ("datauploadmaxnumberfiles", "", 100),
    ("timeout", r"elasticsearch|opensearch|\bes\b|connections\.(configure|create_connection)", 10),
    ("timeout", r"httpx", 5),
    # AWS Lambda: 3 s (SAM `Globals.Function`, CloudFormation/SAM functions, Terraform
    # `aws_lambda_function`, CDK `lambda.Function`)
    (
        "timeout",
        r"(?i)globals\.function|serverless::function|lambda::function|"
        r"aws_lambda_function|\blambda_?\.(function|dockerimagefunction)|nodejsfunction|"
        r"pythonfunction|\blambda\b",
        3,
    ),
    ("clientmaxbodysize", "", "1m"),
    ("proxybodysize", "", "1m"),
)


def _known_default(k: str, ctx: str) -> Any:
    for key, where, default in _KNOWN_DEFAULTS:
        if k == key and (not where or re.search(where, ctx)):
            return default
    return None


def new_words(before: Any, after: Any) -> list[str]:
    """Words of `after` that `before` lacks (in order, once each)."""
    return _new_words(before, after)


def _loosenable_limit(k: str) -> str:
    """The kind of limit a normalised key is, when raising it loosens: "" otherwise."""
    if "timeout" in k and not k.startswith(("on", "handle")):
        return "timeout"
    if k in ("maxretries", "retries", "maxattempts", "retrylimit", "stop", "maxretry",
             "retryattempts", "maxreceivecount"):  # fmt: skip
        return "retry cap"
    if k in ("throttlingratelimit", "throttlingburstlimit", "ratelimit", "burstlimit",
             "limitrps", "limitconnections", "ratelimitperminute", "requestsperminute",
             "maxrequests", "rate"):  # fmt: skip
        return "rate limit"
    if "concurren" in k or k in ("maxparallel", "parallelism", "maxconnections", "workers"):
        return "concurrency limit"
    if k in _SIZE_KEYS or _SIZE_SHAPE.search(k):
        return "size limit"
    return ""


def _attempts(value: Any) -> Any:
    match = re.search(r"stop_after_attempt\(\s*(\d+)", _text(value))
    return match.group(1) if match else value


_EXPOSE_WHY = {
    "publicreadaccess": "anyone may read",
    "publicaccess": "public access",
    "publiclyaccessible": "reachable from the internet",
    "associatepublicipaddress": "public IP address",
    "mappubliciponlaunch": "public IP addresses on launch",
    "internetfacing": "faces the internet",
    "privileged": "privileged container",
    "allowprivilegeescalation": "privilege escalation allowed",
    "hostnetwork": "uses the host's network",
    "hostpid": "sees the host's processes",
    "hostipc": "uses the host's IPC",
    "automountserviceaccounttoken": "service-account token mounted",
    "publicnetworkaccess": "public network access",
    "anonymousaccess": "anonymous access",
    "allowanonymous": "anonymous access",
    "skipfinalsnapshot": "no final snapshot when deleted",
    "forcedestroy": "deleted with all its data",
    "autodeleteobjects": "objects deleted with the bucket",
}


_Key = TypeVar("_Key", str, tuple[str, str], tuple[str, ...])


def setting_facts(
    path: str,
    before: Mapping[_Key, tuple[int | None, Any]],
    after: Mapping[_Key, tuple[int | None, Any]],
    describe: Callable[[_Key], tuple[str, str, str]],
    *,
    fallback: str | None = CONFIG,
    removed_line: int | None = None,
) -> list[Fact]:
    """`setting_fact` for each key of two (line, value) maps whose value differs, in key
    order, at the line where it stands now (`removed_line` for a key that is gone: where its
    owner still stands, if anywhere); `describe(key)` gives the key the rules judge, the
    subject and the context."""
    facts = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a and b and a[1] == b[1]:
            continue
        name, subject, context = describe(key)
        fact = setting_fact(
            path=path,
            line=b[0] if b else removed_line,
            key=name,
            subject=subject,
            before=a[1] if a else None,
            after=b[1] if b else None,
            context=context,
            fallback=fallback,
        )
        if fact is not None:
            facts.append(fact)
    return facts


def setting_fact(
    *,
    path: str,
    line: int | None,
    key: str,
    subject: str,
    before: Any,
    after: Any,
    context: str = "",
    fallback: str | None = CONFIG,
) -> Fact | None:
    """A fact for one changed setting: judged by the rules, or (when they do not know the
    key) a plain fact of category `fallback`; None when fallback is None and no rule applies."""
    judged: tuple[str, Effect, str] | None = judge(key, before, after, context)
    if _SECRET_KEY.search(key) and not _SECRET_PARAMETER.search(norm_key(key)):
        # the value of a secret-named setting is never shown (a parameter about the secret,
        # such as `PasswordLength` or `token_ttl`, is no secret and is shown)
        before = _redacted(before)
        after = _redacted(after)
    if judged is None and fallback is None:
        return None
    category, effect, why = judged if judged is not None else (fallback or CONFIG, "neutral", "")
    status: Literal["changed", "added", "removed"] = (
        "added" if before is None else "removed" if after is None else "changed"
    )
    anchors = [key]
    shown = after if after is not None else before
    if shown is not None and not isinstance(shown, dict | list):
        token = _anchor_token(shown)
        if token:
            anchors.append(token)
    return Fact(
        path=path,
        line=line,
        category=category,
        subject=subject,
        before=before,
        after=after,
        effect=effect,
        why=why,
        status=status,
        anchors=tuple(anchors),
    )


_CODE_VALUE = re.compile(
    r"^(\(no default\)|[a-z_][\w]*(\.[A-Za-z_]\w*)+\([^'\"]*\)|\$\{[^}'\"]*\}|\{\{[^}'\"]*\}\}"
    r"|\$[A-Za-z_][A-Za-z0-9_]*"
    r"|!(Ref|GetAtt|ImportValue) [\w.:-]+"
    # CloudFormation dynamic references name where the secret is, never the secret itself
    r"|(!Sub\s+)?['\"]?\{\{resolve:(secretsmanager|ssm|ssm-secure):[^'\"\s]*\}\}['\"]?)$"
)
# Keys (normalised) that are parameters of a secret, not the secret: its length, lifetime,
# rotation, name, ARN, …
_SECRET_PARAMETER = re.compile(
    r"(length|len|size|ttl|lifetime|days|hours|minutes|seconds|expiry|expiration|rotation|"
    r"count|enabled|required|policy|characters|chars|name|arn|type|validators?|hashers?|"
    r"timeout|age|min|max|url|field|fields|backends?|class|classes|file|path)$"
)


def _redacted(value: Any) -> Any:
    """A secret-named setting's value as shown: never a literal, but an empty value, a
    reference (`${var.x}`, `!Ref X`, `{{ .Values.x }}`) or a call with no literal in it
    (`secrets.token_urlsafe(32)`) carries no secret and is shown as it is."""
    if value is None:
        return None
    if value in ("", [], {}, ()) or (isinstance(value, str) and _CODE_VALUE.match(value.strip())):
        return value
    if isinstance(value, bool) or str(value).strip("'\"").lower() in (
        "true", "false", "inherit", "read", "write", "none", "null", "yes", "no", "required",
        "optional",
    ):  # a switch, a permission, a requirement (`HttpTokens: required`): no secret  # fmt: skip
        return value
    if isinstance(value, str) and _lookup_only(value):
        return value
    return REDACTED


def _lookup_only(text: str) -> bool:
    """A call whose only literals name an environment variable or setting
    (`config("SECRET_KEY", cast=Secret)`, `Secret(os.getenv("API_TOKEN"))`): where the secret
    comes from, not the secret."""
    rest = re.sub(r"""(['"])[A-Z][A-Z0-9_]*\1""", "", text.strip())
    return "(" in rest and not re.search(r"['\"]", rest) and bool(re.match(r"[A-Za-z_]", rest))


def _anchor_token(value: Any) -> str:
    """The most telling word of a value (`lambda_.FunctionUrlAuthType.NONE` → `NONE`)."""
    text = str(value).strip("'\"")
    parts = [p for p in re.split(r"[^A-Za-z0-9/*:.-]+", text) if p]
    if not parts:
        return ""
    token = parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] and "/" not in parts[-1] else parts[-1]
    return token[:40]


def switch_facts(
    path: str,
    old: str | None,
    new: str | None,
    table: tuple[tuple[str, str], ...],
    *,
    comment: str,
) -> list[Fact]:
    """Switches that turn a protection off wherever they stand in code (`table`: pattern,
    what it means), counted on each side on code lines (text after `comment` is left out):
    each one more than before is ⚠ at its line, fewer is ✓."""

    def found(text: str | None, pattern: str) -> list[tuple[int, str]]:
        hits = []
        for number, line in enumerate((text or "").splitlines(), 1):
            code = line.split(comment, 1)[0] if comment else line
            hits += [(number, m.group(0)) for m in re.finditer(pattern, code)]
        return hits

    facts = []
    for pattern, why in table:
        olds, news = found(old, pattern), found(new, pattern)
        for line, text in news[len(olds) :]:
            facts.append(Fact(path, line, EXPOSURE, f"`{text.strip()}`", effect="loosens",
                              why=why, status="added", anchors=(text.strip(),)))  # fmt: skip
        if len(olds) > len(news):
            text = olds[-1][1].strip()
            facts.append(
                Fact(path, None, EXPOSURE, f"`{text}` removed", effect="tightens",
                     why=f"no longer: {why}", status="removed", anchors=(text,))
            )  # fmt: skip
    return facts


def secret_named(key: str) -> bool:
    """A setting named like a secret (`NPM_TOKEN`, `DB_PASSWORD`), not a parameter of one
    (`PASSWORD_LENGTH`, `TOKEN_TTL`)."""
    return bool(_SECRET_KEY.search(key)) and not _SECRET_PARAMETER.search(norm_key(key))
