"""The demo event (slug `demo`): every shape the tool must handle, seeded on first start by `make run`."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalogue_admin import add_item
from core.event_admin import create_event
from core.form_versions import save_form
from core.models import Event, utcnow

DEMO_SLUG = "demo"

DEMO_DESCRIPTION = """\
Welcome to the **Summer Meetup 2027**! Order your conference t-shirt, hoodie or a breakfast box delivered
to your door on the first morning.

- T-shirts come *fitted* or *straight*, in four sizes and two colours.
- Breakfast boxes are delivered within the city, so we ask for an address only if you order one.

We keep your details only until shortly after the event, and only to get your order to you.
"""

# Dates from the day it is seeded, so that the demo always takes orders and shows what a privacy-first event
# looks like: orders close, the event ends, and its personal data is deleted after the grace period.
DEMO_ORDERS_CLOSE_AFTER = timedelta(days=60)
DEMO_ENDS_AFTER = timedelta(days=67)

DEMO_FORM = {
    "fields": [
        {"key": "name", "type": "short_text", "label": "Full name", "required": True, "personal": True,
         "purpose": "To label your order and hand it to you.", "max_length": 100},
        {"key": "email", "type": "email", "label": "Email", "required": True,
         "purpose": "To send your confirmation and tell you when your order ships.",
         "help": "We send your order confirmation here."},
        {"key": "phone", "type": "phone", "label": "Mobile phone", "required": False,
         "purpose": "So the breakfast courier can reach you at the door.",
         "help": "Optional; only for the breakfast courier."},
        {"key": "items", "type": "items", "label": "What would you like?", "required": True},
        {"key": "delivery", "type": "address", "label": "Breakfast delivery address", "required": True,
         "purpose": "To deliver your breakfast box.", "show_if": {"field": "items", "value": "breakfast"},
         "options": ["United Kingdom"]},
        {"key": "dietary", "type": "single_choice", "label": "Breakfast preference",
         "options": ["Anything", "Vegetarian", "Vegan", "Gluten-free"], "required": True,
         "show_if": {"field": "items", "value": "breakfast"}},
        {"key": "notes", "type": "long_text", "label": "Anything else we should know?", "max_length": 500,
         "personal": True, "purpose": "Free text may identify you; used only to handle your order."},
        {"key": "consent", "type": "checkbox", "required": True,
         "label": "I agree that my details are used for this order and deleted after the event."},
    ]
}


def seed_demo(session: Session) -> bool:
    """Create the demo event unless it exists; returns whether it was created."""
    if session.scalar(select(Event.id).where(Event.slug == DEMO_SLUG)) is not None:
        return False
    # On the hour: the Events page edits times to the minute, so that saving it unchanged changes nothing.
    seeded = utcnow().replace(minute=0, second=0, microsecond=0)
    event = create_event(
        session, slug=DEMO_SLUG, title="Summer Meetup 2027", description=DEMO_DESCRIPTION, published=True,
        accent_colour="#2f9e44", timezone="Europe/London", phone_region="GB",
        closed_message="Orders for the Summer Meetup are closed. See you there!",
        header_image=_header_image(), header_image_type="image/png",
        closes_at=seeded + DEMO_ORDERS_CLOSE_AFTER, ends_at=seeded + DEMO_ENDS_AFTER,
    )
    add_item(session, event, key="tshirt", name="T-shirt", price=Decimal("15.00"), max_per_order=5,
             description="Organic cotton, printed with this year's logo.",
             dimensions=[{"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
                         {"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]},
                         {"name": "colour", "label": "Colour", "options": ["Black", "Forest green"]}])
    add_item(session, event, key="hoodie", name="Hoodie", price=Decimal("35.00"), max_per_order=2,
             dimensions=[{"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]}])
    add_item(session, event, key="breakfast", name="Breakfast box", price=Decimal("9.50"), max_per_order=4,
             description="Delivered on the first morning between 7 and 9.")
    save_form(session, event, DEMO_FORM)
    return True


def _header_image() -> bytes:
    """A small generated banner, so the demo shows a header image without shipping a binary file."""
    width, height = 1200, 240
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(width):
        shade = x / width
        draw.line([(x, 0), (x, height)], fill=(int(47 + 60 * shade), int(158 - 40 * shade), int(68 + 120 * shade)))
    for i, radius in enumerate((150, 110, 70)):
        draw.ellipse([900 - radius, 120 - radius, 900 + radius, 120 + radius], outline=(255, 255, 255), width=6 - i)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
