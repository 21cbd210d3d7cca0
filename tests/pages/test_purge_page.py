"""The Purge data page through AppTest: its guard, the dry run, the export first, the retyped slug, the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, OrderPersonalData, PurgeReceipt
from tests.factories import make_shop, make_user
from tests.factories.exports import read_sheets, records
from tests.factories.orders import place
from tests.pages.conftest import button, render_page


@dataclass(frozen=True)
class Shop:
    alice: Actor
    reference: str
    event_id: int


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """Alice's event with one order, Bob's event beside it with another."""
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="alices-event", title="Alice's event")
        alice = make_user(session, "alice", member_of=[event])
        reference = place(session, event, "a", name="Ada Lovelace")
        other = make_shop(session, slug="bobs-event", title="Bob's event")
        make_user(session, "bob", member_of=[other])
        place(session, other, "b", name="Grace Hopper")
        return Shop(alice, reference, event.id)


_page = partial(render_page, "purge_page")


def _personal_rows(engine: Engine) -> int:
    with read_only(engine) as session:
        return len(session.scalars(select(OrderPersonalData.order_id)).all())


def test_the_page_refuses_an_anonymous_session(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.title and not at.button and not at.dataframe


def test_the_dry_run_shows_what_would_go_and_when(shop: Shop) -> None:
    at = _page(shop.alice)
    assert not at.exception
    assert at.title[0].value == "Purge data"
    assert at.sidebar.selectbox(key="organiser.event_id").options == ["Alice's event"]
    counts = dict(zip(at.dataframe[0].value["What"], at.dataframe[0].value["Records"], strict=True))
    assert counts["Order lookup links"] == 1
    assert counts["Orders with personal answers (names, emails, phones, addresses, personal fields)"] == 1
    assert "never purged automatically" in at.info[0].value  # the shop has no end and no close
    assert "Kept: 1 order and 1 order line (" in " ".join(c.value for c in at.caption)
    assert "No event of yours has been purged yet." in [c.value for c in at.caption]


def test_a_wrong_slug_is_refused_beside_the_box_and_nothing_is_purged(shop: Shop, engine: Engine) -> None:
    at = _page(shop.alice)
    at.text_input(key=f"purge.{shop.event_id}.slug").set_value("bobs-event")
    button(at, "Destroy the personal data now").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Type the event's address name, alices-event, to confirm."]
    assert _personal_rows(engine) == 2


def test_export_first_then_purge_shows_the_receipt_and_lists_it(shop: Shop, engine: Engine) -> None:
    at = _page(shop.alice)
    button(at, "Prepare an export of all orders (XLSX)").click().run()
    assert [b.label for b in at.download_button] == ["Download the export"]
    exported = at.session_state[f"purge.{shop.event_id}.export"]  # the ExportFile behind the button
    assert [row["Name"] for row in records(read_sheets(exported.data)["Orders"])] == ["Ada Lovelace"]

    at.text_input(key=f"purge.{shop.event_id}.slug").set_value(" alices-event ")
    button(at, "Destroy the personal data now").click().run()
    assert not at.exception and not at.error
    assert at.status[0].label == "Purged."
    assert "destroyed" in at.success[0].value and "by alice" in at.success[0].value
    # The dry run and the form are gone; the receipt's counts and the list of receipts remain.
    assert "Destroy the personal data now" not in [b.label for b in at.button] and not at.text_input
    assert len(at.dataframe) == 2 and at.dataframe[-1].value["By"].tolist() == ["alice"]
    assert _personal_rows(engine) == 1  # Bob's order keeps its data
    with read_only(engine) as session:
        [receipt] = session.scalars(select(PurgeReceipt)).all()
        assert session.get_one(Event, shop.event_id).purged_at == receipt.at

    again = _page(shop.alice)  # a later visit: the receipt instead of the form
    assert not again.exception
    assert "Destroy the personal data now" not in [b.label for b in again.button]
    assert f"receipt {receipt.id}" in again.success[0].value
    past = again.dataframe[-1].value
    assert past[["Event", "By"]].to_dict("records") == [{"Event": "Alice's event", "By": "alice"}]
    assert int(past["Records destroyed"].iloc[0]) >= 2
