"""The Dashboard page through AppTest: figures, charts and notices of the chosen event only."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Engine
from streamlit import config

from core.auth import Actor
from core.db import unit_of_work
from core.models import OrderStatus, utcnow
from tests.factories import make_shop, make_user
from tests.factories.events import make_member, make_order
from tests.pages.conftest import render_page

TSHIRT_M = {"item": "tshirt", "options": {"type": "Fitted", "size": "M"}}


_dashboard_page = partial(render_page, "dashboard_page")


@pytest.fixture
def alice(engine: Engine) -> Actor:
    """An organiser of an open event with three orders (one cancelled) and a stranger's event beside it."""
    with unit_of_work(engine) as session:
        alice = make_user(session, "alice")
        event = make_shop(session, slug="alices-event", title="Alice's event", ends_at=utcnow() + timedelta(days=9))
        make_member(session, event, alice)
        make_order(session, event, [{**TSHIRT_M, "quantity": 2}], key="a", name="Ada Lovelace")
        make_order(session, event, [{"item": "hoodie", "options": {"size": "L"}, "quantity": 1}], key="b",
                   now=utcnow() - timedelta(days=2))
        make_order(session, event, [{**TSHIRT_M, "quantity": 5}], key="c", status=OrderStatus.CANCELLED)
        bob = make_user(session, "bob")
        make_member(session, make_shop(session, slug="bobs-event", title="Bob's event"), bob)
        return alice


def test_the_page_refuses_an_anonymous_session(alice: Actor) -> None:
    at = _dashboard_page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.title and not at.metric and not at.get("vega_lite_chart")


def test_the_dashboard_shows_the_figures_charts_and_link_of_the_organisers_event(alice: Actor) -> None:
    at = _dashboard_page(alice)
    assert not at.exception
    assert at.title[0].value == "Alice's event"
    assert at.sidebar.selectbox(key="organiser.event_id").options == ["Alice's event"]
    assert {m.label: m.value for m in at.metric} == {
        "Orders": "2", "Cancelled": "1", "Items ordered": "3", "Order value": "€55.00"}
    assert at.markdown[0].value.startswith(":green-badge[Open] · [Open the public page](/?event=alices-event)")
    assert at.markdown[1].value == "Orders are open."
    dates = at.markdown[-1].value.splitlines()  # the last: the setup checklist comes before it
    assert [line.rsplit(": ", 1)[0] for line in dates] == ["- :material/schedule: Event ends",
                                                       "- :material/schedule: Personal data to be deleted"]
    items_chart, per_day_chart = (json.loads(c.proto.spec) for c in at.get("vega_lite_chart"))
    assert {items_chart["encoding"]["x"]["field"], items_chart["encoding"]["y"]["field"]} == {"Item", "Quantity"}
    assert per_day_chart["encoding"]["x"]["field"] == "Day"
    assert at.dataframe[0].value.to_dict("records") == [
        {"Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 2},
        {"Item": "Hoodie", "Variant": "L", "Quantity": 1}]
    assert "Ada" not in str(at.main)


def test_an_event_without_orders_shows_its_notices_and_no_charts(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        carol = make_user(session, "carol")
        make_member(session, make_shop(session, slug="draft", published=False), carol)
    at = _dashboard_page(carol)
    assert not at.exception
    assert [i.value for i in at.info] == ["This event is a draft: attendees cannot see it until you publish it."]
    assert "personal data is kept" in at.warning[0].value
    assert at.markdown[0].value.startswith(":gray-badge[Draft] · ")
    assert [c.value for c in at.caption] == ["Nothing ordered yet.", "No orders yet.",
                                             "No dates are set yet; set them on the Events page."]
    assert not at.get("vega_lite_chart")


def test_an_organiser_without_events_is_pointed_to_the_events_page(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        dave = make_user(session, "dave")
        make_shop(session)  # someone else's
    at = _dashboard_page(dave)
    assert not at.exception
    assert "Create one on the Events page" in at.info[0].value
    assert not at.metric


def test_the_dashboard_shows_the_setup_checklist_with_what_is_missing(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        carol = make_user(session, "carol")
        make_member(session, make_shop(session, slug="draft", published=False), carol)
    at = _dashboard_page(carol)
    checklist = at.expander[0]
    assert checklist.label == "Setup checklist: 2 of 7 done"
    lines = [m.value for m in checklist.markdown]
    assert ":material/check_circle: Order form" in lines and ":material/check_circle: Items" in lines
    assert ":material/radio_button_unchecked: **Published**: Attendees cannot see the form until it is published." \
        in lines
    assert "[Publish it](/events)" in lines  # a page run alone links by address; in app.py, st.page_link


def test_the_dashboard_warns_when_mail_links_lead_to_another_port(engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with unit_of_work(engine) as session:
        carol = make_user(session, "carol")
        make_member(session, make_shop(session, slug="fair"), carol)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    assert not [w for w in _dashboard_page(carol).warning if "PUBLIC_BASE_URL" in w.value]
    port = config.get_option("server.port")
    config.set_option("server.port", 8601)  # as `streamlit run --server.port 8601` without PUBLIC_BASE_URL
    try:
        at = _dashboard_page(carol)
    finally:
        config.set_option("server.port", port)
    assert [w.value for w in at.warning if "PUBLIC_BASE_URL" in w.value] == [
        "PUBLIC_BASE_URL is not set, so links in mail lead to http://127.0.0.1:8501, but this app serves on port "
        "8601. Set PUBLIC_BASE_URL (README, Configuration), or start it with `make run PORT=...`, which sets it."]
