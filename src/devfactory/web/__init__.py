"""The dashboard's backend: REST API, live events, API keys and sessions (docs/web.md)."""

from __future__ import annotations

from devfactory.web.app import create_app
from devfactory.web.keys import ApiKey, ApiKeys

__all__ = ["ApiKey", "ApiKeys", "create_app"]
