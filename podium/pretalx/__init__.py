"""The pretalx source: submissions and events from a pretalx server's REST API."""
