"""Decoding audio deltas: what a server sends decodes, or is refused with a ValueError."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiced.realtime.protocol import decode_audio

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=8)


@pytest.mark.parametrize("key", ["delta", "audio"])
def test_decodes_either_field_including_odd_lengths(key: str) -> None:
    assert decode_audio({key: base64.b64encode(b"\x01\x02\x03").decode()}) == b"\x01\x02\x03"


@given(JSON)
def test_anything_else_is_a_value_error(value: Any) -> None:
    """Guards [S]12: a delta that was not base64 text raised TypeError or binascii.Error
    (or was silently cut to what looked like base64 in it)."""
    try:
        pcm = decode_audio({"delta": value})
    except ValueError as exc:
        assert str(exc).startswith("the audio is")
    else:
        assert pcm == (base64.b64decode(value, validate=True) if value else b"")


@pytest.mark.parametrize("bad", ["AB CD", "QUJD\n", "QU*JD", 7, {"x": 1}])
def test_refuses_what_is_not_strict_base64(bad: object) -> None:
    """Guards [S]12: the lenient decoder dropped stray characters and played shifted audio."""
    with pytest.raises(ValueError, match="the audio is"):
        decode_audio({"delta": bad})
