"""Money on the screens through AppTest: the currency on the event settings, prices and a running total on the
public form, and the total in the confirmation, in the event's currency."""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.db import read_only, unit_of_work
from core.demo import seed_demo
from core.models import Event
from tests.factories import make_shop, make_user
from tests.factories.events import make_member
from tests.factories.orders import place
from tests.pages.conftest import AppFactory, click, render_page

_events_page = partial(render_page, "events_page")


def _markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def _demo_in(engine: Engine, currency: str) -> None:
    with unit_of_work(engine) as session:
        seed_demo(session)
        session.flush()
        session.query(Event).filter_by(slug="demo").one().currency = currency


def test_prices_and_the_running_total_are_in_the_events_currency(app: AppFactory, engine: Engine) -> None:
    _demo_in(engine, "GBP")
    at = app("demo")
    assert not at.exception
    texts = _markdown(at)
    assert "**T-shirt** · £15.00" in texts and "**Hoodie** · £35.00" in texts
    assert "**Total: £0.00**" in texts  # before anything is chosen
    at.number_input(key="order.demo.items.tshirt.0.quantity").set_value(2).run()
    at.number_input(key="order.demo.items.hoodie.0.quantity").set_value(1).run()
    # Updated on the rerun each change makes, before anything is submitted.
    assert "**Total: £65.00**" in _markdown(at)
    assert "**Total: £0.00**" not in _markdown(at)


def test_the_confirmation_shows_the_orders_total_in_its_currency(app: AppFactory, engine: Engine) -> None:
    _demo_in(engine, "CHF")
    at = app("demo")
    at.text_input(key="order.demo.name").input("Ada Lovelace")
    at.text_input(key="order.demo.email").input("ada@example.com")
    at.selectbox(key="order.demo.items.tshirt.0.type").select("Fitted")
    at.selectbox(key="order.demo.items.tshirt.0.size").select("M")
    at.selectbox(key="order.demo.items.tshirt.0.colour").select("Black")
    at.number_input(key="order.demo.items.tshirt.0.quantity").set_value(2)
    at.checkbox(key="order.demo.consent").check()
    at = next(b for b in at.button if b.label == "Place order").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Thank you, your order has been received."]
    assert "**Total: CHF\u00a030.00**" in _markdown(at)
    [lines] = at.table
    assert lines.value["Price each"].tolist() == ["CHF\u00a015.00"]


def test_the_organiser_sets_the_currency_on_the_event_settings(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        alice = make_user(session, "alice")
        event = make_shop(session, published=False)
        make_member(session, event, alice)
        event_id = event.id
    at = _events_page(alice)
    currency = at.selectbox(key=f"event.{event_id}.input.currency")
    assert currency.value == "EUR"
    assert "USD · US Dollar" in currency.options  # with its name: codes alone are hard to tell apart
    assert not any(option.startswith("DEM") for option in currency.options)  # only currencies in use today
    currency.select("SEK")
    at = click(at, "Save details")
    assert not at.exception
    with read_only(engine) as session:
        assert session.get_one(Event, event_id).currency == "SEK"


def test_a_currency_change_after_orders_is_refused_beside_the_currency(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        alice = make_user(session, "alice")
        event = make_shop(session)
        make_member(session, event, alice)
        place(session, event, "k")
        event_id = event.id
    at = _events_page(alice)
    at.selectbox(key=f"event.{event_id}.input.currency").select("USD")
    at = click(at, "Save details")
    assert "The currency stays EUR" in " ".join(e.value for e in at.error)
    with read_only(engine) as session:
        assert session.get_one(Event, event_id).currency == "EUR"
