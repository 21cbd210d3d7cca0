"""A vendor's portal link in its mails, without storing the link.

A link is normally a random secret of which only the SHA-256 is stored, so the app cannot put it in a mail later.
A link the organiser puts in mails is instead HMAC(the app's key, a random nonce): the database keeps the nonce
and the hash, the key stays in the environment. Queued mails hold a placeholder, never the link; the outbox swaps
in the vendor's current link as it hands the mail to the SMTP server (`fill_portal_links`). So a copy of the
database, or an organiser reading the Outbox page, finds no working link; a copy of the database together with
the key finds the links of the vendors whose links are in mails (and only those).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from core.config import Settings, code_key
from core.errors import DomainError
from core.mailer import OutgoingMail
from core.models import OutboxMessage, VendorLink
from core.tokens import hash_lookup_token

# What a queued vendor mail holds where the link goes: readable on the Outbox page, and no secret.
PORTAL_LINK_PLACEHOLDER = "[your portal link, added when this mail is sent]"
# What replaces it when the link was revoked, replaced by one not in mails, or the key changed since.
NO_PORTAL_LINK = "(this mail's portal link no longer works: ask the organiser for the current one)"


def portal_key(settings: Settings) -> bytes:
    """The key mail links are derived with (from CODE_KEY, or the cookie key); raises DomainError without one."""
    try:
        base = code_key(settings)
    except ValueError as exc:
        raise DomainError("Putting the link in mails needs the app's key (CODE_KEY or COOKIE_KEY).") from exc
    # A label of its own: a portal link must not be the HMAC of anything codes or claims use.
    return hmac.new(base, b"vendor-portal-links", hashlib.sha256).digest()


def new_mail_link(settings: Settings) -> tuple[str, str]:
    """A fresh (nonce, token) for a link in mails; store the nonce and the token's hash, show the token once."""
    nonce = secrets.token_urlsafe(24)
    return nonce, mail_token(portal_key(settings), nonce)


def mail_token(key: bytes, nonce: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, nonce.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def portal_link_paragraph(session: Session, event_id: int, vendor_id: int) -> str:
    """The sentence a vendor's mail ends with when its link is in mails (with the placeholder), else ""."""
    in_mails = session.scalar(select(VendorLink.id).where(
        VendorLink.event_id == event_id, VendorLink.vendor_id == vendor_id, VendorLink.revoked_at.is_(None),
        VendorLink.in_mails.is_(True)))
    if in_mails is None:
        return ""
    return f"Your orders, and their status updates, are in your portal: {PORTAL_LINK_PLACEHOLDER}"


def fill_portal_links(session: Session, settings: Settings | None, claimed: Sequence[tuple[int, OutgoingMail]]
                      ) -> dict[int, OutgoingMail]:
    """The claimed vendor mails (by outbox id) that hold the placeholder, with the vendor's current link in its
    place, or NO_PORTAL_LINK when there is none to give (revoked, not in mails, no key, or the key changed)."""
    marked = [outbox_id for outbox_id, mail in claimed if PORTAL_LINK_PLACEHOLDER in mail.body_text]
    if not marked:
        return {}
    owners = {row.id: (row.event_id, row.vendor_id) for row in session.execute(
        select(OutboxMessage.id, OutboxMessage.event_id, OutboxMessage.vendor_id).where(
            OutboxMessage.id.in_(marked), OutboxMessage.vendor_id.is_not(None), OutboxMessage.event_id.is_not(None)))}
    links = {(link.event_id, link.vendor_id): link for link in session.scalars(select(VendorLink).where(
        tuple_(VendorLink.event_id, VendorLink.vendor_id).in_(set(owners.values())), VendorLink.revoked_at.is_(None),
        VendorLink.in_mails.is_(True), VendorLink.mail_nonce.is_not(None)))} if owners else {}
    key = _key_or_none(settings)
    base = (settings.public_base_url if settings else "").rstrip("/")
    filled = {}
    for outbox_id, mail in claimed:
        if outbox_id not in owners:
            continue  # not a vendor's mail: an attendee who typed the placeholder gets it back as typed
        link = links.get(owners[outbox_id])
        url = None
        if link is not None and key is not None and link.mail_nonce is not None:
            token = mail_token(key, link.mail_nonce)
            # A changed key would make a link that opens nothing: better none than a broken one.
            url = f"{base}/vendor?t={token}" if hash_lookup_token(token) == link.token_hash else None
        text = mail.body_text.replace(PORTAL_LINK_PLACEHOLDER, url or NO_PORTAL_LINK)
        marked_up = mail.body_html
        if marked_up is not None:
            anchor = f'<a href="{html.escape(url)}">{html.escape(url)}</a>' if url else html.escape(NO_PORTAL_LINK)
            marked_up = marked_up.replace(html.escape(PORTAL_LINK_PLACEHOLDER), anchor)
        filled[outbox_id] = replace(mail, body_text=text, body_html=marked_up)
    return filled


def _key_or_none(settings: Settings | None) -> bytes | None:
    if settings is None:
        return None
    try:
        return portal_key(settings)
    except DomainError:
        return None
