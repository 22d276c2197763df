"""A minimal baseline-TIFF reader (numpy only), enough for the HSI cubes and split maps we use.

Pillow and tifffile are not dependencies. Supported: classic TIFF (II/MM), one image (the first
IFD), strips (not tiles), chunky or planar samples, unsigned/signed integers and IEEE floats of
8/16/32/64 bits, and compression none, PackBits or Deflate. Anything else raises with the reason.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from ..errors import DatasetFormatError

# TIFF field type -> (struct code, size)
_TYPES = {1: ("B", 1), 2: ("c", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 6: ("b", 1), 7: ("B", 1),
          8: ("h", 2), 9: ("i", 4), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8), 16: ("Q", 8)}
_WIDTH, _HEIGHT, _BITS, _COMPRESSION, _STRIP_OFFSETS = 256, 257, 258, 259, 273
_SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS, _PLANAR, _TILE_WIDTH, _SAMPLE_FORMAT = 277, 278, 279, 284, 322, 339


def _tags(buf: bytes, path: Path) -> Tuple[str, Dict[int, Tuple]]:
    order = {b"II": "<", b"MM": ">"}.get(buf[:2])
    if order is None or struct.unpack(order + "H", buf[2:4])[0] != 42:
        raise DatasetFormatError(path, "not a classic TIFF file (BigTIFF and other formats are not supported)")
    (ifd,) = struct.unpack(order + "I", buf[4:8])
    (count,) = struct.unpack(order + "H", buf[ifd:ifd + 2])
    tags: Dict[int, Tuple] = {}
    for i in range(count):
        entry = buf[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        tag, typ, n = struct.unpack(order + "HHI", entry[:8])
        if typ not in _TYPES:
            continue
        code, size = _TYPES[typ]
        nbytes = size * n
        data = entry[8:8 + nbytes] if nbytes <= 4 else buf[struct.unpack(order + "I", entry[8:12])[0]:][:nbytes]
        tags[tag] = struct.unpack(order + code * n, data) if typ != 2 else (data,)
    return order, tags


def _packbits(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        n = data[i]
        i += 1
        if n < 128:
            out += data[i:i + n + 1]
            i += n + 1
        elif n > 128:
            out += data[i:i + 1] * (257 - n)
            i += 1
    return bytes(out)


def read_tiff(path: Union[str, Path]) -> np.ndarray:
    """The first image of a TIFF: (H, W) for one sample per pixel, else (H, W, samples)."""
    path = Path(path)
    try:
        return _read(path.read_bytes(), path)
    except (struct.error, IndexError, KeyError, ValueError, zlib.error) as exc:
        if isinstance(exc, DatasetFormatError):
            raise
        raise DatasetFormatError(path, f"corrupt or truncated TIFF ({type(exc).__name__}: {exc})") from exc


def _read(buf: bytes, path: Path) -> np.ndarray:
    order, t = _tags(buf, path)
    if _TILE_WIDTH in t:
        raise DatasetFormatError(path, "tiled TIFF is not supported; save it with strips")
    width, height = t[_WIDTH][0], t[_HEIGHT][0]
    spp = t.get(_SAMPLES, (1,))[0]
    bits = set(t.get(_BITS, (1,)))
    fmt = t.get(_SAMPLE_FORMAT, (1,))[0]
    compression = t.get(_COMPRESSION, (1,))[0]
    planar = t.get(_PLANAR, (1,))[0]
    if len(bits) != 1 or next(iter(bits)) not in (8, 16, 32, 64) or fmt not in (1, 2, 3):
        raise DatasetFormatError(path, f"unsupported sample type: bits {sorted(bits)}, sample format {fmt}")
    dtype = np.dtype({1: "u", 2: "i", 3: "f"}[fmt] + str(next(iter(bits)) // 8)).newbyteorder(order)
    decode = {1: lambda b: b, 32773: _packbits, 8: zlib.decompress, 32946: zlib.decompress}.get(compression)
    if decode is None:
        raise DatasetFormatError(path, f"unsupported TIFF compression {compression} (none, PackBits, Deflate)")
    strips: List[bytes] = [decode(buf[o:o + n]) for o, n in zip(t[_STRIP_OFFSETS], t[_STRIP_COUNTS])]
    if planar == 2:  # strips of plane 0, then plane 1, ...; a plane's last strip may be padded
        if len(strips) % spp:
            raise DatasetFormatError(path, f"{len(strips)} strips do not split into {spp} planes")
        k = len(strips) // spp
        planes = [np.frombuffer(b"".join(strips[p * k:(p + 1) * k]), dtype=dtype) for p in range(spp)]
        if min(p.size for p in planes) < width * height:
            raise DatasetFormatError(path, f"truncated TIFF: a plane holds fewer than {height}x{width} samples")
        img = np.stack([p[:width * height].reshape(height, width) for p in planes], axis=-1)
    else:
        raw = np.frombuffer(b"".join(strips), dtype=dtype)
        if raw.size < width * height * spp:
            raise DatasetFormatError(path, f"truncated TIFF: {raw.size} samples for {height}x{width}x{spp}")
        img = raw[:width * height * spp].reshape(height, width, spp)
    img = img.astype(dtype.newbyteorder("="), copy=False)
    return img[:, :, 0] if spp == 1 else img
