"""Multipart form bodies (file uploads), parsed in memory with python-multipart.

Bodies are bounded before parsing (20 MB single-part uploads), so parts are kept as bytes:
no temporary files, nothing to leak when a client sends a truncated or malformed body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from devfactory.errors import NotionValidationError

__all__ = ["FormPart", "parse_multipart"]

MAX_PARTS = 20


@dataclass(slots=True)
class FormPart:
    """One part of a form: its field name, filename (for files), content type and bytes."""

    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray = field(default_factory=bytearray)
    headers: dict[str, str] = field(default_factory=dict)


def _invalid(detail: str) -> NotionValidationError:
    return NotionValidationError(
        f"body failed validation: the multipart form could not be read ({detail})."
    )


class _Collector:
    """python-multipart callbacks that gather parts in memory."""

    def __init__(self) -> None:
        self.parts: list[FormPart] = []
        self.part = FormPart()
        self.field = b""
        self.value = b""

    def part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise _invalid(f"more than {MAX_PARTS} parts")
        self.part = FormPart()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self.part.data += data[start:end]

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        name = self.field.decode("latin-1").lower()
        # latin-1 keeps the raw bytes; names and filenames are decoded as UTF-8 below.
        self.part.headers[name] = self.value.decode("latin-1")
        self.field, self.value = b"", b""

    def headers_finished(self) -> None:
        _, disposition = parse_options_header(self.part.headers.get("content-disposition", ""))
        raw_name = disposition.get(b"name")
        if raw_name is None:
            raise _invalid('a part has no Content-Disposition "name"')
        self.part.name = raw_name.decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        self.part.filename = None if filename is None else filename.decode("utf-8", "replace")
        self.part.content_type = (
            self.part.headers.get("content-type", "").encode("latin-1").decode("utf-8", "replace")
        )

    def part_end(self) -> None:
        self.parts.append(self.part)


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """The complete parts of a ``multipart/form-data`` body, or a validation error."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise _invalid("no boundary in the Content-Type header")
    collector = _Collector()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": collector.part_begin,
            "on_part_data": collector.part_data,
            "on_part_end": collector.part_end,
            "on_header_field": collector.header_field,
            "on_header_value": collector.header_value,
            "on_header_end": collector.header_end,
            "on_headers_finished": collector.headers_finished,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise _invalid(str(exc) or type(exc).__name__) from exc
    return collector.parts
