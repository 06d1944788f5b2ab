"""Device choice: what the worker has, CUDA when present, else CPU."""

from __future__ import annotations


def resolve_device(requested: str = "auto") -> str:
    """`auto` -> `cuda` when a CUDA device is visible, else `cpu`; anything else as given."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but no CUDA device is visible")
    return requested
