"""Observability: structured logs, the log store, metrics and the event bus."""
