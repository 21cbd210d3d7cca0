"""The public page: `/?event=<slug>` shows an event's order form; no slug shows the landing page."""

from __future__ import annotations

import logging
import secrets

import streamlit as st

from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError, NotFound, SchemaError
from core.events import (
    ACCENT_COLOUR,
    EventPhase,
    PublicEvent,
    get_header_image,
    get_published_event,
    load_public_event,
    readable_text_colour,
)
from core.models import utcnow
from core.orders import OrderReceipt, place_order
from pages import runtime
from pages.form_renderer import read_answers, render_form

# Primary buttons (plain and form submit) in the event's accent colour; filled in by `_apply_accent` only.
ACCENT_CSS = """<style>
[data-testid="stBaseButton-primary"], [data-testid="stBaseButton-primaryFormSubmit"] {{
  background-color: {accent}; border-color: {accent}; color: {text};
}}
[data-testid="stBaseButton-primary"]:hover, [data-testid="stBaseButton-primaryFormSubmit"]:hover {{
  background-color: {accent}; border-color: {accent}; color: {text}; filter: brightness(0.9);
}}
</style>"""


def render() -> None:
    slug = st.query_params.get("event")
    if not slug:
        _landing()
        return
    try:
        with read_only(runtime.engine()) as session:
            event = load_public_event(session, slug, utcnow())
            image = get_header_image(session, slug) if event.has_header_image else None
    except NotFound:
        st.title("Event not found")
        st.write("There is no event at this address. Please check the link you were given.")
        return
    except SchemaError:
        logging.getLogger(__name__).exception("stored form of event %s is broken", slug)
        st.title("This form is not available")
        st.write("The organiser is updating this order form. Please try again a little later.")
        return
    _apply_accent(event.accent_colour)
    if image is not None:
        st.image(image[0], width="stretch")
    st.title(event.title)
    st.markdown(event.description)
    if event.phase == EventPhase.NOT_OPEN_YET:
        _not_open_yet(event)
    elif event.phase == EventPhase.CLOSED:
        st.info(event.closed_message or "Orders for this event are closed.", icon=":material/event_busy:")
    else:
        _order_form(event)


def _apply_accent(colour: str) -> None:
    """Style the page in the event's colour; anything but #rrggbb (say, stored before validation) is ignored."""
    if ACCENT_COLOUR.fullmatch(colour):
        st.html(ACCENT_CSS.format(accent=colour, text=readable_text_colour(colour)))


def _landing() -> None:
    st.title("Event Orders")
    st.write("Order forms for events, keeping as little about you as possible, for as short a time as possible.")
    st.write("Your organiser sends you a link to your event's order page. You can also type the event's name "
             "from that link here:")
    with st.form("find_event", border=False):
        slug = st.text_input("Event name from your link", placeholder="e.g. summer-meetup")
        if st.form_submit_button("Open the order form"):
            st.query_params["event"] = slug.strip().lower()
            st.rerun()
    st.caption("Organising an event? [Organiser login](/login)")


def _not_open_yet(event: PublicEvent) -> None:
    if event.opens_at is None:
        st.info("Orders for this event are not open yet.", icon=":material/schedule:")
    else:
        opens = event.local_time(event.opens_at)
        st.info(f"Orders open on {opens:%A %d %B %Y at %H:%M} ({event.timezone}).", icon=":material/schedule:")


def _order_form(event: PublicEvent) -> None:
    assert event.form is not None
    prefix = f"order.{event.slug}"
    receipt: OrderReceipt | None = st.session_state.get(f"{prefix}.receipt")
    if receipt is not None:
        _confirmation(receipt, prefix)
        return
    st.session_state.setdefault(f"{prefix}.idempotency_key", secrets.token_urlsafe(24))
    errors = st.session_state.get(f"{prefix}.errors", {})
    render_form(event.form, event.catalogue, prefix, errors)
    if problem := st.session_state.get(f"{prefix}.problem"):
        st.error(problem)
    elif errors:
        st.error("Please correct the fields marked above; everything else you entered is kept.")
    st.button("Place order", type="primary", on_click=_submit, args=(event, prefix), icon=":material/send:")


def _submit(event: PublicEvent, prefix: str) -> None:
    """Runs before the rerun that follows the click, so errors appear beside their fields in that same run."""
    assert event.form is not None
    state = st.session_state
    state[f"{prefix}.problem"] = None
    state[f"{prefix}.errors"] = {}
    try:
        with unit_of_work(runtime.engine()) as session:
            state[f"{prefix}.receipt"] = place_order(
                session, get_published_event(session, event.slug), read_answers(event.form, event.catalogue, prefix),
                idempotency_key=state[f"{prefix}.idempotency_key"],
                check_deliverability=runtime.settings().email_check_deliverability,
            )
    except FormValidationError as exc:
        state[f"{prefix}.errors"] = exc.errors
    except DomainError as exc:
        state[f"{prefix}.problem"] = str(exc)


def _confirmation(receipt: OrderReceipt, prefix: str) -> None:
    st.success("Thank you, your order has been received.", icon=":material/check_circle:")
    st.markdown(f"Your order reference is **`{receipt.reference}`**. Please keep it: you will need it if you "
                "contact the organiser about your order.")
    st.dataframe(
        [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
          "Price each": line.unit_price} for line in receipt.lines],
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format="%.2f")},
    )
    if receipt.total is not None:
        st.markdown(f"**Total: {receipt.total:.2f}**")
    st.button("Place another order", on_click=_start_over, args=(prefix,))


def _start_over(prefix: str) -> None:
    for key in [key for key in st.session_state if str(key).startswith(f"{prefix}.")]:
        del st.session_state[key]
