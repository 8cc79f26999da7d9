"""File uploads (single part, multi part, external URL) and custom emojis."""

from __future__ import annotations

from devfactory.emulator import validation as v
from devfactory.emulator.access import find
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.ids import new_id
from devfactory.emulator.model import FileUpload
from devfactory.emulator.query import paginate
from devfactory.emulator.render import file_upload_json, list_json
from devfactory.emulator.writes import stamp
from devfactory.errors import NotionValidationError

__all__ = ["MAX_SINGLE_PART", "ROUTES"]

MAX_SINGLE_PART = 20 * 1024 * 1024
MAX_PART = 20 * 1024 * 1024
MAX_PARTS = 1000
UPLOAD_TTL = 60 * 60
STATUSES = ("pending", "uploaded", "expired", "failed")


def create_upload(ctx: Ctx, req: Request) -> Result:
    """POST /v1/file_uploads"""
    body = req.body
    mode = v.choice(
        body.get("mode", "single_part"), "body.mode", ("single_part", "multi_part", "external_url")
    )
    upload = FileUpload(id=new_id(), mode=mode)
    if body.get("filename") is not None:
        upload.filename = v.string(body["filename"], "body.filename", max_length=900, min_length=1)
    if body.get("content_type") is not None:
        upload.content_type = v.string(body["content_type"], "body.content_type", max_length=200)
    if mode == "multi_part":
        upload.number_of_parts = v.integer(
            v.member(body, "number_of_parts", "body"),
            "body.number_of_parts",
            minimum=1,
            maximum=MAX_PARTS,
        )
        if upload.filename is None:
            v.fail("body.filename", "should be defined", v.UNDEFINED)
    elif mode == "external_url":
        url = v.string(v.member(body, "external_url", "body"), "body.external_url", max_length=2000)
        if not url.startswith("https://"):
            v.fail("body.external_url", "should be an https URL", url)
        upload.external_url = url
        if upload.filename is None:
            v.fail("body.filename", "should be defined", v.UNDEFINED)
        if upload.content_type is None and upload.filename.lower().endswith(".pdf"):
            upload.content_type = "application/pdf"
    stamp(ctx, upload, created=True)
    upload.expiry_time = ctx.now + UPLOAD_TTL
    ctx.store.add(upload)
    return file_upload_json(ctx, upload)


def _settle(ctx: Ctx, upload: FileUpload) -> FileUpload:
    """External-URL imports complete on the next read (nothing is fetched: the local server
    never leaves loopback); pending uploads past their expiry become ``expired``."""
    if (
        upload.status == "pending"
        and upload.mode == "external_url"
        and ctx.now > upload.created_time
    ):
        upload.status = "uploaded"
        stamp(ctx, upload)
        ctx.store.touch(upload)
    elif upload.status == "pending" and ctx.now > upload.expiry_time:
        upload.status = "expired"
        ctx.store.touch(upload)
    return upload


def list_uploads(ctx: Ctx, req: Request) -> Result:
    """GET /v1/file_uploads (newest first; ``status`` filters)."""
    status = req.query_one("status")
    if status is not None:
        v.choice(status, "query.status", STATUSES)
    uploads = [
        _settle(ctx, u)
        for u in ctx.store.all_of(FileUpload)
        if u.owner == ctx.integration.id and not u.in_trash
    ]
    uploads = [u for u in uploads if status is None or u.status == status]
    uploads.sort(key=lambda u: -u.seq)
    chunk, cursor, more, _ = paginate(
        uploads, start_cursor_param(req), page_size_param(req), lambda u: u.id
    )
    return list_json([file_upload_json(ctx, u) for u in chunk], cursor, more, "file_upload")


def _upload(ctx: Ctx, req: Request) -> FileUpload:
    return _settle(
        ctx, find(ctx, v.path_id(req.params["file_upload_id"], "file_upload_id"), FileUpload)
    )


def retrieve_upload(ctx: Ctx, req: Request) -> Result:
    """GET /v1/file_uploads/{file_upload_id}"""
    return file_upload_json(ctx, _upload(ctx, req))


def send_upload(ctx: Ctx, req: Request) -> Result:
    """POST /v1/file_uploads/{file_upload_id}/send (multipart form: ``file``, ``part_number``)."""
    upload = _upload(ctx, req)
    if upload.status != "pending" or upload.mode == "external_url":
        raise NotionValidationError(
            f"File upload {upload.id} is {upload.status} and cannot receive content."
        )
    if "file" not in req.files:
        v.fail("body.file", "should be defined", v.UNDEFINED)
    filename, content_type, data = req.files["file"]
    part = 1
    if upload.mode == "multi_part":
        raw = req.form.get("part_number")
        if raw is None or not raw.isdigit():
            v.fail(
                "body.part_number", "should be an integer", raw if raw is not None else v.UNDEFINED
            )
        assert raw is not None
        part = v.integer(
            int(raw), "body.part_number", minimum=1, maximum=upload.number_of_parts or 1
        )
        if len(data) > MAX_PART:
            v.fail("body.file.length", f"should be ≤ `{MAX_PART}`", len(data))
    elif len(data) > MAX_SINGLE_PART:
        v.fail("body.file.length", f"should be ≤ `{MAX_SINGLE_PART}`", len(data))
    ctx.store.put_file_part(upload.id, part, data)
    if upload.filename is None:
        upload.filename = filename or "file"
    if upload.content_type is None:
        upload.content_type = content_type or "application/octet-stream"
    if upload.mode == "multi_part":
        if part not in upload.parts_sent:
            upload.parts_sent.append(part)
        upload.content_length = (upload.content_length or 0) + len(data)
    else:
        upload.content_length = len(data)
        upload.status = "uploaded"
    stamp(ctx, upload)
    ctx.store.touch(upload)
    return file_upload_json(ctx, upload)


def complete_upload(ctx: Ctx, req: Request) -> Result:
    """POST /v1/file_uploads/{file_upload_id}/complete (multi part only)."""
    upload = _upload(ctx, req)
    if upload.mode != "multi_part" or upload.status != "pending":
        raise NotionValidationError(f"File upload {upload.id} is not a pending multi-part upload.")
    missing = sorted(set(range(1, (upload.number_of_parts or 0) + 1)) - set(upload.parts_sent))
    if missing:
        raise NotionValidationError(f"File upload {upload.id} is missing parts: {missing[:10]}.")
    upload.status = "uploaded"
    upload.content_length = len(ctx.store.file_bytes(upload.id))
    stamp(ctx, upload)
    ctx.store.touch(upload)
    return file_upload_json(ctx, upload)


def list_custom_emojis(ctx: Ctx, req: Request) -> Result:
    """GET /v1/custom_emojis (the local workspace has none)."""
    page_size_param(req)
    return {
        "object": "list",
        "type": "custom_emoji",
        "results": [],
        "has_more": False,
        "next_cursor": None,
    }


ROUTES = [
    Route("POST", "/v1/file_uploads", create_upload),
    Route("GET", "/v1/file_uploads", list_uploads),
    Route("GET", "/v1/file_uploads/{file_upload_id}", retrieve_upload),
    Route("POST", "/v1/file_uploads/{file_upload_id}/send", send_upload),
    Route("POST", "/v1/file_uploads/{file_upload_id}/complete", complete_upload),
    Route("GET", "/v1/custom_emojis", list_custom_emojis),
]
