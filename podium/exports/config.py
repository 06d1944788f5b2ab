"""Settings of the schedule exports (a section of `podium.settings.Settings`)."""

from typing import Annotated
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ExportSettings(BaseModel):
    """How `podium export` and the gateway's export routes write an event's schedule."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    time_zone: str = "UTC"
    """IANA time zone the schedule's days and local times are given in (frab `time_zone_name`);
    slots are stored in UTC."""
    talk_url: str | None = None
    """Public page of a talk, with {talk_id} in it (e.g.
    https://directory.example.org/talks/{talk_id}); without it a talk's URL is its urn:uuid: (the
    frab guid), which schedule apps accept as a URI."""
    related_limit: Annotated[int, Field(ge=0, le=100)] = 5
    """Related talks listed per talk in an export."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "UTC" and value not in available_timezones():
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @field_validator("talk_url")
    @classmethod
    def _has_placeholder(cls, value: str | None) -> str | None:
        if value is not None and "{talk_id}" not in value:
            raise ValueError("talk_url must contain {talk_id}")
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("talk_url must be an http(s) URL")
        return value
