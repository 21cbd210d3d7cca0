"""Secrets, and keyed hashes that stand in for a secret: order lookup links, one-order-per-email claims.

Only hashes are stored; the secrets themselves exist in the link or mail that carries them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_lookup_token() -> str:
    """A fresh secret for an order's lookup link (only its hash is stored)."""
    return secrets.token_urlsafe(24)


def hash_lookup_token(token: str) -> str:
    # Unkeyed SHA-256 suffices: the token has 192 random bits, so there is nothing to guess from the hash.
    return hashlib.sha256(token.encode()).hexdigest()


def email_claim_hash(email: str, code_key: bytes) -> str:
    """The keyed hash (hex) that stands for an email address in EmailClaim; case and outer spaces ignored.

    Keyed with a key derived from the codes' key, so a copy of the database cannot be checked against a list of
    addresses, and the claim means nothing on its own.
    """
    if not code_key:
        raise ValueError("one order per email needs the code key")
    key = hmac.new(code_key, b"email-claims", hashlib.sha256).digest()
    return hmac.new(key, email.strip().casefold().encode(), hashlib.sha256).hexdigest()
