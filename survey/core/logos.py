"""The evaluator's logo on the covers of a wave's reports: checked, stored, replaced, removed.

An evaluator uploads one PNG or JPEG per wave (web page or ``ikm wave logo``); the ranking
report and every OPD report print it on the cover beside the evaluator's name. The file is
checked before anything is written: at most :data:`MAX_LOGO_BYTES`, a PNG or JPEG by its
first bytes *and* by Pillow (a dependency of matplotlib, so always there), with sane
dimensions read from the header before any pixel is decoded (a small "PNG bomb" that would
inflate to gigabytes is refused unread), then decoded in full (a truncated or corrupt file is
refused). A published wave's covers are frozen: its logo can be neither replaced nor removed.
Every change is audited in the transaction that makes it.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from reports.model import Logo
from survey.core.audit import audit
from survey.core.models import Wave, WaveLogo, utcnow
from survey.core.problems import ProblemError, define, problem

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_SIDE = 4000  # pixels; a cover prints the logo about 3 cm high
MIN_LOGO_SIDE = 16
MAX_LOGO_PIXELS = 8_000_000  # width x height, checked before decoding
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"))

define(
    {
        "logo-empty": "the logo file is empty",
        "logo-too-large": "the logo file has {size} bytes; at most {limit} bytes are accepted",
        "logo-not-image": "the logo file is not a PNG or JPEG image",
        "logo-broken": "the logo file is a damaged or incomplete {format} image",
        "logo-dimensions": (
            "the logo is {width} x {height} pixels; each side must be {low} to {high} pixels "
            "and the whole at most {pixels} pixels"
        ),
        "logo-wave-published": (
            "wave {wave!r} is published: its report covers are frozen, the logo cannot change"
        ),
    }
)


class LogoError(ProblemError):
    """A logo refused (not an image, too large, a bomb) or a change refused (published)."""


@dataclass(frozen=True)
class CheckedLogo:
    """A logo file that passed every check."""

    media_type: str
    data: bytes
    width: int
    height: int


def _refused(code: str, /, **params: Any) -> LogoError:
    return LogoError([problem(code, "logo", **params)])


def check_logo(data: bytes) -> CheckedLogo:
    """Return the checked logo, or raise :class:`LogoError` saying what is wrong with it."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise _refused("logo-empty")
    if len(data) > MAX_LOGO_BYTES:
        raise _refused("logo-too-large", size=len(data), limit=MAX_LOGO_BYTES)
    magic = next((fmt for prefix, fmt in _MAGIC if data.startswith(prefix)), None)
    if magic is None:
        raise _refused("logo-not-image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[magic]) as image:
                width, height = image.size  # from the header: nothing decoded yet
                if (
                    not MIN_LOGO_SIDE <= width <= MAX_LOGO_SIDE
                    or not MIN_LOGO_SIDE <= height <= MAX_LOGO_SIDE
                    or width * height > MAX_LOGO_PIXELS
                ):
                    raise _refused(
                        "logo-dimensions",
                        width=width,
                        height=height,
                        low=MIN_LOGO_SIDE,
                        high=MAX_LOGO_SIDE,
                        pixels=MAX_LOGO_PIXELS,
                    )
                image.load()  # decodes every pixel: a corrupt file fails here
            # WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process, so load()
            # alone would pass a file cut short: check that the file is whole as well.
            if magic == "PNG":
                with Image.open(io.BytesIO(data), formats=["PNG"]) as whole:
                    whole.verify()  # every chunk's CRC, up to IEND
            elif not data.rstrip(b"\x00").endswith(b"\xff\xd9"):  # JPEG's end of image
                raise _refused("logo-broken", format=magic)
    except LogoError:
        raise
    except UnidentifiedImageError:
        raise _refused("logo-not-image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses to open it at all: far too many pixels for a logo (a "bomb").
        width, height = _header_size(data, magic)
        raise _refused(
            "logo-dimensions",
            width=width,
            height=height,
            low=MIN_LOGO_SIDE,
            high=MAX_LOGO_SIDE,
            pixels=MAX_LOGO_PIXELS,
        ) from None
    except (OSError, SyntaxError, ValueError, Warning):
        raise _refused("logo-broken", format=magic) from None
    return CheckedLogo(media_type=MEDIA_TYPES[magic], data=data, width=width, height=height)


def _header_size(data: bytes, magic: str) -> tuple[int, int]:
    """Return the width and height a PNG's IHDR or a JPEG's frame header states (0, 0: none)."""
    if magic == "PNG":
        if data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        return 0, 0
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return 0, 0
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return 0, 0


def logo_of(session: Session, *, wave: Wave) -> WaveLogo | None:
    """Return the wave's logo, or None."""
    return session.get(WaveLogo, wave.id)


def report_logo(session: Session, *, wave: Wave) -> Logo | None:
    """Return the wave's logo as the reports take it (:attr:`ScoredWave.logo`), or None."""
    stored = logo_of(session, wave=wave)
    return None if stored is None else Logo(media_type=stored.media_type, data=stored.data)


def _unpublished(wave: Wave) -> None:
    if wave.status == "published":
        raise _refused("logo-wave-published", wave=wave.slug)


def store_logo(session: Session, *, wave: Wave, data: bytes, actor: str | None) -> WaveLogo:
    """Check the file and make it the wave's logo (replacing any), audited; return it."""
    _unpublished(wave)
    checked = check_logo(data)
    stored = logo_of(session, wave=wave)
    replaced = stored is not None
    if stored is None:
        assert wave.id is not None
        stored = WaveLogo(wave_id=wave.id, media_type=checked.media_type, data=checked.data)
    stored.media_type = checked.media_type
    stored.data = checked.data
    stored.uploaded_at = utcnow()
    session.add(stored)
    audit(
        session,
        actor=actor,
        action="wave.logo.replace" if replaced else "wave.logo.add",
        wave=wave.slug,
        media_type=checked.media_type,
        bytes=len(checked.data),
        width=checked.width,
        height=checked.height,
        sha256=hashlib.sha256(checked.data).hexdigest(),
    )
    session.commit()
    session.refresh(stored)
    return stored


def remove_logo(session: Session, *, wave: Wave, actor: str | None) -> bool:
    """Remove the wave's logo, audited; return False when it had none (nothing written)."""
    _unpublished(wave)
    stored = logo_of(session, wave=wave)
    if stored is None:
        return False
    session.delete(stored)
    audit(session, actor=actor, action="wave.logo.remove", wave=wave.slug)
    session.commit()
    return True
