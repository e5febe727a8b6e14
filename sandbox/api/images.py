"""What an uploaded card image must be: PNG, JPEG or WebP by its bytes, decodable, not blank, sane size.

The declared content type and file name are ignored; the magic bytes decide (415), Pillow decides
whether the image is whole (422). Dimensions are checked from the header, before any decoding, so a
small file that claims a huge canvas is refused without being inflated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from sandbox.api.errors import ApiError

#: (magic prefix, offset) -> (format name, content type, extension).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", 0, ("PNG", "image/png", "png")),
    (b"\xff\xd8\xff", 0, ("JPEG", "image/jpeg", "jpg")),
    (b"WEBP", 8, ("WEBP", "image/webp", "webp")),
)
#: The smallest side a card photo can have and still be read.
MIN_SIDE_PX = 32
#: Grey levels between the darkest and lightest pixel below which an image holds nothing.
MIN_CONTRAST = 8


@dataclass(frozen=True)
class CardImage:
    """An accepted image and what the API records about it."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def describe_upload(filename: str | None, content_type: str | None, size: int) -> str:
    """What came, as an error message names it: ``'ktp.jpg' (sent as image/jpeg, 1234 bytes)``."""
    name = repr(filename[:80]) if filename else "(no file name)"
    declared = f"sent as {content_type[:60]}" if content_type else "no content type"
    return f"{name} ({declared}, {size} bytes)"


def sniff(data: bytes, upload: str = "the upload") -> tuple[str, str, str]:
    """(Pillow format, content type, extension) from the magic bytes, or 415."""
    for magic, offset, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (kind[0] != "WEBP" or data[:4] == b"RIFF"):
            return kind
    head = data[:8].hex(" ")
    raise ApiError(415, f"unsupported file type: {upload} starts with bytes {head}; only PNG, JPEG and WebP images"
                        " are accepted")


def _why_undecodable(error: Exception, fmt: str) -> str:
    """Pillow's reason in words; never its message for an unidentified image, which is the repr of
    the buffer it read (``cannot identify image file <_io.BytesIO object at 0x...>``)."""
    if isinstance(error, UnidentifiedImageError):
        return f"its {fmt} header is not valid"
    return f"its data does not decode ({type(error).__name__}: {error})"


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width < MIN_SIDE_PX or height < MIN_SIDE_PX:
        raise ApiError(422, f"image is {width}x{height} pixels; each side must be at least {MIN_SIDE_PX}")
    if width * height > max_pixels:
        raise ApiError(422, f"image is {width}x{height} = {width * height} pixels, above the limit of {max_pixels}")


def validate_image(data: bytes, max_pixels: int, upload: str = "the upload") -> CardImage:
    """Accept ``data`` as a card image or raise 415/422 saying what is wrong with it; ``upload``
    names what came in those messages (see ``describe_upload``).

    CPU-bound (it decodes the image): call it from a worker thread.
    """
    if not data:
        raise ApiError(422, f"file is empty: {upload}; expected a PNG, JPEG or WebP image")
    fmt, content_type, extension = sniff(data, upload)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            _check_dimensions(image.width, image.height, max_pixels)
            image.load()
            low, high = image.convert("L").getextrema()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(422, f"image dimensions are far above the limit of {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ApiError(422, f"{fmt} image cannot be decoded: {upload} starts like a {fmt} image but"
                            f" {_why_undecodable(error, fmt)}; expected a whole PNG, JPEG or WebP image,"
                            " the file is truncated or corrupt") from None
    if high - low < MIN_CONTRAST:
        raise ApiError(422, "image is blank (a single flat colour): no card to read")
    return CardImage(data, content_type, extension, image.width, image.height)
