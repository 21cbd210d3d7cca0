"""A vendor's status CSV: reading it, the per-row preview, and applying the valid rows in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select

import core.status_upload
from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import FormValidationError, NotFound, PermissionDenied, StatusImportStale
from core.fulfilment import LINE_STATUS, change_status, move_vendor_lines
from core.models import AuditEntry, Event, Item, MessageKind, Order, OrderLine, OrderStatus, OutboxMessage
from core.order_admin import order_detail
from core.status_upload import (
    PREVIEW_COLUMNS,
    StatusImportPreview,
    apply_status_import,
    file_vendors,
    parse_status,
    preview_status_import,
)
from tests.factories import make_shop, make_user
from tests.factories.exports import ADDRESS, BREAKFAST, make_world, place_at
from tests.factories.exports import World as VendorWorld
from tests.factories.orders import place, tshirts


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    other_event_id: int
    olivia: Actor
    bob: Actor  # organiser of the other event only
    orders: list[str]  # eight orders, all received

    def preview(self, text: str | bytes, actor: Actor | None = None) -> StatusImportPreview:
        data = text.encode() if isinstance(text, str) else text
        with read_only(self.engine) as session:
            return preview_status_import(session, actor or self.olivia, self.event_id, data)

    def apply(self, preview: StatusImportPreview, **kwargs: object) -> int:
        with unit_of_work(self.engine) as session:
            return apply_status_import(session, self.olivia, self.event_id, preview, **kwargs)  # type: ignore[arg-type]

    def move(self, reference: str, status: OrderStatus) -> None:
        with unit_of_work(self.engine) as session:
            change_status(session, self.olivia, self.event_id, [reference], status)

    def statuses(self) -> list[OrderStatus]:
        with read_only(self.engine) as session:
            by_reference = {reference: status for reference, status in session.execute(
                select(Order.reference, Order.status))}
        return [by_reference[reference] for reference in self.orders]


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        other = make_shop(session, slug="other", title="Other")
        olivia = make_user(session, "olivia", member_of=[event])
        bob = make_user(session, "bob", member_of=[other])
        orders = [place(session, event, f"o{n}", email=f"a{n}@example.com") for n in range(8)]
    return World(engine, event.id, other.id, olivia, bob, orders)


@pytest.mark.parametrize(("text", "status"), [
    ("shipped", OrderStatus.SHIPPED), ("Shipped", OrderStatus.SHIPPED), ("in production", OrderStatus.IN_PRODUCTION),
    ("IN_PRODUCTION", OrderStatus.IN_PRODUCTION), (" Sent to vendor ", OrderStatus.SENT_TO_VENDOR),
    ("sent-to-vendor", OrderStatus.SENT_TO_VENDOR), ("Canceled", OrderStatus.CANCELLED), ("lost", None), ("", None),
])
def test_statuses_are_read_by_value_or_label_ignoring_case(text: str, status: OrderStatus | None) -> None:
    assert parse_status(text) == status


def test_a_semicolon_file_with_a_bom_and_labels_is_previewed_row_by_row(world: World) -> None:
    a, b, c, *_ = world.orders
    text = f"\ufeffOrder reference;Status;Tracking number\r\n{a.lower()};Shipped;JD0146\r\n{b};in production;\r\n" \
           f"{c};received;\r\n"
    preview = world.preview(text)
    assert [(r.row, r.reference, r.status, r.tracking, r.error) for r in preview.rows] == [
        (2, a, OrderStatus.SHIPPED, "JD0146", ""), (3, b, OrderStatus.IN_PRODUCTION, None, ""),
        (4, c, OrderStatus.RECEIVED, None, "")]
    assert [r.reference for r in preview.changes] == [a, b]
    frame = preview.frame()
    assert tuple(frame.columns) == PREVIEW_COLUMNS
    assert list(frame["outcome"]) == ["Received → shipped", "Received → in production", "No change: already received."]
    assert world.statuses() == [OrderStatus.RECEIVED] * 8  # a preview changes nothing


def test_each_bad_row_says_what_is_wrong_with_its_row_number(world: World) -> None:
    a, b, c, d, e, f, g, h = world.orders
    world.move(b, OrderStatus.DELIVERED)
    world.move(c, OrderStatus.CANCELLED)
    world.move(h, OrderStatus.DELIVERED)
    text = "\n".join([
        "reference,status,tracking",
        f"{a},shipped,javascript:alert(1)",  # 2
        f"{b},in production,",  # 3
        f"{c},shipped,",  # 4
        "NOPE2345,shipped,",  # 5
        f"{d},lost in the post,",  # 6
        f"{e},delivered,JD0146",  # 7
        ",shipped,",  # 8
        f"{f},shipped,",  # 9
        f"{f},delivered,",  # 10: a reference already in row 9
        f"{g},,",  # 11
        f"{h},cancelled,",  # 12
    ])
    errors = {row.row: row.error for row in world.preview(text).rows}
    assert errors == {
        2: "Enter a tracking number (letters, digits, spaces, - . /) or a link starting with https://.",
        3: f"Order {b} is already delivered; it cannot go back to in production.",
        4: f"Order {c} is cancelled; a cancelled order cannot change.",
        5: "There is no order NOPE2345 in this event.",
        6: "Unknown status “lost in the post”: use one of Received, Sent to vendor, In production, Shipped, "
           "Delivered, Cancelled.",
        7: "A tracking number or link goes with the status Shipped only.",
        8: "No order reference.",
        9: "",
        10: f"Order {f} is already in row 9.",
        11: "No status.",
        12: f"Order {h} was delivered; it cannot be cancelled.",
    }


def test_an_order_of_another_event_is_unknown_here(world: World) -> None:
    with unit_of_work(world.engine) as session:
        from core.models import Event

        theirs = place(session, session.get_one(Event, world.other_event_id), "x")
    [row] = world.preview(f"reference,status\n{theirs},shipped\n").rows
    assert row.error == f"There is no order {theirs} in this event."


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "The file is empty."),
    (b"reference,status\n", "no rows below its header"),
    (b"ref\xe9rence,status\nABC,shipped\n", "not UTF-8"),
    (b"order,state\nABC,shipped\n", "must name the columns"),
    (b"reference,status\n\"ABC,shipped\n", "cannot be read as CSV"),
    (b"reference,status\nA\x00BC,shipped\n", "NUL characters"),
])
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(world: World, data: bytes, problem: str) -> None:
    with pytest.raises(FormValidationError) as raised:
        world.preview(data)
    assert set(raised.value.errors) == {"file"}
    assert problem in raised.value.errors["file"]


def test_too_many_rows_or_bytes_are_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.status_upload, "MAX_ROWS", 3)
    rows = "".join(f"{reference},shipped\n" for reference in world.orders)
    with pytest.raises(FormValidationError) as raised:
        world.preview("reference,status\n" + rows)
    assert raised.value.errors == {"file": "The file has more than 3 rows; split it into smaller files."}
    assert len(world.preview("reference,status\n" + "".join(f"{r},shipped\n" for r in world.orders[:3])).rows) == 3
    monkeypatch.setattr(core.status_upload, "MAX_FILE_BYTES", 100)
    with pytest.raises(FormValidationError) as raised:
        world.preview(b"reference,status\n" + b"x" * 100)
    assert "too large" in raised.value.errors["file"]


def test_applying_changes_the_valid_rows_only_and_audits_them(world: World) -> None:
    a, b, c, d, *_ = world.orders
    world.move(d, OrderStatus.DELIVERED)
    preview = world.preview(f"reference,status,tracking\n{a},Shipped,https://t.example/1\n{b},in production,\n"
                            f"{c},teleported,\n{d},received,\n")
    assert world.apply(preview) == 2
    assert world.statuses()[:4] == [OrderStatus.SHIPPED, OrderStatus.IN_PRODUCTION, OrderStatus.RECEIVED,
                                    OrderStatus.DELIVERED]
    with read_only(world.engine) as session:
        order = session.scalars(select(Order).where(Order.reference == a)).one()
        assert order.history[-1].tracking == "https://t.example/1"
        audit = session.execute(select(AuditEntry.action, AuditEntry.details)
                                .where(AuditEntry.action.startswith("order.")).order_by(AuditEntry.id)).all()
    assert [action for action, _ in audit][-3:] == ["order.status_changed", "order.status_changed",
                                                    "order.status_imported"]
    assert audit[-1][1] == {"rows": 4, "applied": 2, "skipped": 2, "notified": False}


def test_applying_can_tell_the_attendees(world: World) -> None:
    a, b, *_ = world.orders
    world.apply(world.preview(f"reference,status\n{a},shipped\n{b},shipped\n"), notify_attendee=True)
    with read_only(world.engine) as session:
        recipients = session.scalars(select(OutboxMessage.recipients)
                                     .where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)).all()
    assert sorted(r[0] for r in recipients) == ["a0@example.com", "a1@example.com"]


def test_cancelling_through_a_file_works_like_the_cancel_button(world: World) -> None:
    a, *_ = world.orders
    assert world.apply(world.preview(f"reference,status\n{a},Cancelled\n")) == 1
    assert world.statuses()[0] == OrderStatus.CANCELLED
    with read_only(world.engine) as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "order.cancelled")).all() == [
            "order.cancelled"]


def test_a_stale_preview_applies_nothing(world: World) -> None:
    a, b, *_ = world.orders
    preview = world.preview(f"reference,status\n{a},shipped\n{b},in production\n")
    world.move(b, OrderStatus.DELIVERED)  # another organiser, meanwhile
    with pytest.raises(StatusImportStale, match="row 3"):
        world.apply(preview)
    assert world.statuses()[:2] == [OrderStatus.RECEIVED, OrderStatus.DELIVERED]
    assert world.apply(world.preview(f"reference,status\n{a},shipped\n{b},in production\n")) == 1


def test_only_the_events_organisers_preview_and_apply(world: World) -> None:
    a, *_ = world.orders
    with pytest.raises(PermissionDenied):
        world.preview(f"reference,status\n{a},shipped\n", actor=world.bob)
    preview = world.preview(f"reference,status\n{a},shipped\n")
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        apply_status_import(session, world.bob, world.event_id, preview)
    with unit_of_work(world.engine) as session, pytest.raises(StatusImportStale, match="another event"):
        apply_status_import(session, world.bob, world.other_event_id, preview)
    assert world.statuses()[0] == OrderStatus.RECEIVED


def test_each_row_keeps_its_own_tracking(world: World) -> None:
    a, b, *_ = world.orders
    world.move(b, OrderStatus.SHIPPED)
    preview = world.preview(f"reference,status,tracking\n{a},shipped,JD0001\n{b},shipped,https://t.example/2\n")
    assert [row.outcome for row in preview.rows] == ["Received → shipped", "New tracking number or link."]
    assert world.apply(preview) == 2
    with read_only(world.engine) as session:
        tracking = {order.reference: order.history[-1].tracking
                    for order in session.scalars(select(Order).where(Order.reference.in_([a, b])))}
    assert tracking == {a: "JD0001", b: "https://t.example/2"}


# --- a file from one vendor ----------------------------------------------------------------------------------------


def _shared_orders(engine: Engine) -> tuple[VendorWorld, str, str]:
    """make_world's event with Ada's order shared by the printer (t-shirts) and the caterer (breakfast), and
    Grace's of t-shirts only."""
    world = make_world(engine)
    ada = place_at(world, "a", [*tshirts(2), *BREAKFAST], delivery=ADDRESS)
    grace = place_at(world, "b", tshirts(1))
    return world, ada, grace


def _vendor_file(world: VendorWorld, text: str, vendor_id: int | None) -> StatusImportPreview:
    with read_only(world.engine) as session:
        return preview_status_import(session, world.alice, world.event_id, text.encode(), vendor_id=vendor_id)


def test_a_vendors_file_moves_only_its_lines_of_a_shared_order_as_its_portal_would(engine: Engine) -> None:
    world, ada, grace = _shared_orders(engine)
    with read_only(engine) as session:
        assert [v.name for v in file_vendors(session, world.alice, world.event_id)] == ["Caterer", "Print Shop"]
    preview = _vendor_file(world, f"reference,status,tracking\n{ada},shipped,JD0146\n{grace},shipped,\n",
                           world.printer_id)
    assert [(row.current, row.outcome) for row in preview.rows] == [
        (OrderStatus.RECEIVED, "Received → shipped"), (OrderStatus.RECEIVED, "Received → shipped")]
    with unit_of_work(engine) as session:
        assert apply_status_import(session, world.alice, world.event_id, preview, notify_attendee=True) == 2
    with read_only(engine) as session:
        lines = dict(session.execute(select(OrderLine.item_key, LINE_STATUS).join(Order, Order.id == OrderLine.order_id)
                                     .where(Order.reference == ada)).all())
        statuses = dict(session.execute(select(Order.reference, Order.status)).all())
        history = order_detail(session, world.alice, world.event_id, ada).history
        [imported] = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.status_imported")).all()
        changes = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.status_changed")).all()
        mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)
                                .order_by(OutboxMessage.id)).all()
    # Ada's breakfast box, the caterer's, stays where it was, and so does her order; Grace's is all t-shirts.
    assert lines == {"tshirt": OrderStatus.SHIPPED, "breakfast": OrderStatus.RECEIVED}
    assert (statuses[ada], statuses[grace]) == (OrderStatus.RECEIVED, OrderStatus.SHIPPED)
    assert ("Shipped: 2 × T-shirt (Fitted, M)", "vendor:Print Shop") in {(s.label, s.actor) for s in history}
    assert (imported.actor, imported.details["vendor"]) == ("alice", world.printer_id)
    # Each order's entry names the organiser who applied the file, and the vendor who reported it.
    assert sorted((entry.actor, entry.subject, entry.details["reported_by"]) for entry in changes) == sorted([
        ("alice", f"order:{ada}", "vendor:Print Shop"), ("alice", f"order:{grace}", "vendor:Print Shop")])
    assert sorted(mail.subject for mail in mails) == sorted([
        f"Your order {ada}: Shipped (2 × T-shirt (Fitted, M); the rest of your order follows separately)",
        f"Your order {grace}: Shipped"])
    # The same file again: the tracking the printer gave is known, so nothing changes and nobody is told twice.
    again = _vendor_file(world, f"reference,status,tracking\n{ada},shipped,JD0146\n", world.printer_id)
    assert [row.outcome for row in again.rows] == ["No change: already shipped."]


def test_a_vendors_file_refuses_rows_that_are_not_the_vendors_to_report(engine: Engine) -> None:
    world, ada, grace = _shared_orders(engine)
    with unit_of_work(engine) as session:
        move_vendor_lines(session, "vendor:Caterer", session.get_one(Event, world.event_id), {
            item_id for item_id in session.scalars(select(Item.id).where(Item.key == "breakfast"))},
            {ada: None}, OrderStatus.DELIVERED)
    preview = _vendor_file(world, f"reference,status\n{ada},in production\n{grace},shipped\n{grace.lower()},x\n",
                           world.caterer_id)
    assert [row.error for row in preview.rows] == [
        f"Order {ada}: 1 × Breakfast box is already delivered; it cannot go back to in production.",
        f"Order {grace} holds none of the items Caterer makes.",
        f"Order {grace} is already in row 3.",
    ]
    others = _vendor_file(world, f"reference,status\n{ada},cancelled\n{grace},lost\n", world.printer_id)
    assert [row.error for row in others.rows] == [
        "A vendor reports in production, shipped or delivered only. To cancel, or for any other status, upload "
        "the file as no vendor's, or use the Orders page.",
        "Unknown status “lost”: use in production, shipped or delivered."]
    with read_only(engine) as session, pytest.raises(PermissionDenied):
        file_vendors(session, world.bob, world.event_id)


def test_a_vendor_of_another_event_is_unknown_and_names_nothing(engine: Engine) -> None:
    world, _, _ = _shared_orders(engine)
    with read_only(engine) as session:
        assert file_vendors(session, world.bob, world.other_event_id) == ()
        with pytest.raises(NotFound) as refused:
            preview_status_import(session, world.bob, world.other_event_id, b"reference,status\nX,shipped\n",
                                  vendor_id=world.printer_id)
    assert str(refused.value) == "That vendor makes none of this event's items."  # not even its name


def test_a_vendors_file_compares_with_the_tracking_the_attendee_was_given(engine: Engine) -> None:
    """An order of the vendor's items only moves as a whole, so its tracking is the order's, even one an organiser
    corrected; in a shared order it is the one the vendor gave for its part."""
    world, ada, grace = _shared_orders(engine)
    shipped = _vendor_file(world, f"reference,status,tracking\n{ada},shipped,T1\n{grace},shipped,T1\n",
                           world.printer_id)
    with unit_of_work(engine) as session:
        assert apply_status_import(session, world.alice, world.event_id, shipped) == 2
        change_status(session, world.alice, world.event_id, [grace], OrderStatus.SHIPPED, tracking="T2")
    again = _vendor_file(world, f"reference,status,tracking\n{ada},shipped,T1\n{grace},shipped,T2\n"
                                "", world.printer_id)
    assert [row.outcome for row in again.rows] == ["No change: already shipped.", "No change: already shipped."]
    newer = _vendor_file(world, f"reference,status,tracking\n{ada},shipped,T3\n", world.printer_id)
    assert [row.outcome for row in newer.rows] == ["New tracking number or link."]
    with unit_of_work(engine) as session:
        assert apply_status_import(session, world.alice, world.event_id, newer) == 1


def test_a_vendors_file_whose_lines_moved_since_the_preview_applies_nothing(engine: Engine) -> None:
    world, ada, grace = _shared_orders(engine)
    preview = _vendor_file(world, f"reference,status\n{ada},in production\n{grace},in production\n",
                           world.printer_id)
    with unit_of_work(engine) as session:  # meanwhile the printer reports Ada's t-shirts shipped
        move_vendor_lines(session, "vendor:Print Shop", session.get_one(Event, world.event_id), {
            item_id for item_id in session.scalars(select(Item.id).where(Item.key == "tshirt"))},
            {ada: None}, OrderStatus.SHIPPED)
    with unit_of_work(engine) as session, pytest.raises(StatusImportStale, match="row 2"):
        apply_status_import(session, world.alice, world.event_id, preview)
    with read_only(engine) as session:
        assert session.scalar(select(Order.status).where(Order.reference == grace)) == OrderStatus.RECEIVED
