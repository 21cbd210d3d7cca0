"""Uploads: the server refuses any file larger than the largest one a screen accepts."""

from __future__ import annotations

import tomllib

from core.config import PROJECT_DIR
from core.images import MAX_IMAGE_BYTES


def test_the_server_caps_uploads_just_above_the_largest_file_a_screen_accepts() -> None:
    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    limit = config["server"]["maxUploadSize"] * 1024 * 1024  # Streamlit counts megabytes of 2**20 bytes
    assert MAX_IMAGE_BYTES <= limit < 2 * MAX_IMAGE_BYTES
