"""The vendor's portal page and the Vendors page's link section through AppTest."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import MessageKind, OrderStatus, OrderStatusChange, OutboxMessage, VendorLink
from core.vendor_portal import NOT_A_LINK, create_vendor_link
from tests.factories import make_shop, make_user
from tests.factories.exports import make_vendor, route
from tests.factories.orders import hoodie, place, tshirts
from tests.pages.conftest import button, click, render_page


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    alice: Actor
    token: str
    ada: str
    grace: str


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="alices-event", title="Alice's event")
        alice = make_user(session, "alice", member_of=[event])
        printer = make_vendor(session, "Print Shop", visible_fields=["name"])
        route(session, event, printer, "tshirt")
        ada = place(session, event, "a", items=[*tshirts(2), *hoodie(1)], name="<b>Ada</b>", phone="")
        grace = place(session, event, "b", items=tshirts(1, size="S"), name="Grace Hopper",
                      email="grace@example.com")
        link = create_vendor_link(session, alice, event.id, printer.id)
    return Shop(engine, event.id, alice, link.path.removeprefix("/vendor?t="), ada, grace)


_portal = partial(render_page, "vendor_page")


def test_a_wrong_link_shows_the_same_message_as_a_revoked_one_and_nothing_else(shop: Shop) -> None:
    at = _portal(query={"t": "not-the-link"})
    assert not at.exception
    assert [e.value for e in at.error] == [NOT_A_LINK]
    assert not at.dataframe and not at.button


def test_the_vendor_sees_its_lines_and_marks_orders_shipped_with_tracking(shop: Shop) -> None:
    at = _portal(query={"t": shop.token})
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Reference"]) == [shop.ada, shop.grace]
    assert list(table["Items"]) == ["2 × T-shirt (Fitted, M)", "1 × T-shirt (Fitted, S)"]
    assert list(table["Name"]) == ["<b>Ada</b>", "Grace Hopper"]  # as text, in a cell
    assert "Hoodie" not in table.to_string() and "grace@example.com" not in table.to_string()
    at.multiselect(key="vendor.selected").set_value([shop.ada, shop.grace]).run()
    at.selectbox(key="vendor.new_status").set_value(OrderStatus.SHIPPED).run()
    at.text_input(key="vendor.tracking").input("JD0146").run()
    click(at, "Update")
    assert not at.exception
    assert "2 orders marked as shipped." in at.success[0].value
    with read_only(shop.engine) as session:
        steps = session.execute(select(OrderStatusChange.actor, OrderStatusChange.tracking)
                                .where(OrderStatusChange.status == OrderStatus.SHIPPED)).all()
        mails = session.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)).all()
    assert [tuple(s) for s in steps] == [("vendor:Print Shop", "JD0146")] * 2
    assert len(mails) == 2


def test_the_organiser_creates_a_link_that_is_shown_once_and_revokes_it(shop: Shop) -> None:
    at = render_page("vendors_page", shop.alice, event_id=shop.event_id)
    assert not at.exception
    assert any("Print Shop: has an active link" in t.value for t in at.text)
    click(at, "New link")
    [code] = at.code
    assert "/vendor?t=" in code.value and "shown only this once" in at.success[0].value
    at.run()
    assert not at.code  # gone on the next run
    click(at, "Revoke")
    assert any("Print Shop: no link" in t.value for t in at.text)
    assert [e.value for e in _portal(query={"t": code.value.split("t=")[1]}).error] == [NOT_A_LINK]
    assert button(at, "Create link") is not None


def test_the_organiser_can_make_the_new_link_one_that_goes_in_the_vendors_mails(shop: Shop) -> None:
    at = render_page("vendors_page", shop.alice, event_id=shop.event_id)
    [vendor_id] = [int(box.key.rsplit(".", 1)[1]) for box in at.checkbox if box.key.startswith("vendors.link_mails.")]
    at.checkbox(key=f"vendors.link_mails.{vendor_id}").check().run()
    click(at, "New link")
    assert not at.exception and not at.error
    assert any("Print Shop: has an active link, in its mails" in t.value for t in at.text)
    with read_only(shop.engine) as session:
        links = session.execute(select(VendorLink.in_mails, VendorLink.mail_nonce.is_not(None))
                                .order_by(VendorLink.id)).all()
    assert [tuple(link) for link in links] == [(False, False), (True, True)]
