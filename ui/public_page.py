"""Which event the public page `/?event=<slug>` shows: the published one, or for its organisers a preview of it as
attendees will see it once it is open (issue 13); an unknown event and a broken form each get a page of their own."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st

from core import codes
from core.codes import PublicCodeRules
from core.db import read_only
from core.errors import NotFound, SchemaError
from core.event_admin import preview_event
from core.events import PublicEvent, get_header_image, get_published_event, load_public_event
from core.models import utcnow
from ui import login_session, runtime


@dataclass(frozen=True)
class ShownEvent:
    event: PublicEvent
    header_image: tuple[bytes, str] | None
    code_rules: PublicCodeRules
    preview: bool  # no order is taken: the submit button is off, and core refuses an unpublished event anyway


def load(slug: str, *, header_image: bool = True) -> ShownEvent | None:
    """The event at `slug` as the public page shows it, or None after drawing why there is none; without its
    header image (None) when the caller draws only the form."""
    if st.query_params.get("preview") == "1" and runtime.current_actor() is not None:
        # The order form also reruns alone (a fragment, pages/order_page.py), past app.py's check of the login.
        login_session.restore_session()
    actor = runtime.current_actor()
    # A preview is for the event's organisers only (core says NotFound to anyone else); the anonymous get the page
    # as the address has it.
    preview = st.query_params.get("preview") == "1" and actor is not None
    try:  # not feedback.read: an unknown event and a broken form each get a page of their own
        with read_only(runtime.engine()) as session:
            if preview:
                shown = preview_event(session, actor, slug)
                return ShownEvent(shown.event, shown.header_image if header_image else None, shown.code_rules,
                                  preview=True)
            event = load_public_event(session, slug, utcnow())
            image = get_header_image(session, slug) if header_image and event.has_header_image else None
            rules = codes.public_code_rules(session, get_published_event(session, slug))
            return ShownEvent(event, image, rules, preview=False)
    except NotFound:
        st.title("Event not found")
        st.write("There is no event at this address. Please check the link you were given.")
    except SchemaError:
        logging.getLogger(__name__).exception("stored form of event %s is broken", slug)
        st.title("This form is not available")
        st.write("The organiser is updating this order form. Please try again a little later.")
    return None


def preview_banner() -> None:
    st.warning("Preview: orders are not taken. This is the form as attendees will see it once it is published and "
               "open.", icon=":material/visibility:")
