"""Settings of metrics, traces, logs and health probes (a section of `podium.settings.Settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class OpsSettings(BaseModel):
    """How Podium is observed: metrics, traces, logs and the executors' probe server."""

    executor_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of a warm executor's probe server (/metrics, /healthz, /readyz); "
        "None serves none, 0 takes any free port (logged).",
    )
    executor_host: str = Field(
        default="127.0.0.1",
        description="Address a warm executor's probe server binds to (0.0.0.0 in a pod).",
    )
    lake_metrics_ttl_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a reading of the lake's state (backlog, oldest pending age, "
        "failed talks, waiting reviews) is reused between scrapes of /metrics.",
    )
    traces: Literal["off", "otlp", "file"] = Field(
        default="off",
        description="Where OpenTelemetry spans go: `off` (default), `otlp` (OTLP over HTTP to "
        "`otlp_endpoint`) or `file` (one JSON object per span, appended to `trace_file`).",
    )
    otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="The OTLP/HTTP traces endpoint when traces=otlp.",
    )
    trace_file: Path | None = Field(
        default=None, description="JSON-lines file of finished spans when traces=file."
    )
    service_name: str = Field(
        default="", description="service.name of this process's spans; empty: its role."
    )
    json_logs: bool = Field(
        default=False,
        description="Log JSON lines (time, level, logger, message, talk_id, run_id, trace_id) "
        "instead of text.",
    )
