"""Duplicating an event into a new draft: last year's set-up without last year's people.

Copied: branding and settings, the latest form, items with their dimensions, prices, pictures, variants (on or off,
stock) and shared stocks, routing to vendors (vendors and what each may see are the organisers', not the event's),
mail templates, the code mode, and the organisers. Never copied: orders and everything hanging off them (personal
data, status history, disclosures, mail, vendor lists), codes, vendor links, form drafts, purge receipts, the audit
trail, dates (last year's are past) and counts of what was sold. The copy's audit trail starts with one entry,
`event.duplicated`, naming the source.
"""

from __future__ import annotations

import copy

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission
from core.event_admin import get_event_for, new_draft_event
from core.form_versions import save_form
from core.models import Event, EventMember, FormVersion, Item, MailTemplate, StockPool, Variant

# Event settings a copy takes over. Dates, publishing, archiving, purging and what the timer recorded are the
# source's own history and stay behind.
COPIED_SETTINGS = ("description", "header_image", "header_image_type", "accent_colour", "timezone", "phone_region",
                   "currency", "closed_message", "retention_days", "code_mode", "close_when_sold_out",
                   "one_order_per_email")


def duplicate_event(session: Session, actor: Actor, source_id: int, *, slug: str, title: str) -> Event:
    """Copy event `source_id` into a new, unpublished draft called `title` at `slug`; returns the copy.

    Raises PermissionDenied unless `actor` may edit the source, EventValidationError for a bad or taken slug or
    title.
    """
    source = get_event_for(session, actor, source_id, Permission.EVENT_EDIT)
    event = new_draft_event(session, actor, slug=slug, title=title)
    for name in COPIED_SETTINGS:
        setattr(event, name, getattr(source, name))
    _copy_members(session, source, event, actor)
    pools = _copy_pools(session, source, event)
    _copy_items(session, source, event, pools)
    session.flush()
    latest = session.scalars(select(FormVersion).where(FormVersion.event_id == source.id)
                             .order_by(FormVersion.number.desc()).limit(1)).first()
    if latest is not None:
        save_form(session, event, copy.deepcopy(latest.schema))
    for template in session.scalars(select(MailTemplate).where(MailTemplate.event_id == source.id)):
        session.add(MailTemplate(event_id=event.id, kind=template.kind, subject=template.subject, body=template.body))
    audit.record(session, actor, "event.duplicated", event=event, subject=f"event:{event.slug}",
                 details={"from": source.slug, "from_id": source.id})
    return event


def _copy_members(session: Session, source: Event, event: Event, actor: Actor) -> None:
    """The source's organisers organise the copy too (the actor already does)."""
    members = session.scalars(select(EventMember.user_id).where(EventMember.event_id == source.id)).all()
    for user_id in members:
        if user_id != actor.user_id:
            session.add(EventMember(event_id=event.id, user_id=user_id))


def _copy_pools(session: Session, source: Event, event: Event) -> dict[int, StockPool]:
    """The source's shared stocks, nothing sold yet, by the source pool's id."""
    pools = {}
    for pool in session.scalars(select(StockPool).where(StockPool.event_id == source.id).order_by(StockPool.id)):
        pools[pool.id] = StockPool(event_id=event.id, name=pool.name, capacity=pool.capacity, sold=0)
        session.add(pools[pool.id])
    session.flush()
    return pools


def _copy_items(session: Session, source: Event, event: Event, pools: dict[int, StockPool]) -> None:
    for item in session.scalars(select(Item).where(Item.event_id == source.id).order_by(Item.position, Item.id)):
        twin = Item(event=event, key=item.key, name=item.name, description=item.description, price=item.price,
                    dimensions=copy.deepcopy(item.dimensions), max_per_order=item.max_per_order, active=item.active,
                    position=item.position, image=item.image, image_type=item.image_type, vendor_id=item.vendor_id,
                    requires_code=item.requires_code,
                    pool_id=pools[item.pool_id].id if item.pool_id is not None else None)
        session.add(twin)  # before loading the source's variants, whose query flushes the session
        for variant in item.variants:
            twin.variants.append(Variant(key=variant.key, options=copy.deepcopy(variant.options),
                                         active=variant.active, stock=variant.stock, sold=0))
