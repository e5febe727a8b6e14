"""E2E (seed 002 section 6 "Test Zod validation on all input routes"): a bad upload gets a 4xx with a
message saying what is wrong, never a 500: a PDF named .jpg (415), a truncated JPEG or a blank image
(422), and a file above the upload limit (413). None of them creates a document."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from filot_gate import corpus

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
