"""Podium: AI enrichment for a conference speakers directory, built on Prefect 3."""

from __future__ import annotations


def version() -> str:
    """The installed Podium's version (`0+unknown` when running from a bare checkout)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("podium")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
