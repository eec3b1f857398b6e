"""What `connect` was asked for: the API key stays out of every text about it."""

from __future__ import annotations

from voiced.client.options import resolve

KEY = "sk-secret-never-shown"


def test_the_key_is_not_in_the_repr() -> None:
    options = resolve(api_key=KEY, base_url=None, model=None, instructions=None, prompt_id=None,
                      assistant_id=None, transcription=True, voice=None, output_modalities=None)
    assert options.key == KEY
    assert KEY not in repr(options)
    assert KEY not in str(options)
