"""The Prefect UI as a person sees it, in headless Chromium (Debian's, through playwright).

Real: the whole embedded stack of `podium up` (Prefect server and UI, work pools, the
deployments of prefect.yaml, one process worker per pool, the gateway), the sample talks and
events posted to the gateway signed, and a push to a real git repository waiting for review.
The browser reads what the UI renders; the Prefect API is used only to find ids and to wait.
A failed test leaves a screenshot and the page text in test-artifacts/ui/.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
import yaml

from deployments.local_stack import PROJECT_DIR, WORK_POOLS
from podium.lake import Lake
from podium.recommend.serving import lookup_recommendations
from podium.review.records import find_review
from tasks.recommend import _artifact_key
from tests.ui.stack import UiStack
from tests.waiting import wait_for

pytestmark = pytest.mark.ui

SPEC = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
POOL_OF = {d["name"]: d["work_pool"]["name"] for d in SPEC["deployments"]}
TRIGGERS = [t for d in SPEC["deployments"] for t in d.get("triggers", [])]


def api(ui: UiStack, method: str, path: str, **body: Any) -> Any:
    # Generous: a loaded machine's SQLite server can take tens of seconds to answer.
    response = httpx.request(method, f"{ui.stack.api_url}{path}", json=body or None, timeout=120)
    response.raise_for_status()
    return response.json() if response.content else None


def flow_runs(ui: UiStack, flow: str, states: list[str] | None = None) -> list[dict]:
    body: dict[str, Any] = {"flows": {"name": {"any_": [flow]}}}
    if states:
        body["flow_runs"] = {"state": {"type": {"any_": states}}}
    return api(ui, "POST", "/flow_runs/filter", **body)


def paused_review(ui: UiStack) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = flow_runs(ui, "review-push", ["PAUSED"])
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError("no paused review-push run")


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    # The UI loads its data after the page; on a busy CI machine that takes a while.
    playwright_expect.set_options(timeout=90_000)
    return playwright_expect(locator)


def test_deployments_are_listed_with_their_pools(page: Any, ui: UiStack) -> None:
    page.goto("/deployments")
    expect(page.get_by_text(f"{len(POOL_OF)} Deployments")).to_be_visible()
    search = page.get_by_placeholder("Search deployments")
    for name in POOL_OF:  # more than a page of them: find each by name
        search.fill(name)
        expect(page.locator("table").get_by_text(name, exact=True).first).to_be_visible()
    for pool in WORK_POOLS:
        mine = sorted(n for n, p in POOL_OF.items() if p == pool)
        page.goto(f"/work-pools/work-pool/{pool}?tab=Deployments")
        expect(page.get_by_text(f"{len(mine)} Deployments")).to_be_visible()
        search = page.get_by_placeholder("Search deployments")  # a pool's list pages by 10
        for name in mine:
            search.fill(name)
            expect(page.locator("table").get_by_text(name, exact=True).first).to_be_visible()
        search.fill("")
        # A worker polls the pool: the UI says Ready, not Not Ready.
        expect(page.get_by_text("Ready", exact=True).first).to_be_visible()


def test_automations_are_named_and_described(page: Any, ui: UiStack) -> None:
    page.goto("/automations")
    expect(page.get_by_text(f"{len(TRIGGERS)} automations")).to_be_visible()
    for trigger in TRIGGERS:
        expect(page.get_by_text(trigger["name"], exact=True)).to_be_visible()
        expect(page.get_by_text(trigger["description"], exact=True)).to_be_visible()


def test_runs_completed_under_names_that_say_what_they_handle(page: Any, ui: UiStack) -> None:
    page.goto("/runs")
    for pattern in (
        r"^enrich · \d+ talks?$",  # enrich-warm, started by the gateway's event directly
        r"^aggregate-tags · ",
        r"^build-recommendations · ",
        rf"^review · app@main {ui.push_after[:7]}$",
    ):
        expect(page.get_by_text(re.compile(pattern)).first).to_be_visible()
    expect(page.get_by_text("Completed").first).to_be_visible()
    completed = {
        r["name"] for f in ("enrich", "enrich-warm") for r in flow_runs(ui, f, ["COMPLETED"])
    }
    assert any(re.match(r"enrich · \d+ talks?$", n) for n in completed), completed
    assert not flow_runs(ui, "enrich", ["FAILED", "CRASHED"])
    assert not flow_runs(ui, "enrich-warm", ["FAILED", "CRASHED"])


def test_a_scheduled_run_appears(page: Any, ui: UiStack) -> None:
    (enrich,) = api(ui, "POST", "/deployments/filter", deployments={"name": {"any_": ["enrich"]}})
    page.goto(f"/deployments/deployment/{enrich['id']}?tab=Upcoming")
    expect(page.get_by_text("Every 2 minutes").first).to_be_visible()
    expect(page.get_by_text("Scheduled").first).to_be_visible()


def latest_artifact_id(ui: UiStack, key: str) -> str:
    (artifact,) = api(ui, "POST", "/artifacts/latest/filter", artifacts={"key": {"any_": [key]}})
    return artifact["latest_id"] if "latest_id" in artifact else artifact["id"]


def test_the_cover_gallery_shows_images(page: Any, ui: UiStack) -> None:
    page.goto(f"/artifacts/artifact/{latest_artifact_id(ui, 'covers')}")
    images = page.locator("img[src^='data:image/jpeg']")
    expect(images.first).to_be_visible()
    widths = images.evaluate_all(
        "els => Promise.all(els.map(e => e.decode().then(() => e.naturalWidth, () => 0)))"
    )
    assert widths and all(w > 0 for w in widths), widths
    # No link to a local path (they open "Page not found"), no image shown as raw text.
    assert page.locator("a[href*='images/']").count() == 0
    assert "data:image" not in page.inner_text("body")


def test_a_recommendations_artifact_shows_titles(page: Any, ui: UiStack) -> None:
    lake = Lake.from_settings(ui.stack.settings)
    event_id = ui.event_ids[0]
    recs = lookup_recommendations(lake=lake, event_id=event_id)
    talks = lake.read("talks", columns=["talk_id", "title"])
    title = dict(zip(talks.talk_id, talks.title, strict=True))
    page.goto(f"/artifacts/artifact/{latest_artifact_id(ui, _artifact_key(event_id))}")
    for talk_id in recs["talk_id"].head(3):
        expect(page.get_by_text(title[talk_id][:60]).first).to_be_visible()


def _description(ui: UiStack, run: dict) -> str | None:
    keyset = (run["state"]["state_details"] or {}).get("run_input_keyset") or {}
    key = keyset.get("description")
    if not key:
        return None
    response = httpx.get(f"{ui.stack.api_url}/flow_runs/{run['id']}/input/{key}", timeout=120)
    return response.text if response.status_code == 200 else None


def test_a_paused_review_shows_its_summary(page: Any, ui: UiStack) -> None:
    run = paused_review(ui)
    if _description(ui, run) is None:
        # Issue 14 (engineer E) publishes the summary before the pause and sets the pause
        # description; until that lands this check is reported as an expected failure.
        pytest.xfail("review-push sets no pause description yet (issue 14)")
    page.goto(f"/runs/flow-run/{run['id']}")
    page.get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Approve to let the deployment go ahead")).to_be_visible()
    expect(dialog.get_by_text("description not found")).to_have_count(0)
    # The push changed service/api.py; the summary the reviewer decides from names it.
    expect(dialog.get_by_text(re.compile("service/api.py")).first).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    # Published before the pause: the run's Artifacts tab already has the review.
    page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
    expect(
        page.get_by_role("tabpanel").get_by_text(re.compile(r"review-app-")).first
    ).to_be_visible()


def test_approving_a_paused_review_through_the_form_completes_it(page: Any, ui: UiStack) -> None:
    run = paused_review(ui)
    page.goto(f"/runs/flow-run/{run['id']}")
    # review-push runs on a process pool: it suspends (gives its process back) while it waits.
    expect(page.get_by_text("Suspended").first).to_be_visible()
    dialog = _resume_form(page)
    # The decision is a select built from the schema's enum.
    _choose(page, dialog, "approve")
    field = dialog.locator(".schema-form-property")
    comment = "Looks right: retries and the login check are covered."
    field.filter(has_text="Comment").locator("textarea").fill(comment)
    field.filter(has_text="Reviewer").locator("textarea").fill("grace")
    _submit(dialog)

    deadline = time.monotonic() + 240
    state = run["state_type"]
    while time.monotonic() < deadline and state != "COMPLETED":
        time.sleep(2)
        state = api(ui, "GET", f"/flow_runs/{run['id']}")["state_type"]
        assert state not in ("FAILED", "CRASHED", "CANCELLED"), state
    assert state == "COMPLETED"
    page.reload()
    expect(page.get_by_text("Completed").first).to_be_visible()
    row = find_review(Lake.from_settings(ui.stack.settings), repo="app", commit=ui.push_after)
    assert row is not None and row["status"] == "approved"
    # The UI has no login: the decision is an operator's, the typed name only what they said.
    assert row["decided_by"] == 'operator (Prefect UI/API, says "grace")'
    assert row["comment"].startswith("Looks right")


def _resume_form(page: Any) -> Any:
    """Open the paused run's Resume form; returns its dialog once the form's fields show.

    On a loaded machine the page can still be hydrating when the click lands, and no dialog
    opens (seen once in a full run at load ~10, not alone); a reviewer would click again, and
    so does the test, once."""
    dialog = page.get_by_role("dialog")
    form = dialog.locator(".schema-form-property").first
    page.get_by_role("button", name="Resume").click()
    try:
        expect(form).to_be_visible(timeout=30_000)
    except AssertionError:
        if not dialog.count():
            page.get_by_role("button", name="Resume").click()
        expect(form).to_be_visible(timeout=90_000)
    return dialog


def _choose(page: Any, scope: Any, option: str) -> None:
    """Pick `option` in the first select of `scope` (a form or a field of it); the keyboard
    opens its list."""
    scope.locator(".p-select-button__control").first.focus()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()
    expect(scope.locator(".p-select-button__value")).to_have_text(option)


def _submit(dialog: Any) -> None:
    """Submit the resume form and see the dialog close."""
    submit = dialog.get_by_role("button", name="Submit")
    expect(submit).to_be_enabled()
    submit.click()
    # The dialog closes once the server took the answer. On a loaded machine the UI's form
    # can still be validating when the click lands and swallows it (seen once in a full run,
    # not reproduced alone); a reviewer would click again, and so does the test, once.
    try:
        expect(dialog).to_have_count(0, timeout=20_000)
    except AssertionError:
        if dialog.count():
            submit.click()
        expect(dialog).to_have_count(0)


def _wait_for(condition: Any, what: str, timeout_s: float = 300) -> Any:
    return wait_for(condition, what, timeout_s, step_s=2)


def test_an_organiser_rejects_and_adds_a_tag_in_the_review_tags_form(
    page: Any, ui: UiStack
) -> None:
    """The review-tags form in the browser: reject a model tag, add one; talk_tags, the tag
    counts and the recommendations follow through the stack's own triggers. (The next similar
    talk getting the added tag is checked without the browser: tests/podium/tagging/
    test_feedback_loop.py and tests/podium/use_cases/test_tag_suggestions.py.)"""
    from podium.ingest import event_rows, read_talks
    from podium.tag_counts import read_tag_counts
    from podium.tag_feedback import feedback_rows
    from podium.talk_tags import tag_rows

    lake = Lake.from_settings(ui.stack.settings)
    frame = event_rows(lake=lake, columns=["event_id", "tags"])
    events = {
        str(e): [str(t) for t in tags] for e, tags in zip(frame.event_id, frame.tags, strict=True)
    }
    model = tag_rows(lake=lake, talk_ids=ui.talk_ids, sources=["model"])
    # A model tag T on a talk of event E, and a tag A of E's tags that the talk lacks.
    talks = {t.talk_id: t for t in read_talks(lake=lake, talk_ids=ui.talk_ids)}
    choice = None
    for row in model.sort_values(["score", "talk_id"]).itertuples():
        talk = talks[row.talk_id]
        carried = set(model[model.talk_id == row.talk_id].tag) | set(talk.tags)
        for event_id in talk.event_ids:
            spare = [t for t in events.get(event_id, []) if t not in carried]
            if spare:
                choice = (row.talk_id, str(row.tag), event_id, spare[0])
                break
        if choice:
            break
    assert choice, "no model tag on a talk whose event has a tag it lacks"
    talk_id, rejected, event_id, added = choice

    (deployment,) = api(
        ui, "POST", "/deployments/filter", deployments={"name": {"any_": ["review-tags"]}}
    )
    api(
        ui,
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        parameters={"event_id": event_id, "limit": 20, "suggest": False},
    )
    run = _wait_for(lambda: (flow_runs(ui, "review-tags", ["PAUSED"]) or [None])[0], "a pause")
    page.goto(f"/runs/flow-run/{run['id']}")
    dialog = _resume_form(page)
    fields = dialog.locator(".schema-form-property")
    row = fields.filter(
        has_text=re.compile(rf"{re.escape(talk_id)} · .* · {re.escape(rejected)} \(")
    )
    _choose(page, row, "reject")
    fields.filter(has_text="Organiser").locator("textarea, input").first.fill("Ines")
    fields.filter(has_text="Reason").locator("textarea, input").first.fill("not what it is about")
    fields.filter(has_text="Tags to add").locator("textarea").first.fill(f"{talk_id}: {added}")
    _submit(dialog)

    def finished() -> bool:
        state = api(ui, "GET", f"/flow_runs/{run['id']}")["state_type"]
        assert state not in ("FAILED", "CRASHED", "CANCELLED"), state
        return state == "COMPLETED"

    _wait_for(finished, "the review-tags run to complete")
    rows = tag_rows(lake=lake, talk_ids=[talk_id])
    mine = set(zip(rows.tag, rows.source, strict=True))
    assert rejected not in set(rows.tag) and (added, "organiser") in mine, mine
    decided = feedback_rows(lake=lake)
    assert {("Ines", rejected, "reject"), ("Ines", added, "add")} <= set(
        zip(decided.decided_by, decided.tag, decided.decision, strict=True)
    )

    # Counts follow (aggregate-tags on podium.talk.tagged): each tag counts the live talks
    # carrying it.
    def counted() -> bool:
        every = tag_rows(lake=lake, columns=["talk_id", "tag"])
        counts = read_tag_counts(lake=lake)
        have = dict(zip(counts.tag, counts.talks, strict=True))
        return all(
            int(have.get(t, 0)) == every[every.tag == t].talk_id.nunique()
            for t in (rejected, added)
        )

    _wait_for(counted, "tag counts to follow the correction")
    # Recommendations follow (build-recommendations on podium.tags.aggregated): no event's
    # list matches the talk on the rejected tag any more.
    from podium.recommend.serving import lookup_recommendations as recs_of

    def recommended() -> bool:
        for other in events:
            recs = recs_of(lake=lake, event_id=other)
            hit = recs[recs.talk_id == talk_id]
            if len(hit) and rejected in list(hit.matched_tags.iloc[0]):
                return False
        return True

    _wait_for(recommended, "recommendations without the rejected tag")
