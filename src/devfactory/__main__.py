"""``python -m devfactory`` runs the CLI."""

from __future__ import annotations

from devfactory.cli import main

main()
