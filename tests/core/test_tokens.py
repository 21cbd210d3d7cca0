"""Tokens: lookup-link secrets and the keyed hashes that stand in for secrets and email addresses."""

from __future__ import annotations

import re

import pytest

from core.tokens import email_claim_hash, hash_lookup_token, new_lookup_token

KEY = b"k" * 32


def test_a_lookup_secret_is_fresh_url_safe_and_kept_only_as_its_hash() -> None:
    first, second = new_lookup_token(), new_lookup_token()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", first)  # 24 random bytes, safe in a link without escaping
    stored = hash_lookup_token(first)
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and first not in stored
    assert hash_lookup_token(first) == stored != hash_lookup_token(second)


def test_an_email_claim_ignores_case_and_outer_spaces_and_depends_on_the_key() -> None:
    claim = email_claim_hash("ada@example.org", KEY)
    assert email_claim_hash("  Ada@Example.ORG ", KEY) == claim
    assert email_claim_hash("grace@example.org", KEY) != claim
    assert email_claim_hash("ada@example.org", b"x" * 32) != claim  # a copy of the database cannot be checked
    assert "ada" not in claim
    with pytest.raises(ValueError, match="code key"):
        email_claim_hash("ada@example.org", b"")
