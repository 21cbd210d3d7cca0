"""Stock on the public form (pages/form_renderer.py): sold-out variants, "only N left", refusals beside the item."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.db import read_only, unit_of_work
from core.models import Event, Item, Order, Variant, utcnow
from tests.factories import make_shop
from tests.pages.conftest import AppFactory
from tests.stock_factories import set_stock


def _texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption", "error") for e in getattr(at, kind)]


def _shop(engine: Engine, stocks: dict[tuple[str, str], int]) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        for (item_key, variant_key), stock in stocks.items():
            set_stock(session, event, item_key, variant_key, stock)


def test_sold_out_variants_and_few_left_are_shown_beside_the_item(app: AppFactory, engine: Engine) -> None:
    _shop(engine, {("tshirt", "Fitted/M"): 0, ("tshirt", "Straight/L"): 3, ("breakfast", ""): 2})
    at = app("test-event")
    assert not at.exception
    texts = _texts(at)
    assert "Sold out: Fitted, M. Only a few left: Straight, L (3)." in texts
    assert "Only 2 left." in texts  # breakfast, an item without variants


def test_an_item_with_nothing_left_is_marked_sold_out_and_offers_no_inputs(app: AppFactory, engine: Engine) -> None:
    _shop(engine, {("hoodie", size): 0 for size in ("S", "M", "L")})
    at = app("test-event")
    assert ":red-badge[Sold out]" in _texts(at)
    assert not [w for w in at.selectbox if w.key.startswith("order.test-event.items.hoodie")]
    assert [w.label for w in at.number_input] == ["T-shirt quantity", "Breakfast box quantity"]


def test_ordering_what_sold_out_meanwhile_shows_the_refusal_beside_the_item(app: AppFactory, engine: Engine) -> None:
    _shop(engine, {("tshirt", "Fitted/M"): 1})
    at = app("test-event")
    at.text_input(key="order.test-event.name").input("Ada Lovelace")
    at.text_input(key="order.test-event.email").input("ada@example.com")
    at.selectbox(key="order.test-event.items.tshirt.0.type").select("Fitted")
    at.selectbox(key="order.test-event.items.tshirt.0.size").select("M")
    at.number_input(key="order.test-event.items.tshirt.0.quantity").set_value(1)
    with unit_of_work(engine) as session:  # someone else takes the last one while the form is open
        variant = session.scalars(select(Variant).join(Item).where(Item.key == "tshirt", Variant.key == "Fitted/M")
                                  ).one()
        variant.sold = 1
    at = next(b for b in at.button if b.label == "Place order").click().run()
    assert not at.exception
    assert "T-shirt (Fitted, M) is sold out." in [e.value for e in at.error]
    with read_only(engine) as session:
        assert session.scalars(select(Order)).all() == []
        assert session.scalars(select(Event.sold_out_at)).one() is None


def test_an_event_closed_because_everything_sold_out_says_so(app: AppFactory, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, close_when_sold_out=True, sold_out_at=utcnow() - timedelta(minutes=1))
        event.closed_message = ""
    at = app("test-event")
    assert [i.value for i in at.info] == ["Everything is sold out, so orders are closed."]
    assert not at.number_input
