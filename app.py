"""Event Orders: wires settings, the database, the login and the pages together; every rule lives in core/."""

import streamlit as st

from core.config import code_key, cookie_key
from pages import (
    account_page,
    audit_page,
    codes_page,
    dashboard_page,
    events_page,
    exports_page,
    form_builder_page,
    items_page,
    login_page,
    lookup_page,
    mail_templates_page,
    new_password_page,
    order_page,
    orders_page,
    outbox_page,
    purge_page,
    status_upload_page,
    users_page,
    vendor_page,
    vendors_page,
)
from ui import login_session, runtime

WIDE_PAGES = {"dashboard", "orders", "exports", "events", "form-builder", "items", "codes", "vendors", "mail-templates",
              "outbox", "audit", "users", "status-upload"}


def main() -> None:
    # Title and icon before st.navigation: otherwise the browser first gets the page's :material/...: icon as the
    # favicon and fetches it from fonts.gstatic.com (a third party learns of each visit; deploy/'s CSP refuses
    # it). An emoji is drawn as a data: URL.
    st.set_page_config(page_title="Event Orders", page_icon="🧾")
    try:
        cookie_key(runtime.settings())  # refuse to start with a missing or weak key (outside the demo)
        code_key(runtime.settings())
    except ValueError as exc:
        _set_layout(wide=False)
        st.error(f"Event Orders is not configured: {exc}")
        st.stop()
    runtime.engine()  # migrate before the first page touches the database
    runtime.start_scheduler()
    login_session.restore_session()
    sections = _pages()
    runtime.register_pages({p.url_path or "order": p for pages in sections.values() for p in pages})
    page = st.navigation(sections, position="hidden")
    actor = runtime.current_actor()
    logged_in = actor is not None
    if logged_in:
        _land(page.url_path, actor.must_change_password)
    # Tables and the builder's preview need the room. The layout is set once per run, with the final value: a
    # "centered" call followed by a "wide" one leaves the page narrow after a rerun (Streamlit 1.67).
    _set_layout(wide=logged_in and page.url_path in WIDE_PAGES)
    if logged_in:
        _draw_navigation(sections)
        login_session.store_login_cookie()
    page.run()
    runtime.freeze_startup_heap()


def _land(url_path: str, must_change_password: bool) -> None:
    """Send a logged-in organiser from the login page, and from the bare landing page, to their Dashboard; one
    whose password someone else knows to the screen that replaces it, from everywhere but the public pages."""
    home = runtime.NEW_PASSWORD_PATH if must_change_password else "dashboard"
    bare_landing = url_path == "" and not st.query_params.get("event")
    if url_path != home and (bare_landing or url_path in ("login", runtime.NEW_PASSWORD_PATH)):
        runtime.switch_to(home)


def _set_layout(*, wide: bool) -> None:
    st.set_page_config(layout="wide" if wide else "centered")


def _draw_navigation(sections: dict[str, list[st.Page]]) -> None:
    """Our own sidebar menu: config.toml hides Streamlit's, which would also list the raw pages/ files."""
    with st.sidebar:
        for section, pages in sections.items():
            st.caption(section)
            for page in pages:
                if page.visibility != "hidden":
                    st.page_link(page)


def _pages() -> dict[str, list[st.Page]]:
    """Only a logged-in session gets the organiser pages; each page also checks the login itself."""
    actor = runtime.current_actor()
    # The login page stays registered after logging in (hidden), so the run right after a login finds it.
    public_pages = [
        st.Page(order_page.render, title="Order form", url_path="order", icon=":material/shopping_bag:", default=True),
        st.Page(lookup_page.render, title="Find my order", url_path="lookup", icon=":material/search:"),
        st.Page(login_page.render, title="Organiser login", url_path="login", icon=":material/login:",
                visibility="hidden" if actor else "visible"),
        # A vendor's portal, reached only by its secret link: not in any menu.
        st.Page(vendor_page.render, title="Vendor orders", url_path="vendor", icon=":material/local_shipping:",
                visibility="hidden"),
    ]
    if actor is None:
        return {"": public_pages}
    # The url_path as written (tests/test_architecture.py reads it): runtime.NEW_PASSWORD_PATH.
    new_password = st.Page(new_password_page.render, title="Set a new password", url_path="new-password",
                           icon=":material/password:", visibility="visible" if actor.must_change_password else "hidden")
    if actor.must_change_password:  # nothing else until then; core refuses them too (auth.require_own_password)
        return {"Account": [new_password], "Public": public_pages}
    organiser = [
        st.Page(dashboard_page.render, title="Dashboard", url_path="dashboard", icon=":material/dashboard:"),
        st.Page(orders_page.render, title="Orders", url_path="orders", icon=":material/receipt_long:"),
        st.Page(status_upload_page.render, title="Status upload", url_path="status-upload", icon=":material/upload_file:"),
        st.Page(exports_page.render, title="Exports", url_path="exports", icon=":material/table_view:"),
        st.Page(events_page.render, title="Events", url_path="events", icon=":material/event:"),
        st.Page(form_builder_page.render, title="Form builder", url_path="form-builder", icon=":material/edit_note:"),
        st.Page(items_page.render, title="Items", url_path="items", icon=":material/checkroom:"),
        st.Page(codes_page.render, title="Codes", url_path="codes", icon=":material/key:"),
        st.Page(vendors_page.render, title="Vendors", url_path="vendors", icon=":material/local_shipping:"),
        st.Page(mail_templates_page.render, title="Mail templates", url_path="mail-templates", icon=":material/mail:"),
        st.Page(outbox_page.render, title="Outbox", url_path="outbox", icon=":material/outbox:"),
        st.Page(audit_page.render, title="Audit log", url_path="audit", icon=":material/history:"),
        st.Page(purge_page.render, title="Purge data", url_path="purge", icon=":material/delete_forever:"),
    ]
    account_pages = [st.Page(account_page.render, title="Account", url_path="account", icon=":material/person:"),
                     new_password]
    if actor.is_admin:
        account_pages.insert(0, st.Page(users_page.render, title="Users", url_path="users", icon=":material/group:"))
    return {"Organiser": organiser, "Account": account_pages, "Public": public_pages}


main()
