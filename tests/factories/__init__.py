"""Small `make_*` factories for tests; each writes through the same core functions the app uses.

This module holds what every test needs (an event, a shop of items, a user, valid answers); a module per noun
holds the rest: `builder`, `codes`, `events` (the organiser's side), `exports`, `orders`, `stock`, `vendors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.auth import Actor
from core.catalogue_admin import add_item
from core.event_admin import create_event
from core.form_versions import save_form
from core.models import Event, EventMember, Item, UserRole
from core.users import actor_for, create_user

PASSWORD = "a-long-password-123"

TSHIRT_DIMENSIONS = [
    {"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
    {"name": "size", "label": "Size", "options": ["S", "M", "L"]},
]

BASIC_FORM: dict[str, Any] = {
    "fields": [
        {"key": "name", "type": "short_text", "label": "Name", "required": True, "personal": True,
         "purpose": "To label the order."},
        {"key": "email", "type": "email", "label": "Email", "required": True, "purpose": "To confirm the order."},
        {"key": "phone", "type": "phone", "label": "Phone", "purpose": "For the courier."},
        {"key": "items", "type": "items", "label": "Items", "required": True},
        {"key": "delivery", "type": "address", "label": "Delivery address", "required": True,
         "purpose": "To deliver breakfast.", "show_if": {"field": "items", "value": "breakfast"}},
        {"key": "size_note", "type": "short_text", "label": "Anything about sizes?", "max_length": 50},
    ]
}


def make_event(
    session: Session,
    *,
    slug: str = "test-event",
    form: Mapping[str, Any] | None = BASIC_FORM,
    published: bool = True,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    **attributes: Any,
) -> Event:
    event = create_event(session, slug=slug, title=attributes.pop("title", f"Event {slug}"), published=published,
                         opens_at=opens_at, closes_at=closes_at, **attributes)
    session.flush()
    if form is not None:
        save_form(session, event, dict(form))
    return event


def make_item(
    session: Session,
    event: Event,
    key: str = "tshirt",
    *,
    name: str | None = None,
    dimensions: Sequence[Mapping[str, Any]] = TSHIRT_DIMENSIONS,
    price: Decimal | None = Decimal("12.50"),
    max_per_order: int = 5,
) -> Item:
    item = add_item(session, event, key=key, name=name or key.title(), dimensions=dimensions, price=price,
                    max_per_order=max_per_order)
    session.flush()
    return item


def make_shop(session: Session, **event_attributes: Any) -> Event:
    """An open event with the basic form, a t-shirt (type x size), a hoodie (size) and breakfast (no variants)."""
    event = make_event(session, **event_attributes)
    make_item(session, event, "tshirt", name="T-shirt")
    make_item(session, event, "hoodie", name="Hoodie", dimensions=[TSHIRT_DIMENSIONS[1]], price=Decimal("30"),
              max_per_order=2)
    make_item(session, event, "breakfast", name="Breakfast box", dimensions=[], price=Decimal("9.50"))
    return event


def make_user(session: Session, username: str = "olga", *, role: UserRole = UserRole.ORGANISER,
              member_of: Sequence[Event] = ()) -> Actor:
    """A user (created as from the shell), a member of `member_of`, as the Actor that pages put in state."""
    user = create_user(session, None, username=username, display_name=username.title(), role=role, password=PASSWORD)
    for event in member_of:
        session.add(EventMember(event_id=event.id, user_id=user.id))
    session.flush()
    return actor_for(user)


def answers(**overrides: Any) -> dict[str, Any]:
    """Valid answers for BASIC_FORM ordering one fitted M t-shirt; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "items": [{"item": "tshirt", "options": {"type": "Fitted", "size": "M"}, "quantity": 1}],
    }
    base.update(overrides)
    return base
