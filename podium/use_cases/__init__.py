"""Use-cases: the business loops (claim, batch, record, drain) over injected resources.

Plain Python, no Prefect: `tasks/` and `flows/` wrap them with retries, logging, artifacts and
events, and tests run them directly.
"""
