"""Bad input never yields a 500 or a traceback, and the server keeps serving.

Hypothesis sends random and mutated requests to every route in
:data:`devfactory.emulator.app.API_ROUTES`: path ids that are valid, of the wrong kind,
random or malformed; random JSON bodies and mutations of valid ones (wrong types, missing
keys, huge strings, deep nesting, unicode, null bytes); random methods, headers, query
strings and Notion-Version values; bodies that are not JSON; multipart garbage for the file
upload route. Every answer must be below 500, every error must be Notion's envelope with a
known code, nothing may be logged as an error, and ``GET /v1/users/me`` must still answer
200 afterwards.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devfactory.emulator.app import API_ROUTES
from devfactory.emulator.testing import LocalNotion

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=100,
)

KNOWN_ERRORS = {
    (400, "invalid_json"),
    (400, "invalid_request_url"),
    (400, "invalid_request"),
    (400, "validation_error"),
    (400, "missing_version"),
    (400, "invalid_beta"),
    (401, "unauthorized"),
    (403, "restricted_resource"),
    (404, "object_not_found"),
    (409, "conflict_error"),
    (413, "validation_error"),
    (429, "rate_limited"),
}
VERSIONS = ["2025-09-03", "2026-03-11"]
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]
ROUTES = [(r.method, r.path) for r in API_ROUTES]
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


# ---------------------------------------------------------------------------- targets


@dataclass
class Targets:
    """Real objects for valid path ids, rebuilt when a request may have changed them."""

    http: httpx.Client
    ids: dict[str, list[str]] = field(default_factory=dict)
    bodies: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    dirty: bool = True

    def __repr__(self) -> str:
        return "Targets()"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def refresh(self) -> None:
        """Create a fresh set of objects of every kind a route can name."""
        if not self.dirty:
            return
        text = [{"text": {"content": "fuzz"}}]
        root = self.call(
            "POST", "/v1/pages", {"parent": {"workspace": True}, "properties": {"title": text}}
        )["id"]
        other = self.call(
            "POST",
            "/v1/databases",
            {"parent": {"page_id": root}, "title": text},
        )["data_sources"][0]["id"]
        target = self.call(
            "POST",
            "/v1/pages",
            {"parent": {"data_source_id": other}, "properties": {"Name": {"title": text}}},
        )["id"]
        db = self.call(
            "POST",
            "/v1/databases",
            {
                "parent": {"page_id": root},
                "title": text,
                "initial_data_source": {"properties": SCHEMA},
            },
        )
        ds = db["data_sources"][0]["id"]
        self.call(
            "PATCH",
            f"/v1/data_sources/{ds}",
            {
                "properties": {
                    "Rel": {"relation": {"data_source_id": other, "dual_property": {}}},
                    "Roll": {
                        "rollup": {
                            "relation_property_name": "Rel",
                            "rollup_property_name": "Name",
                            "function": "show_original",
                        }
                    },
                }
            },
        )
        schema = self.call("GET", f"/v1/data_sources/{ds}")["properties"]
        me = self.call("GET", "/v1/users/me")["id"]
        row = self.call(
            "POST",
            "/v1/pages",
            {
                "parent": {"data_source_id": ds},
                "properties": {
                    "Name": {"title": text},
                    "Num": {"number": 2},
                    "Tags": {"multi_select": [{"name": "a"}]},
                    "When": {"date": {"start": "2026-01-10"}},
                    "Who": {"people": [{"id": me}]},
                    "Rel": {"relation": [{"id": target}]},
                },
            },
        )["id"]
        block = self.call(
            "PATCH",
            f"/v1/blocks/{root}/children",
            {"children": [{"paragraph": {"rich_text": text}}]},
        )["results"][0]["id"]
        comment = self.call(
            "POST", "/v1/comments", {"parent": {"page_id": root}, "rich_text": text}
        )["id"]
        view = self.call("POST", "/v1/views", {"data_source_id": ds, "name": "V"})["id"]
        query = self.call("POST", f"/v1/views/{view}/queries", {})["id"]
        single = self.call("POST", "/v1/file_uploads", {"filename": "a.txt"})["id"]
        multi = self.call(
            "POST",
            "/v1/file_uploads",
            {"mode": "multi_part", "filename": "b.bin", "number_of_parts": 2},
        )["id"]
        task = self.call(
            "PATCH",
            f"/v1/pages/{row}/markdown",
            {"allow_async": True, "type": "insert_content", "insert_content": {"content": "x"}},
        )["id"]
        self.ids = {
            "page_id": [root, row, target],
            "database_id": [db["id"]],
            "data_source_id": [ds, other],
            "block_id": [block, root],
            "user_id": [me],
            "comment_id": [comment],
            "view_id": [view],
            "query_id": [query],
            "file_upload_id": [single, multi],
            "task_id": [task],
            "property_id": [schema[name]["id"] for name in sorted(schema)],
        }
        self.bodies = valid_bodies(root, row, target, ds, db["id"], me)
        self.dirty = False

    def own_path(self, template: str) -> str:
        """``template`` with the first valid id of each parameter's kind."""
        return PARAM.sub(lambda m: self.ids[m.group(1)][0], template)

    def every_id(self) -> list[str]:
        """Every object id (property ids are not object ids)."""
        return [i for name, ids in self.ids.items() if name != "property_id" for i in ids]


SCHEMA: dict[str, Any] = {
    "Name": {"title": {}},
    "Num": {"number": {"format": "percent"}},
    "Tags": {"multi_select": {"options": [{"name": "a"}, {"name": "b"}]}},
    "When": {"date": {}},
    "Stage": {"status": {}},
    "Who": {"people": {}},
    "Docs": {"files": {}},
    "Done": {"checkbox": {}},
    "Site": {"url": {}},
    "Double": {"formula": {"expression": 'prop("Num") * 2'}},
    "Label": {"formula": {"expression": 'prop("Name") + " " + format(prop("When"))'}},
    "ID": {"unique_id": {"prefix": "FZ"}},
    "Created": {"created_time": {}},
    "Editor": {"last_edited_by": {}},
}


def valid_bodies(
    root: str, row: str, target: str, ds: str, db: str, me: str
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """A valid body for each route that takes one (the seeds for mutation)."""
    text = [
        {"type": "text", "text": {"content": "hello", "link": None}, "annotations": {}},
        {"type": "mention", "mention": {"type": "page", "page": {"id": target}}},
        {"type": "equation", "equation": {"expression": "e^{i\\pi}"}},
    ]
    flt = {
        "and": [
            {"property": "Num", "number": {"greater_than": 1}},
            {"property": "Double", "formula": {"number": {"less_than": 10}}},
            {"property": "Label", "formula": {"string": {"contains": "fuzz"}}},
            {"property": "Roll", "rollup": {"any": {"rich_text": {"contains": "f"}}}},
            {"property": "Rel", "relation": {"contains": target}},
            {"property": "Who", "people": {"contains": "me"}},
            {"property": "Docs", "files": {"is_empty": True}},
            {"property": "Stage", "status": {"equals": ["Done", "Not started"]}},
            {"property": "ID", "unique_id": {"greater_than": 0}},
            {"timestamp": "created_time", "created_time": {"past_week": {}}},
            {
                "or": [
                    {"property": "Tags", "multi_select": {"contains": ["a", "b"]}},
                    {"property": "When", "date": {"on_or_after": "one_week_ago"}},
                    {"property": "Editor", "last_edited_by": {"contains": me}},
                    {"property": "Done", "checkbox": {"equals": False}},
                ]
            },
        ]
    }
    sorts = [
        {"property": "Label", "direction": "descending"},
        {"property": "Roll", "direction": "ascending"},
        {"property": "Tags", "direction": "ascending"},
        {"timestamp": "last_edited_time", "direction": "descending"},
    ]
    single: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/pages"): {
            "parent": {"page_id": root},
            "properties": {"title": text},
            "children": [{"paragraph": {"rich_text": text}}],
            "icon": {"type": "emoji", "emoji": "🔥"},
        },
        ("PATCH", "/v1/pages/{page_id}"): {
            "properties": {
                "Name": {"title": text},
                "Num": {"number": 3},
                "When": {"date": {"start": "2026-01-01T10:00:00", "time_zone": "Europe/Paris"}},
                "Tags": {"multi_select": [{"name": "a"}, {"name": "new"}]},
                "Stage": {"status": {"name": "In progress"}},
                "Who": {"people": [{"object": "user", "id": me}]},
                "Docs": {"files": [{"name": "f", "external": {"url": "https://x.example/f"}}]},
                "Rel": {"relation": [{"id": target}]},
                "Site": {"url": "https://x.example"},
                "Done": {"checkbox": True},
            },
            "icon": {"type": "external", "external": {"url": "https://x.example/i.png"}},
            "cover": {"type": "external", "external": {"url": "https://x.example/c.png"}},
            "is_locked": False,
        },
        ("POST", "/v1/pages/{page_id}/move"): {"parent": {"type": "page_id", "page_id": root}},
        ("PATCH", "/v1/pages/{page_id}/markdown"): {
            "type": "insert_content",
            "insert_content": {"content": "## Hi\n\n- a\n- b"},
        },
        ("POST", "/v1/databases"): {
            "parent": {"type": "page_id", "page_id": root},
            "title": text,
            "initial_data_source": {
                "properties": {
                    "Name": {"title": {}},
                    "N": {"number": {"format": "dollar"}},
                    "S": {"select": {"options": [{"name": "x", "color": "red"}]}},
                    "F": {"formula": {"expression": 'prop("N") * 2'}},
                }
            },
        },
        ("PATCH", "/v1/databases/{database_id}"): {"title": text, "is_inline": True},
        ("POST", "/v1/data_sources"): {
            "parent": {"type": "database_id", "database_id": db},
            "properties": {"Name": {"title": {}}, "R": {"relation": {"data_source_id": ds}}},
            "title": text,
        },
        ("PATCH", "/v1/data_sources/{data_source_id}"): {
            "title": text,
            "properties": {"Extra": {"checkbox": {}}, "Num": {"name": "Number"}},
        },
        ("POST", "/v1/data_sources/{data_source_id}/query"): {
            "filter": flt,
            "sorts": sorts,
            "page_size": 5,
        },
        ("PATCH", "/v1/blocks/{block_id}"): {"paragraph": {"rich_text": text}},
        ("PATCH", "/v1/blocks/{block_id}/children"): {
            "children": [
                {"paragraph": {"rich_text": text}},
                {"to_do": {"rich_text": text, "checked": True}},
                {"bulleted_list_item": {"rich_text": text, "children": [{"divider": {}}]}},
            ]
        },
        ("POST", "/v1/blocks/meeting_notes/query"): {"page_size": 10},
        ("POST", "/v1/search"): {
            "query": "fuzz",
            "filter": {"property": "object", "value": "page"},
            "sort": {"direction": "descending", "timestamp": "last_edited_time"},
            "page_size": 10,
        },
        ("POST", "/v1/comments"): {
            "parent": {"page_id": row},
            "rich_text": [
                *text,
                {"type": "mention", "mention": {"type": "user", "user": {"id": me}}},
            ],
        },
        ("PATCH", "/v1/comments/{comment_id}"): {"rich_text": text},
        ("POST", "/v1/views"): {
            "data_source_id": ds,
            "database_id": db,
            "name": "Board",
            "type": "board",
            "filter": flt,
            "sorts": sorts,
            "configuration": {"group_by": "Tags"},
        },
        ("PATCH", "/v1/views/{view_id}"): {"name": "Renamed", "filter": flt},
        ("POST", "/v1/views/{view_id}/queries"): {"page_size": 2},
        ("POST", "/v1/file_uploads"): {
            "mode": "external_url",
            "filename": "doc.pdf",
            "external_url": "https://example.com/doc.pdf",
        },
        ("POST", "/v1/file_uploads/{file_upload_id}/complete"): {},
    }
    bodies = {route: [body] for route, body in single.items()}
    row_properties = single[("PATCH", "/v1/pages/{page_id}")]["properties"]
    bodies[("POST", "/v1/pages")].append(
        {"parent": {"type": "data_source_id", "data_source_id": ds}, "properties": row_properties}
    )
    bodies[("PATCH", "/v1/pages/{page_id}")].append({"in_trash": False, "erase_content": False})
    bodies[("PATCH", "/v1/pages/{page_id}/markdown")].append(
        {"type": "replace_content", "replace_content": {"new_str": "# Title\n\n> quote"}}
    )
    bodies[("PATCH", "/v1/data_sources/{data_source_id}")].append(
        {"properties": {"Num": {"rich_text": {}}, "Tags": {"select": {}}, "Site": None}}
    )
    bodies[("POST", "/v1/file_uploads")].append(
        {"mode": "multi_part", "filename": "big.bin", "number_of_parts": 3}
    )
    return bodies


@pytest.fixture(scope="module")
def targets(notion: LocalNotion) -> Iterator[Targets]:
    """Objects of every kind on the shared server, through raw httpx."""
    with httpx.Client(base_url=notion.base_url, headers=notion.headers(), timeout=30) as http:
        found = Targets(http)
        found.refresh()
        yield found


class ErrorLog(logging.Handler):
    """Collects what the server logs at ERROR or above (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def error_log(notion: LocalNotion) -> Iterator[ErrorLog]:
    """A handler on the server's and uvicorn's loggers (after uvicorn configured them)."""
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("devfactory.emulator", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


# ---------------------------------------------------------------------------- requests


@dataclass
class Call:
    """One raw HTTP request."""

    method: str
    route: tuple[str, str]
    path: str
    headers: dict[str, str | bytes]
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        content = self.content
        if content is not None and len(content) > 400:
            content = content[:400] + f"... ({len(content)} bytes)".encode()
        return (
            f"Call({self.method} {self.path} params={self.params!r} "
            f"headers={self.headers!r} content={content!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def send(notion: LocalNotion, call: Call) -> httpx.Response:
    return httpx.request(
        call.method,
        notion.base_url + call.path,
        headers=call.headers,
        content=call.content,
        params=call.params,
        timeout=30,
    )


def check_answer(call: Call, response: httpx.Response) -> None:
    """Below 500; errors are Notion's envelope with a known code; successes are JSON."""
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    if call.method == "HEAD":
        return
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert "error" == body.get("object"), body
        assert {"object", "status", "code", "message", "request_id"} <= set(body), body
        assert response.status_code == body["status"]
        assert (body["status"], body["code"]) in KNOWN_ERRORS, body
        assert isinstance(body["message"], str) and body["message"]
        assert body["request_id"] == response.headers.get("x-notion-request-id")


def check_still_serving(notion: LocalNotion, error_log: ErrorLog) -> None:
    """users/me answers 200 and nothing was logged as an error."""
    me = httpx.get(f"{notion.base_url}/v1/users/me", headers=notion.headers(), timeout=30)
    assert 200 == me.status_code
    logged = [f"{r.name}: {r.getMessage()}" for r in error_log.records]
    error_log.records.clear()
    assert [] == logged


def send_collecting_leaks(notion: LocalNotion, call: Call) -> tuple[httpx.Response, list[str]]:
    """Send ``call``; also report files or sockets the server left open while handling it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        response = send(notion, call)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    return response, leaks


def exchange(
    notion: LocalNotion,
    targets: Targets,
    error_log: ErrorLog,
    call: Call,
    *,
    leaks: bool = False,
) -> None:
    """Send ``call``, check the answer and the server afterwards (and leaks, if asked)."""
    error_log.records.clear()
    if leaks:
        response, left_open = send_collecting_leaks(notion, call)
        assert [] == left_open
    else:
        response = send(notion, call)
    if response.status_code < 300 and call.method != "GET" and "{" in call.route[1]:
        targets.dirty = True
    check_answer(call, response)
    check_still_serving(notion, error_log)


# ---------------------------------------------------------------------------- strategies

UNICODE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
NASTY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\u202e",
        "\ufeff",
        "😀" * 50,
        "ß" * 2001,
        "x" * 2001,
        "%s%n",
        "../../etc/passwd",
        "null",
        "true",
        "NaN",
        "1e999",
        "-0",
        "2026-02-30",
        "2026-01-01T25:00:00Z",
        "today",
        "00000000-0000-0000-0000-000000000000",
        "ffffffffffffffffffffffffffffffff",
        "me",
    ]
)
STRINGS = st.one_of(UNICODE, NASTY_STRINGS)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    STRINGS,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
# Nesting deeper than this has its own sweep (TestDeepNesting), so that the mutation test
# keeps exploring everything else while a depth bug is open.
SHALLOW_DEPTHS = st.sampled_from([2, 10, 50, 100, 200])


def nested(depth: int, kind: str) -> Any:
    """A value nested ``depth`` levels deep in lists or objects."""
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def deep_json_text(depth: int, kind: str) -> str:
    """The JSON text of :func:`nested` without building it through the json module."""
    if kind == "list":
        return "[" * depth + '"leaf"' + "]" * depth
    return '{"a":' * depth + '"leaf"' + "}" * depth


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON value (the root is the empty path)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than ``value``."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return {"0": value[0]} if value else {}
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return len(value)
    return {}


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any], ids: list[str]) -> Any:
    """``body`` with one to three mutations."""
    value: Any = json.loads(json.dumps(body))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = paths_of(value)
        path = draw(st.sampled_from(paths))
        op = draw(
            st.sampled_from(
                [
                    "drop",
                    "json",
                    "wrong_type",
                    "huge",
                    "deep",
                    "nasty",
                    "null",
                    "extra_key",
                    "other_id",
                ]
            )
        )
        if not path:
            if op in ("json", "wrong_type"):
                value = draw(JSON) if op == "json" else wrong_type(value)
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        if op == "drop":
            if isinstance(parent, dict):
                del parent[key]
            else:
                parent.pop(key)
        elif op == "json":
            parent[key] = draw(JSON)
        elif op == "wrong_type":
            parent[key] = wrong_type(parent[key])
        elif op == "huge":
            parent[key] = "a" * draw(st.sampled_from([2001, 100_000, 600_000]))
        elif op == "deep":
            parent[key] = nested(draw(SHALLOW_DEPTHS), draw(st.sampled_from(["list", "object"])))
        elif op == "nasty":
            parent[key] = draw(NASTY_STRINGS)
        elif op == "null":
            parent[key] = None
        elif op == "other_id":
            parent[key] = draw(st.sampled_from(ids))
        elif isinstance(parent[key], dict):
            parent[key][draw(STRINGS)] = draw(JSON)
    return value


def encode(value: Any, splice: str | None = None, *, ascii_only: bool = True) -> bytes:
    """JSON bytes; ``splice`` replaces the first ``"__DEEP__"`` (json cannot nest that far)."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    if splice is not None:
        text = text.replace('"__DEEP__"', splice, 1)
    return text.encode("utf-8")


HEADER_TEXT = st.binary(min_size=1, max_size=40).map(
    lambda raw: bytes(b if 0x21 <= b <= 0x7E or b >= 0x80 else 0x78 for b in raw)
)


@st.composite
def headers(draw: st.DrawFn, notion: LocalNotion, *, garbage: bool) -> dict[str, str | bytes]:
    """Mostly valid headers; with ``garbage``, any of them may be missing or malformed."""
    out: dict[str, str | bytes] = {
        "Authorization": f"Bearer {notion.token}",
        "Notion-Version": draw(st.sampled_from(VERSIONS)),
        "Content-Type": "application/json",
    }
    if not garbage:
        return out
    version = draw(
        st.one_of(
            st.sampled_from([*VERSIONS, None, "", "2022-06-28", "2025-09-03,2026-03-11", "latest"]),
            HEADER_TEXT,
        )
    )
    if version is None:
        del out["Notion-Version"]
    else:
        out["Notion-Version"] = version
    auth = draw(
        st.one_of(
            st.just(out["Authorization"]),
            st.sampled_from([None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer ntn_wrong"]),
            st.sampled_from([f"bearer {notion.token}", f"Bearer  {notion.token}", notion.token]),
            HEADER_TEXT.map(lambda raw: b"Bearer " + raw),
        )
    )
    if auth is None:
        del out["Authorization"]
    else:
        out["Authorization"] = auth
    content_type = draw(
        st.one_of(
            st.sampled_from(
                [
                    None,
                    "application/json",
                    "application/json; charset=latin-1",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                    "multipart/form-data; boundary=xyz",
                ]
            ),
            HEADER_TEXT,
        )
    )
    if content_type is None:
        del out["Content-Type"]
    else:
        out["Content-Type"] = content_type
    extra = draw(
        st.dictionaries(
            st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True), HEADER_TEXT, max_size=3
        )
    )
    for name, value in extra.items():
        if name.lower() not in ("authorization", "notion-version", "content-type", "host"):
            out.setdefault(name, value)
    return out


@st.composite
def path_ids(draw: st.DrawFn, targets: Targets, name: str) -> str:
    """A path segment for parameter ``name``: valid, of another kind, random or malformed."""
    own = targets.ids.get(name, [])
    choice = draw(st.sampled_from(["own", "own", "compact", "other", "random", "bad", "nasty"]))
    if choice in ("own", "compact") and own:
        value = draw(st.sampled_from(own))
        return value.replace("-", "").upper() if choice == "compact" else value
    if choice == "other":
        return draw(st.sampled_from(targets.every_id()))
    if choice == "random":
        return str(uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**128 - 1))))
    if choice == "bad":
        return quote(draw(st.text(min_size=1, max_size=40)), safe="")
    return quote(draw(NASTY_STRINGS), safe="") or "x"


def fill_path(draw: st.DrawFn, targets: Targets, template: str) -> str:
    return PARAM.sub(lambda m: draw(path_ids(targets, m.group(1))), template)


QUERY_KEYS = [
    "page_size",
    "start_cursor",
    "filter_properties",
    "status",
    "database_id",
    "data_source_id",
    "block_id",
    "archived",
]
QUERY_VALUES = st.one_of(
    st.integers(min_value=-5, max_value=200).map(str),
    STRINGS,
    st.sampled_from(["1", "100", "101", "0", "-1", "1.5", "pending", "uploaded"]),
)


@st.composite
def query_params(draw: st.DrawFn, targets: Targets) -> dict[str, str]:
    keys = st.one_of(st.sampled_from(QUERY_KEYS), st.text(min_size=1, max_size=10))
    values = st.one_of(QUERY_VALUES, st.sampled_from(targets.every_id()))
    return draw(st.dictionaries(keys, values, max_size=3))


@st.composite
def random_calls(draw: st.DrawFn, notion: LocalNotion, targets: Targets) -> Call:
    """Any route, usually with its own method; random ids, query, headers and body."""
    targets.refresh()
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        method = draw(st.sampled_from(METHODS))
    path = fill_path(draw, targets, template)
    kind = draw(st.sampled_from(["none", "json", "object", "bytes", "text"]))
    content: bytes | None
    if kind == "none":
        content = None
    elif kind == "json":
        content = encode(draw(JSON), ascii_only=draw(st.booleans()))
    elif kind == "object":
        content = encode(draw(st.dictionaries(STRINGS, JSON, max_size=5)))
    elif kind == "bytes":
        content = draw(st.binary(max_size=200))
    else:
        content = draw(UNICODE).encode("utf-8")
    return Call(
        method,
        (method, template),
        path,
        draw(headers(notion, garbage=draw(st.booleans()))),
        content,
        draw(query_params(targets)),
    )


@st.composite
def mutated_calls(draw: st.DrawFn, notion: LocalNotion, targets: Targets) -> Call:
    """A route that takes a body, valid ids, and its valid body mutated."""
    targets.refresh()
    route = draw(st.sampled_from(sorted(k for k in targets.bodies if k in ROUTES)))
    method, template = route
    value = draw(mutated(draw(st.sampled_from(targets.bodies[route])), targets.every_id()))
    path = targets.own_path(template)
    content = encode(value, ascii_only=draw(st.booleans()))
    return Call(method, route, path, draw(headers(notion, garbage=False)), content)


SEND = ("POST", "/v1/file_uploads/{file_upload_id}/send")


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A content type and a body: well-formed forms with odd fields, or garbage."""
    boundary = draw(st.from_regex(r"[A-Za-z0-9'()+_,./:=?-]{1,70}", fullmatch=True))
    kind = draw(st.sampled_from(["form", "garbage", "truncated", "no_boundary"]))
    if kind == "garbage":
        return f"multipart/form-data; boundary={boundary}", draw(st.binary(max_size=300))
    if kind == "no_boundary":
        return "multipart/form-data", draw(st.binary(max_size=100))
    parts = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(st.one_of(st.sampled_from(["file", "part_number", "extra"]), UNICODE))
        disposition = f'form-data; name="{name}"'
        if draw(st.booleans()):
            filename = draw(st.one_of(st.just("a.txt"), UNICODE))
            disposition += f'; filename="{filename}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if draw(st.booleans()):
            head += f"Content-Type: {draw(st.sampled_from(['text/plain', 'x/y', '']))}\r\n"
        data = draw(st.one_of(st.binary(max_size=100), QUERY_VALUES.map(str.encode)))
        parts.append(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    if kind == "truncated":
        # The stream ends inside a file part: its data is cut short, no closing delimiter.
        head = 'Content-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n'
        parts.append(f"--{boundary}\r\n{head}".encode() + draw(st.binary(max_size=50)))
        body = b"".join(parts)
    else:
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


@st.composite
def multipart_calls(draw: st.DrawFn, notion: LocalNotion, targets: Targets) -> Call:
    """Multipart garbage to the file upload send route, single- and multi-part uploads."""
    targets.refresh()
    upload = draw(path_ids(targets, "file_upload_id"))
    content_type, body = draw(multipart_bodies())
    call_headers: dict[str, str | bytes] = {
        **draw(headers(notion, garbage=False)),
        "Content-Type": content_type,
    }
    path = f"/v1/file_uploads/{upload}/send"
    return Call("POST", SEND, path, call_headers, body)


# ---------------------------------------------------------------------------- tests


class TestFuzz:
    @SETTINGS
    @given(data=st.data())
    def test_random_requests_to_every_route(
        self,
        notion: LocalNotion,
        targets: Targets,
        error_log: ErrorLog,
        data: st.DataObject,
    ) -> None:
        """Random methods, ids, query strings, headers and bodies never get a 5xx."""
        exchange(notion, targets, error_log, data.draw(random_calls(notion, targets)))

    @settings(SETTINGS, max_examples=150)
    @given(data=st.data())
    def test_mutated_valid_bodies(
        self,
        notion: LocalNotion,
        targets: Targets,
        error_log: ErrorLog,
        data: st.DataObject,
    ) -> None:
        """Valid bodies with keys dropped, types swapped, huge, deep or odd values."""
        exchange(notion, targets, error_log, data.draw(mutated_calls(notion, targets)))

    @settings(SETTINGS, max_examples=60)
    @given(data=st.data())
    def test_multipart_garbage_to_file_upload_send(
        self,
        notion: LocalNotion,
        targets: Targets,
        error_log: ErrorLog,
        data: st.DataObject,
    ) -> None:
        """Malformed, truncated or odd multipart forms get a 4xx and leave no file open."""
        call = data.draw(multipart_calls(notion, targets))
        exchange(notion, targets, error_log, call, leaks=True)

    @settings(SETTINGS, max_examples=30)
    @given(
        route=st.sampled_from(sorted(ROUTES)),
        method=st.sampled_from([*METHODS, "TRACE"]),
    )
    def test_any_method_on_any_route_gets_an_envelope(
        self,
        notion: LocalNotion,
        targets: Targets,
        error_log: ErrorLog,
        route: tuple[str, str],
        method: str,
    ) -> None:
        """Methods a route does not take answer with Notion's error envelope, not plain text."""
        targets.refresh()
        path = targets.own_path(route[1])
        call = Call(method, route, path, notion.headers())
        exchange(notion, targets, error_log, call)


class TestMultipart:
    def test_truncated_file_part_leaves_no_file_open(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog
    ) -> None:
        """A form cut off inside its file part is refused and its spooled file is closed."""
        targets.refresh()
        upload = targets.ids["file_upload_id"][0]
        boundary = "cut"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"'
            "\r\n\r\nhello, wor"
        ).encode()
        call = Call(
            "POST",
            SEND,
            f"/v1/file_uploads/{upload}/send",
            {**notion.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
            body,
        )
        exchange(notion, targets, error_log, call, leaks=True)


class TestOversized:
    def test_body_over_500_kb_is_413(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog
    ) -> None:
        """A JSON body over the 500 KB limit gets 413 in Notion's envelope."""
        body = encode({"query": "x" * 600_000})
        call = Call("POST", ("POST", "/v1/search"), "/v1/search", notion.headers(), body)
        response = send(notion, call)
        check_answer(call, response)
        assert 413 == response.status_code
        check_still_serving(notion, error_log)

    def test_upload_over_the_size_limit_is_refused(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog
    ) -> None:
        """A multipart body larger than any upload may be is refused without a 5xx."""
        targets.refresh()
        upload = targets.ids["file_upload_id"][0]
        boundary = "b0undary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"'
                "\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"\0" * (22 * 1024 * 1024)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        call = Call(
            "POST",
            SEND,
            f"/v1/file_uploads/{upload}/send",
            {**notion.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
            body,
        )
        response = send(notion, call)
        check_answer(call, response)
        assert 400 <= response.status_code < 500
        check_still_serving(notion, error_log)


class TestDeepNesting:
    """Every top-level field of every valid body, replaced by a deeply nested value.

    The depths sit around orjson's limits (255 levels when writing JSON, 1,024 when reading
    it) and Python's default recursion limit (1,000). This is a sweep rather than a
    hypothesis test because hypothesis raises the process's recursion limit while it runs
    examples, which would hide recursion errors the server meets in normal operation.
    """

    def sweep(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog, deep: str
    ) -> list[str]:
        """The (route, field, answer) of every request that got a 5xx or logged an error."""
        failures = []
        targets.refresh()
        for route, alternatives in sorted(targets.bodies.items()):
            valid = alternatives[0]
            for key in sorted(valid):
                body = {**valid, key: "__DEEP__"}
                path = targets.own_path(route[1])
                call = Call(route[0], route, path, notion.headers(), encode(body, deep))
                error_log.records.clear()
                response = send(notion, call)
                if response.status_code >= 500 or error_log.records:
                    failures.append(f"{route[0]} {route[1]} .{key}: {response.status_code}")
                    error_log.records.clear()
                if response.status_code < 300 and "{" in route[1]:
                    targets.dirty = True
                    targets.refresh()
        check_still_serving(notion, error_log)
        return failures

    @pytest.mark.parametrize("depth", [60, 254, 300])
    @pytest.mark.parametrize("kind", ["list", "object"])
    def test_fields_nested_around_the_json_writer_limit(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog, depth: int, kind: str
    ) -> None:
        """Values nested about 255 levels are stored and answered, or refused with a 4xx."""
        assert [] == self.sweep(notion, targets, error_log, deep_json_text(depth, kind))

    @pytest.mark.parametrize("depth", [900, 1000, 1024])
    def test_fields_nested_around_the_recursion_and_parser_limits(
        self, notion: LocalNotion, targets: Targets, error_log: ErrorLog, depth: int
    ) -> None:
        """Arrays nested up to the parser's 1,024 levels and past it are refused with a 4xx."""
        assert [] == self.sweep(notion, targets, error_log, deep_json_text(depth, "list"))
