"""E2E (seed 002 section 6 "Test Zod validation on all input routes"): a bad upload gets a 4xx with a
message saying what is wrong, never a 500: a PDF named .jpg (415), a truncated JPEG or a blank image
(422), and a file above the upload limit (413). None of them creates a document. And every input route
refuses a malformed request (a document id that is not a UUID, a missing field, a body that is not
JSON, an unknown or missing document type next to a card the API would take) with 400 or 422 and a
message, never a 5xx and never a 2xx. (An unknown field is not a case: Zod drops unknown keys.) That
includes BULI2's callback route: a correctly signed callback whose body does not validate is refused
as malformed too, not settled and not answered with a 500."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from filot_gate import corpus
from filot_gate.review_callback import decision_on_no_document, sign

pytestmark = pytest.mark.e2e

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Beyond the multipart envelope FiLot allows around the file.
OVERSIZE_MARGIN_BYTES = 256 * 1024
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
#: Corpus cards the API must refuse at upload: kind (the card's name) -> (status, what it is).
CORPUS_CASES = {"pdf-renamed": (415, "a PDF renamed .jpg"), "truncated": (422, "a truncated JPEG"),
                "blank": (422, "a blank PNG (one flat colour)")}


@dataclass(frozen=True)
class BadUpload:
    what: str
    name: str
    content: bytes
    expected: int


def bad_upload(kind: str, max_upload_bytes: int) -> BadUpload:
    if kind in CORPUS_CASES:
        status, what = CORPUS_CASES[kind]
        card = corpus.refused(status, kind)
        return BadUpload(what, card.file, card.path.read_bytes(), status)
    size = max_upload_bytes + OVERSIZE_MARGIN_BYTES
    return BadUpload(f"{size} bytes, above the limit of {max_upload_bytes}", "huge.jpg", JPEG_MAGIC + bytes(size), 413)


@pytest.mark.parametrize("kind", [*CORPUS_CASES, "too-large"])
def test_bad_upload_is_refused_with_a_clear_4xx(api, user_token, settings, kind, evidence):
    case = bad_upload(kind, int(settings.profile.get("e2e.max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES)))
    response = api.post("/documents", headers={"Authorization": f"Bearer {user_token}"},
                        files={"file": (case.name, case.content, "image/jpeg")}, data={"documentType": "KTP"})
    evidence.add(f"POST /documents with {case.what} -> {response.status_code}", response.text[:2000])
    assert response.status_code == case.expected, (
        f"POST /documents with {case.what} ({case.name}): expected {case.expected}, got {response.status_code}:"
        f" {response.text[:300]}"
    )
    assert response.text.strip(), f"POST /documents with {case.what}: expected a message saying why, got an empty body"


#: A card the API takes (the auto-approve KTP), so that only the field under test can be refused.
KTP = corpus.first("KTP", "auto_approve")
GOOD_CARD = (KTP.file, KTP.path.read_bytes(), "image/png" if KTP.file.endswith(".png") else "image/jpeg")
#: What Zod (400) and FastAPI (422) answer for a request that does not validate; the status route's id
#: is a path segment, and a "no such document" for it is an answer too.
REFUSED = frozenset({400, 422})
REFUSED_PATH = REFUSED | {404}


@dataclass(frozen=True)
class MalformedRequest:
    what: str
    method: str
    path: str
    role: str | None = None  # the token it carries: "user", "admin" or none
    refused: frozenset[int] = REFUSED
    options: dict[str, Any] = field(default_factory=dict)  # httpx's json=, content=, files=, data=, headers=


MALFORMED = {
    "status-id-not-a-uuid": MalformedRequest("a document id that is not a UUID", "GET",
                                             "/verification/status/not-a-uuid", refused=REFUSED_PATH),
    "evaluate-id-not-a-uuid": MalformedRequest("documentId 'not-a-uuid'", "POST", "/verification/evaluate", "admin",
                                               options={"json": {"documentId": "not-a-uuid"}}),
    "evaluate-without-document-id": MalformedRequest("no documentId", "POST", "/verification/evaluate", "admin",
                                                     options={"json": {}}),
    "evaluate-not-json": MalformedRequest("a body that is not JSON", "POST", "/verification/evaluate", "admin",
                                          options={"content": b"documentId=1",
                                                   "headers": {"Content-Type": "application/json"}}),
    "upload-unknown-document-type": MalformedRequest("documentType PASSPORT and a good KTP", "POST", "/documents", "user",
                                                     options={"files": {"file": GOOD_CARD}, "data": {"documentType": "PASSPORT"}}),
    "upload-without-document-type": MalformedRequest("no documentType and a good KTP", "POST", "/documents", "user",
                                                     options={"files": {"file": GOOD_CARD}}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_is_refused_with_a_clear_4xx(api, user_token, admin_token, case, evidence):
    request = MALFORMED[case]
    token = {"user": user_token, "admin": admin_token}.get(request.role or "")
    options = {**request.options, "headers": {**request.options.get("headers", {}),
                                              **({"Authorization": f"Bearer {token}"} if token else {})}}
    response = api.request(request.method, request.path, **options)
    where = f"{request.method} {request.path} with {request.what}"
    evidence.add(f"{where} -> {response.status_code}", response.text[:2000])
    assert response.status_code in request.refused, (
        f"{where}: expected {' or '.join(map(str, sorted(request.refused)))} (refused as malformed),"
        f" got {response.status_code}: {response.text[:300]}")
    assert response.text.strip(), f"{where}: expected a message saying what is wrong, got an empty body"


#: Signed callbacks whose body does not validate (what a BULI2 release with a bug, or anyone holding the
#: secret, might send): case -> (what it is, the body made from a valid decision's fields).
MALFORMED_CALLBACKS: dict[str, tuple[str, Callable[[dict[str, Any]], bytes]]] = {
    "callback-not-json": ("a body that is not JSON", lambda fields: b"decision=approved"),
    "callback-without-document-id": ("no documentId", lambda fields: json.dumps(
        {name: value for name, value in fields.items() if name != "documentId"}).encode()),
    "callback-unknown-decision": ("decision 'maybe'", lambda fields: json.dumps({**fields, "decision": "maybe"}).encode()),
}


@pytest.mark.parametrize("case", list(MALFORMED_CALLBACKS))
def test_signed_malformed_callback_is_refused_with_a_clear_4xx(api, target, callback_url, run_id, synthetic, case,
                                                                 evidence):
    what, make_body = MALFORMED_CALLBACKS[case]
    callback_id, decision = decision_on_no_document(run_id)
    synthetic.add_callback(callback_id)
    fields = json.loads(decision)
    request = sign(target.secret_key("buli2", "BULI2_SIGNATURE_SECRET"), callback_id, make_body(fields))
    response = api.post(callback_url, content=request.body, headers=request.headers)
    where = f"POST {callback_url} correctly signed, with {what}"
    evidence.add(f"{where} -> {response.status_code}", response.text[:2000])
    assert response.status_code in REFUSED, (
        f"{where}: expected {' or '.join(map(str, sorted(REFUSED)))} (refused as malformed),"
        f" got {response.status_code}: {response.text[:300]}")
    assert response.text.strip(), f"{where}: expected a message saying what is wrong, got an empty body"
