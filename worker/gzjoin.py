"""One gzip stream from pieces compressed apart, without recompressing them.

A sharded job's shards compress their runs in parallel, each in its own process, and the
shard that merges only joins the pieces: the serial merge moves the compressed bytes, not
the JSON. Each piece is raw deflate that ends on a byte boundary (a sync flush) and refers
to nothing before it, so pieces laid end to end are one valid deflate stream; the join adds
the gzip header, a final empty block, and the CRC-32 of the whole, combined from the
pieces' own (zlib's ``crc32_combine``, which Python's zlib does not expose). The result is
a single gzip member, which every HTTP client decodes (several members are not read by all).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no name or time, OS unknown
LAST_BLOCK = b"\x03\x00"  # an empty final block of fixed Huffman codes
_PIECE_HEAD = struct.Struct("<IQ")  # the piece's CRC-32 and length, before its deflate bytes


def piece(data: bytes, level: int = 1) -> bytes:
    """``data`` compressed to be joined: its CRC-32 and length, then its raw deflate bytes."""
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return _PIECE_HEAD.pack(zlib.crc32(data), len(data)) + body


def piece_size(p: bytes) -> int:
    """The length of the data a piece holds."""
    return int(_PIECE_HEAD.unpack_from(p)[1])


def join(pieces: Iterable[bytes]) -> bytes:
    """The gzip stream of the pieces' data laid end to end."""
    crc, size, bodies = 0, 0, [HEADER]
    for p in pieces:
        p_crc, p_size = _PIECE_HEAD.unpack_from(p)
        crc = crc32_combine(crc, p_crc, p_size)
        size += p_size
        bodies.append(p[_PIECE_HEAD.size :])
    bodies += [LAST_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(bodies)


POLY = 0xEDB88320  # CRC-32's polynomial, bit-reversed


def _multiply(a: int, b: int) -> int:
    """a * b modulo the polynomial (zlib's multmodp; bit 31 is x^0)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ POLY if b & 1 else b >> 1


def _powers() -> list[int]:
    """x^(2^n) modulo the polynomial, n = 0..31."""
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multiply(p, p)
    return table


_X2N = _powers()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A + B from CRC-32(A), CRC-32(B) and len(B) (zlib's crc32_combine): CRC(A)
    times x^(8 len(B)), plus CRC(B)."""
    shift, k = 1 << 31, 3  # x^0; 8 len(B) = len(B) * 2^3
    while len2:
        if len2 & 1:
            shift = _multiply(_X2N[k & 31], shift)
        len2 >>= 1
        k += 1
    return _multiply(shift, crc1) ^ crc2
