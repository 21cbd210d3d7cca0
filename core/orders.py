"""Orders: the attendee's path from a submitted form to a stored order, with its receipt and reference.

`place_order` validates the answers, then writes the order, its lines and personal data, takes stock, redeems
the code and claims the email address in one transaction, and queues the order's mails (core/order_mail.py).
Organisers find and read orders through core/order_admin.py, and move them along through core/fulfilment.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.catalogue import load_catalogue
from core.codes import admit_submit, count_submit, items_needing_code, normalise_code, record_wrong_code, redeem_code
from core.db import group_commit, transaction_connection, unit_of_work
from core.errors import (
    CodeRefused,
    CodeThrottled,
    DomainError,
    EventNotOpen,
    FormValidationError,
    OrderNotSaved,
    SoldOut,
    SubmitThrottled,
)
from core.events import EventPhase, event_phase, get_published_event
from core.form_versions import current_form
from core.forms import FieldType, FormSpec, validate_answers
from core.fulfilment import record_status
from core.models import (
    EmailClaim,
    Event,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OrderStatusChange,
    utcnow,
)
from core.money import DEFAULT_CURRENCY, lines_total
from core.order_mail import notify_order_placed
from core.stock import everything_sold_out, take_stock
from core.submissions import find_repeated_submission, submission_hash
from core.tokens import email_claim_hash, hash_lookup_token, new_lookup_token

logger = logging.getLogger(__name__)
# Upper-case letters and digits without look-alikes (0/O, 1/I/L): 31^8 ≈ 8.5e11 references, read aloud safely.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8
MAX_IDEMPOTENCY_KEY_LENGTH = 64
# Built once: they run for every order placed. Core tables rather than ORM classes: the statements skip the ORM's
# compile and result layers, which cost more than SQLite takes to run them.
_ORDERS = Order.__table__
_ORDER_ID_BY_REFERENCE = select(_ORDERS.c.id).where(_ORDERS.c.reference == bindparam("reference"))
_INSERT_ORDER = insert(_ORDERS)
_INSERT_STATUS_CHANGE = insert(OrderStatusChange.__table__)
_INSERT_PERSONAL_DATA = insert(OrderPersonalData.__table__)
_INSERT_LINES = insert(OrderLine.__table__)


@dataclass(frozen=True)
class ReceiptLine:
    item_name: str
    variant_label: str
    quantity: int
    unit_price: Decimal | None


@dataclass(frozen=True)
class OrderReceipt:
    """What the attendee is shown after submitting; `created` is False when a repeated submit found the order."""

    reference: str
    placed_at: datetime
    lines: tuple[ReceiptLine, ...]
    created: bool
    # The secret of the order's lookup link; only known when this call created the order (only its hash is kept).
    lookup_token: str | None = None
    # The event's ISO 4217 code, for the total and the prices.
    currency: str = DEFAULT_CURRENCY

    @property
    def total(self) -> Decimal | None:
        return lines_total((line.unit_price, line.quantity) for line in self.lines)


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def place_order(
    session: Session,
    event: Event,
    answers: Mapping[str, object],
    *,
    idempotency_key: str,
    code: str = "",
    code_key: bytes = b"",
    check_deliverability: bool = False,
    now: datetime | None = None,
) -> OrderReceipt:
    """Validate `answers` against the event's current form and write the order, its lines and personal data.

    In the same transaction it takes the lines' stock (`stock.take_stock`), redeems `code` when the event's code
    mode asks for one (`codes.redeem_code`; `code_key` is the codes' HMAC key, also used, derived, for the
    one-order-per-email claim), claims the email address when the event allows one order per address, closes
    an event that closes when sold out once nothing is left, and queues its mails (`notify_order_placed`).
    The same `idempotency_key` (one per form session) always yields the first order's receipt, so a double
    click or a rerun never orders, takes stock or uses a code twice; and so do the same answers (lines and code
    included) within `submissions.SUBMISSION_WINDOW` of an order that is not cancelled, from any session, process
    or restart (core/submissions.py; needs `code_key`). Raises EventNotOpen, FormValidationError
    (stock beside the item, `code`, one order per email beside the email field), or SchemaError for a broken
    stored form. Does not commit.
    """
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    now = now or utcnow()
    # No lookup of the key first: almost every submit is a first one, and the order's INSERT refuses a taken key
    # (the IntegrityError branch below returns the first order's receipt). Only a refusal before the INSERT has
    # to look, so that a repeated submit still gets its receipt after the event closed or the form changed.
    try:
        if event_phase(event, now) != EventPhase.OPEN:
            raise EventNotOpen("This event is not taking orders right now.")
        version_id, form = current_form(session, event.id)
        catalogue = load_catalogue(session, event, images=False)
        clean = validate_answers(form, answers, catalogue, phone_region=event.phone_region,
                                 check_deliverability=check_deliverability)
        fingerprint = submission_hash(code_key, event_id=event.id, form_version_id=version_id, values=clean.values,
                                      lines=clean.lines, code=code)
        first = find_repeated_submission(session, event.id, fingerprint, now) if fingerprint is not None else None
    except DomainError:
        existing = _find_by_idempotency_key(session, event, idempotency_key)
        if existing is not None:
            return _receipt(existing, event.currency, created=False)
        raise
    if first is not None:
        # The key's own order first, as before: a resubmit from this form session names its order.
        existing = _find_by_idempotency_key(session, event, idempotency_key)
        return _receipt(existing if existing is not None else _load_order(session, first), event.currency, created=False)

    personal_keys = {spec.key for spec in form.personal_fields}
    lookup_token = new_lookup_token()
    # Unsaved objects that hold what is written (for the mails and the receipt); `_insert_order` writes them.
    order = Order(
        event_id=event.id, form_version_id=version_id, reference=new_reference(), status=OrderStatus.RECEIVED,
        idempotency_key=idempotency_key, created_at=now, lookup_token_hash=hash_lookup_token(lookup_token),
        answers={k: v for k, v in clean.values.items() if k not in personal_keys}, submission_hash=fingerprint,
    )
    record_status(session, order, OrderStatus.RECEIVED, audit.SYSTEM, at=now)
    personal = {k: v for k, v in clean.values.items() if k in personal_keys}
    if personal:
        order.personal = OrderPersonalData(answers=personal)
    # The catalogue was read in this transaction, so its ids, names and prices are the ones being ordered.
    offered = {item.key: item for item in catalogue}
    for chosen in clean.lines:
        item = offered[chosen.item_key]
        variant = next(v for v in item.variants if v.key == chosen.variant_key)
        order.lines.append(OrderLine(
            item_id=item.id, variant_id=variant.id, item_key=item.key, item_name=item.name,
            variant_key=variant.key, variant_label=variant.label, quantity=chosen.quantity, unit_price=item.price,
        ))
    items_field = next((spec.key for spec in form.fields if spec.type == FieldType.ITEMS), "")
    ordered = [offered[key] for key in dict.fromkeys(line.item_key for line in clean.lines)]
    # items_needing_code reads only `key` and `requires_code`, which catalogue items carry as Items do.
    needing_code = items_needing_code(event, ordered)  # type: ignore[arg-type]
    while True:
        try:
            # A savepoint, so that losing a race for the same idempotency key leaves the caller's transaction
            # usable, and a refused code or stock rolls back what was taken before it.
            with session.begin_nested():
                _insert_order(session, order)
                # Locks in the order stock.py documents: email claim, code, variants, pools.
                if event.one_order_per_email:
                    _claim_email(session, event, order, form, clean.values, code_key)
                if needing_code is not None:
                    redeem_code(session, event, code, needing_code, order.id, key=code_key, now=now)
                take_stock(session, order.lines, item_pools={item.id: item.pool_id for item in ordered})
            break
        except IntegrityError:
            existing = _find_by_idempotency_key(session, event, idempotency_key)
            if existing is not None:
                return _receipt(existing, event.currency, created=False)
            if session.scalar(_ORDER_ID_BY_REFERENCE, {"reference": order.reference}) is None:
                raise
            # Another order has this reference (about one order in a million, with a million orders stored):
            # the unique constraint said so, which saves looking each new reference up first.
            order.reference = new_reference()
        except CodeRefused as exc:
            raise FormValidationError({"code": str(exc)}) from None
        except SoldOut as exc:
            raise FormValidationError({f"{items_field}.{exc.item_key}": str(exc)}) from None
    if event.close_when_sold_out and event.sold_out_at is None and everything_sold_out(session, event):
        event.sold_out_at = now
        audit.record(session, None, "event.sold_out", event=event, subject=f"event:{event.slug}",
                     details={"order": order.reference})
    # In this same transaction: the order and its mails are committed together or not at all.
    notify_order_placed(session, event, order, form, clean, lookup_token=lookup_token,
                        items_with_vendor=[item.id for item in ordered if item.vendor_id is not None])
    return _receipt(order, event.currency, created=True, lookup_token=lookup_token)


def submit_public_order(
    engine: Engine,
    slug: str,
    answers: Mapping[str, object],
    *,
    client: str,
    code: str,
    idempotency_key: str,
    code_key: bytes,
    check_deliverability: bool = False,
    now: datetime | None = None,
) -> OrderReceipt:
    """The public form's submit: count it against `client` and `place_order`, in one unit of work; the receipt is
    returned only once that has committed.

    Owns its transactions, unlike other core functions. The count shares the order's unit of work, and on SQLite
    that is committed together with the other submits of the same moment (`db.group_commit`), so that in a rush
    an order costs no BEGIN, COMMIT (WAL sync) or hand-over of SQLite's write lock of its own. When the order is
    refused, its rollback takes the count along and the submission is counted again in a transaction of its
    own (with a wrong code's count), so refused submissions slow a client too. Raises SubmitThrottled;
    FormValidationError as `place_order` does, with a wrong `code`'s throttling wait added to its message and a
    client throttled for wrong codes refused under "code"; EventNotOpen, NotFound; OrderNotSaved when the commit
    fails (nothing was ordered).
    """
    now = now or utcnow()
    entered = bool(normalise_code(code))

    def count_and_place(session: Session) -> OrderReceipt:
        admit_submit(session, client, now, code_entered=entered)
        return place_order(session, get_published_event(session, slug), answers, idempotency_key=idempotency_key,
                           code=code, code_key=code_key, check_deliverability=check_deliverability, now=now)

    try:
        receipt = group_commit(engine, count_and_place)
    except CodeThrottled as exc:
        raise FormValidationError({"code": str(exc)}) from None
    except SubmitThrottled:
        raise
    except FormValidationError as exc:
        errors = dict(exc.errors)
        with unit_of_work(engine) as session:  # the order's unit of work was rolled back, these counts are not
            count_submit(session, client, now)
            if "code" in errors and entered and (wait := record_wrong_code(session, client, now)):
                errors["code"] += " " + str(CodeThrottled(wait))
        raise FormValidationError(errors) from None
    except DomainError:
        with unit_of_work(engine) as session:
            count_submit(session, client, now)
        raise
    except SQLAlchemyError:
        # No personal data in the log: the event and the exception only.
        logger.exception("an order for event %s was not saved", slug)
        raise OrderNotSaved() from None
    return receipt


def _claim_email(session: Session, event: Event, order: Order, form: FormSpec, values: Mapping[str, object],
                 code_key: bytes) -> None:
    """Record the order's email address for the event; refuses a second order with it beside the email field.

    A form without an email field, or an order without an address, claims nothing.
    """
    email_key = next((spec.key for spec in form.fields if spec.type == FieldType.EMAIL), None)
    email = values.get(email_key) if email_key else None
    if not isinstance(email, str) or not email:
        return
    try:
        # Its own savepoint: the unique (event, hash) constraint must be told apart from an idempotency race.
        with session.begin_nested():
            session.add(EmailClaim(event_id=event.id, email_hash=email_claim_hash(email, code_key),
                                   order_id=order.id))
            session.flush()
    except IntegrityError:
        raise FormValidationError(
            {email_key: "An order with this email address already exists for this event."}) from None  # type: ignore[dict-item]


def _load_order(session: Session, order_id: int) -> Order:
    return session.scalars(select(Order).where(Order.id == order_id).options(selectinload(Order.lines))).one()


def _find_by_idempotency_key(session: Session, event: Event, key: str) -> Order | None:
    return session.scalars(
        select(Order).where(Order.event_id == event.id, Order.idempotency_key == key)
        .options(selectinload(Order.lines))
    ).first()


def _insert_order(session: Session, order: Order) -> None:
    """Write the unsaved `order`, its history, personal data and lines with Core INSERTs; sets `order.id`.

    About a third of what an ORM flush of the same rows costs (bench/bench_place_order.py). The objects never
    join the session, so nothing writes them a second time; a later query in this transaction loads the order
    from the database like any other. Raises IntegrityError for a taken idempotency key or reference.
    """
    if order in session:  # e.g. cascaded in by a related object someone added: its flush would write it again
        raise RuntimeError("the order to insert is already in the session")
    connection = transaction_connection(session)
    order.id = connection.execute(_INSERT_ORDER, {
        column: getattr(order, column) for column in (
            "event_id", "form_version_id", "reference", "idempotency_key", "status", "answers", "created_at",
            "lookup_token_hash", "submission_hash")}).inserted_primary_key[0]
    connection.execute(_INSERT_STATUS_CHANGE, [
        {"order_id": order.id, "status": step.status, "at": step.at, "actor": step.actor, "tracking": step.tracking}
        for step in order.history])
    if order.personal is not None:
        connection.execute(_INSERT_PERSONAL_DATA, {"order_id": order.id, "answers": order.personal.answers})
    if order.lines:
        connection.execute(_INSERT_LINES, [
            {"order_id": order.id, "item_id": line.item_id, "variant_id": line.variant_id, "item_key": line.item_key,
             "item_name": line.item_name, "variant_key": line.variant_key, "variant_label": line.variant_label,
             "quantity": line.quantity, "unit_price": line.unit_price} for line in order.lines])


def _receipt(order: Order, currency: str, *, created: bool, lookup_token: str | None = None) -> OrderReceipt:
    return OrderReceipt(
        reference=order.reference,
        placed_at=order.created_at,
        lines=tuple(ReceiptLine(line.item_name, line.variant_label, line.quantity, line.unit_price)
                    for line in order.lines),
        created=created,
        lookup_token=lookup_token,
        currency=currency,
    )
