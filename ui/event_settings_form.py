"""An event's settings as inputs (the Events page's "Details"), and the EventChanges they ask for."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.event_admin import (
    CLOSED_MESSAGE_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    RETENTION_DAYS_MAX,
    TITLE_MAX_LENGTH,
    EventChanges,
    EventSettings,
    moments_from_local,
    phone_regions,
)
from core.events import timezone_names
from core.markup import safe_markdown
from core.money import currency_codes, currency_label
from ui import feedback

# The settings whose inputs are a date and a time in the event's time zone.
MOMENTS = {"opens_at": "Orders open", "closes_at": "Orders close",
           "change_deadline": "Attendees may change orders until",
           "vendor_cutoff_at": "Batch vendors get their list", "ends_at": "The event ends"}


def draw_settings(event: EventSettings, scope: str) -> None:
    """The event's settings as inputs under `scope`, each error (ui/feedback.Kept) beside its input."""
    key = f"{scope}.input"
    st.text_input("Title", value=event.title, key=f"{key}.title", max_chars=TITLE_MAX_LENGTH)
    feedback.show(scope, "title")
    st.text_input("Address name", value=event.slug, key=f"{key}.slug", max_chars=64,
                  help="Changing it breaks links you have already shared.")
    feedback.show(scope, "slug")
    description = st.text_area("Description (Markdown)", value=event.description, key=f"{key}.description",
                               max_chars=DESCRIPTION_MAX_LENGTH, height=200)
    feedback.show(scope, "description")
    with st.expander("Preview of the description", expanded=bool(description)):
        # As the public page shows it: raw HTML as text, only http(s), mailto and relative links live.
        st.markdown(safe_markdown(description))
    left, middle, right = st.columns(3)
    with left:
        st.color_picker("Accent colour", value=event.accent_colour, key=f"{key}.accent_colour")
        feedback.show(scope, "accent_colour")
    with middle:
        zones = timezone_names()
        timezone = st.selectbox("Time zone", zones, index=_index(zones, event.timezone), key=f"{key}.timezone")
        feedback.show(scope, "timezone")
    with right:
        regions = phone_regions()
        st.selectbox("Phone numbers from", regions, index=_index(regions, event.phone_region),
                     key=f"{key}.phone_region", help="Numbers without a country code are read as from here.")
        feedback.show(scope, "phone_region")
    codes = currency_codes()
    st.selectbox("Currency", codes, index=_index(codes, event.currency), key=f"{key}.currency",
                 format_func=currency_label, help="Of every price, total and export. Fixed once orders exist.")
    feedback.show(scope, "currency")
    st.caption(f"Dates and times below are in {timezone}.")
    for name, label in MOMENTS.items():
        _moment_inputs(scope, name, label, event.local(getattr(event, name)))
    st.text_area("Message when orders are closed", value=event.closed_message, key=f"{key}.closed_message",
                 max_chars=CLOSED_MESSAGE_MAX_LENGTH)
    feedback.show(scope, "closed_message")
    st.number_input("Keep personal data for this many days after the event ends", min_value=0,
                    max_value=RETENTION_DAYS_MAX, value=event.retention_days, step=1, key=f"{key}.retention_days")
    feedback.show(scope, "retention_days")
    st.toggle("Close orders when everything is sold out", value=event.close_when_sold_out,
              key=f"{key}.close_when_sold_out", help="Items without a stock limit never sell out.")
    st.toggle("One order per email address", value=event.one_order_per_email, key=f"{key}.one_order_per_email",
              help="A second order with the same address is refused until the first one is cancelled.")


def read_settings(scope: str) -> EventChanges:
    """The changes the inputs under `scope` ask for, the dates in the chosen time zone; raises
    EventValidationError naming each date that cannot be read."""
    state, key = st.session_state, f"{scope}.input"
    timezone = state[f"{key}.timezone"]
    picked = {name: (state[f"{key}.{name}.date"], state[f"{key}.{name}.time"]) for name in MOMENTS}
    return EventChanges(
        title=state[f"{key}.title"], slug=state[f"{key}.slug"], description=state[f"{key}.description"],
        accent_colour=state[f"{key}.accent_colour"], timezone=timezone, phone_region=state[f"{key}.phone_region"],
        currency=state[f"{key}.currency"],
        closed_message=state[f"{key}.closed_message"], retention_days=int(state[f"{key}.retention_days"]),
        close_when_sold_out=bool(state[f"{key}.close_when_sold_out"]),
        one_order_per_email=bool(state[f"{key}.one_order_per_email"]), **moments_from_local(picked, timezone))


def _index(options: tuple[str, ...], value: str) -> int | None:
    return options.index(value) if value in options else None


def _moment_inputs(scope: str, name: str, label: str, local: datetime | None) -> None:
    day, at = st.columns(2)
    day.date_input(label, value=local.date() if local else None, key=f"{scope}.input.{name}.date",
                   format="YYYY-MM-DD")
    at.time_input(f"{label} (time)", value=local.time() if local else None, key=f"{scope}.input.{name}.time",
                  help="Empty means midnight.")
    feedback.show(scope, name)
