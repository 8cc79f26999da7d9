"""Redaction: key names, value patterns, registered secrets and extra regexes, and the
guarantee that a secret never reaches any log sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from devfactory.errors import ConfigError
from devfactory.obs import log
from devfactory.obs.redact import (
    REDACTED,
    is_sensitive_key,
    needs_redaction,
    redact_keys,
    redact_text,
    redact_value,
    register_secret,
    reset,
    set_patterns,
)

SECRET = "hunter2-correct-horse-battery"


@pytest.fixture(autouse=True)
def memory(tmp_path: Path) -> Iterator[log.MemorySink]:
    """Logging into memory and files under tmp_path; no secrets or patterns left behind."""
    sink = log.MemorySink()
    log.configure(logs_dir=tmp_path / "logs", level="debug", sinks=[sink])
    yield sink
    log.shutdown()
    reset()


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "access_token",
        "notion_token",
        "Authorization",
        "Proxy-Authorization",
        "X-Api-Key",
        "x_api_key",
        "api_key",
        "apiKey",
        "Cookie",
        "Set-Cookie",
        "password",
        "db.password",
        "passwd",
        "clientSecret",
        "private_key",
        "credentials",
    ],
)
def test_sensitive_key_names(key: str) -> None:
    """Keys naming a secret, in any case and separator style, are sensitive."""
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["max_tokens", "input_tokens", "tokenizer", "author", "monkey", "secretary", "tool"]
)
def test_ordinary_key_names(key: str) -> None:
    """Words that merely contain a sensitive word (token counts, authors) are kept."""
    assert not is_sensitive_key(key)


def test_redact_keys_walks_nested_headers_without_changing_the_input() -> None:
    """A headers dict and dicts inside lists are redacted by key; the caller's data is intact."""
    data = {
        "headers": {"Authorization": "Basic abc", "Accept": "application/json"},
        "items": [{"password": "p4ss"}, ("x", {"token": "t"})],
    }
    out = redact_keys(data)
    assert {
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "items": [{"password": REDACTED}, ["x", {"token": REDACTED}]],
    } == out
    assert "Basic abc" == data["headers"]["Authorization"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("auth secret_" + "a1" * 21, "secret_" + "a1" * 21, "auth "),
        ("token ntn_" + "Ab3" * 9 + " used", "ntn_" + "Ab3" * 9, " used"),
        ("Authorization: Bearer abc.DEF-123_x~y+z/w==", "abc.DEF-123_x~y+z/w==", "Bearer "),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeK ok", "eyJhbGciOiJI.eyJzdWIiOiIx", " ok"),
        ("key sk-ant-api03-" + "x" * 24, "sk-ant-api03-" + "x" * 24, "key "),
        ("key sk-" + "Q" * 30, "sk-" + "Q" * 30, "key "),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", " here"),
        ("db postgresql://app:s3cr3t-pw@db:5432/x", "s3cr3t-pw", "postgresql://app:"),
        ("redis://:only-pw@cache:6379/0", "only-pw", "redis://:"),
        ("GET /x?api_key=abc123&page=2", "abc123", "&page=2"),
        ("retry with token=tok-987 now", "tok-987", " now"),
        ("login password=pa55word;", "pa55word", ";"),
    ],
)
def test_value_patterns(text: str, secret: str, kept: str) -> None:
    """Each built-in pattern removes the secret and keeps the text around it."""
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        "https://api.notion.com/v1/databases/abc/query?page_size=100",
        "task-abcdefghijklmnopqrstuvwxyz0123",
        "mail me at someone@example.com",
        "max_tokens=4096",
        "a Bearer of news",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    """Text without a secret comes back as it went in."""
    assert text == redact_text(text)


def test_needs_redaction_is_a_cheap_prefilter() -> None:
    """Plain text needs nothing; text with a trigger does."""
    assert not needs_redaction("tool call notion.pages.create")
    assert needs_redaction("Bearer abcdefgh")


def test_registered_secret_is_redacted_anywhere() -> None:
    """A registered secret is replaced even inside words; reset() forgets it."""
    assert register_secret(SECRET)
    assert f"x{REDACTED}y" == redact_text(f"x{SECRET}y")
    reset()
    assert f"x{SECRET}y" == redact_text(f"x{SECRET}y")


def test_short_secrets_are_refused() -> None:
    """A secret under 6 characters would redact ordinary words, so it is not registered."""
    assert not register_secret("abc")
    assert "abc abc" == redact_text("abc abc")


def test_longer_secret_containing_another_is_replaced_whole() -> None:
    """With overlapping secrets, the longer one is replaced first (no tail leaks)."""
    register_secret("abcdef")
    register_secret("abcdef-and-more")
    assert f"[{REDACTED}]" == redact_text("[abcdef-and-more]")


def test_extra_patterns() -> None:
    """Configured regexes redact every match; invalid or empty-matching ones are refused."""
    set_patterns([r"cust-\d{4}"])
    assert f"id {REDACTED}, {REDACTED}" == redact_text("id cust-1234, cust-9876")
    with pytest.raises(ConfigError):
        set_patterns(["("])
    with pytest.raises(ConfigError):
        set_patterns(["x*"])


def test_redact_value_handles_keys_strings_and_nesting() -> None:
    """redact_value applies key names and value rules at any depth."""
    register_secret(SECRET)
    out = redact_value({"a": [f"see {SECRET}"], "cookie": "c", "n": 3})
    assert {"a": [f"see {REDACTED}"], "cookie": REDACTED, "n": 3} == out


class Leaky:
    """An object whose text is a secret."""

    def __str__(self) -> str:
        return f"<Leaky {SECRET}>"


def test_secret_never_reaches_any_sink(memory: log.MemorySink, tmp_path: Path) -> None:
    """A registered secret logged every which way is in no sink's bytes: not the memory sink's
    lines or records, not any file, not the errors stream; the lines stay valid JSON."""
    register_secret(SECRET)
    logger = log.get_logger("test", "audit")
    logger.info(f"event text {SECRET}")
    logger.info("field", value=SECRET, token="plain-but-named-token")
    logger.info("nested", headers={"Authorization": f"Bearer {SECRET}", "X": [SECRET]})
    logger.info("object", thing=Leaky(), items=[1, {"deep": SECRET}])
    logger.bind(bound=SECRET).warning("bound")
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        logger.exception("exception message")
    with pytest.raises(ValueError), log.operation("op.leak", note=SECRET):
        logger.info("inside")
        raise ValueError(SECRET)
    logger.error("error stream", detail=SECRET)
    log.shutdown()

    lines = memory.lines()
    assert len(lines) >= 11
    blob = b"".join(lines) + orjson.dumps([dict(r) for _, _, r in memory.entries], default=str)
    files = sorted((tmp_path / "logs").iterdir())
    assert {"audit.jsonl", "errors.jsonl", "operations.jsonl"} <= {f.name for f in files}
    blob += b"".join(f.read_bytes() for f in files)
    assert SECRET.encode() not in blob
    assert b"plain-but-named-token" not in blob
    for line in lines:
        orjson.loads(line)
    assert REDACTED in memory.records("audit")[0]["event"]
