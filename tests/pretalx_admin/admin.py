"""Organiser actions on the test pretalx server, run with the pretalx virtualenv's Python.

    python admin.py init SLUG      migrate, create an admin, the demo event, tags and a token
    python admin.py change SLUG    edit one proposal, withdraw one, delete one, retag one

Each prints one JSON object on its last line. This is pretalx's own code doing what an
organiser does in its UI; Podium only ever sees the server's REST API.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium_pretalx_settings")
os.environ.setdefault("PRETALX_NO_INITIAL_LOG", "1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django_scopes import scope, scopes_disabled  # noqa: E402
from pretalx.event.models import Event  # noqa: E402
from pretalx.person.models import User  # noqa: E402
from pretalx.person.models.auth_token import ENDPOINTS, UserApiToken  # noqa: E402
from pretalx.submission.models import Tag  # noqa: E402

try:  # pretalx 2026.x
    from pretalx.submission.domain.submission import delete_submission
except ImportError:  # pretalx 2025.x (runs on the project's own Python 3.11)

    def delete_submission(submission, **_kwargs) -> None:
        submission.slots.all().delete()
        submission.delete(force=True)

TAGS = ["python", "data science", "security"]


def init(slug: str) -> dict:
    call_command("migrate", verbosity=0)
    with scopes_disabled():
        admin = User.objects.filter(email="admin@example.org").first()
        if admin is None:
            admin = User.objects.create_user(
                email="admin@example.org", password="podium-test-only", name="Admin"
            )
            admin.is_administrator = True
            admin.is_staff = True
            admin.save()
        if not Event.objects.filter(slug=slug).exists():
            call_command("create_test_event", slug=slug, seed="7", stage="schedule")
        event = Event.objects.get(slug=slug)
    with scope(event=event):
        tags = [Tag.objects.get_or_create(event=event, tag=name)[0] for name in TAGS]
        for index, submission in enumerate(event.submissions.all().order_by("code")):
            if index % 3 == 0:
                submission.tags.add(tags[index % len(tags)])
        counts = {}
        for submission in event.submissions.all():
            counts[submission.state] = counts.get(submission.state, 0) + 1
    with scopes_disabled():
        endpoints = {name: ["list", "retrieve"] for name in ENDPOINTS}
        if any(field.name == "all_events" for field in UserApiToken._meta.get_fields()):
            token = UserApiToken.objects.create(
                user=admin, name="podium", all_events=True, endpoints=endpoints
            )
        else:  # pretalx 2025.x: a token names its events
            token = UserApiToken.objects.create(user=admin, name="podium", endpoints=endpoints)
            token.events.set(Event.objects.all())
    return {"token": token.token, "states": counts}


def change(slug: str) -> dict:
    with scopes_disabled():
        event = Event.objects.get(slug=slug)
    with scope(event=event):
        live = event.submissions.exclude(state__in=["withdrawn", "canceled", "draft"])
        live = list(live.order_by("code"))
        edited, withdrawn, deleted, retagged = live[0], live[1], live[2], live[3]
        edited.title = edited.title + " (revised)"
        edited.save()
        try:
            withdrawn.withdraw(orga=True)
        except Exception:  # pretalx 2025.x lets an organiser withdraw a confirmed talk by force
            withdrawn.withdraw(orga=True, force=True)
        deleted_code = deleted.code
        delete_submission(deleted)
        # Tags change through a many-to-many table: pretalx leaves `updated` as it was.
        retagged.tags.add(Tag.objects.get_or_create(event=event, tag="retagged")[0])
    return {
        "edited": edited.code,
        "withdrawn": withdrawn.code,
        "deleted": deleted_code,
        "retagged": retagged.code,
    }


if __name__ == "__main__":
    action, slug = sys.argv[1], sys.argv[2]
    result = {"init": init, "change": change}[action](slug)
    print(json.dumps(result))
