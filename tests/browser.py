"""A real browser for the web view's tests: Debian's Chromium driven by Playwright from PyPI.

Playwright's own browser download is never used (these machines have no internet); its driver
launches the system's ``chromium``. Without it, a test fails under CI and is skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib

import numpy as np
import pytest

#: quiet and offline: no GPU, no sandbox (root in containers), no update or background fetches
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    """The system Chromium's path; fails under CI (``CI=true``) and skips elsewhere when missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None if path else "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed: pip install -e '.[test]'"
    if problem:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(problem)
        pytest.skip(problem)
    return path


def png_pixels(data: bytes) -> np.ndarray:
    """The RGB(A) pixels of an 8-bit PNG as an ``(height, width, channels)`` array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        above = out[y - 1] if y else np.zeros_like(row)
        if kind == 0:
            out[y] = row
        elif kind == 2:
            out[y] = (row + above) % 256
        else:  # Sub, Average and Paeth depend on the pixel to the left: one pass along the row
            line = out[y]
            for x in range(len(row)):
                left = line[x - channels] if x >= channels else 0
                corner = above[x - channels] if x >= channels else 0
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + above[x]) // 2
                else:
                    p = left + above[x] - corner
                    pa, pb, pc = abs(p - left), abs(p - above[x]), abs(p - corner)
                    predicted = left if pa <= pb and pa <= pc else (above[x] if pb <= pc else corner)
                line[x] = (row[x] + predicted) % 256
    return out.reshape(height, width, channels).astype(np.uint8)
