"""The public page: `/?event=<slug>` shows an event's order form; no slug shows the landing page.

With codes (core/codes.py), a FORM-mode event asks for a code before showing the form and keeps it for the
session; an ITEMS-mode event has a code input beside the form. Wrong codes and submissions are throttled per
client. An organiser may preview an unpublished event at `/?event=<slug>&preview=1` (ui/public_page).
"""

from __future__ import annotations

import secrets

import streamlit as st

from core import codes
from core.codes import PublicCodeRules
from core.config import code_key
from core.events import EventPhase, PublicEvent, get_published_event
from core.images import stored_format
from core.markup import safe_markdown
from core.models import CodeMode, utcnow
from core.orders import OrderReceipt, submit_public_order
from ui import feedback, public_page, runtime
from ui.accent import apply_accent
from ui.form_renderer import read_answers, render_form
from ui.order_lines import show_receipt_lines


def render() -> None:
    slug = st.query_params.get("event")
    if not slug:
        _landing()
        return
    prefix = f"order.{slug}"
    if (receipt := st.session_state.get(f"{prefix}.receipt")) is not None:
        # Placed in this session: the confirmation needs nothing from the database, so no form is loaded.
        st.title(st.session_state.get(f"{prefix}.title", ""))
        _confirmation(receipt, prefix)
        return
    shown = public_page.load(slug)
    if shown is None:
        return
    event, image = shown.event, shown.header_image
    apply_accent(event.accent_colour)
    if shown.preview:
        public_page.preview_banner()
    if image is not None:
        # A banner: decorative (alt=""), the title below says what it is.
        st.image(image[0], width="stretch", output_format=stored_format(image[0]), alt="")
    st.title(event.title)
    st.markdown(safe_markdown(event.description))
    st.session_state[f"{prefix}.loaded"] = True  # this run's event is fresh: the form below need not read it again
    _form_part(slug, public_page.ShownEvent(event, None, shown.code_rules, shown.preview))


@st.fragment
def _form_part(slug: str, shown: public_page.ShownEvent) -> None:
    """The order form, or once placed the confirmation in its place. A fragment: a changed field and "Place order"
    rerun only this part, not the banner, title and app.py around it (the rush, bench/README.md). Streamlit keeps
    `shown` for the session (so it comes without the banner's bytes), and such a rerun reads the event anew: stock,
    phase and form are as current as before."""
    prefix = f"order.{slug}"
    if (receipt := st.session_state.get(f"{prefix}.receipt")) is not None:
        _confirmation(receipt, prefix)
        return
    if not st.session_state.pop(f"{prefix}.loaded", False):
        shown = public_page.load(slug, header_image=False)
        if shown is None:
            return
    if shown.event.phase == EventPhase.OPEN:
        _order_form(shown.event, shown.code_rules, preview=shown.preview)
    else:
        _not_taking_orders(shown.event)


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
    st.caption("Ordered already? [Find my order](/lookup) to see, change or cancel it.")
    st.caption("Organising an event? [Organiser login](/login)")


def _not_taking_orders(event: PublicEvent) -> None:
    if event.phase == EventPhase.CLOSED:
        closed = "Everything is sold out, so orders are closed." if event.sold_out else "Orders for this event are closed."
        st.info(safe_markdown(event.closed_message) or closed, icon=":material/event_busy:")
    elif event.opens_at is None:
        st.info("Orders for this event are not open yet.", icon=":material/schedule:")
    else:
        opens = event.local_time(event.opens_at)
        st.info(f"Orders open on {opens:%A %d %B %Y at %H:%M} ({event.timezone}).", icon=":material/schedule:")


def _order_form(event: PublicEvent, rules: PublicCodeRules, *, preview: bool = False) -> None:
    assert event.form is not None
    prefix = f"order.{event.slug}"
    if rules.mode == CodeMode.FORM and f"{prefix}.code" not in st.session_state and not preview:
        _code_gate(event, prefix)
        return
    st.session_state.setdefault(f"{prefix}.idempotency_key", secrets.token_urlsafe(24))
    errors = feedback.kept_errors(prefix)
    problem = errors.pop("", None)
    if rules.mode == CodeMode.FORM and not preview:
        _accepted_code(prefix, errors)
    render_form(event.form, event.catalogue, prefix, errors, event.currency)
    if rules.mode == CodeMode.ITEMS and rules.items_needing_code:
        st.text_input("Redemption code", key=f"{prefix}.code_input", max_chars=codes.MAX_CODE_LENGTH,
                      help="Case, spaces and hyphens don't matter.")
        st.caption(f"Needed only to order {', '.join(rules.items_needing_code)}.")
        if message := errors.get("code"):
            st.error(message, icon=":material/error:")
    if problem:
        st.error(problem)
    elif errors:
        st.error("Please correct the fields marked above; everything else you entered is kept.")
    # In a preview the button stays off; place_order refuses an unpublished or unopened event anyway.
    st.button("Place order", type="primary", on_click=_submit, args=(event, prefix, rules.mode),
              icon=":material/send:", disabled=preview)


def _code_gate(event: PublicEvent, prefix: str) -> None:
    """FORM mode: the code entry that opens the form; a valid code is kept for this session."""
    st.info("This form is for invited attendees. Please enter the code you were given.", icon=":material/key:")
    with st.form(f"{prefix}.code_entry", border=False):
        entered = st.text_input("Your code", max_chars=codes.MAX_CODE_LENGTH,
                                help="Case, spaces and hyphens don't matter.")
        if not st.form_submit_button("Open the order form", type="primary"):
            return
    # A change: a wrong code is counted (enter_code returns the refusal rather than raising).
    entry = feedback.apply(lambda session: codes.enter_code(
        session, get_published_event(session, event.slug), entered, runtime.client_address(unknown="session"),
        key=code_key(runtime.settings()), now=utcnow()))
    if entry is None:
        return
    if entry.check is None:
        st.error(entry.message, icon=":material/error:")
        return
    st.session_state[f"{prefix}.code"] = entered
    # Empty when the code is valid for every item.
    st.session_state[f"{prefix}.code_items"] = [item.name for item in event.catalogue
                                                if entry.check.item_keys and entry.check.allows(item.key)]
    st.rerun()


def _accepted_code(prefix: str, errors: dict[str, str]) -> None:
    names = st.session_state.get(f"{prefix}.code_items", [])
    st.caption("Your code is accepted." + (f" It is valid for: {', '.join(names)}." if names else ""))
    if message := errors.get("code"):
        st.error(message, icon=":material/error:")
        st.button("Enter another code", on_click=_forget_code, args=(prefix,))


def _forget_code(prefix: str) -> None:
    for key in (f"{prefix}.code", f"{prefix}.code_items"):
        st.session_state.pop(key, None)
    feedback.forget(prefix)


def _submit(event: PublicEvent, prefix: str, mode: CodeMode) -> None:
    """Runs before the rerun that follows the click, so errors appear beside their fields in that same run."""
    assert event.form is not None
    state = st.session_state
    code = {CodeMode.FORM: state.get(f"{prefix}.code"), CodeMode.ITEMS: state.get(f"{prefix}.code_input")}.get(mode)
    answers = read_answers(event.form, event.catalogue, prefix)
    settings = runtime.settings()
    receipt = feedback.attempt(lambda: submit_public_order(
        runtime.engine(), event.slug, answers, client=runtime.client_address(unknown="session"),
        code=code or "",  # NONE mode sends none: a code typed anyway would be ignored
        idempotency_key=state[f"{prefix}.idempotency_key"], code_key=code_key(settings),
        check_deliverability=settings.email_check_deliverability, now=utcnow()), feedback.Kept(prefix))
    if receipt is not None:  # returned once the order is committed: never a reference for an order not stored
        state[f"{prefix}.receipt"], state[f"{prefix}.title"] = receipt, event.title


def _confirmation(receipt: OrderReceipt, prefix: str) -> None:
    if receipt.created:
        st.success("Thank you, your order has been received.", icon=":material/check_circle:")
    else:
        # The same answers came in again (a retry after a reload or a crash): no second order was placed.
        st.info(f"You already placed this order, reference {receipt.reference}. Nothing new was ordered.",
                icon=":material/check_circle:")
    st.markdown(f"Your order reference is **`{receipt.reference}`**. Please keep it: you will need it if you "
                "contact the organiser about your order.")
    show_receipt_lines(receipt.lines, receipt.total, receipt.currency)
    # The secret is known only in the run that placed the order; the mail carries the same link.
    link = f"/lookup?t={receipt.lookup_token}" if receipt.lookup_token else "/lookup"
    st.markdown(f"You can see, change or cancel your order on [Find my order]({link}), also linked in your "
                "confirmation mail.")
    st.button("Place another order", on_click=_start_over, args=(prefix,))


def _start_over(prefix: str) -> None:
    for key in [key for key in st.session_state if str(key).startswith(f"{prefix}.")]:
        del st.session_state[key]
