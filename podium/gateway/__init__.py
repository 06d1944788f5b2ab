"""The webhook gateway: signed hooks that record talks in the lake and post Prefect events.

`create_app(settings)` builds the ASGI app; `serve(settings)` runs it with uvicorn.
"""

from podium.gateway.app import create_app
from podium.gateway.serve import running_gateway, serve
from podium.gateway.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "create_app",
    "running_gateway",
    "serve",
    "sign",
    "signed_headers",
]
