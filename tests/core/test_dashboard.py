"""The event dashboard: counts and charts from anonymous order data, in the event's time zone, and its notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.dashboard import Dashboard, Milestone, NoticeLevel, event_dashboard
from core.db import read_only, unit_of_work
from core.errors import PermissionDenied
from core.event_admin import EventState
from core.models import Event, MessageStatus, OrderStatus, OutboxMessage
from tests.factories import make_event, make_shop, make_user
from tests.factories.events import make_member, make_order

NOW = datetime(2027, 6, 10, 12, 0, tzinfo=UTC)
TSHIRT_M = {"item": "tshirt", "options": {"type": "Fitted", "size": "M"}}
TSHIRT_S = {"item": "tshirt", "options": {"type": "Fitted", "size": "S"}}
HOODIE_L = {"item": "hoodie", "options": {"size": "L"}}
BREAKFAST = {"item": "breakfast", "options": {}}
ADDRESS = {"street": "1 Analytical Row", "city": "London", "postcode": "SW1A 1AA", "country": "United Kingdom"}


@pytest.fixture
def organiser(engine: Engine) -> Actor:
    with unit_of_work(engine) as session:
        return make_user(session, "alice")


def _shop(session: Session, organiser: Actor, **attributes: object) -> Event:
    event = make_shop(session, ends_at=NOW + timedelta(days=30), **attributes)
    make_member(session, event, organiser)
    return event


def _dashboard(engine: Engine, actor: Actor, event_id: int, now: datetime = NOW) -> Dashboard:
    with read_only(engine) as session:
        return event_dashboard(session, actor, event_id, now=now)


def test_counts_and_items_leave_out_cancelled_orders(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser)
        make_order(session, event, [{**TSHIRT_M, "quantity": 2}, {**HOODIE_L, "quantity": 1}], key="a", now=NOW)
        make_order(session, event, [{**TSHIRT_S, "quantity": 1}, {**TSHIRT_M, "quantity": 1}], key="b", now=NOW,
                   status=OrderStatus.SHIPPED)
        make_order(session, event, [{**BREAKFAST, "quantity": 1}], key="c", now=NOW, delivery=ADDRESS)
        make_order(session, event, [{**HOODIE_L, "quantity": 2}], key="d", now=NOW, status=OrderStatus.CANCELLED)
    board = _dashboard(engine, organiser, event.id)
    assert (board.orders, board.cancelled, board.items_ordered) == (3, 1, 6)
    assert board.order_value == Decimal("12.50") * 4 + Decimal("30") + Decimal("9.50")
    # Catalogue order (t-shirt, hoodie, breakfast), then variant order (S before M), not the alphabet.
    assert board.items.to_dict("records") == [
        {"Item": "T-shirt", "Variant": "Fitted, S", "Quantity": 1},
        {"Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 3},
        {"Item": "Hoodie", "Variant": "L", "Quantity": 1},
        {"Item": "Breakfast box", "Variant": "—", "Quantity": 1},
    ]


def test_orders_per_day_are_counted_in_the_events_time_zone_with_empty_days_filled(engine: Engine,
                                                                                    organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, timezone="Asia/Kathmandu")  # UTC+05:45
        for key, moment in {
            "late-utc": datetime(2027, 6, 1, 18, 30, tzinfo=UTC),  # 00:15 on 2 June in Kathmandu
            "early-utc": datetime(2027, 6, 1, 18, 0, tzinfo=UTC),  # 23:45 on 1 June
            "later": datetime(2027, 6, 4, 6, 0, tzinfo=UTC),
            "cancelled": datetime(2027, 6, 3, 6, 0, tzinfo=UTC),
        }.items():
            status = OrderStatus.CANCELLED if key == "cancelled" else OrderStatus.RECEIVED
            make_order(session, event, [{**TSHIRT_M, "quantity": 1}], key=key, now=moment, status=status)
    per_day = _dashboard(engine, organiser, event.id).orders_per_day
    assert per_day.to_dict("records") == [
        {"Day": "2027-06-01", "Orders": 1}, {"Day": "2027-06-02", "Orders": 1}, {"Day": "2027-06-03", "Orders": 0},
        {"Day": "2027-06-04", "Orders": 1}]


def test_an_event_without_orders_has_empty_charts(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser)
    board = _dashboard(engine, organiser, event.id)
    assert (board.orders, board.cancelled, board.items_ordered, board.order_value) == (0, 0, 0, Decimal("0.00"))
    assert list(board.items.columns) == ["Item", "Variant", "Quantity"] and board.items.empty
    assert list(board.orders_per_day.columns) == ["Day", "Orders"] and board.orders_per_day.empty


def test_the_dashboard_holds_no_personal_data(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser)
        make_order(session, event, [{**BREAKFAST, "quantity": 1}], key="a", now=NOW, name="Ada Lovelace",
                   email="ada@example.com", size_note="Ada's note", delivery=ADDRESS)
    board = _dashboard(engine, organiser, event.id)
    everything = " ".join([repr(board), board.items.to_csv(), board.orders_per_day.to_csv(),
                           *(notice.message for notice in board.notices)])
    for personal in ("Ada", "ada@example.com", "Analytical", "SW1A"):
        assert personal not in everything


def _messages(engine: Engine, actor: Actor, event_id: int, now: datetime = NOW) -> dict[str, NoticeLevel]:
    return {notice.message: notice.level for notice in _dashboard(engine, actor, event_id, now).notices}


def test_a_draft_says_attendees_cannot_see_it(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, published=False, closes_at=NOW + timedelta(days=10))
    assert _messages(engine, organiser, event.id) == {
        "This event is a draft: attendees cannot see it until you publish it.": NoticeLevel.INFO}


def test_a_published_event_without_form_or_items_is_a_warning(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session, form=None, closes_at=NOW + timedelta(days=10), ends_at=NOW + timedelta(days=11))
        make_member(session, event, organiser)
    messages = _messages(engine, organiser, event.id)
    warnings = [m for m, level in messages.items() if level == NoticeLevel.WARNING]
    assert len(warnings) == 2
    assert any("no order form" in m for m in warnings) and any("no items" in m for m in warnings)


def test_an_open_event_closing_soon_without_orders_says_so(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, timezone="Europe/London", closes_at=NOW + timedelta(hours=30))
    messages = _messages(engine, organiser, event.id)
    assert "Orders close in 30 hours, on Friday 11 June at 19:00 (Europe/London)." in messages
    assert any("none have come in yet" in m for m in messages)
    assert all(level == NoticeLevel.INFO for level in messages.values())


def _mail_delivered(session: Session) -> None:
    """The state after the dispatcher ran: every queued mail (the order's confirmation) was sent."""
    for message in session.scalars(select(OutboxMessage)):
        message.status, message.sent_at = MessageStatus.SENT, NOW


def test_undelivered_mail_is_the_first_notice(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, closes_at=NOW + timedelta(days=5))
        make_order(session, event, [{**TSHIRT_M, "quantity": 1}], key="a", now=NOW)
        session.scalars(select(OutboxMessage)).one().status = MessageStatus.FAILED
    with read_only(engine) as session:
        first = event_dashboard(session, organiser, event.id, now=NOW).notices[0]
    assert first.level == NoticeLevel.WARNING and "could not be delivered" in first.message


def test_a_healthy_open_event_has_no_notices(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, closes_at=NOW + timedelta(days=5))
        make_order(session, event, [{**TSHIRT_M, "quantity": 1}], key="a", now=NOW)
        _mail_delivered(session)
    assert _messages(engine, organiser, event.id) == {}
    # Two days before closing, the same event says when orders close.
    assert len(_messages(engine, organiser, event.id, now=NOW + timedelta(days=3, hours=1))) == 1


def test_an_event_without_an_end_date_warns_that_personal_data_goes_after_orders_close(engine: Engine,
                                                                                        organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, closes_at=NOW + timedelta(days=5), retention_days=14)
        make_member(session, event, organiser)
        make_order(session, event, [{**TSHIRT_M, "quantity": 1}], key="a", now=NOW)
        _mail_delivered(session)
    assert _messages(engine, organiser, event.id) == {
        "No end date is set, so attendees' personal data is deleted 14 days after orders close. Set when the event "
        "ends if you need it until then.": NoticeLevel.WARNING}


def test_an_event_without_end_or_closing_time_warns_that_personal_data_is_kept(engine: Engine,
                                                                                organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, retention_days=14)
        make_member(session, event, organiser)
    messages = _messages(engine, organiser, event.id)
    assert messages["No end date is set, so attendees' personal data is kept until you set one (it is deleted 14 "
                    "days after the event ends)."] == NoticeLevel.WARNING
    assert _dashboard(engine, organiser, event.id).next_step == "Orders are open."


@pytest.mark.parametrize(("attributes", "state", "next_step"), [
    ({"published": False}, EventState.DRAFT, "Not published: attendees cannot see it."),
    ({"opens_at": NOW + timedelta(days=1)}, EventState.SCHEDULED,
     "Orders open on Fri 11 Jun 2027, 13:00 (Europe/London)."),
    ({"closes_at": NOW + timedelta(days=5)}, EventState.OPEN,
     "Orders close on Tue 15 Jun 2027, 13:00 (Europe/London)."),
    ({"closes_at": NOW - timedelta(days=1), "change_deadline": NOW + timedelta(hours=2)}, EventState.CLOSED,
     "Orders are closed; attendees may change theirs until Thu 10 Jun 2027, 15:00 (Europe/London)."),
    ({"closes_at": NOW - timedelta(days=1), "change_deadline": NOW - timedelta(hours=2)}, EventState.FULFILMENT,
     "Personal data will be deleted on Mon 09 Aug 2027, 13:00 (Europe/London)."),
    ({"closes_at": NOW - timedelta(days=1), "purged_at": NOW - timedelta(hours=1)}, EventState.PURGED,
     "Personal data was deleted (purged) on Thu 10 Jun 2027, 12:00 (Europe/London); the anonymous counts remain."),
    ({"closes_at": NOW - timedelta(days=1), "archived_at": NOW}, EventState.ARCHIVED,
     "Personal data will be deleted on Mon 09 Aug 2027, 13:00 (Europe/London)."),
], ids=["draft", "scheduled", "open", "closed", "fulfilment", "purged", "archived"])
def test_the_state_says_what_comes_next(engine: Engine, organiser: Actor, attributes: dict[str, object],
                                        state: EventState, next_step: str) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, timezone="Europe/London", retention_days=30, **attributes)
    board = _dashboard(engine, organiser, event.id)
    assert (board.state, board.next_step) == (state, next_step)


def test_the_timeline_lists_the_dates_that_are_set_in_order_in_local_time(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser, timezone="Europe/Berlin", retention_days=10,
                      opens_at=NOW - timedelta(days=10), closes_at=NOW - timedelta(days=1),
                      vendor_cutoff_at=NOW + timedelta(hours=1), change_deadline=NOW + timedelta(days=2))
    assert _dashboard(engine, organiser, event.id).timeline == (
        Milestone("Orders open", datetime(2027, 5, 31, 14, 0), passed=True),
        Milestone("Orders close", datetime(2027, 6, 9, 14, 0), passed=True),
        Milestone("Vendor lists sent (cutoff)", datetime(2027, 6, 10, 15, 0), passed=False),
        Milestone("Changes allowed until", datetime(2027, 6, 12, 14, 0), passed=False),
        Milestone("Event ends", datetime(2027, 7, 10, 14, 0), passed=False),
        Milestone("Personal data to be deleted", datetime(2027, 7, 20, 14, 0), passed=False),
    )
    with unit_of_work(engine) as session:
        session.get_one(Event, event.id).purged_at = NOW
    assert _dashboard(engine, organiser, event.id).timeline[-1] == Milestone(
        "Event ends", datetime(2027, 7, 10, 14, 0), passed=False)  # purged early: the deletion is now in the past
    assert Milestone("Personal data deleted", datetime(2027, 6, 10, 14, 0), passed=True) in _dashboard(
        engine, organiser, event.id).timeline


def test_another_organiser_cannot_see_the_dashboard(engine: Engine, organiser: Actor) -> None:
    with unit_of_work(engine) as session:
        event = _shop(session, organiser)
        stranger = make_user(session, "mallory")
    with pytest.raises(PermissionDenied):
        _dashboard(engine, stranger, event.id)
