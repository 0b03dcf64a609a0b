"""Pieces compressed apart join into one gzip member that a one-member decoder reads whole."""

from __future__ import annotations

import random
import zlib

import pytest

from worker import gzjoin


@pytest.mark.parametrize("seed", range(20))
def test_the_combined_crc_is_the_crc_of_the_concatenation(seed):
    rng = random.Random(seed)
    a = rng.randbytes(rng.randrange(3000))
    b = rng.randbytes(rng.choice([0, 1, 2, 3, rng.randrange(70_000)]))
    assert gzjoin.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_joined_pieces_decode_as_one_member_to_their_data():
    rng = random.Random(7)
    datas = [b"", b"[", rng.randbytes(100_000), b"1,2,3" * 50_000, b"", b"]"]
    joined = gzjoin.join(gzjoin.piece(d) for d in datas)
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)  # what HTTP clients use: one member
    assert inflate.decompress(joined) == b"".join(datas)
    assert inflate.eof and not inflate.unused_data
    assert [gzjoin.piece_size(gzjoin.piece(d)) for d in datas] == [len(d) for d in datas]


def test_no_pieces_is_an_empty_stream():
    assert zlib.decompress(gzjoin.join([]), zlib.MAX_WBITS | 16) == b""
