"""Fulfilment: status changes (forward steps, refusals, audit, who may), tracking, the status history, and
telling the attendee (mail, opted-in SMS)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.config import Settings
from core.db import read_only, unit_of_work
from core.errors import (
    FormValidationError,
    NotFound,
    PermissionDenied,
    StatusChangeRefused,
    TemplateValidationError,
)
from core.forms import SMS_OPT_IN_KEY
from core.fulfilment import (
    TRACKING_HINT,
    cancel_order,
    change_status,
    clean_tracking,
    status_history,
    tracking_problem,
)
from core.mail_templates import DEFAULT_TEMPLATES, check_template, preview_template, save_template
from core.models import (
    AuditEntry,
    Event,
    MessageChannel,
    MessageKind,
    MessageStatus,
    Order,
    OrderPersonalData,
    OrderStatus,
    OutboxMessage,
)
from core.order_admin import order_detail
from core.outbox import drain_outbox
from tests.factories import BASIC_FORM, make_shop, make_user
from tests.factories.orders import (
    TwoShops,
    change_as_organiser,
    make_two_shops,
    order_audit,
    place,
    place_after,
    status_of,
)
from tests.mail_server import MailServer, running_mail_server
from tests.sms_provider import SmsProvider, running_sms_provider

PHONE = "+447911123456"
SMS_FORM: dict[str, Any] = {"fields": [*BASIC_FORM["fields"], {
    "key": SMS_OPT_IN_KEY, "type": "checkbox", "label": "Text me about my order", "personal": True,
    "purpose": "To text you when your order moves."}]}
TRACKING_URL = "https://carrier.example/track?id=JD0146&lang=en"


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    olivia: Actor
    ada: str  # opted in to texts, with a phone number
    grace: str  # a phone number, but no opt-in

    def change(self, references: list[str], status: OrderStatus, **kwargs: Any) -> int:
        with unit_of_work(self.engine) as session:
            return change_status(session, self.olivia, self.event_id, references, status, **kwargs)

    def order(self, reference: str) -> Order:
        with read_only(self.engine) as session:
            return session.scalars(select(Order).where(Order.reference == reference)).one()

    def messages(self) -> list[OutboxMessage]:
        with read_only(self.engine) as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)
                                        .order_by(OutboxMessage.id)))


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup", form=SMS_FORM)
        olivia = make_user(session, "olivia", member_of=[event])
        ada = place(session, event, "a", name="Ada Lovelace", email="ada@example.com", phone="07911 123456",
                    **{SMS_OPT_IN_KEY: True})
        grace = place(session, event, "b", name="Grace Hopper", email="grace@example.com", phone="07400 123456")
    return World(engine, event.id, olivia, ada, grace)


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    with running_sms_provider() as running:
        yield running


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with running_mail_server() as running:
        yield running


def settings(provider: SmsProvider | None = None, mail: MailServer | None = None) -> Settings:
    sms = {"sms_provider_url": provider.url, "sms_token": "t0k3n", "sms_sender": "Meetup"} if provider else {}
    smtp = {"smtp_host": mail.host, "smtp_port": mail.port, "smtp_security": "none",
            "mail_from": "orders@example.org"} if mail else {}
    return Settings(public_base_url="https://orders.example", **sms, **smtp)  # type: ignore[arg-type]


# --- Tracking ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["JD014600006281234567", "1Z 999 AA1 01 2345 6784", "RR123456789GB",
                                  "https://carrier.example/track/1Z999", "http://t.example/x?id=1&l=en"])
def test_tracking_numbers_and_http_links_are_accepted(text: str) -> None:
    assert tracking_problem(text) is None


@pytest.mark.parametrize("text", ["javascript:alert(1)", "https://", "https://x.example/<script>", "ftp://x.example/1",
                                  "data:text/html,hi", "1Z999\nBcc: x", "-1Z999", "#123", "https://x.example/a b",
                                  "A" * 101])
def test_anything_else_is_refused_with_a_hint(text: str) -> None:
    assert tracking_problem(text) == TRACKING_HINT


def test_tracking_goes_with_shipped_only_and_at_most_500_characters() -> None:
    assert clean_tracking("  JD0146  ", OrderStatus.SHIPPED) == "JD0146"
    assert clean_tracking("   ", OrderStatus.DELIVERED) is None
    with pytest.raises(FormValidationError) as raised:
        clean_tracking("JD0146", OrderStatus.DELIVERED)
    assert raised.value.errors == {"tracking": "A tracking number or link goes with the status Shipped only."}
    with pytest.raises(FormValidationError) as raised:
        clean_tracking("https://x.example/" + "a" * 500, OrderStatus.SHIPPED)
    assert "at most 500 characters" in raised.value.errors["tracking"]


# --- Changing status with tracking, and the history ------------------------------------------------------------------


def test_shipping_with_tracking_records_it_in_the_history(world: World) -> None:
    assert world.change([world.ada], OrderStatus.SHIPPED, tracking=TRACKING_URL) == 1
    with read_only(world.engine) as session:
        detail = order_detail(session, world.olivia, world.event_id, world.ada)
        attendee_view = status_history(session, world.order(world.ada).id)
    assert [(s.status, s.actor, s.tracking) for s in detail.history] == [
        (OrderStatus.RECEIVED, "system", None), (OrderStatus.SHIPPED, "olivia", TRACKING_URL)]
    assert [(s.label, s.tracking) for s in attendee_view] == [("Received", None), ("Shipped", TRACKING_URL)]
    assert all(step.actor is None for step in attendee_view)  # the attendee never sees organisers' usernames
    assert attendee_view[0].at <= attendee_view[1].at


def test_a_bad_tracking_changes_nothing_and_is_reported_beside_its_input(world: World) -> None:
    with pytest.raises(FormValidationError) as raised:
        world.change([world.ada, world.grace], OrderStatus.SHIPPED, tracking="javascript:alert(1)")
    assert raised.value.errors == {"tracking": TRACKING_HINT}
    assert world.order(world.ada).status == OrderStatus.RECEIVED


def test_a_new_tracking_for_a_shipped_order_is_recorded_and_the_same_one_is_not(world: World) -> None:
    world.change([world.ada], OrderStatus.SHIPPED)
    assert world.change([world.ada], OrderStatus.SHIPPED, tracking="JD0146") == 1
    assert world.change([world.ada], OrderStatus.SHIPPED, tracking="JD0146") == 0
    assert world.change([world.ada], OrderStatus.SHIPPED) == 0
    with read_only(world.engine) as session:
        steps = status_history(session, world.order(world.ada).id)
        audit = session.execute(select(AuditEntry.action, AuditEntry.details)
                                .where(AuditEntry.action.startswith("order.")).order_by(AuditEntry.id)).all()
    assert [(s.status, s.tracking) for s in steps][1:] == [(OrderStatus.SHIPPED, None), (OrderStatus.SHIPPED, "JD0146")]
    assert [action for action, _ in audit] == ["order.status_changed", "order.tracking_changed"]
    # That a tracking number was recorded, never the number itself (it may lead to the attendee's address).
    assert audit[1][1] == {"reference": world.ada, "old_status": "shipped", "new_status": "shipped",
                           "tracking": True}


# --- Moving orders along: forward steps, refusals, audit (two shops) -------------------------------------------


@pytest.fixture
def shops(engine: Engine) -> TwoShops:
    return make_two_shops(engine)


def test_status_change_is_stored_and_audited_with_reference_and_statuses_only(shops: TwoShops) -> None:
    first = place_after(shops, "a", name="Ada Lovelace")
    second = place_after(shops, "b", minutes=1)
    assert change_as_organiser(shops, [first, second.lower()], OrderStatus.SHIPPED) == 2
    assert (status_of(shops, first), status_of(shops, second)) == (OrderStatus.SHIPPED, OrderStatus.SHIPPED)
    entries = order_audit(shops)
    assert [(e.action, e.actor, e.event_id, e.subject) for e in entries] == [
        ("order.status_changed", "olivia", shops.event_id, f"order:{first}"),
        ("order.status_changed", "olivia", shops.event_id, f"order:{second}"),
    ]
    assert entries[0].details == {"reference": first, "old_status": "received", "new_status": "shipped"}


def test_an_order_already_in_the_new_status_is_left_alone_and_not_audited(shops: TwoShops) -> None:
    reference = place_after(shops, "a")
    change_as_organiser(shops, [reference], OrderStatus.IN_PRODUCTION)
    assert change_as_organiser(shops, [reference], OrderStatus.IN_PRODUCTION) == 0
    assert len(order_audit(shops)) == 1


def test_steps_may_be_skipped_forwards(shops: TwoShops) -> None:
    reference = place_after(shops, "a")
    change_as_organiser(shops, [reference], OrderStatus.DELIVERED)
    assert status_of(shops, reference) == OrderStatus.DELIVERED


@pytest.mark.parametrize(("path", "refused"), [
    ([OrderStatus.DELIVERED], OrderStatus.RECEIVED),
    ([OrderStatus.SHIPPED], OrderStatus.SENT_TO_VENDOR),
    ([OrderStatus.CANCELLED], OrderStatus.RECEIVED),
    ([OrderStatus.CANCELLED], OrderStatus.DELIVERED),
    ([OrderStatus.DELIVERED], OrderStatus.CANCELLED),
])
def test_nonsense_status_changes_are_refused_naming_the_order(
    shops: TwoShops, path: list[OrderStatus], refused: OrderStatus
) -> None:
    reference = place_after(shops, "a")
    for status in path:
        change_as_organiser(shops, [reference], status)
    with pytest.raises(StatusChangeRefused, match=f"Order {reference}"):
        change_as_organiser(shops, [reference], refused)
    assert status_of(shops, reference) == path[-1]
    assert len(order_audit(shops)) == len(path)


def test_a_bulk_change_changes_nothing_when_one_order_cannot_move(shops: TwoShops) -> None:
    movable = place_after(shops, "a")
    delivered = place_after(shops, "b", minutes=1)
    change_as_organiser(shops, [delivered], OrderStatus.DELIVERED)
    with unit_of_work(shops.engine) as session:
        with pytest.raises(StatusChangeRefused, match=delivered):
            change_status(session, shops.organiser, shops.event_id, [movable, delivered], OrderStatus.IN_PRODUCTION)
        # Checked before anything changed, not merely rolled back by the caller.
        assert session.scalars(select(Order.status).where(Order.reference == movable)).one() == OrderStatus.RECEIVED


def test_a_reference_the_event_does_not_have_is_not_found(shops: TwoShops) -> None:
    mine = place_after(shops, "a")
    theirs = place_after(shops, "b", event_id=shops.other_event_id)
    with pytest.raises(NotFound, match=theirs):
        change_as_organiser(shops, [mine, theirs], OrderStatus.SHIPPED)
    assert (status_of(shops, mine), status_of(shops, theirs)) == (OrderStatus.RECEIVED, OrderStatus.RECEIVED)


def test_cancelling_an_order_stores_and_audits_it(shops: TwoShops) -> None:
    reference = place_after(shops, "a")
    change_as_organiser(shops, [reference], OrderStatus.SENT_TO_VENDOR)
    with unit_of_work(shops.engine) as session:
        cancel_order(session, shops.organiser, shops.event_id, reference)
    assert status_of(shops, reference) == OrderStatus.CANCELLED
    entry = order_audit(shops)[-1]
    assert (entry.action, entry.subject) == ("order.cancelled", f"order:{reference}")
    assert entry.details == {"reference": reference, "old_status": "sent_to_vendor"}


OrganiserCall = Callable[[Session, Actor, int, str], object]
CALLS: dict[str, OrganiserCall] = {
    "change_status": lambda s, a, e, r: change_status(s, a, e, [r], OrderStatus.SHIPPED),
    "cancel_order": lambda s, a, e, r: cancel_order(s, a, e, r),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_who_is_not_a_member_is_refused(shops: TwoShops, call: OrganiserCall) -> None:
    reference = place_after(shops, "a")
    with unit_of_work(shops.engine) as session:
        # A member of another event: membership elsewhere must not count.
        outsider = make_user(session, "oscar", member_of=[session.get_one(Event, shops.other_event_id)])
    with unit_of_work(shops.engine) as session, pytest.raises(PermissionDenied):
        call(session, outsider, shops.event_id, reference)
    assert status_of(shops, reference) == OrderStatus.RECEIVED
    assert order_audit(shops) == []


# --- Telling the attendee -----------------------------------------------------------------------------------------------


def test_without_notify_nobody_is_told(world: World) -> None:
    world.change([world.ada, world.grace], OrderStatus.SHIPPED, settings=settings())
    assert world.messages() == []


def test_notify_queues_the_events_status_mail_and_it_reaches_the_attendee(world: World, mail: MailServer) -> None:
    with unit_of_work(world.engine) as session:
        save_template(session, world.olivia, world.event_id, MessageKind.STATUS_UPDATE,
                      "{event_title}: order {order_ref} is {status}",
                      "Dear {name}, order {order_ref} is {status}.\n{tracking}\nSee {lookup_link}\n{items}")
    world.change([world.ada], OrderStatus.SHIPPED, tracking=TRACKING_URL, notify_attendee=True,
                 settings=settings(mail=mail))
    [message] = world.messages()
    assert (message.channel, message.recipients) == (MessageChannel.EMAIL, ["ada@example.com"])
    assert message.subject == f"Summer Meetup: order {world.ada} is Shipped"
    assert message.body_text == (f"Dear Ada Lovelace, order {world.ada} is Shipped.\nTracking: {TRACKING_URL}\n"
                                 f"See https://orders.example/lookup\n1 × T-shirt (Fitted, M)\n")
    assert "&amp;lang=en" in message.body_html  # the HTML part escapes the link's ampersand
    drain_outbox(world.engine, settings(mail=mail))
    [received] = [m for m in mail.received if m.message_id == message.message_id]
    assert received.rcpt_tos == ("ada@example.com",)
    assert f"Tracking: {TRACKING_URL}" in received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with read_only(world.engine) as session:
        details = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "order.status_changed")).one()
    assert details["notified"] == 1


def test_the_default_wording_names_the_status_and_leaves_no_empty_tracking_label(world: World) -> None:
    world.change([world.grace], OrderStatus.IN_PRODUCTION, notify_attendee=True, settings=settings())
    [message] = world.messages()
    assert message.subject == f"Your order {world.grace}: In production"
    assert "is now: In production." in message.body_text
    assert "Tracking" not in message.body_text


def test_only_attendees_who_opted_in_get_a_text_when_sms_is_on(world: World, provider: SmsProvider) -> None:
    world.change([world.ada, world.grace], OrderStatus.SHIPPED, tracking="JD0146", notify_attendee=True,
                 settings=settings(provider))
    by_channel = {(m.channel, tuple(m.recipients)) for m in world.messages()}
    assert by_channel == {(MessageChannel.EMAIL, ("ada@example.com",)), (MessageChannel.EMAIL, ("grace@example.com",)),
                          (MessageChannel.SMS, (PHONE,))}
    report = drain_outbox(world.engine, settings(provider))
    assert report.sent == 1  # the SMS; mail is not configured here, so both mails are held
    [request] = provider.received
    assert request.json == {"from": "Meetup", "to": [PHONE],
                            "body": f"Summer Meetup: your order {world.ada} is now shipped. Tracking: JD0146"}
    assert request.headers["authorization"] == "Bearer t0k3n"
    statuses = {m.channel: m.status for m in world.messages() if m.channel == MessageChannel.SMS}
    assert statuses == {MessageChannel.SMS: MessageStatus.SENT}


def test_no_text_while_sms_is_off_even_for_those_who_opted_in(world: World) -> None:
    world.change([world.ada], OrderStatus.DELIVERED, notify_attendee=True, settings=settings())
    assert [m.channel for m in world.messages()] == [MessageChannel.EMAIL]


def test_a_refused_change_queues_nothing(world: World, provider: SmsProvider) -> None:
    world.change([world.grace], OrderStatus.DELIVERED)
    with pytest.raises(StatusChangeRefused):
        world.change([world.ada, world.grace], OrderStatus.IN_PRODUCTION, notify_attendee=True,
                     settings=settings(provider))
    assert world.messages() == []


def test_an_order_whose_personal_data_is_gone_changes_without_a_message(world: World) -> None:
    with unit_of_work(world.engine) as session:
        order = session.scalars(select(Order).where(Order.reference == world.ada)).one()
        session.delete(session.get_one(OrderPersonalData, order.id))
    assert world.change([world.ada], OrderStatus.SHIPPED, notify_attendee=True, settings=settings()) == 1
    assert world.messages() == []


def test_cancelling_can_tell_the_attendee_too(world: World) -> None:
    world.change([world.grace], OrderStatus.CANCELLED, notify_attendee=True, settings=settings())
    [message] = world.messages()
    assert message.subject == f"Your order {world.grace}: Cancelled"


def test_the_status_template_is_worded_and_previewed_like_the_others(world: World) -> None:
    subject, body = DEFAULT_TEMPLATES[MessageKind.STATUS_UPDATE]
    assert check_template(MessageKind.STATUS_UPDATE, subject, body) == (subject, body)
    with pytest.raises(TemplateValidationError, match=r"\{fields\}"):
        check_template(MessageKind.STATUS_UPDATE, subject, body + "{fields}")
    with read_only(world.engine) as session:
        preview = preview_template(session, world.olivia, world.event_id, MessageKind.STATUS_UPDATE, subject, body,
                                   public_base_url="https://orders.example")
    assert preview.subject == "Your order SAMPLE23: Shipped"
    assert "Tracking: https://tracking.example.com/SAMPLE23" in preview.text
    assert "Look your order up: https://orders.example/lookup\n" in preview.text  # no secret link: none is known
