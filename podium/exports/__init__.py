"""Schedules of events for the tools organisers and attendees use: frab XML/JSON, iCalendar, JSON."""
