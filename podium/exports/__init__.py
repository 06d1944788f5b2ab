"""Event schedules for the tools organisers and attendees use: frab XML/JSON, iCalendar, JSON."""
