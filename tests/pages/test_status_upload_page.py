"""The Status upload page (`/status-upload`) through AppTest: a vendor's CSV previewed, then only its valid rows
applied. (Status changes on the Orders page are in test_orders_page.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.fulfilment import LINE_STATUS, change_status
from core.models import Order, OrderLine, OrderStatus
from tests.factories.exports import ADDRESS, BREAKFAST, make_world, place_at
from tests.factories.orders import TwoOrders, make_two_orders, tshirts
from tests.pages.conftest import click, render_page

TRACKING = "https://carrier.example/track/JD0146"


@pytest.fixture
def shop(engine: Engine) -> TwoOrders:
    return make_two_orders(engine)


# --- Status upload page --------------------------------------------------------------------------------------------------


def _upload_page(shop: TwoOrders, actor: Actor | None = None) -> AppTest:
    return render_page("status_upload_page", actor or shop.organiser, event_id=shop.event_id)


def test_anonymous_sessions_see_the_login_warning_only(shop: TwoOrders) -> None:
    at = render_page("status_upload_page")
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.file_uploader


def test_an_upload_is_previewed_and_only_its_valid_rows_are_applied(shop: TwoOrders) -> None:
    at = _upload_page(shop)
    csv = f"reference;status;tracking\n{shop.ada};Shipped;JD0146\n{shop.grace};teleported;\nNOPE2345;shipped;\n"
    at.file_uploader[0].set_value(("vendor.csv", csv.encode(), "text/csv")).run()
    assert not at.exception
    assert not at.main.selectbox  # no vendors in this event: nothing to ask
    frame = at.dataframe[0].value
    assert list(frame["ok"]) == [True, False, False]
    assert frame.loc[2, "outcome"] == "There is no order NOPE2345 in this event."
    assert shop.status(shop.ada) == OrderStatus.RECEIVED  # nothing yet
    at.checkbox(key="status_upload.notify").check()
    at = click(at, "Apply 1 change")
    assert not at.exception
    assert [s.value for s in at.success] == ["1 order updated; 2 rows with errors skipped."]
    assert (shop.status(shop.ada), shop.status(shop.grace)) == (OrderStatus.SHIPPED, OrderStatus.RECEIVED)
    assert [m.recipients for m in shop.status_mails()] == [["ada@example.com"]]
    assert at.file_uploader[0].value is None  # a fresh uploader for the next file
    assert not at.dataframe


def test_a_file_that_cannot_be_read_is_explained_beside_the_uploader(shop: TwoOrders) -> None:
    at = _upload_page(shop)
    at.file_uploader[0].set_value(("vendor.csv", b"ref\xe9rence,status\n", "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."]
    assert not at.dataframe and not at.button


def test_a_vendors_file_moves_only_that_vendors_items(engine: Engine) -> None:
    world = make_world(engine)
    ada = place_at(world, "a", [*tshirts(2), *BREAKFAST], delivery=ADDRESS)
    at = render_page("status_upload_page", world.alice, event_id=world.event_id)
    whose = at.selectbox(key=f"status_upload.vendor.{world.event_id}.0")
    assert whose.options == ["No vendor's (mine, or several vendors'): move whole orders",
                             "From Caterer: move only the items it makes", "From Print Shop: move only the items it makes"]
    at = whose.set_value(world.caterer_id).run()
    at.file_uploader[0].set_value(("bakery.csv", f"reference,status\n{ada},Delivered\n".encode(), "text/csv")).run()
    assert not at.exception
    assert list(at.dataframe[0].value["outcome"]) == ["Received → delivered"]
    at = click(at, "Apply 1 change")
    assert [s.value for s in at.success] == ["1 order updated."]
    assert at.main.selectbox[0].value is None  # the next file is asked about anew
    with read_only(engine) as session:
        lines = dict(session.execute(select(OrderLine.item_key, LINE_STATUS).join(Order, Order.id == OrderLine.order_id)
                                     .where(Order.reference == ada)).all())
        order_status = session.scalar(select(Order.status).where(Order.reference == ada))
    assert lines == {"tshirt": OrderStatus.RECEIVED, "breakfast": OrderStatus.DELIVERED}
    assert order_status == OrderStatus.RECEIVED


def test_apply_takes_the_preview_that_was_shown_and_refuses_it_when_an_order_moved_since(shop: TwoOrders) -> None:
    at = _upload_page(shop)
    csv = f"reference,status\n{shop.ada},shipped\n{shop.grace},shipped\n"
    at.file_uploader[0].set_value(("vendor.csv", csv.encode(), "text/csv")).run()
    assert list(at.dataframe[0].value["ok"]) == [True, True]
    with unit_of_work(shop.engine) as session:  # another organiser delivers Grace's order meanwhile
        change_status(session, shop.organiser, shop.event_id, [shop.grace], OrderStatus.DELIVERED)
    at = click(at, "Apply 2 changes")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Orders changed since the preview (row 3). Look at the new preview and apply again."]
    assert shop.status(shop.ada) == OrderStatus.RECEIVED  # nothing applied, not even the row that still could be
    assert list(at.dataframe[0].value["ok"]) == [True, False]  # the new preview
