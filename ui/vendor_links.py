"""A vendor's portal links on the Vendors page: create, rotate or revoke one per vendor of the event; a new one is
shown once."""

from __future__ import annotations

import streamlit as st

from core import vendor_portal
from core.auth import Actor
from core.event_admin import EventSummary
from core.vendors import VendorOverview
from ui import feedback, runtime

SCOPE = "vendors.links"
NEW_LINK_KEY = "vendors.new_link"  # (vendor name, path with the secret): shown once, then gone


def show_portal_links(actor: Actor, event: EventSummary, overview: VendorOverview) -> None:
    """Per vendor of the event's items: its portal link, created, rotated or revoked here; a new one shown once."""
    routed = {route.vendor_id: route.vendor_name for route in overview.routes if route.vendor_id is not None}
    if not routed:
        return
    st.subheader("Vendor portal links")
    st.caption("A vendor's secret link shows it only its own orders of this event and the fields it may see, and "
               "lets it update their status. Anyone with the link can open it.")
    feedback.show(SCOPE)
    if new := st.session_state.pop(NEW_LINK_KEY, None):
        name, path = new
        st.success(f"New link for {name}. Copy it now: it is shown only this once.", icon=":material/link:")
        st.code(f"{runtime.settings().public_base_url or ''}{path}", language=None)
    active = feedback.read(lambda session: {link.vendor_id: link for link in
                                            vendor_portal.list_vendor_links(session, actor, event.id) if link.active})
    if active is None:
        return
    for vendor_id, name in routed.items():
        label, mails, make, revoke = st.columns([3, 2, 1, 1], vertical_alignment="center")
        in_mails = vendor_id in active and active[vendor_id].in_mails
        label.text(f"{name}: {'has an active link' if vendor_id in active else 'no link'}"
                   + (", in its mails" if in_mails else ""))
        mails.checkbox("Put the new link in its mails", key=f"vendors.link_mails.{vendor_id}",
                       help="Its order mails and lists then carry the link: anyone who can read them can open "
                            "the portal. Only a new link can be put in mails.")
        make.button("New link" if vendor_id in active else "Create link", key=f"vendors.link.{vendor_id}",
                    on_click=_make_link, args=(actor, event.id, vendor_id, name))
        if vendor_id in active:
            revoke.button("Revoke", key=f"vendors.revoke.{vendor_id}", on_click=_revoke_link,
                          args=(actor, event.id, vendor_id, name))


def _make_link(actor: Actor, event_id: int, vendor_id: int, name: str) -> None:
    in_mails = bool(st.session_state.get(f"vendors.link_mails.{vendor_id}"))
    new = feedback.apply(lambda session: vendor_portal.create_vendor_link(
        session, actor, event_id, vendor_id, settings=runtime.settings(), in_mails=in_mails), feedback.Kept(SCOPE))
    if isinstance(new, vendor_portal.NewVendorLink):
        st.session_state[NEW_LINK_KEY] = (name, new.path)


def _revoke_link(actor: Actor, event_id: int, vendor_id: int, name: str) -> None:
    feedback.apply(lambda session: vendor_portal.revoke_vendor_link(session, actor, event_id, vendor_id),
                   feedback.Kept(SCOPE), done=f"{name}'s link no longer works.")
