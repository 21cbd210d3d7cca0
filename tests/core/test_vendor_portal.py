"""The vendor portal: links (only a hash stored, rotated, revoked), opening one (throttled, wrong links all alike),
the projection (only the vendor's lines and granted fields, in the view, the downloads and the mails), status
updates as `vendor:<name>`, and counts only after the purge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from core.db import read_only, unit_of_work
from core.errors import FormValidationError, NotFound, PermissionDenied, PortalThrottled, StatusChangeRefused
from core.fulfilment import LINE_STATUS, cancel_order, change_status, move_vendor_lines
from core.lookup import own_order
from core.models import (
    AuditEntry,
    Disclosure,
    Event,
    Item,
    MessageKind,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    OutboxMessage,
    VendorLink,
)
from core.order_admin import OrderFilters, order_detail, search_orders
from core.purge import purge_event
from core.vendor_portal import (
    PortalAccess,
    PortalFilters,
    create_vendor_link,
    list_vendor_links,
    open_portal,
    portal_download,
    portal_view,
    revoke_vendor_link,
    rotate_vendor_link,
    update_statuses,
    upload_statuses,
)
from core.vendors import disclosure_register
from tests.factories.exports import (
    ADDRESS,
    BASE,
    BREAKFAST,
    PHONE,
    World,
    batch_mails,
    make_world,
    place_at,
    read_csv,
    read_sheets,
    send_list,
)
from tests.factories.orders import tshirts

SECRETS = ("ada@example.com", "grace@example.com", PHONE, "High St")


@dataclass(frozen=True)
class Portal:
    world: World
    token: str
    ada: str
    grace: str
    theirs: str  # an order of the other event


@pytest.fixture
def portal(engine: Engine) -> Portal:
    world = make_world(engine)
    ada = place_at(world, "a", [*tshirts(2), *BREAKFAST], phone=PHONE, delivery=ADDRESS)
    grace = place_at(world, "b", tshirts(1, size="S"), name="=HYPERLINK(\"http://x\")", email="grace@example.com")
    theirs = place_at(world, "c", tshirts(1), event_id=world.other_event_id, name="Someone Else")
    with unit_of_work(engine) as session:
        link = create_vendor_link(session, world.alice, world.event_id, world.printer_id)
    return Portal(world, link.path.removeprefix("/vendor?t="), ada, grace, theirs)


def _open(portal: Portal, token: str | None = None, client: str = "198.51.100.7") -> PortalAccess | None:
    with unit_of_work(portal.world.engine) as session:
        return open_portal(session, portal.token if token is None else token, client=client)


def _access(portal: Portal) -> PortalAccess:
    access = _open(portal)
    assert access is not None
    return access


def _caterer(portal: Portal) -> PortalAccess:
    """The caterer's portal, opened by a link of its own (the breakfast boxes' vendor)."""
    with unit_of_work(portal.world.engine) as session:
        link = create_vendor_link(session, portal.world.alice, portal.world.event_id, portal.world.caterer_id)
    access = _open(portal, link.path.removeprefix("/vendor?t="))
    assert access is not None
    return access


# --- links -------------------------------------------------------------------------------------------------------


def test_a_link_is_shown_once_and_only_its_hash_is_stored(portal: Portal) -> None:
    access = _access(portal)
    assert (access.vendor_name, access.event_id, access.previous_visit_at) == ("Print Shop", portal.world.event_id,
                                                                               None)
    assert _access(portal).previous_visit_at == access.opened_at
    with read_only(portal.world.engine) as session:
        [stored] = session.scalars(select(VendorLink)).all()
        [link] = list_vendor_links(session, portal.world.alice, portal.world.event_id)
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("vendor.link"))).all()
    assert portal.token not in json.dumps([stored.token_hash, stored.created_by]) and len(portal.token) >= 32
    assert (link.vendor_name, link.active, link.created_by) == ("Print Shop", True, "alice")
    assert [(e.action, e.actor) for e in entries] == [("vendor.link_created", "alice")]
    assert portal.token not in json.dumps([e.details for e in entries])


def test_a_rotated_or_revoked_link_opens_nothing_and_answers_like_an_unknown_one(portal: Portal) -> None:
    with unit_of_work(portal.world.engine) as session:
        new = rotate_vendor_link(session, portal.world.alice, portal.world.event_id, portal.world.printer_id)
    assert _open(portal) is None
    fresh = new.path.removeprefix("/vendor?t=")
    assert _open(portal, fresh) is not None
    access = _access(Portal(portal.world, fresh, portal.ada, portal.grace, portal.theirs))
    with unit_of_work(portal.world.engine) as session:
        assert revoke_vendor_link(session, portal.world.alice, portal.world.event_id, portal.world.printer_id)
    assert _open(portal, fresh) is None and _open(portal, "not-a-token") is None and _open(portal, "") is None
    # An access opened before the revocation stops working too, with the wrong link's message.
    with read_only(portal.world.engine) as session, pytest.raises(NotFound, match="does not work"):
        portal_view(session, access)
    with read_only(portal.world.engine) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.startswith("vendor.link"))
                                  .order_by(AuditEntry.id)).all()
    assert actions == ["vendor.link_created", "vendor.link_rotated", "vendor.link_revoked"]


def test_wrong_links_from_one_client_are_throttled_like_codes(portal: Portal) -> None:
    for _ in range(11):
        assert _open(portal, "guess", client="203.0.113.9") is None
    with pytest.raises(PortalThrottled):
        _open(portal, client="203.0.113.9")  # even the right link waits
    assert _open(portal, client="198.51.100.7") is not None  # another client is not slowed


def test_links_are_for_organisers_of_the_event_and_vendors_of_its_items(portal: Portal, engine: Engine) -> None:
    world = portal.world
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        create_vendor_link(session, world.bob, world.event_id, world.printer_id)
    with unit_of_work(engine) as session, pytest.raises(NotFound):
        create_vendor_link(session, world.bob, world.other_event_id, world.printer_id)  # no items there
    with read_only(engine) as session, pytest.raises(PermissionDenied):
        list_vendor_links(session, world.bob, world.event_id)


# --- the projection ----------------------------------------------------------------------------------------------


def test_the_portal_shows_only_the_vendors_lines_and_granted_fields_everywhere(portal: Portal) -> None:
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        view = portal_view(session, access)
        xlsx = portal_download(session, access, "xlsx")
        csv = portal_download(session, access, "csv")
    send_list(portal.world)
    [mail] = batch_mails(portal.world)
    assert [(o.reference, o.lines) for o in view.orders] == [(portal.ada, ("2 × T-shirt (Fitted, M)",)),
                                                             (portal.grace, ("1 × T-shirt (Fitted, S)",))]
    assert view.orders[0].fields == (("Name", "Ada Lovelace"),)
    assert (view.items, view.variants, view.changed_since_last_visit) == (("T-shirt",), ("Fitted, M", "Fitted, S"), 2)
    assert mail.attachment is not None
    sheets = [read_sheets(xlsx.data), read_sheets(mail.attachment)]
    shown = repr(view) + repr(sheets) + repr(read_csv(csv.data)) + mail.body_text + mail.subject
    for secret in (*SECRETS, "Breakfast", portal.theirs, "Someone Else"):
        assert secret not in shown
    assert sheets[0]["Line items"][0] == ["Reference", "Item", "Variant", "Quantity", "Status", "Name"]
    # Formula-safe: the name that looks like a formula is text in both files.
    assert sheets[0]["Line items"][2][5] == "'=HYPERLINK(\"http://x\")"
    assert read_csv(csv.data)[2][5] == "'=HYPERLINK(\"http://x\")"


def test_views_and_downloads_are_recorded_as_portal_disclosures_once_per_visit(portal: Portal) -> None:
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        portal_view(session, access)
        portal_view(session, access, PortalFilters(item="T-shirt"))  # a rerun of the page: nothing new
        portal_download(session, access, "csv")
    with read_only(portal.world.engine) as session:
        rows = session.execute(select(Order.reference, Disclosure.channel, Disclosure.fields, Disclosure.vendor_name)
                               .join(Order, Order.id == Disclosure.order_id).order_by(Disclosure.id)).all()
    assert [tuple(row) for row in rows] == [
        (portal.ada, "portal", ["name"], "Print Shop"), (portal.grace, "portal", ["name"], "Print Shop"),
        (portal.ada, "portal", ["name"], "Print Shop"), (portal.grace, "portal", ["name"], "Print Shop")]


def test_the_order_disclosure_register_says_a_portal_view_went_through_the_portal(portal: Portal) -> None:
    send_list(portal.world)  # the batch list by mail first, then the vendor looks in its portal
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        portal_view(session, access)
    with read_only(portal.world.engine) as session:
        order_id = session.scalars(select(Order.id).where(Order.reference == portal.ada)).one()
        register = disclosure_register(session, order_id, None)
    # The mail is linked to its outbox message; the portal view has no mail, and says so by its channel.
    assert sorted((shared.channel, shared.message_status is None) for shared in register) == [("mail", False),
                                                                                              ("portal", True)]


def test_filters_narrow_the_orders_and_changed_since_the_last_visit_counts_only_news(portal: Portal) -> None:
    _access(portal)
    with unit_of_work(portal.world.engine) as session:  # as if that visit was half a day after the first orders
        session.execute(update(VendorLink).values(last_visit_at=BASE + timedelta(hours=12)))
    edsger = place_at(portal.world, "d", tshirts(1, size="L"), name="Edsger Dijkstra", at=BASE + timedelta(days=1))
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        assert [o.reference for o in portal_view(session, access, PortalFilters(variant="Fitted, S")).orders] == [
            portal.grace]
        news = portal_view(session, access, PortalFilters(changed_only=True))
        shipped = portal_view(session, access, PortalFilters(statuses=frozenset({OrderStatus.SHIPPED})))
    assert access.previous_visit_at is not None
    assert [o.reference for o in news.orders] == [edsger] and news.changed_since_last_visit == 1
    assert shipped.orders == ()


# --- status updates ----------------------------------------------------------------------------------------------


def test_the_vendor_marks_orders_shipped_as_an_organiser_would_and_attendees_are_told(portal: Portal) -> None:
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        moved = update_statuses(session, access, {portal.ada.lower(): "JD0146 0000", portal.grace: None},
                                OrderStatus.SHIPPED)
    assert moved == 2
    with read_only(portal.world.engine) as session:
        steps = session.execute(select(Order.reference, OrderStatusChange.status, OrderStatusChange.actor,
                                       OrderStatusChange.tracking)
                                .join(Order, Order.id == OrderStatusChange.order_id)
                                .where(OrderStatusChange.status == OrderStatus.SHIPPED)).all()
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.status_changed")).all()
        mails = session.scalars(select(OutboxMessage.recipients).where(
            OutboxMessage.kind == MessageKind.STATUS_UPDATE)).all()
    assert sorted(tuple(step) for step in steps) == sorted([
        (portal.ada, OrderStatus.SHIPPED, "vendor:Print Shop", "JD0146 0000"),
        (portal.grace, OrderStatus.SHIPPED, "vendor:Print Shop", None)])
    assert {e.actor for e in entries} == {"vendor:Print Shop"}
    assert sorted(mails) == [["ada@example.com"], ["grace@example.com"]]
    with read_only(portal.world.engine) as session:
        assert [o.tracking for o in portal_view(session, access).orders] == ["JD0146 0000", None]
    with unit_of_work(portal.world.engine) as session, pytest.raises(StatusChangeRefused):
        update_statuses(session, access, {portal.ada: None}, OrderStatus.IN_PRODUCTION)  # forward only


def test_a_vendor_cannot_touch_orders_that_are_not_its_own(portal: Portal, engine: Engine) -> None:
    world = portal.world
    cook = _caterer(portal)
    breakfast_only = place_at(world, "e", BREAKFAST, name="Barbara Liskov", delivery=ADDRESS)
    printer = _access(portal)
    with unit_of_work(engine) as session:
        view = portal_view(session, cook)
        for reference in (breakfast_only, portal.theirs, "NOSUCH"):  # another vendor's, another event's, none
            with pytest.raises(NotFound, match="not one of your orders"):
                update_statuses(session, printer, {reference: None}, OrderStatus.DELIVERED)
    assert [o.reference for o in view.orders] == [portal.ada, breakfast_only]
    assert "T-shirt" not in repr(view) and portal.grace not in repr(view)
    assert ("Delivery address", "1 High St, London, N1 1AA, GB") in view.orders[0].fields


def test_the_vendors_own_csv_moves_its_orders_all_or_nothing(portal: Portal) -> None:
    access = _access(portal)
    good = f"reference,status,tracking\n{portal.ada},shipped,https://track.example/1\n{portal.grace},delivered,\n"
    with unit_of_work(portal.world.engine) as session:
        assert upload_statuses(session, access, good.encode()) == 2
    with unit_of_work(portal.world.engine) as session, pytest.raises(FormValidationError) as refused:
        upload_statuses(session, access, f"reference;status\n{portal.ada};cancelled\n".encode())
    assert "row 2" in refused.value.errors["file"]
    # Ada's breakfast box is the caterer's: only her t-shirts moved, her order stays where the rest of it is.
    assert _statuses(portal) == {portal.ada: OrderStatus.RECEIVED, portal.grace: OrderStatus.DELIVERED}
    assert _line_statuses(portal) == {(portal.ada, "tshirt"): OrderStatus.SHIPPED,
                                      (portal.ada, "breakfast"): OrderStatus.RECEIVED,
                                      (portal.grace, "tshirt"): OrderStatus.DELIVERED}


# --- orders shared with other vendors ------------------------------------------------------------------------------


def _statuses(portal: Portal) -> dict[str, OrderStatus]:
    with read_only(portal.world.engine) as session:
        return dict(session.execute(select(Order.reference, Order.status)
                                    .where(Order.reference.in_([portal.ada, portal.grace]))).all())


def _line_statuses(portal: Portal) -> dict[tuple[str, str], OrderStatus]:
    with read_only(portal.world.engine) as session:
        return {(reference, item): status for reference, item, status in session.execute(
            select(Order.reference, OrderLine.item_key, LINE_STATUS).join(Order, Order.id == OrderLine.order_id)
            .where(Order.reference.in_([portal.ada, portal.grace])))}


def _found(portal: Portal, status: OrderStatus) -> set[str]:
    with read_only(portal.world.engine) as session:
        found = search_orders(session, portal.world.alice, portal.world.event_id,
                              OrderFilters(statuses=frozenset({status})), page=1, page_size=10)
    return set(found.rows["reference"])


def _status_mails(portal: Portal) -> list[OutboxMessage]:
    with read_only(portal.world.engine) as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)
                                    .order_by(OutboxMessage.id)))


def test_a_vendor_moves_only_its_part_of_a_shared_order_and_the_order_follows_the_last_part(
        portal: Portal, engine: Engine) -> None:
    world = portal.world
    printer, caterer = _access(portal), _caterer(portal)

    # The printer ships Ada's t-shirts: they are shipped, her breakfast box and her order are not.
    with unit_of_work(engine) as session:
        assert update_statuses(session, printer, {portal.ada: "JD0146 0000"}, OrderStatus.SHIPPED) == 1
    assert _statuses(portal)[portal.ada] == OrderStatus.RECEIVED
    assert _line_statuses(portal)[(portal.ada, "breakfast")] == OrderStatus.RECEIVED
    [mail] = _status_mails(portal)
    assert mail.subject == (f"Your order {portal.ada}: Shipped (2 × T-shirt (Fitted, M); the rest of your order "
                            "follows separately)")
    assert "2 × T-shirt (Fitted, M)" in mail.body_text and "Breakfast" not in mail.body_text
    assert "Tracking: JD0146 0000" in mail.body_text
    with read_only(engine) as session:
        [printed] = [o for o in portal_view(session, printer).orders if o.reference == portal.ada]
        [catered] = portal_view(session, caterer).orders
        ada_id = session.scalar(select(Order.id).where(Order.reference == portal.ada))
        own = own_order(session, ada_id)
        detail = order_detail(session, world.alice, world.event_id, portal.ada)
    assert (printed.status, printed.tracking) == (OrderStatus.SHIPPED, "JD0146 0000")
    assert (catered.status, catered.tracking) == (OrderStatus.RECEIVED, None)
    # The organiser's status filter finds the order by its own status and by its part that moved.
    assert _found(portal, OrderStatus.SHIPPED) == {portal.ada}
    assert _found(portal, OrderStatus.RECEIVED) == {portal.ada, portal.grace}
    # The attendee sees the step and can no longer change an order that is partly on its way.
    assert {step.label for step in own.history} == {"Received", "Shipped: 2 × T-shirt (Fitted, M)"}
    assert own.locked_reason.startswith("Part of your order is already being made or delivered")
    assert own.line_status_labels == ("Shipped", "Received")
    assert [(line.item_key, line.status) for line in detail.lines] == [("tshirt", OrderStatus.SHIPPED),
                                                                     ("breakfast", OrderStatus.RECEIVED)]
    assert ("Shipped: 2 × T-shirt (Fitted, M)", "vendor:Print Shop") in {(s.label, s.actor) for s in detail.history}

    # The caterer delivers the breakfast box: every line has moved, so the order follows to the least advanced.
    with unit_of_work(engine) as session:
        assert update_statuses(session, caterer, {portal.ada: None}, OrderStatus.DELIVERED) == 1
    assert _statuses(portal)[portal.ada] == OrderStatus.SHIPPED
    assert _line_statuses(portal)[(portal.ada, "breakfast")] == OrderStatus.DELIVERED
    with unit_of_work(engine) as session, pytest.raises(StatusChangeRefused, match="Part of order .* was delivered"):
        cancel_order(session, world.alice, world.event_id, portal.ada)
    with unit_of_work(engine) as session, pytest.raises(StatusChangeRefused, match="already delivered"):
        update_statuses(session, caterer, {portal.ada: None}, OrderStatus.SHIPPED)  # forward only, per part

    # The printer's delivery is the last part: the order is delivered, and the attendee told so, as a whole.
    with unit_of_work(engine) as session:
        assert update_statuses(session, printer, {portal.ada: None}, OrderStatus.DELIVERED) == 1
    assert _statuses(portal)[portal.ada] == OrderStatus.DELIVERED
    assert set(_line_statuses(portal).values()) == {OrderStatus.DELIVERED, OrderStatus.RECEIVED}  # Grace's untouched
    last = _status_mails(portal)[-1]
    assert last.subject == f"Your order {portal.ada}: Delivered"
    assert "Breakfast box" in last.body_text and "T-shirt" in last.body_text
    with read_only(engine) as session:
        rows = session.execute(select(OrderLine.status).join(Order).where(Order.reference == portal.ada)).all()
    assert rows == [(None,), (None,)]  # both lines follow their order again


def test_the_last_part_to_move_is_told_as_a_part_when_the_rest_is_further_along(
        portal: Portal, engine: Engine) -> None:
    printer, caterer = _access(portal), _caterer(portal)
    with unit_of_work(engine) as session:
        update_statuses(session, caterer, {portal.ada: None}, OrderStatus.DELIVERED)
    with unit_of_work(engine) as session:
        update_statuses(session, printer, {portal.ada: "JD0146 0000"}, OrderStatus.SHIPPED)
    assert _statuses(portal)[portal.ada] == OrderStatus.SHIPPED
    delivered, shipped = _status_mails(portal)
    assert delivered.subject == (f"Your order {portal.ada}: Delivered (1 × Breakfast box; the rest of your order "
                                 "follows separately)")
    # The breakfast box was delivered: the t-shirts' mail is about them alone, and nothing is left to follow.
    assert shipped.subject == f"Your order {portal.ada}: Shipped (2 × T-shirt (Fitted, M))"
    assert "Breakfast" not in shipped.body_text
    with read_only(engine) as session:
        ada_id = session.scalar(select(Order.id).where(Order.reference == portal.ada))
        steps = session.execute(select(OrderStatusChange.status, OrderStatusChange.actor, OrderStatusChange.part)
                                .where(OrderStatusChange.order_id == ada_id)
                                .where(OrderStatusChange.status != OrderStatus.RECEIVED)
                                .order_by(OrderStatusChange.id)).all()
    assert [tuple(step) for step in steps] == [
        (OrderStatus.DELIVERED, "vendor:Caterer", "1 × Breakfast box"),
        (OrderStatus.SHIPPED, "vendor:Print Shop", "2 × T-shirt (Fitted, M)"),
        (OrderStatus.SHIPPED, "system", None)]  # the order caught up
    # The same file again changes nothing and tells nobody twice; the printer still sees its tracking.
    with unit_of_work(engine) as session:
        assert update_statuses(session, printer, {portal.ada: "JD0146 0000"}, OrderStatus.SHIPPED) == 0
    assert len(_status_mails(portal)) == 2
    with read_only(engine) as session:
        [printed] = [o for o in portal_view(session, printer).orders if o.reference == portal.ada]
    assert printed.tracking == "JD0146 0000"


def test_an_organisers_move_applies_to_the_whole_order_and_tells_about_the_lines_it_moved(
        portal: Portal, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        update_statuses(session, _access(portal), {portal.ada: None}, OrderStatus.SHIPPED)
    with unit_of_work(engine) as session:
        change_status(session, portal.world.alice, portal.world.event_id, [portal.ada], OrderStatus.IN_PRODUCTION,
                      notify_attendee=True)
    # The t-shirts stay shipped (ahead of the order); the breakfast box moves with the order, and only it is named.
    assert _line_statuses(portal)[(portal.ada, "tshirt")] == OrderStatus.SHIPPED
    assert _line_statuses(portal)[(portal.ada, "breakfast")] == OrderStatus.IN_PRODUCTION
    last = _status_mails(portal)[-1]
    assert last.subject == f"Your order {portal.ada}: In production (1 × Breakfast box)"
    assert "T-shirt" not in last.body_text
    with read_only(engine) as session:
        [row] = search_orders(session, portal.world.alice, portal.world.event_id, OrderFilters(text=portal.ada),
                              page=1, page_size=10).rows.itertuples()
    assert row.items == "2× T-shirt (Fitted, M), shipped; 1× Breakfast box"
    with unit_of_work(engine) as session:
        change_status(session, portal.world.alice, portal.world.event_id, [portal.ada], OrderStatus.CANCELLED)
    assert _line_statuses(portal)[(portal.ada, "tshirt")] == OrderStatus.CANCELLED
    with read_only(engine) as session:  # the lines follow the cancelled order: none keeps a status of its own
        assert session.scalars(select(OrderLine.status).join(Order).where(Order.reference == portal.ada)).all() \
            == [None, None]


# --- after the purge ---------------------------------------------------------------------------------------------


def test_after_the_purge_the_portal_shows_counts_only(portal: Portal) -> None:
    with unit_of_work(portal.world.engine) as session:
        purge_event(session, None, portal.world.event_id, now=BASE + timedelta(days=90))
    access = _access(portal)
    with unit_of_work(portal.world.engine) as session:
        view = portal_view(session, access)
        download = portal_download(session, access, "xlsx")
        with pytest.raises(Exception, match="deleted"):
            update_statuses(session, access, {portal.ada: None}, OrderStatus.DELIVERED)
    assert view.purged and view.orders == ()
    assert view.counts.to_dict("records")[-1]["Total"] == 3
    assert list(read_sheets(download.data)) == ["Summary"]
    for secret in ("Ada", "Grace", portal.ada, portal.grace):
        assert secret not in repr(view) + repr(read_sheets(download.data))


def test_an_order_without_the_vendors_items_is_not_moved(portal: Portal, engine: Engine) -> None:
    with unit_of_work(engine) as session, pytest.raises(NotFound, match=f"{portal.grace} holds none"):
        event = session.get_one(Event, portal.world.event_id)
        breakfast = session.scalars(select(Item.id).where(Item.event_id == event.id, Item.key == "breakfast")).one()
        move_vendor_lines(session, "vendor:Caterer", event, {breakfast}, {portal.ada: None, portal.grace: None},
                          OrderStatus.SHIPPED)
    assert _statuses(portal) == {portal.ada: OrderStatus.RECEIVED, portal.grace: OrderStatus.RECEIVED}
