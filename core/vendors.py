"""Vendors: the organisers' vendor records, which vendor gets which items of an event, and the disclosure
register of what each vendor was shown of which order.

The mails themselves are composed in core/order_mail.py (per-order vendors) and core/vendor_batches.py (batch
vendors); both record here what they disclosed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require, require_actor
from core.errors import NotFound, SchemaError, VendorValidationError
from core.form_versions import current_form_version
from core.forms import FieldType, FormSpec, parse_form_spec
from core.models import Disclosure, Event, Item, MessageStatus, OutboxMessage, User, Vendor, VendorMode, utcnow

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
    require_actor(actor)  # refused even when there is nothing to route
    return sum(route_item(session, actor, event_id, key, vendor_id) for key, vendor_id in routes.items())


# --- The disclosure register -------------------------------------------------------------------------------------


def disclosure_register(session: Session, order_id: int, form: FormSpec | None) -> tuple[DisclosureView, ...]:
    """What vendors received of one order, oldest first; field keys become the form's labels where known.

    No permission check: callers (`order_admin.order_detail`) have checked that the actor may read the order.
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
