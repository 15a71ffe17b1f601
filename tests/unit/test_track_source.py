"""The models classify a track's URL the way the migration's backfill did."""

from __future__ import annotations

import pytest

from bot_persistence.models import TrackSource


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://music.youtube.com/watch?v=x", "youtube"),
        ("https://youtu.be/x", "youtube"),
        ("https://notyoutube.com/x", "other"),
        ("https://open.spotify.com/track/1", "spotify"),
    ],
    ids=["youtube-music", "youtu.be", "lookalike-host", "spotify"],
)
def test_the_models_classify_a_url_as_the_backfill_does(url: str, source: str) -> None:
    assert TrackSource.from_url(url).value == source
