"""Vendors: who receives which items of an order, which order fields they may see, and what they were sent."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require
from core.errors import FormValidationError, NotFound, SchemaError
from core.form_versions import current_form_version
from core.forms import CleanAnswers, FieldType, FormSpec, parse_form_spec
from core.mail_templates import (
    RENDERED_SUBJECT_MAX_LENGTH,
    attendee_name_key,
    item_lines,
    lookup_link,
    order_values,
    render_mail,
    template_for,
)
from core.models import (
    Disclosure,
    Event,
    Item,
    MessageKind,
    MessageStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    User,
    Vendor,
    VendorMode,
    utcnow,
)
from core.outbox import enqueue_message

NAME_MAX_LENGTH = 200
MAX_EMAILS = 20
MAX_VISIBLE_FIELDS = 100
EMAIL_MAX_LENGTH = 254
MODE_LABELS = {VendorMode.PER_ORDER: "Per order (a mail for each order)",
               VendorMode.BATCH: "Batch (one spreadsheet at the cutoff)"}
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Not spaces: "pins at maker" is one wrong address, and the message should quote it whole.
_SEPARATORS = re.compile(r"[,;\r\n]+")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def disclosed_fields(vendor: Vendor, form: FormSpec) -> list[str]:
    """The keys of `form`'s fields that `vendor` may see, in form order (unknown keys are ignored)."""
    allowed = set(vendor.visible_fields)
    return [spec.key for spec in form.fields if spec.key in allowed]


def record_disclosure(
    session: Session, vendor: Vendor, order_ids: Iterable[int], fields: Sequence[str], message: OutboxMessage | None
) -> None:
    """Record that `vendor` received `fields` of these orders in `message` (the order's disclosure register)."""
    now = utcnow()
    session.add_all(
        Disclosure(vendor_id=vendor.id, vendor_name=vendor.name, order_id=order_id, fields=list(fields),
                   message_id=message.id if message else None, at=now)
        for order_id in order_ids
    )


class VendorValidationError(FormValidationError, SchemaError):
    """Vendor settings that break a rule; `errors` maps "name", "emails", "mode" or "visible_fields" to a message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(errors)
        labels = {"name": "Name", "emails": "Emails", "mode": "Mode", "visible_fields": "Visible fields"}
        self.args = ("; ".join(f"{labels.get(key, key)}: {message}" for key, message in self.errors.items()),)


@dataclass(frozen=True)
class VendorView:
    """A vendor as the Vendors page shows it; `owner` is the username of the organiser it belongs to."""

    id: int
    name: str
    emails: tuple[str, ...]
    mode: VendorMode
    visible_fields: tuple[str, ...]
    owner: str


@dataclass(frozen=True)
class ItemRoute:
    """Which vendor an item of an event goes to; `vendor_id` None means the organisers handle it themselves."""

    item_key: str
    item_name: str
    vendor_id: int | None
    vendor_name: str


@dataclass(frozen=True)
class VendorOverview:
    """What the Vendors page shows: the actor's vendors and, for the chosen event, its items' routes and the
    keys and labels of its form's fields (what a vendor could be allowed to see)."""

    vendors: tuple[VendorView, ...]
    routes: tuple[ItemRoute, ...]
    form_fields: dict[str, str]


@dataclass(frozen=True)
class DisclosureView:
    """One line of an order's disclosure register: who received which fields, when, and the mail's state.

    `message_status` is None when no mail is linked (it was deleted, or the disclosure went out another way).
    """

    vendor_name: str
    fields: tuple[str, ...]
    at: datetime
    message_status: MessageStatus | None


# --- Vendors of an organiser -------------------------------------------------------------------------------------


def list_vendors(session: Session, actor: Actor) -> list[VendorView]:
    """The vendors `actor` may use, by name: all for admins, their own for organisers."""
    _require_organiser(session, actor)
    query = (select(Vendor, User.username).outerjoin(User, User.id == Vendor.owner_id)
             .order_by(func.lower(Vendor.name), Vendor.id))
    if not actor.is_admin:
        query = query.where(Vendor.owner_id == actor.user_id)
    return [_view(vendor, owner or "") for vendor, owner in session.execute(query)]


def vendor_overview(session: Session, actor: Actor, event_id: int | None) -> VendorOverview:
    """The actor's vendors, and for `event_id` (if given) its item routes and form fields.

    Raises PermissionDenied or NotFound for the event.
    """
    vendors = tuple(list_vendors(session, actor))
    if event_id is None:
        return VendorOverview(vendors, (), {})
    return VendorOverview(vendors, tuple(list_item_routes(session, actor, event_id)),
                          form_field_labels(session, actor, event_id))


def create_vendor(
    session: Session, actor: Actor, *, name: str, emails: str | Sequence[str], mode: VendorMode | str,
    visible_fields: Sequence[str],
) -> VendorView:
    """Add a vendor owned by `actor`; `emails` may be one text with addresses separated by commas or lines.

    Raises VendorValidationError per bad input, or PermissionDenied.
    """
    _require_organiser(session, actor)
    values = _checked(session, actor.user_id, None, name, emails, mode, visible_fields)
    vendor = Vendor(owner_id=actor.user_id, **values)
    session.add(vendor)
    session.flush()
    audit.record(session, actor, "vendor.created", subject=f"vendor:{vendor.id}",
                 details={"vendor_id": vendor.id, "mode": vendor.mode.value, "visible_fields": vendor.visible_fields})
    return _view(vendor, actor.username)


def update_vendor(
    session: Session, actor: Actor, vendor_id: int, *, name: str, emails: str | Sequence[str],
    mode: VendorMode | str, visible_fields: Sequence[str],
) -> VendorView:
    """Replace a vendor's settings; raises VendorValidationError, NotFound (also for another's vendor)."""
    vendor = _visible_vendor(session, actor, vendor_id)
    values = _checked(session, vendor.owner_id, vendor.id, name, emails, mode, visible_fields)
    changed = sorted(key for key, value in values.items() if getattr(vendor, key) != value)
    for key in changed:
        setattr(vendor, key, values[key])
    if changed:
        # Field keys and the mode say what a vendor may see; names and addresses stay out of the log.
        audit.record(session, actor, "vendor.updated", subject=f"vendor:{vendor.id}",
                     details={"vendor_id": vendor.id, "changed": changed, "mode": vendor.mode.value,
                              "visible_fields": vendor.visible_fields})
    owner = session.get(User, vendor.owner_id) if vendor.owner_id is not None else None
    return _view(vendor, owner.username if owner else "")


def delete_vendor(session: Session, actor: Actor, vendor_id: int) -> int:
    """Delete a vendor; its items go back to the organisers. Returns how many items were routed to it.

    The disclosure register keeps the vendor's name. Raises NotFound (also for another organiser's vendor).
    """
    vendor = _visible_vendor(session, actor, vendor_id)
    unrouted = session.execute(
        update(Item).where(Item.vendor_id == vendor.id).values(vendor_id=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    session.delete(vendor)
    session.flush()
    audit.record(session, actor, "vendor.deleted", subject=f"vendor:{vendor_id}",
                 details={"vendor_id": vendor_id, "items_unrouted": unrouted})
    return unrouted


def _require_organiser(session: Session, actor: Actor | None) -> None:
    # Vendors belong to an organiser, not to an event: any organiser manages their own.
    require(session, actor, Permission.VENDORS_MANAGE)


def _visible_vendor(session: Session, actor: Actor, vendor_id: int) -> Vendor:
    """The vendor, if `actor` may use it; another organiser's vendor is NotFound, so ids reveal nothing."""
    _require_organiser(session, actor)
    vendor = session.get(Vendor, vendor_id)
    if vendor is None or not (actor.is_admin or vendor.owner_id == actor.user_id):
        raise NotFound("There is no such vendor.")
    return vendor


def _checked(
    session: Session, owner_id: int | None, vendor_id: int | None, name: str, emails: str | Sequence[str],
    mode: VendorMode | str, visible_fields: Sequence[str],
) -> dict[str, object]:
    errors: dict[str, str] = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = "Enter the vendor's name."
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = f"Use at most {NAME_MAX_LENGTH} characters."
    elif _CONTROL.search(name):
        errors["name"] = "Remove the line breaks and control characters."
    elif _name_taken(session, owner_id, vendor_id, name):
        errors["name"] = f"You already have a vendor called {name}."
    addresses = _clean_emails(emails, errors)
    try:
        clean_mode = VendorMode(mode)
    except ValueError:
        errors["mode"] = "Choose per order or batch."
    keys = _clean_field_keys(visible_fields, errors)
    if errors:
        raise VendorValidationError(errors)
    return {"name": name, "emails": addresses, "mode": clean_mode, "visible_fields": keys}


def _name_taken(session: Session, owner_id: int | None, vendor_id: int | None, name: str) -> bool:
    query = select(Vendor.id).where(func.lower(Vendor.name) == name.lower(),
                                    Vendor.owner_id.is_(None) if owner_id is None else Vendor.owner_id == owner_id)
    if vendor_id is not None:
        query = query.where(Vendor.id != vendor_id)
    return session.scalar(query.limit(1)) is not None


def _clean_emails(emails: str | Sequence[str], errors: dict[str, str]) -> list[str]:
    given = _SEPARATORS.split(emails) if isinstance(emails, str) else list(emails)
    addresses: list[str] = []
    for raw in given:
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            continue
        try:
            if len(text) > EMAIL_MAX_LENGTH:
                raise EmailNotValidError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.")
            address = validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            errors["emails"] = f"{text[:60]}: {exc}"
            return []
        # Local parts may be case-sensitive in theory; in practice the same mailbox twice means two mails.
        if address.lower() not in {known.lower() for known in addresses}:
            addresses.append(address)
    if not addresses:
        errors["emails"] = "Enter at least one email address."
    elif len(addresses) > MAX_EMAILS:
        errors["emails"] = f"Enter at most {MAX_EMAILS} addresses."
    return addresses


def _clean_field_keys(keys: Sequence[str], errors: dict[str, str]) -> list[str]:
    if isinstance(keys, str):
        keys = _SEPARATORS.split(keys)
    clean: list[str] = []
    for raw in keys:
        key = raw.strip() if isinstance(raw, str) else ""
        if not key:
            continue
        if not _FIELD_KEY.fullmatch(key):
            errors["visible_fields"] = (f"'{key[:40]}' is not a field key: keys are lower-case letters, digits "
                                        "and _, starting with a letter, as in the form builder.")
            return []
        if key not in clean:
            clean.append(key)
    if len(clean) > MAX_VISIBLE_FIELDS:
        errors["visible_fields"] = f"Choose at most {MAX_VISIBLE_FIELDS} fields."
    return clean


def _view(vendor: Vendor, owner: str) -> VendorView:
    return VendorView(id=vendor.id, name=vendor.name, emails=tuple(vendor.emails), mode=vendor.mode,
                      visible_fields=tuple(vendor.visible_fields), owner=owner)


# --- Routing items of an event to vendors ------------------------------------------------------------------------


def list_item_routes(session: Session, actor: Actor, event_id: int) -> list[ItemRoute]:
    """Every item of the event (inactive too) with its vendor, in display order.

    The vendor's name is shown even when it belongs to another organiser of the event: it is where the
    event's items go. Raises PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_VIEW, event_id)
    _event(session, event_id)
    rows = session.execute(
        select(Item.key, Item.name, Item.vendor_id, Vendor.name).outerjoin(Vendor, Vendor.id == Item.vendor_id)
        .where(Item.event_id == event_id).order_by(Item.position, Item.id)
    )
    return [ItemRoute(key, name, vendor_id, vendor_name or "") for key, name, vendor_id, vendor_name in rows]


def form_field_labels(session: Session, actor: Actor, event_id: int) -> dict[str, str]:
    """Key -> label of the fields of the event's current form that a vendor could see (not the item picker)."""
    require(session, actor, Permission.EVENT_VIEW, event_id)
    event = _event(session, event_id)
    try:
        form = parse_form_spec(current_form_version(session, event).schema)
    except (NotFound, SchemaError):
        return {}
    return {spec.key: spec.label for spec in form.fields if spec.type != FieldType.ITEMS}


def route_item(session: Session, actor: Actor, event_id: int, item_key: str, vendor_id: int | None) -> bool:
    """Send the item's future order lines to `vendor_id` (None: the organisers); returns whether it changed.

    Orders already placed keep the mails they got. Raises PermissionDenied, or NotFound for an unknown item
    or a vendor the actor may not use. Audited as `item.routed`.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    item = session.scalars(select(Item).where(Item.event_id == event.id, Item.key == item_key)).first()
    if item is None:
        raise NotFound(f"This event has no item '{item_key}'.")
    if item.vendor_id == vendor_id:
        return False
    if vendor_id is not None:
        _visible_vendor(session, actor, vendor_id)
    previous, item.vendor_id = item.vendor_id, vendor_id
    audit.record(session, actor, "item.routed", event=event, subject=f"item:{item.key}",
                 details={"item": item.key, "vendor_id": vendor_id, "previous_vendor_id": previous})
    return True


def route_items(session: Session, actor: Actor, event_id: int, routes: Mapping[str, int | None]) -> int:
    """Route several items at once (item key -> vendor id or None), all or nothing; returns how many changed."""
    return sum(route_item(session, actor, event_id, key, vendor_id) for key, vendor_id in routes.items())


# --- Mails when an order is placed, changed or cancelled ---------------------------------------------------------


@dataclass(frozen=True)
class VendorShare:
    """What one per-order vendor is sent of an order: its lines and the fields it may see, written out."""

    vendor: Vendor
    items: str
    name: str
    fields: tuple[str, ...]
    details: str


def notify_order_placed(
    session: Session, event: Event, order: Order, form: FormSpec, clean: CleanAnswers,
    *, public_base_url: str | None = None, lookup_token: str | None = None,
) -> list[OutboxMessage]:
    """Queue the attendee's confirmation and one mail per per-order vendor with lines in `order`; record what
    each vendor is shown in the disclosure register. Returns the queued messages.

    Call in the transaction that writes the order, after it is flushed (it needs the order's id): mail and
    order are committed together or not at all. The confirmation goes to the answer of the form's first email
    field, if any, with the secret `lookup_token` in its link. A vendor mail holds only that vendor's lines and
    the fields it may see (`disclosed_fields`), and never the lookup link; even {name} stays empty unless the
    vendor may see the name field. Batch vendors get nothing here.
    """
    confirmation = queue_confirmation(session, event, order, form, clean.values, lookup_token=lookup_token,
                                      public_base_url=public_base_url)
    messages = [confirmation] if confirmation is not None else []
    shares = per_order_shares(session, order, form, clean.values)
    if shares:
        messages += [_queue_vendor_order(session, event, order, share) for share in shares.values()]
    return messages


def queue_confirmation(
    session: Session, event: Event, order: Order, form: FormSpec, answers: Mapping[str, object],
    *, lookup_token: str | None, public_base_url: str | None = None,
) -> OutboxMessage | None:
    """Queue the attendee's confirmation of `order` as it is now; None when the form asked for no email."""
    email_key = next((spec.key for spec in form.fields if spec.type == FieldType.EMAIL), None)
    email = answers.get(email_key) if email_key else None
    if not isinstance(email, str) or not email:
        return None
    name_key = attendee_name_key(form)
    template = template_for(session, event.id, MessageKind.CONFIRMATION)
    mail = render_mail(MessageKind.CONFIRMATION, template.subject, template.body, {
        **order_values(event, order.reference),
        "lookup_link": lookup_link(lookup_token, public_base_url),
        "name": str(answers.get(name_key, "")) if name_key else "",
        "items": _lines_text(order.lines),
    })
    return enqueue_message(
        session, kind=MessageKind.CONFIRMATION, recipients=[email], subject=mail.subject, body_text=mail.text,
        body_html=mail.html, event_id=event.id, order_id=order.id)


def per_order_shares(
    session: Session, order: Order, form: FormSpec, answers: Mapping[str, object]
) -> dict[int, VendorShare]:
    """What each per-order vendor with lines in `order` gets of it, by vendor id, in the order of their lines."""
    name_key = attendee_name_key(form)
    shares: dict[int, VendorShare] = {}
    for vendor, lines in _per_order_vendor_lines(session, order):
        shown = tuple(key for key in disclosed_fields(vendor, form)
                      if form.field(key).type != FieldType.ITEMS and answers.get(key) not in (None, "", []))
        shares[vendor.id] = VendorShare(
            vendor=vendor, items=_lines_text(lines),
            name=str(answers.get(name_key, "")) if name_key in shown else "",
            fields=shown,
            details="\n".join(f"{form.field(key).label}: {_written_out(answers[key])}" for key in shown),
        )
    return shares


def notify_order_changed(
    session: Session, event: Event, order: Order, before: Mapping[int, VendorShare], after: Mapping[int, VendorShare],
) -> list[OutboxMessage]:
    """Tell per-order vendors about an attendee's change or cancellation of `order`; returns the queued mails.

    `before` and `after` are `per_order_shares` of the order before and after (`after` empty for a
    cancellation). A vendor that already had the order by mail gets an ORDER_CHANGED mail when what it sees
    changed (its new lines and fields, or that it has nothing left to do); one that gets lines of the order for
    the first time gets the usual new-order mail. Batch vendors see changes in their next delta spreadsheet.
    """
    had = _vendors_mailed_about(session, order.id)
    messages: list[OutboxMessage] = []
    for vendor_id, share in after.items():
        if vendor_id not in had:
            messages.append(_queue_vendor_order(session, event, order, share))
    for vendor_id in sorted(had):
        old, new = before.get(vendor_id), after.get(vendor_id)
        vendor = new.vendor if new is not None else old.vendor if old is not None else session.get(Vendor, vendor_id)
        # Unchanged for this vendor: no mail. A cancellation is always worth one, even if its items were moved.
        if vendor is None or (old == new and order.status != OrderStatus.CANCELLED):
            continue
        messages.append(_queue_vendor_change(session, event, order, vendor, old, new))
    return messages


def _queue_vendor_order(session: Session, event: Event, order: Order, share: VendorShare) -> OutboxMessage:
    template = template_for(session, event.id, MessageKind.VENDOR_ORDER)
    mail = render_mail(MessageKind.VENDOR_ORDER, template.subject, template.body, {
        **order_values(event, order.reference), "name": share.name, "items": share.items,
        "vendor_name": share.vendor.name, "fields": share.details,
    })
    message = enqueue_message(
        session, kind=MessageKind.VENDOR_ORDER, recipients=list(share.vendor.emails), subject=mail.subject,
        body_text=mail.text, body_html=mail.html, event_id=event.id, order_id=order.id, vendor_id=share.vendor.id)
    record_disclosure(session, share.vendor, [order.id], share.fields, message)
    return message


def _queue_vendor_change(
    session: Session, event: Event, order: Order, vendor: Vendor, old: VendorShare | None, new: VendorShare | None,
) -> OutboxMessage:
    """The system's mail to a vendor that had the order: what it is now, or that it no longer needs anything."""
    if new is None:
        cancelled = order.status == OrderStatus.CANCELLED
        subject = f"Order {order.reference} for {event.title} " + ("cancelled" if cancelled else "changed")
        what = ("was cancelled by the attendee" if cancelled
                else "was changed by the attendee and no longer includes any of your items")
        body = (f"Hello {vendor.name},\n\norder {order.reference} for {event.title} {what}. "
                "Please do not make or deliver its items"
                + (f":\n\n{old.items}\n" if old is not None else ".\n"))
    else:
        subject = f"Order {order.reference} for {event.title} changed"
        body = (f"Hello {vendor.name},\n\norder {order.reference} for {event.title} was changed by the attendee. "
                f"It replaces what you had; your part of it now is:\n\n{new.items}\n\n{new.details}\n")
    subject = " ".join(subject.split())[:RENDERED_SUBJECT_MAX_LENGTH]
    marked_up = html.escape(body).replace("\n", "<br>\n")
    message = enqueue_message(
        session, kind=MessageKind.ORDER_CHANGED, recipients=list(vendor.emails), subject=subject, body_text=body,
        body_html=marked_up, event_id=event.id, order_id=order.id, vendor_id=vendor.id)
    record_disclosure(session, vendor, [order.id], new.fields if new is not None else (), message)
    return message


def _vendors_mailed_about(session: Session, order_id: int) -> set[int]:
    """The vendors that were sent `order_id` in a mail of their own (per-order), not in a batch spreadsheet."""
    return set(session.scalars(
        select(Disclosure.vendor_id).join(OutboxMessage, OutboxMessage.id == Disclosure.message_id)
        .where(Disclosure.order_id == order_id, Disclosure.vendor_id.is_not(None),
               OutboxMessage.kind.in_((MessageKind.VENDOR_ORDER, MessageKind.ORDER_CHANGED)))))


_ITEMS, _VENDORS = Item.__table__, Vendor.__table__
# Built once: it runs for every order placed. Core tables, so it skips the ORM's compile and result layers.
_PER_ORDER_VENDOR_IDS = (
    select(_ITEMS.c.id, _VENDORS.c.id).join(_VENDORS, _VENDORS.c.id == _ITEMS.c.vendor_id)
    .where(_ITEMS.c.id.in_(bindparam("item_ids", expanding=True)), _VENDORS.c.mode == VendorMode.PER_ORDER))


def _per_order_vendor_lines(session: Session, order: Order) -> list[tuple[Vendor, list[OrderLine]]]:
    """The order's lines grouped by their item's per-order vendor, vendors in the order of their first line."""
    item_ids = {line.item_id for line in order.lines if line.item_id is not None}
    if not item_ids:
        return []
    # Plain ids first: most orders have no per-order vendor, and loading none through the ORM still costs.
    vendor_of_item = dict(session.execute(_PER_ORDER_VENDOR_IDS, {"item_ids": sorted(item_ids)}).all())
    if not vendor_of_item:
        return []
    loaded = {vendor.id: vendor for vendor in session.scalars(
        select(Vendor).where(Vendor.id.in_(set(vendor_of_item.values()))))}
    vendors = {item_id: loaded[vendor_id] for item_id, vendor_id in vendor_of_item.items()}
    grouped: dict[int, tuple[Vendor, list[OrderLine]]] = {}
    for line in order.lines:
        vendor = vendors.get(line.item_id) if line.item_id is not None else None
        if vendor is not None:
            grouped.setdefault(vendor.id, (vendor, []))[1].append(line)
    return list(grouped.values())


def _lines_text(lines: Sequence[OrderLine]) -> str:
    return item_lines([(line.quantity, line.item_name, line.variant_label) for line in lines])


def _written_out(value: object) -> str:
    # The Orders page's wording, so that organiser and vendor read the same. Imported here because
    # core.orders imports this module to queue the mails of a new order.
    from core.orders import format_answer

    return format_answer(value)


# --- The disclosure register -------------------------------------------------------------------------------------


def disclosure_register(session: Session, order_id: int, form: FormSpec | None) -> tuple[DisclosureView, ...]:
    """What vendors received of one order, oldest first; field keys become the form's labels where known.

    No permission check: callers (`orders.order_detail`) have checked that the actor may read the order.
    """
    labels = {spec.key: spec.label for spec in form.fields} if form else {}
    rows = session.execute(
        select(Disclosure.vendor_name, Disclosure.fields, Disclosure.at, OutboxMessage.status)
        .outerjoin(OutboxMessage, OutboxMessage.id == Disclosure.message_id)
        .where(Disclosure.order_id == order_id).order_by(Disclosure.at, Disclosure.id)
    )
    return tuple(DisclosureView(vendor_name, tuple(labels.get(key, key) for key in fields), at, status)
                 for vendor_name, fields, at, status in rows)


def _event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    return event
