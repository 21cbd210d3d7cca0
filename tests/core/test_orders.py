"""place_order on the real database: what is written, what is kept apart, and what is never written twice."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from core.codes import SUBMITS_FREE
from core.db import read_only, unit_of_work
from core.errors import EventNotOpen, FormValidationError, OrderNotSaved, SchemaError, SubmitThrottled
from core.models import Event, FormVersion, Order, OrderLine, OrderPersonalData, OrderStatus, utcnow
from core.orders import REFERENCE_ALPHABET, OrderReceipt, place_order, submit_public_order
from tests.commit_faults import commits_of_orders_fail
from tests.factories import answers, make_shop


def _place(engine: Engine, given: dict, *, key: str = "form-session-1", slug: str = "test-event") -> OrderReceipt:
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event).where(Event.slug == slug)).one()
        return place_order(session, event, given, idempotency_key=key)


@pytest.fixture
def shop(engine: Engine) -> Engine:
    with unit_of_work(engine) as session:
        make_shop(session)
    return engine


def _count(engine: Engine, model: type) -> int:
    with read_only(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_valid_order_is_stored_with_its_lines_and_reference(shop: Engine) -> None:
    receipt = _place(shop, answers(items=[
        {"item": "tshirt", "options": {"type": "Fitted", "size": "M"}, "quantity": 2},
        {"item": "hoodie", "options": {"size": "L"}, "quantity": 1},
    ]))
    assert receipt.created
    assert [(line.item_name, line.variant_label, line.quantity) for line in receipt.lines] == [
        ("T-shirt", "Fitted, M", 2), ("Hoodie", "L", 1)]
    assert receipt.total == Decimal("55.00")
    with read_only(shop) as session:
        order = session.scalars(select(Order)).one()
        assert order.reference == receipt.reference
        assert order.status == OrderStatus.RECEIVED
        assert order.created_at.tzinfo is not None
        assert [(line.item_key, line.variant_key, line.unit_price) for line in order.lines] == [
            ("tshirt", "Fitted/M", Decimal("12.50")), ("hoodie", "L", Decimal("30.00"))]


def test_reference_is_eight_characters_without_look_alikes(shop: Engine) -> None:
    references = {_place(shop, answers(), key=f"session-{n}").reference for n in range(20)}
    assert len(references) == 20
    assert all(re.fullmatch(f"[{REFERENCE_ALPHABET}]{{8}}", reference) for reference in references)
    assert not set("01OIL") & set(REFERENCE_ALPHABET)


def test_personal_answers_are_kept_apart_from_the_order(shop: Engine) -> None:
    _place(shop, answers(phone="020 7946 0958", size_note="Runs small?"))
    with read_only(shop) as session:
        order = session.scalars(select(Order)).one()
        personal = session.get(OrderPersonalData, order.id)
    assert personal is not None
    assert personal.answers == {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+442079460958"}
    assert order.answers == {"size_note": "Runs small?"}


def test_same_idempotency_key_returns_the_first_order(shop: Engine) -> None:
    first = _place(shop, answers())
    again = _place(shop, answers(name="Someone Else"))
    assert (again.reference, again.created) == (first.reference, False)
    assert _count(shop, Order) == 1


def test_a_repeated_submit_gets_its_receipt_after_the_event_closed(shop: Engine) -> None:
    first = _place(shop, answers())
    with unit_of_work(shop) as session:
        session.scalars(select(Event)).one().closes_at = utcnow() - timedelta(minutes=1)
    again = _place(shop, answers())
    assert (again.reference, again.created) == (first.reference, False)
    with pytest.raises(EventNotOpen):  # a new form session is refused
        _place(shop, answers(), key="form-session-2")


def test_a_repeated_submit_with_answers_now_invalid_gets_its_receipt(shop: Engine) -> None:
    first = _place(shop, answers())
    again = _place(shop, answers(name="", email="ada@"))
    assert (again.reference, again.created) == (first.reference, False)
    assert _count(shop, Order) == 1


def test_invalid_answers_write_nothing_and_name_every_bad_field(shop: Engine) -> None:
    with pytest.raises(FormValidationError) as caught:
        _place(shop, answers(name="", email="ada@", items=[]))
    assert set(caught.value.errors) == {"name", "email", "items"}
    assert (_count(shop, Order), _count(shop, OrderLine), _count(shop, OrderPersonalData)) == (0, 0, 0)


def test_delivery_address_is_required_only_with_breakfast(shop: Engine) -> None:
    breakfast = [{"item": "breakfast", "options": {}, "quantity": 1}]
    with pytest.raises(FormValidationError) as caught:
        _place(shop, answers(items=breakfast))
    assert {"delivery.street", "delivery.city", "delivery.postcode", "delivery.country"} <= set(caught.value.errors)
    address = {"street": "1 Main St", "city": "London", "postcode": "N1 9GU", "country": "United Kingdom"}
    _place(shop, answers(items=breakfast, delivery=address))
    with read_only(shop) as session:
        assert session.scalars(select(OrderPersonalData)).one().answers["delivery"] == address


def test_address_of_a_hidden_field_is_not_stored(shop: Engine) -> None:
    address = {"street": "1 Main St", "city": "London", "postcode": "N1 9GU", "country": "United Kingdom"}
    _place(shop, answers(delivery=address))  # t-shirt only: the address field is hidden
    with read_only(shop) as session:
        assert "delivery" not in session.scalars(select(OrderPersonalData)).one().answers


def test_order_lines_keep_labels_and_price_after_catalogue_edits(shop: Engine) -> None:
    _place(shop, answers())
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        tshirt = next(item for item in event.items if item.key == "tshirt")
        tshirt.name, tshirt.price = "Renamed shirt", Decimal("99")
    with read_only(shop) as session:
        line = session.scalars(select(OrderLine)).one()
    assert (line.item_name, line.unit_price) == ("T-shirt", Decimal("12.50"))


@pytest.mark.parametrize("window", ["not_open_yet", "closed", "unpublished"])
def test_no_order_outside_the_ordering_window(engine: Engine, window: str) -> None:
    now = utcnow()
    attributes = {
        "not_open_yet": {"opens_at": now + timedelta(days=1)},
        "closed": {"closes_at": now - timedelta(minutes=1)},
        "unpublished": {"published": False},
    }[window]
    with unit_of_work(engine) as session:
        make_shop(session, **attributes)
    with pytest.raises(EventNotOpen):
        _place(engine, answers())
    assert _count(engine, Order) == 0


def test_broken_stored_form_is_a_schema_error_not_a_crash(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        session.scalars(select(FormVersion)).one().schema = {"fields": [{"key": "x", "type": "telepathy"}]}
    with pytest.raises(SchemaError, match="Field 1 \\('x'\\)"):
        _place(shop, answers())


def test_concurrent_submits_of_one_form_session_create_one_order(shop: Engine) -> None:
    """Eight simultaneous submits with one idempotency key (a hammered button): one order, one reference."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    barrier = Barrier(8)

    def submit(_: int) -> str:
        barrier.wait()
        return _place(shop, answers(), key="hammered").reference

    with ThreadPoolExecutor(max_workers=8) as pool:
        references = set(pool.map(submit, range(8)))
    assert len(references) == 1
    assert _count(shop, Order) == 1


def test_a_taken_reference_is_replaced_not_refused(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """place_order does not look each new reference up: the unique constraint catches the rare taken one."""
    import core.orders

    first = _place(shop, answers(), key="first")
    offered = iter([first.reference, "ZZZZ2222"])
    monkeypatch.setattr(core.orders, "new_reference", lambda: next(offered))
    second = _place(shop, answers(), key="second")
    assert (second.reference, second.created) == ("ZZZZ2222", True)
    assert _count(shop, Order) == 2


def test_a_form_edited_in_place_is_what_the_next_order_meets(shop: Engine) -> None:
    """Parsed forms are cached by their stored text, so editing an unused version in place takes effect at once."""
    from core.form_versions import save_form
    from tests.factories import BASIC_FORM

    with pytest.raises(FormValidationError):
        _place(shop, answers(email="not an address"))  # parses (and caches) the form; writes nothing
    stricter = {"fields": [*BASIC_FORM["fields"], {"key": "team", "type": "short_text", "label": "Team",
                                                      "required": True}]}
    with unit_of_work(shop) as session:
        version, _ = save_form(session, session.scalars(select(Event)).one(), stricter)
        assert version.number == 1  # still unused, so edited in place under the same id
    with pytest.raises(FormValidationError) as caught:
        _place(shop, answers())
    assert set(caught.value.errors) == {"team"}
    assert _place(shop, answers(team="Blue")).created


# --- submit_public_order: the public form's whole submit --------------------------------------------------------


SUBMITTED_AT = utcnow()


def _submit_public(engine: Engine, given: dict, *, client: str = "203.0.113.7", key: str = "form-session-1",
                   code: str = "") -> OrderReceipt:
    # One moment for all: the throttle's score decays with time.
    return submit_public_order(engine, "test-event", given, client=client, code=code, idempotency_key=key,
                               code_key=b"k" * 32, now=SUBMITTED_AT)


def test_a_public_submit_returns_the_receipt_of_a_committed_order(shop: Engine) -> None:
    receipt = _submit_public(shop, answers())
    with read_only(shop) as session:
        assert session.scalars(select(Order.reference)).all() == [receipt.reference]


def test_a_refused_public_submit_still_counts_against_the_client(shop: Engine) -> None:
    for attempt in range(int(SUBMITS_FREE)):
        with pytest.raises(FormValidationError):
            _submit_public(shop, answers(email="not-an-address"), key=f"session-{attempt}")
    with pytest.raises(SubmitThrottled):
        _submit_public(shop, answers(), key="one-more")
    assert _count(shop, Order) == 0
    _submit_public(shop, answers(), client="198.51.100.9")  # another client is not held up
    assert _count(shop, Order) == 1


def test_a_failed_commit_of_a_public_submit_is_order_not_saved(shop: Engine) -> None:
    with commits_of_orders_fail(), pytest.raises(OrderNotSaved):
        _submit_public(shop, answers())
    assert _count(shop, Order) == 0


def test_public_submits_of_one_moment_are_committed_together_each_with_its_own_order(shop: Engine) -> None:
    """On SQLite, submits that arrive while another is being written wait and are committed as one group
    (core.db.group_commit): one COMMIT for them all, and each attendee still gets the receipt of its own order,
    stored. Two of them share a client and both count; a refused one is counted once, after the group. On
    PostgreSQL each has its own transaction."""
    import threading

    from sqlalchemy import event

    import core.db
    from core.throttle import client_key, entry
    from tests.waiting import wait_until

    commits: list[int] = []
    event.listen(shop, "commit", lambda _connection: commits.append(1))
    outcomes: dict[int, object] = {}
    clients = {0: "203.0.113.1", 1: "203.0.113.2", 2: "203.0.113.3", 3: "203.0.113.34", 4: "203.0.113.34",
               5: "203.0.113.99"}

    def submit(number: int) -> None:
        email = "not an address" if number == 5 else f"attendee{number}@example.org"
        try:
            outcomes[number] = _submit_public(shop, answers(email=email), client=clients[number],
                                              key=f"session-{number}")
        except FormValidationError as exc:
            outcomes[number] = exc

    threads = [threading.Thread(target=submit, args=(number,)) for number in range(6)]
    writer = core.db.writer_lock(shop)
    if writer is None:  # PostgreSQL
        for thread in threads:
            thread.start()
    else:
        group = core.db._GROUPS[shop.pool]
        with writer:  # another writer of this process is busy: the first submit waits at BEGIN, leading a group
            threads[0].start()
            wait_until(lambda: group.leader.locked() and not group.waiting)
            for thread in threads[1:]:
                thread.start()
            wait_until(lambda: len(group.waiting) == 5)
    for thread in threads:
        thread.join(timeout=30)
    receipts = [outcomes[number] for number in range(5)]
    assert all(isinstance(receipt, OrderReceipt) and receipt.created for receipt in receipts)
    assert isinstance(outcomes[5], FormValidationError) and set(outcomes[5].errors) == {"email"}
    with read_only(shop) as session:
        stored = set(session.scalars(select(Order.reference)))
        scores = {client: entry(session, client_key("submit", client)).score  # type: ignore[union-attr]
                  for client in ("203.0.113.34", "203.0.113.99")}
    assert stored == {receipt.reference for receipt in receipts} and len(stored) == 5  # type: ignore[union-attr]
    assert scores == {"203.0.113.34": 2.0, "203.0.113.99": 1.0}
    # SQLite: the first alone, the other five together, then the refused one's count; PostgreSQL: one each.
    assert len(commits) == (3 if writer is not None else 6)
