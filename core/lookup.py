"""Attendee self-service: finding one's own order by its secret link, or by reference plus email."""

from __future__ import annotations

import hashlib
import secrets


def new_lookup_token() -> str:
    """A fresh secret for an order's lookup link (only its hash is stored)."""
    return secrets.token_urlsafe(24)


def hash_lookup_token(token: str) -> str:
    # Unkeyed SHA-256 suffices: the token has 192 random bits, so there is nothing to guess from the hash.
    return hashlib.sha256(token.encode()).hexdigest()
