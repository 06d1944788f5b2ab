"""The embedded stack the browser test drives: `LocalStack` (as `podium up` starts it) on free
ports, the sample directory posted to the gateway signed, and one push to a watched repository
waiting for review. Also runnable by hand (`python -m tests.ui.stack HOME`) to look around."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deployments.local_stack import LocalStack
from podium.demo import SAMPLE_DIR, load_directory, wait_for_pipeline
from podium.gateway.signatures import signed_headers
from podium.lake import Lake
from tests.local_stacks import quiet_stack, stack_settings
from tests.podium.review.gitfixtures import make_repo, push_mixed_change

SECRET = "ui-test-secret"
PUSH_SECRET = "ui-test-push-secret"  # /hooks/push has a key of its own
# Set in this process's environment for the stack's children to inherit (restored by callers).
ENV_KEYS = ("PODIUM_REVIEW__REPOS", "PODIUM_REVIEW__POLL_INTERVAL_S")


@dataclass
class UiStack:
    stack: LocalStack
    talk_ids: list[str]
    event_ids: list[str]
    titles: dict[str, str]
    push_after: str


def post_signed(url: str, payload: object, *, attempts: int = 3, secret: str = SECRET) -> dict:
    """POST `payload` signed, as a sender does: a timeout or a 503 "retry later" (a loaded
    machine: Prefect did not take the event in time; seen once at stack start) is retried
    after a pause, since the gateway records a re-delivered talk or push once."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            headers = signed_headers(body, secret)  # fresh timestamp: inside the replay window
            answer = httpx.post(url, content=body, headers=headers, timeout=120)
        except httpx.TimeoutException:
            if last:
                raise
            continue
        if answer.status_code != 503 or last:
            answer.raise_for_status()
            return answer.json()
        time.sleep(5)
    raise AssertionError("unreachable")


def start(
    home: Path, *, talks: int = 12, on_started: Callable[[UiStack], None] = lambda _: None
) -> UiStack:
    """Start the stack under `home`, post `talks` sample talks and one push; wait for the
    pipeline to finish with them. `on_started` gets the stack before anything can fail, so the
    caller can stop it (also when this raises)."""
    (home / "git").mkdir(parents=True, exist_ok=True)
    repo = make_repo(home / "git")
    # Children inherit this process's environment: the watched repository, a short poll.
    os.environ["PODIUM_REVIEW__REPOS"] = json.dumps([{"name": "app", "url": str(repo.origin)}])
    os.environ["PODIUM_REVIEW__POLL_INTERVAL_S"] = "2"
    settings = stack_settings(home, SECRET, review={"push_secret": PUSH_SECRET})
    stack = quiet_stack(settings)
    ui = UiStack(stack=stack, talk_ids=[], event_ids=[], titles={}, push_after="")
    on_started(ui)
    stack.up()
    lake = Lake.from_settings(settings)
    all_ids, ui.event_ids = load_directory(lake=lake)
    sample = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:talks]
    ui.talk_ids = [t["talk_id"] for t in sample]
    ui.titles = {t["talk_id"]: t["title"] for t in sample}
    for talk in sample:  # one signed request per talk, as the directory app posts them
        post_signed(f"{stack.gateway_url}/hooks/talks", talk)
    before, after = push_mixed_change(repo)
    push = {"repository": "app", "ref": "refs/heads/main", "before": before, "after": after}
    post_signed(f"{stack.gateway_url}/hooks/push", push, secret=PUSH_SECRET)
    ui.push_after = after
    wait_for_pipeline(
        lake=lake,
        talk_ids=ui.talk_ids,
        event_ids=ui.event_ids,
        timeout_s=600,
        check=stack.check,
    )
    return ui


if __name__ == "__main__":
    from deployments.local_stack import stop_on_sigterm

    stop_on_sigterm()
    home = Path(sys.argv[1])
    started = time.monotonic()
    ui = start(home)
    print(f"UI {ui.stack.ui_url} gateway {ui.stack.gateway_url} ready in "
          f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
    try:
        while True:
            time.sleep(5)
    except KeyboardInterrupt:
        pass
    finally:
        ui.stack.down()
