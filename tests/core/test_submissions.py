"""A repeated submission after a crash finds the first order instead of placing a second one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from core.db import make_engine, read_only, unit_of_work
from core.forms import ChosenLine
from core.fulfilment import cancel_order
from core.models import Event, Order, OutboxMessage, User, utcnow
from core.orders import OrderReceipt, place_order
from core.submissions import SUBMISSION_WINDOW, submission_hash
from core.users import actor_for
from tests.factories import answers, make_shop, make_user
from tests.factories.stock import CODE_KEY


def _place(url: str, key: str, *, now: Any = None, **overrides: Any) -> OrderReceipt:
    """Place an order through an engine of its own, as a process (and a form session `key`) of its own would."""
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            event = session.scalars(select(Event)).one()
            return place_order(session, event, answers(**overrides), idempotency_key=key, code_key=CODE_KEY,
                               now=now)
    finally:
        engine.dispose()


def _count(engine: Engine, model: type) -> int:
    with read_only(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _shop(engine: Engine) -> str:
    with unit_of_work(engine) as session:
        make_shop(session)
    return _url(engine)


def test_a_new_session_after_a_restart_gets_the_first_order(engine: Engine) -> None:
    url = _shop(engine)
    first = _place(url, "session-before-the-crash")
    mails = _count(engine, OutboxMessage)
    # The server restarted: the attendee reloads (a new form session) and submits the same answers again,
    # typed a little differently.
    again = _place(url, "session-after-the-restart", email="  ada@example.com ", name="Ada Lovelace ")
    assert (again.reference, again.created, first.created) == (first.reference, False, True)
    assert again.lines == first.lines
    assert _count(engine, Order) == 1
    assert _count(engine, OutboxMessage) == mails  # no second confirmation, no second vendor mail


def test_a_different_answer_is_a_new_order(engine: Engine) -> None:
    url = _shop(engine)
    first = _place(url, "one")
    other_size = _place(url, "two", items=[{"item": "tshirt", "options": {"type": "Fitted", "size": "L"},
                                            "quantity": 1}])
    other_phone = _place(url, "three", phone="020 7946 0958")
    assert len({first.reference, other_size.reference, other_phone.reference}) == 3
    assert other_size.created and other_phone.created


def test_after_the_window_the_same_answers_are_a_new_order(engine: Engine) -> None:
    url = _shop(engine)
    start = utcnow()
    first = _place(url, "one", now=start)
    within = _place(url, "two", now=start + SUBMISSION_WINDOW - timedelta(seconds=1))
    after = _place(url, "three", now=start + SUBMISSION_WINDOW + timedelta(seconds=1))
    assert within.reference == first.reference and not within.created
    assert after.reference != first.reference and after.created
    assert _count(engine, Order) == 2


def test_a_cancelled_order_is_not_found_again(engine: Engine) -> None:
    url = _shop(engine)
    first = _place(url, "one")
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        user = session.scalars(select(User)).first()
        actor = actor_for(user) if user else make_user(session, "canceller", member_of=[event])
        cancel_order(session, actor, event.id, first.reference)
    again = _place(url, "two")
    assert again.created and again.reference != first.reference


def test_the_fingerprint_is_keyed_and_covers_the_code() -> None:
    lines = (ChosenLine("tshirt", "Fitted/M", 1),)
    common: dict[str, Any] = {"event_id": 1, "form_version_id": 1, "values": {"name": "Ada"}, "lines": lines}
    fingerprint = submission_hash(CODE_KEY, code="abc-def", **common)
    assert fingerprint == submission_hash(CODE_KEY, code="ABC DEF", **common)  # codes compare normalised
    assert fingerprint != submission_hash(CODE_KEY, code="ABC-XYZ", **common)
    assert fingerprint != submission_hash(b"another key entirely, 32 bytes long", code="abc-def", **common)
    assert submission_hash(b"", code="", **common) is None  # without a key nothing is kept, nothing recognised
