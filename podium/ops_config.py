"""Settings of metrics, traces, logs and health probes (a section of `podium.settings.Settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.types import NonNegativeFloat


class OpsSettings(BaseModel):
    """How Podium is observed: metrics, traces, logs and the executors' probe server."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    executor_port: Annotated[int | None, Field(ge=0, le=65535)] = None
    """Port of a warm executor's probe server (/metrics, /healthz, /readyz); None serves none, 0
    takes any free port (logged)."""
    executor_host: str = "127.0.0.1"
    """Address a warm executor's probe server binds to (0.0.0.0 in a pod)."""
    lake_metrics_ttl_s: NonNegativeFloat = 10.0
    """Seconds a reading of the lake's state (backlog, oldest pending age, failed talks, waiting
    reviews) is reused between scrapes of /metrics."""
    traces: Literal["off", "otlp", "file"] = "off"
    """Where OpenTelemetry spans go: `off` (default), `otlp` (OTLP over HTTP to `otlp_endpoint`)
    or `file` (one JSON object per span, appended to `trace_file`)."""
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """The OTLP/HTTP traces endpoint when traces=otlp."""
    trace_file: Path | None = None
    """JSON-lines file of finished spans when traces=file."""
    service_name: str = ""
    """service.name of this process's spans; empty: its role."""
    json_logs: bool = False
    """Log JSON lines (time, level, logger, message, talk_id, run_id, trace_id) instead of text."""
