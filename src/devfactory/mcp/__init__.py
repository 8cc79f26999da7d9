"""devfactory's MCP servers (filesystem, Notion, Docker) and the gateway that fronts them.

Each server module offers ``hosted(...) -> HostedServer``: the SDK server plus what the
gateway needs around it (a name, a pre-call assessment for the confidence gate, a close).
"""
