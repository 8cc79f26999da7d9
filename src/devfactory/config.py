"""Settings from the environment (and nothing else holds secrets).

Every setting has an environment variable; names are ``DEVFACTORY_<FIELD>`` except the Notion
token, which keeps the name every Notion tool uses (``NOTION_TOKEN``). Secrets are
``SecretStr`` so they never print in a repr or a log line by accident.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from devfactory.errors import ConfigError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """devfactory's settings; read them with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="DEVFACTORY_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".devfactory"), description="Working directory for state.")
    notion_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NOTION_TOKEN", "DEVFACTORY_NOTION_TOKEN"),
        description="Token for the real Notion API; unset means the local server.",
    )
    notion_base_url: str = Field(
        default="https://api.notion.com",
        validation_alias=AliasChoices("NOTION_BASE_URL", "DEVFACTORY_NOTION_BASE_URL"),
        description="Base URL of the Notion API to call.",
    )
    notion_rate: float = Field(
        default=3.0,
        gt=0,
        description="Requests per second devfactory allows itself against a Notion target (Notion: 3).",
    )
    emulator_token: SecretStr | None = Field(
        default=None, description="Token for a running local server given with --target."
    )
    backup_key: SecretStr | None = Field(
        default=None, description="Key for encrypted backups (base64 of 32 bytes, or a passphrase)."
    )
    emulator_host: str = Field(default="127.0.0.1", description="Bind address of the local server.")
    emulator_port: int = Field(
        default=8787, ge=0, le=65535, description="Port of the local server."
    )
    emulator_admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for the local server's /__admin endpoints."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="Store for logs, tasks and approvals: postgresql://... or sqlite:///path "
        "(default: SQLite at $DEVFACTORY_HOME/devfactory.db).",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the shared rate limiter and event bus (redis://127.0.0.1:6379/0); "
        "unset means in-process only.",
    )
    policy: Path | None = Field(
        default=None,
        description="The confidence gate's policy file (YAML, docs/gate.md); unset means the "
        "built-in defaults, under which destructive actions wait for approval.",
    )
    log_level: str = Field(default="info", description="Lowest level written to the log sinks.")
    log_console: bool = Field(default=False, description="Also write log lines (JSON) to stderr.")
    redact: list[str] = Field(
        default_factory=list,
        description="Extra regular expressions whose matches are redacted from every log line "
        "(JSON list).",
    )

    @property
    def emulator_db(self) -> Path:
        """Default SQLite file of the local Notion server."""
        return self.home / "notion.db"

    @property
    def logs_dir(self) -> Path:
        """Where the JSONL log files of each stream rotate."""
        return self.home / "logs"

    @property
    def store_url(self) -> str:
        """The database of logs, tasks and approvals (secret-bearing; never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'devfactory.db'}"

    @property
    def embedded_db(self) -> Path:
        """SQLite file of the embedded target used when no NOTION_TOKEN is set."""
        return self.home / "notion.sqlite"


def load_settings() -> Settings:
    """Read settings from the environment; a malformed value is a :class:`ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from exc
