"""devfactory: Notion workspaces as code, a gated MCP gateway, and a local Notion server."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
