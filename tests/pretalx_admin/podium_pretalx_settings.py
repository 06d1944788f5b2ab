"""Django settings for the test pretalx server: pretalx's own, without Redis.

Runs inside the separate pretalx virtualenv (never Podium's). pretalx caches in Redis by
default; a local-memory cache and database sessions let it run on SQLite alone.
"""

from pretalx.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
CELERY_TASK_ALWAYS_EAGER = True
