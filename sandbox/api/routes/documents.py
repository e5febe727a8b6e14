"""``POST /documents``: a card image and its type in, ``202 {"documentId", "jobId", "status"}`` out.

Checks run cheapest first and before the body is read where they can: token (401), rate limit
(429), declared size (413), request type (415), then the body is read with a byte limit (413), the
fields (422), the file's magic bytes (415) and the decoded image (422).
"""

from __future__ import annotations

from typing import cast, get_args

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message, Receive

from filot_contract.documents import VerificationStatus
from filot_contract.messages import DocumentType
from sandbox.api.auth import Principal, authenticate
from sandbox.api.errors import ApiError
from sandbox.api.images import describe_upload, validate_image
from sandbox.api.services import ServicesDep

router = APIRouter()
DOCUMENT_TYPES: tuple[str, ...] = get_args(DocumentType)
#: Room for the multipart envelope and the documentType field around the file itself.
ENVELOPE_BYTES = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"upload too large: the image may be at most {limit} bytes")


def _limited(receive: Receive, max_body: int, limit: int) -> Receive:
    """``receive`` that raises 413 as soon as the body passes ``max_body`` bytes (chunked uploads too)."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > max_body:
            raise _too_large(limit)
        return message

    return limited


async def _read_form(request: Request, limit: int) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + ENVELOPE_BYTES:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "POST /documents takes multipart/form-data with fields 'file' and 'documentType'")
    bounded = Request(request.scope, _limited(request.receive, limit + ENVELOPE_BYTES, limit))
    return await bounded.form(max_files=1, max_fields=4, max_part_size=1024)


def _document_type(form: FormData) -> DocumentType:
    value = form.get("documentType")
    if value is None:
        raise ApiError(422, "multipart field 'documentType' is required (KTP or NPWP)")
    if not isinstance(value, str) or value not in DOCUMENT_TYPES:
        shown = repr(value[:40]) if isinstance(value, str) else "a file"
        raise ApiError(422, f"documentType must be one of {', '.join(DOCUMENT_TYPES)}, got {shown}")
    return cast(DocumentType, value)


async def _file_bytes(form: FormData, limit: int) -> tuple[bytes, str]:
    """The file's bytes and what came, for error messages (name, declared type, size)."""
    upload = form.get("file")
    if upload is None:
        raise ApiError(422, "multipart field 'file' is required (the card image)")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "multipart field 'file' must be a file upload, not a text value")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    return data, describe_upload(upload.filename, upload.content_type, len(data))


@router.post("/documents", status_code=202)
async def upload_document(request: Request, services: ServicesDep) -> JSONResponse:
    settings = services.settings
    principal: Principal = authenticate(request.headers.get("authorization"), settings.jwt_secret.get_secret_value())
    await services.upload_limiter.hit(principal.subject)
    form = await _read_form(request, settings.max_upload_bytes)
    try:
        document_type = _document_type(form)
        data, described = await _file_bytes(form, settings.max_upload_bytes)
    finally:
        await form.close()
    image = await anyio.to_thread.run_sync(validate_image, data, settings.max_image_pixels, described)
    job = await services.uploads.accept(principal, document_type, image)
    return JSONResponse(
        {"documentId": job.documentId, "jobId": job.jobId, "status": VerificationStatus.QUEUED.value},
        status_code=202,
    )
