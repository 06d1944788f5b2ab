"""Traces (OpenTelemetry) and JSON-line logs.

One trace per talk submission: the gateway request opens it, the W3C `traceparent` travels in
the `podium.talk.submitted` payload (`carrier()`), and the warm executor continues it
(`context_from()`) around the run it starts, whose tag and cover batches and lake commits are
child spans. Tracing is off unless `ops.traces` says where spans go (`configure()`); while it
is off every span is OpenTelemetry's no-op, so the instrumented code costs nothing.

With `ops.json_logs` every log line is a JSON object with the talk ids, run id and trace id of
the work it belongs to (`log_context()` sets the first two; the trace id is the current span's).
Nothing here reads the environment or configures anything at import time.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_propagator = TraceContextTextMapPropagator()
_configured_lock = threading.Lock()
_configured: dict[str, Any] = {}

_talk_ids: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "podium_talk_ids", default=()
)
_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("podium_run_id", default="")


def configure(ops: Any, *, service: str) -> bool:
    """Install this process's tracer provider from `settings.ops` (once); returns whether
    spans are exported. `service` names the process (gateway, warm-executor, …) unless
    `ops.service_name` does."""
    if ops.traces == "off":
        return False
    with _configured_lock:
        if _configured:
            return True
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )

        provider = TracerProvider(
            resource=Resource.create({"service.name": ops.service_name or f"podium-{service}"})
        )
        if ops.traces == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=ops.otlp_endpoint))
            )
        else:  # file: the SDK's console exporter, one JSON object per line, flushed per span
            if ops.trace_file is None:
                raise ValueError("ops.traces=file needs ops.trace_file")
            out = open(ops.trace_file, "a", encoding="utf-8")  # noqa: SIM115 - process-long
            exporter = ConsoleSpanExporter(
                out=out, formatter=lambda span: span.to_json(indent=None) + "\n"
            )
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            _configured["out"] = out
        trace.set_tracer_provider(provider)
        _configured["provider"] = provider
        return True


def shutdown() -> None:
    """Flush and close this process's exporters (at exit)."""
    provider = _configured.get("provider")
    if provider is not None:
        provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer("podium")


@contextmanager
def span(
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    parent: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """A span around a block (a no-op while tracing is off); `parent` continues a trace
    carried from another process."""
    attrs = {k: _attribute(v) for k, v in (attributes or {}).items() if v is not None}
    with tracer().start_as_current_span(name, context=parent, attributes=attrs) as current:
        yield current


def annotate(**attributes: Any) -> None:
    """Set attributes on the current span (nothing while tracing is off)."""
    current = trace.get_current_span()
    if current.is_recording():
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, _attribute(value))


def _attribute(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(v) for v in value[:100]]
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def carrier() -> dict[str, str]:
    """The current span's context as event payload fields (`{"traceparent": …}`); empty when
    no span is recording."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    fields: dict[str, str] = {}
    _propagator.inject(fields)
    return {TRACEPARENT: fields[TRACEPARENT]} if TRACEPARENT in fields else {}


def context_from(payload: dict[str, Any] | None) -> otel_context.Context | None:
    """The trace context an event payload carries; None when it carries none."""
    value = (payload or {}).get(TRACEPARENT)
    if not isinstance(value, str):
        return None
    ctx = _propagator.extract({TRACEPARENT: value})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def trace_id() -> str:
    """The current span's trace id (32 hex digits), or "" outside any span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


# ---- logs --------------------------------------------------------------------------------------


@contextmanager
def log_context(*, talk_ids: Sequence[str] = (), run_id: str = "") -> Iterator[None]:
    """Log lines inside carry these talk ids and this run id (JSON logs)."""
    tokens = (_talk_ids.set(tuple(talk_ids)), _run_id.set(run_id))
    try:
        yield
    finally:
        _talk_ids.reset(tokens[0])
        _run_id.reset(tokens[1])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, talk ids, run id, trace id."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        talk_ids = getattr(record, "talk_ids", None) or _talk_ids.get()
        if talk_ids:
            line["talk_id"] = talk_ids[0] if len(talk_ids) == 1 else list(talk_ids)[:100]
        run_id = getattr(record, "run_id", None) or _run_id.get()
        if run_id:
            line["run_id"] = str(run_id)
        current = trace_id()
        if current:
            line["trace_id"] = current
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(ops: Any, *, level: int = logging.INFO) -> None:
    """With `ops.json_logs`, every root handler (one on stderr if none) writes JSON lines."""
    if not ops.json_logs:
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
