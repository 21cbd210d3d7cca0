"""Vendors: add, edit and delete an organiser's vendors, and choose which vendor makes each item of the event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from core import vendors
from core.auth import Actor
from core.event_admin import EventSummary
from core.models import VendorMode
from core.vendors import VendorOverview, VendorView
from ui import feedback, fresh, runtime
from ui.vendor_links import show_portal_links

# Every successful change starts a new generation of the forms, drawn afresh from the database.
SCOPE = "vendors"
CONFIRM_DELETE_KEY = "vendors.confirm_delete"
MODE_SHORT = {VendorMode.PER_ORDER: "per order", VendorMode.BATCH: "batch"}
FIELDS_HELP = ("Which answers of the order form this vendor may see; the items routed to it are always included. "
               "Type a key to add a field of another event's form.")


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    st.title("Vendors")
    st.caption("Who makes or delivers your items, how they get orders, and what they may see of them.")
    overview = feedback.read(lambda session: vendors.vendor_overview(session, actor, event.id if event else None))
    if overview is None:
        return
    fresh.show_notice(SCOPE)
    generation = fresh.generation(SCOPE)
    if event is not None:
        _where_fields_and_cutoff_come_from(overview)
    if overview.vendors:
        st.dataframe([{"Name": v.name, "Mode": MODE_SHORT[v.mode], "Emails": ", ".join(v.emails),
                       "May see": ", ".join(v.visible_fields), **({"Owner": v.owner} if actor.is_admin else {})}
                      for v in overview.vendors], hide_index=True, width="stretch")
        _edit(actor, overview, generation)
    else:
        st.info("You have no vendors yet. Add the first one below.", icon=":material/storefront:")
    _add(actor, overview, generation)
    if event is not None:
        _routes(actor, event, overview, generation)
        show_portal_links(actor, event, overview)


def _where_fields_and_cutoff_come_from(overview: VendorOverview) -> None:
    if overview.form_fields:
        st.caption("The fields a vendor may see come from this event's saved form: a field added in the Form "
                   "builder appears here once the form is saved.")
    else:
        st.info("This event has no saved form yet, so there are no fields to let a vendor see. Save the form in "
                "the Form builder first; its fields then appear under May see.", icon=":material/info:")
    if overview.batch_cutoff:
        st.caption(f"Batch vendors get one list of all their lines at the cutoff: {overview.batch_cutoff}.")
    else:
        st.caption("Batch vendors: no cutoff is set for this event (Events page, \"Batch vendors get their "
                   "list\"), so they get their list when you send it from the Exports page.")


class _Inputs(NamedTuple):
    name: str
    emails: str
    mode: VendorMode
    visible_fields: list[str]


def _vendor_inputs(form: str, overview: VendorOverview, slots: dict[str, DeltaGenerator],
                   vendor: VendorView | None = None) -> _Inputs:
    """The inputs of a vendor's settings, with an empty slot under each for its error."""
    name = st.text_input("Name", value=vendor.name if vendor else "", max_chars=vendors.NAME_MAX_LENGTH,
                         key=f"{form}.name")
    slots["name"] = st.empty()
    emails = st.text_area("Emails", value="\n".join(vendor.emails) if vendor else "", key=f"{form}.emails",
                          help="One or more addresses, one per line or separated by commas.")
    slots["emails"] = st.empty()
    mode = st.radio("How they get orders", list(VendorMode), format_func=vendors.MODE_LABELS.get,
                    index=list(VendorMode).index(vendor.mode) if vendor else 0, key=f"{form}.mode")
    slots["mode"] = st.empty()
    labels = overview.form_fields
    chosen = list(vendor.visible_fields) if vendor else []
    visible = st.multiselect("May see", [*labels, *(key for key in chosen if key not in labels)], default=chosen,
                             format_func=lambda key: f"{labels[key]} ({key})" if key in labels else key,
                             accept_new_options=True, help=FIELDS_HELP, key=f"{form}.visible_fields")
    slots["visible_fields"] = st.empty()
    return _Inputs(name, emails, mode, visible)


def _add(actor: Actor, overview: VendorOverview, generation: int) -> None:
    st.subheader("Add a vendor")
    form = f"vendors.add.{generation}"
    with st.form(form):
        slots: dict[str, DeltaGenerator] = {}
        given = _vendor_inputs(form, overview, slots)
        if st.form_submit_button("Add vendor", type="primary"):
            _change(slots, lambda session: vendors.create_vendor(session, actor, **given._asdict()),
                    f"Added {given.name.strip()}.")


def _edit(actor: Actor, overview: VendorOverview, generation: int) -> None:
    st.subheader("Edit a vendor")
    by_id = {vendor.id: vendor for vendor in overview.vendors}
    chosen = by_id[st.selectbox("Vendor", list(by_id), format_func=lambda i: by_id[i].name, key="vendors.chosen")]
    form = f"vendors.edit.{chosen.id}.{generation}"
    with st.form(form):
        slots: dict[str, DeltaGenerator] = {}
        given = _vendor_inputs(form, overview, slots, chosen)
        if st.form_submit_button("Save changes", type="primary"):
            _change(slots, lambda session: vendors.update_vendor(session, actor, chosen.id, **given._asdict()),
                    f"Saved {given.name.strip()}.")
    if st.session_state.get(CONFIRM_DELETE_KEY) == chosen.id:
        st.warning(f"Delete {chosen.name}? Items routed to it go back to the organisers; the register of what it "
                   "received stays.", icon=":material/warning:")
        yes, no = st.columns(2)
        if yes.button("Yes, delete", key="vendors.delete_yes", type="primary"):
            st.session_state.pop(CONFIRM_DELETE_KEY, None)
            _change({}, lambda session: vendors.delete_vendor(session, actor, chosen.id), f"Deleted {chosen.name}.")
        if no.button("No, keep it", key="vendors.delete_no"):
            st.session_state.pop(CONFIRM_DELETE_KEY, None)
            st.rerun()
    elif st.button(f"Delete {chosen.name}…", key="vendors.delete", icon=":material/delete:"):
        st.session_state[CONFIRM_DELETE_KEY] = chosen.id
        st.rerun()


def _routes(actor: Actor, event: EventSummary, overview: VendorOverview, generation: int) -> None:
    st.subheader("Who makes each item")
    st.caption(f"For {event.title}. New orders follow these choices; orders already placed keep theirs.")
    if not overview.routes:
        st.info("This event has no items yet. Add them on the Items page.", icon=":material/inventory_2:")
        return
    names = {vendor.id: f"{vendor.name} ({MODE_SHORT[vendor.mode]})" for vendor in overview.vendors}
    # An item may go to a vendor of another organiser of the event: shown, kept, but not offered to others.
    names.update({route.vendor_id: route.vendor_name for route in overview.routes
                  if route.vendor_id is not None and route.vendor_id not in names})
    form = f"vendors.routes.{event.id}.{generation}"
    with st.form(form):
        chosen: dict[str, int | None] = {}
        for route in overview.routes:
            options: list[int | None] = [None, *(v.id for v in overview.vendors)]
            if route.vendor_id not in options:
                options.append(route.vendor_id)
            chosen[route.item_key] = st.selectbox(
                route.item_name, options, index=options.index(route.vendor_id), key=f"{form}.{route.item_key}",
                format_func=lambda i: "The organisers (no vendor)" if i is None else names[i])
        if st.form_submit_button("Save routing", type="primary"):
            changes = {route.item_key: chosen[route.item_key] for route in overview.routes
                       if chosen[route.item_key] != route.vendor_id}
            _change({}, lambda session: vendors.route_items(session, actor, event.id, changes),
                    f"{len(changes)} item{'s' if len(changes) != 1 else ''} routed.")


def _change(slots: Mapping[str, DeltaGenerator], change: Callable[[Session], object], done: str) -> None:
    """Run one change; show each error beside its input, or refresh the page on success."""
    if feedback.apply(change, slots) is not None:
        fresh.refresh(SCOPE, done)
