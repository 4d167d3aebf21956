"""The frame layer: RFC 6455, section 5 (framing) and 7.4 (close codes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite import LocalProtocolError, RemoteProtocolError
from wsproto_lite._frames import (
    BINARY,
    CLOSE,
    TEXT,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    mask_key,
    valid_wire_code,
)


def test_rfc6455_5_7_masked_hello() -> None:
    # The example of section 5.7: "Hello" masked with key 37 fa 21 3d.
    key = bytes.fromhex("37fa213d")
    assert apply_mask(b"Hello", key) == bytes.fromhex("7f9f4d5158")


@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(min_size=2040, max_size=2100),
        st.binary(min_size=5000, max_size=9000),
    ),
    st.binary(min_size=4, max_size=4),
)
def test_5_3_masking_is_its_own_inverse(data: bytes, key: bytes) -> None:
    # Each size range has its own technique: small, medium, and lanes (the
    # pieces past 64 KiB are tested below).
    masked = apply_mask(data, key)
    assert len(masked) == len(data)
    assert apply_mask(masked, key) == data
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("size", [65535, 65536, 65537, 2 * 65536 + 3, 300_001])
def test_5_3_large_payloads_are_masked_in_pieces_that_keep_the_key_aligned(size: int) -> None:
    # Past 64 KiB masking works piece by piece; every byte must still meet
    # key[i % 4], in apply_mask and in a client's frame.
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    key = bytes.fromhex("37fa213d")
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert apply_mask(data, key) == expected
    frame = encode_frame(BINARY, data, mask=True)
    key_at = 4 if size < 65536 else 10  # after the 16- or 64-bit length
    assert apply_mask(frame[key_at + 4 :], frame[key_at : key_at + 4]) == data


def test_5_7_unmasked_hello() -> None:
    assert encode_frame(TEXT, b"Hello", mask=False) == bytes.fromhex("810548656c6c6f")


@pytest.mark.parametrize(
    ("size", "header"),
    [(0, "8200"), (125, "827d"), (126, "827e007e"), (65535, "827effff"), (65536, "827f0000000000010000")],
)
def test_5_2_three_payload_length_forms(size: int, header: str) -> None:
    data = encode_frame(BINARY, bytes(size), mask=False)
    assert data[: len(header) // 2] == bytes.fromhex(header)
    assert len(data) == len(header) // 2 + size


def test_5_3_client_frames_use_a_fresh_key_each_time() -> None:
    first = encode_frame(TEXT, b"same", mask=True)
    second = encode_frame(TEXT, b"same", mask=True)
    assert first[1] == 0x80 | 4
    assert first[2:6] != second[2:6]
    assert apply_mask(first[6:], first[2:6]) == b"same"


def test_10_3_masking_keys_are_fresh_across_pool_refills() -> None:
    keys = [mask_key() for _ in range(3000)]  # more than one 4 KiB draw
    assert all(len(k) == 4 for k in keys)
    assert len(set(keys)) > 2900  # random 32-bit keys: a collision or two at most


def test_5_2_fin_and_rsv_bits() -> None:
    assert encode_frame(TEXT, b"", fin=False, rsv=0x40, mask=False)[0] == 0x41


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_7_4_sendable_codes(code: int) -> None:
    assert valid_wire_code(code)
    assert encode_close(code, "ok") == code.to_bytes(2, "big") + b"ok"
    assert decode_close(encode_close(code, "ok")) == (code, "ok")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_7_4_codes_that_never_go_on_the_wire(code: int) -> None:
    assert not valid_wire_code(code)
    with (
        pytest.raises(LocalProtocolError) if code != 1005 else pytest.raises(LocalProtocolError, match="1005")
    ):
        encode_close(code, "x")
    with pytest.raises(RemoteProtocolError) as info:
        decode_close(code.to_bytes(2, "big"))
    assert info.value.code == 1002


def test_7_4_1005_means_an_empty_close_frame() -> None:
    assert encode_close(1005, "") == b""
    assert decode_close(b"") == (1005, "")


def test_5_5_1_reason_is_limited_to_123_bytes_and_never_truncated() -> None:
    assert len(encode_close(1000, "é" * 61 + "a")) == 125
    with pytest.raises(LocalProtocolError, match="124 bytes"):
        encode_close(1000, "é" * 62)


def test_5_5_1_one_byte_close_payload_is_a_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_close(b"\x03")
    assert info.value.code == 1002


def test_5_5_1_reason_must_be_utf8() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_close(b"\x03\xe8\xff")
    assert info.value.code == 1007


def test_close_frame_round_trip() -> None:
    data = encode_frame(CLOSE, encode_close(1001, "bye"), mask=False)
    assert data == b"\x88\x05\x03\xe9bye"
