"""The vendor portal: a vendor's secret link to its lines of one event, what it may see of them, its downloads,
and its status updates.

Organisers create, rotate and revoke a link per vendor and event (`create_vendor_link` ...); only the SHA-256 of
its token is stored, and the token is shown once. The vendor opens `/vendor?t=<token>` without an account
(`open_portal`, throttled per client like codes; a wrong, revoked or unknown link answers the same). What it sees
is built as its batch spreadsheet is (core/exports.py's `vendor_line_items`): only lines of items routed to it,
only the fields it may see, and every view and download goes into the disclosure register with channel "portal".
Its status updates go through core/fulfilment.py as an organiser's do, by actor `vendor:<name>`, and tell the
attendees. After the event's purge it sees counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.auth import Actor, Permission
from core.config import Settings
from core.errors import DomainError, FormValidationError, NotFound, PortalThrottled
from core.event_admin import get_event_for
from core.exports import (
    ITEM,
    QUANTITY,
    REFERENCE,
    SHEET_LINES,
    SHEET_SUMMARY,
    STATUS,
    VARIANT,
    ExportFormat,
    export_filename,
    line_frame,
    order_rows,
    routed_vendor,
    summary_sheet,
    vendor_line_condition,
    vendor_line_items,
)
from core.fulfilment import (
    STATUS_LABELS,
    VENDOR_STATUSES,
    clean_tracking,
    move_vendor_lines,
    part_tracking,
    vendor_actor,
)
from core.models import (
    Disclosure,
    Event,
    Item,
    Order,
    OrderStatus,
    OrderStatusChange,
    Vendor,
    VendorLink,
    utcnow,
)
from core.portal_links import new_mail_link
from core.spreadsheets import CSV_MIMETYPE, XLSX_MIMETYPE, ExportFile, write_csv, write_xlsx
from core.status_upload import FILE_FIELD, read_status_file
from core.throttle import client_key, record_hit, seconds_blocked
from core.tokens import hash_lookup_token, new_lookup_token
from core.vendors import record_disclosure

PORTAL_CHANNEL = "portal"
NOT_A_LINK = "This vendor link does not work. Ask the organiser for a new one."
MAX_TOKEN_LENGTH = 100
# Like wrong codes: a vendor who mistypes is barely slowed; guessing links is hopeless anyway.
WRONG_LINKS_FREE = 10.0
WRONG_LINKS_MAX_DELAY = timedelta(minutes=15)


# --- Links, for organisers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VendorLinkView:
    """A vendor's link to an event's portal as the Vendors page lists it (never the token)."""

    id: int
    vendor_id: int
    vendor_name: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_visit_at: datetime | None
    in_mails: bool = False

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewVendorLink:
    """A link just made: `path` holds the secret, which is shown this once and stored nowhere."""

    link: VendorLinkView
    path: str


def list_vendor_links(session: Session, actor: Actor, event_id: int) -> tuple[VendorLinkView, ...]:
    """The event's vendor links, active first, newest first; raises PermissionDenied or NotFound."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    rows = session.execute(select(VendorLink, Vendor.name).join(Vendor, Vendor.id == VendorLink.vendor_id)
                           .where(VendorLink.event_id == event.id)
                           .order_by(VendorLink.revoked_at.is_not(None), VendorLink.id.desc())).all()
    return tuple(_link_view(link, name) for link, name in rows)


def create_vendor_link(session: Session, actor: Actor, event_id: int, vendor_id: int, *, in_mails: bool = False,
                       settings: Settings | None = None) -> NewVendorLink:
    """A portal link for a vendor that gets items of the event; the vendor's active link, if any, stops working.

    `in_mails` puts the link in the vendor's mails of this event: it is then derived from `settings`' key so the
    outbox can rebuild it when it sends (core/portal_links.py), still stored only as its hash. Audited as
    `vendor.link_created` (or `vendor.link_rotated` when one was active), without the secret. Raises
    PermissionDenied, NotFound for a vendor that gets no items of the event, or DomainError for `in_mails`
    without settings holding a key.
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    vendor = routed_vendor(session, event, vendor_id)
    if in_mails:
        if settings is None:
            raise DomainError("Putting the link in mails needs the app's key (CODE_KEY or COOKIE_KEY).")
        nonce, token = new_mail_link(settings)
    else:
        nonce, token = None, new_lookup_token()
    now = utcnow()
    rotated = _revoke_active(session, event.id, vendor.id, now)
    link = VendorLink(vendor_id=vendor.id, event_id=event.id, token_hash=hash_lookup_token(token),
                      in_mails=in_mails, mail_nonce=nonce, created_by=actor.username, created_at=now)
    session.add(link)
    session.flush()
    audit.record(session, actor, "vendor.link_rotated" if rotated else "vendor.link_created", event=event,
                 subject=f"vendor:{vendor.id}",
                 details={"vendor_id": vendor.id, "link_id": link.id, "in_mails": in_mails})
    return NewVendorLink(_link_view(link, vendor.name), f"/vendor?t={token}")


def rotate_vendor_link(session: Session, actor: Actor, event_id: int, vendor_id: int, *, in_mails: bool = False,
                       settings: Settings | None = None) -> NewVendorLink:
    """A new link in place of the vendor's active one (which stops working at once)."""
    return create_vendor_link(session, actor, event_id, vendor_id, in_mails=in_mails, settings=settings)


def revoke_vendor_link(session: Session, actor: Actor, event_id: int, vendor_id: int) -> bool:
    """Stop the vendor's active link; returns whether there was one. Audited as `vendor.link_revoked`."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    revoked = _revoke_active(session, event.id, vendor_id, utcnow())
    if revoked:
        audit.record(session, actor, "vendor.link_revoked", event=event, subject=f"vendor:{vendor_id}",
                     details={"vendor_id": vendor_id})
    return revoked


def _revoke_active(session: Session, event_id: int, vendor_id: int, now: datetime) -> bool:
    return bool(session.execute(
        update(VendorLink).where(VendorLink.event_id == event_id, VendorLink.vendor_id == vendor_id,
                                 VendorLink.revoked_at.is_(None)).values(revoked_at=now, mail_nonce=None),
        execution_options={"synchronize_session": False}).rowcount)


def _link_view(link: VendorLink, vendor_name: str) -> VendorLinkView:
    return VendorLinkView(link.id, link.vendor_id, vendor_name, link.created_by, link.created_at, link.revoked_at,
                          link.last_visit_at, link.in_mails)


# --- Opening the portal ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalAccess:
    """An opened link: whose, for which event, when it was opened and when the vendor visited before."""

    link_id: int
    vendor_id: int
    vendor_name: str
    event_id: int
    opened_at: datetime
    previous_visit_at: datetime | None

    @property
    def actor(self) -> str:
        return vendor_actor(self.vendor_name)


def open_portal(session: Session, token: object, *, client: str, now: datetime | None = None) -> PortalAccess | None:
    """The access a token gives, recording the visit; None for a wrong, revoked or unknown token.

    None counts against `client` (an address or session id), so call in a unit of work that commits then.
    Raises PortalThrottled, before looking, while the client must wait.
    """
    now = now or utcnow()
    key = client_key("vendor-link", client)
    if wait := seconds_blocked(session, key, now):
        raise PortalThrottled(wait)
    found = None
    if isinstance(token, str) and token and len(token) <= MAX_TOKEN_LENGTH:
        found = session.execute(
            select(VendorLink, Vendor.name).join(Vendor, Vendor.id == VendorLink.vendor_id)
            .where(VendorLink.token_hash == hash_lookup_token(token), VendorLink.revoked_at.is_(None))
        ).first()
    if found is None:
        record_hit(session, key, now, free=WRONG_LINKS_FREE, cap=WRONG_LINKS_MAX_DELAY)
        return None
    link, name = found
    previous, link.last_visit_at = link.last_visit_at, now
    return PortalAccess(link.id, link.vendor_id, name, link.event_id, now, previous)


def check_access(session: Session, access: PortalAccess) -> tuple[Event, Vendor]:
    """The event and vendor of an access, if its link still works (it may have been revoked since it was
    opened); raises NotFound with the message of a wrong link otherwise."""
    live = session.scalar(select(VendorLink.id).where(VendorLink.id == access.link_id,
                                                      VendorLink.revoked_at.is_(None)))
    event, vendor = session.get(Event, access.event_id), session.get(Vendor, access.vendor_id)
    if live is None or event is None or vendor is None:
        raise NotFound(NOT_A_LINK)
    return event, vendor


# --- What the vendor sees ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalFilters:
    """What the vendor narrows its list to; empty values filter nothing."""

    statuses: frozenset[OrderStatus] = frozenset()
    item: str = ""  # an item name as the list shows it
    variant: str = ""
    changed_only: bool = False


@dataclass(frozen=True)
class PortalOrder:
    """One order as the vendor sees it: its lines for this vendor, status, the fields it may see."""

    reference: str
    status: OrderStatus
    lines: tuple[str, ...]  # "2 × T-shirt (Fitted, M)"
    fields: tuple[tuple[str, str], ...]  # (label, value) of the granted fields that have an answer
    tracking: str | None
    changed: bool  # new or changed since the vendor's previous visit

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True, eq=False)
class PortalView:
    """The portal page: the vendor's orders (none after the purge), the counts, and the filters' choices."""

    event_title: str
    vendor_name: str
    purged: bool
    orders: tuple[PortalOrder, ...]
    counts: pd.DataFrame  # Item, variant columns and Total, as the Summary sheet
    items: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    changed_since_last_visit: int = 0
    previous_visit_at: datetime | None = field(default=None)


def portal_view(session: Session, access: PortalAccess, filters: PortalFilters = PortalFilters()) -> PortalView:
    """What the vendor's link shows; the orders shown are recorded as disclosures once per visit.

    Raises NotFound (as for a wrong link) when the link was revoked since it was opened.
    """
    event, vendor = check_access(session, access)
    lines = _vendor_lines(session, event, vendor)
    counts = summary_sheet(session, event, lines)
    if event.purged_at is not None:
        return PortalView(event.title, vendor.name, True, (), counts)
    sheet, disclosed, orders = _sheet(session, event, vendor, lines, access.actor)
    changed = _changed_orders(session, lines, access.previous_visit_at, access.actor)
    items = tuple(dict.fromkeys(sheet[ITEM])) if not sheet.empty else ()
    variants = tuple(dict.fromkeys(v for v in sheet[VARIANT] if v)) if not sheet.empty else ()
    field_headers = [column for column in sheet.columns if column not in (REFERENCE, ITEM, VARIANT, QUANTITY, STATUS)]
    shown: list[PortalOrder] = []
    for reference, rows in sheet.groupby(REFERENCE, sort=False):
        order = orders[str(reference)]
        status = OrderStatus(order["status"])
        if filters.statuses and status not in filters.statuses:
            continue
        if filters.item and filters.item not in set(rows[ITEM]):
            continue
        if filters.variant and filters.variant not in set(rows[VARIANT]):
            continue
        if filters.changed_only and order["id"] not in changed:
            continue
        first = rows.iloc[0]
        shown.append(PortalOrder(
            reference=str(reference), status=status,
            lines=tuple(f"{q} × {i}" + (f" ({v})" if v else "") for i, v, q in
                        zip(rows[ITEM], rows[VARIANT], rows[QUANTITY], strict=True)),
            fields=tuple((header, str(first[header])) for header in field_headers
                         if first[header] is not None and str(first[header]) != ""),
            tracking=order["tracking"], changed=order["id"] in changed))
    _record_views(session, access, vendor, disclosed, {orders[o.reference]["id"] for o in shown})
    return PortalView(event.title, vendor.name, False, tuple(shown), counts, items, variants,
                      len(changed), access.previous_visit_at)


def portal_download(session: Session, access: PortalAccess, fmt: ExportFormat = "xlsx") -> ExportFile:
    """The vendor's list as XLSX (Line items and Summary) or CSV, formula-safe; recorded as disclosures.

    After the purge only the counts (XLSX Summary, or the counts as CSV). Raises NotFound for a revoked link.
    """
    event, vendor = check_access(session, access)
    lines = _vendor_lines(session, event, vendor)
    counts = summary_sheet(session, event, lines)
    stamp = access.opened_at
    if event.purged_at is not None:
        if fmt == "xlsx":
            return ExportFile(export_filename(event.slug, "counts", "xlsx", stamp), XLSX_MIMETYPE,
                              write_xlsx({SHEET_SUMMARY: counts}))
        return ExportFile(export_filename(event.slug, "counts", "csv", stamp), CSV_MIMETYPE, write_csv(counts))
    sheet, disclosed, _ = _sheet(session, event, vendor, lines, access.actor)
    now = utcnow()
    for fields, order_ids in disclosed.items():
        record_disclosure(session, vendor, sorted(order_ids), list(fields), None, channel=PORTAL_CHANNEL, at=now)
    audit.record(session, access.actor, "vendor.portal_downloaded", event=event, subject=f"vendor:{vendor.id}",
                 details={"vendor_id": vendor.id, "format": fmt, "lines": len(sheet)})
    if fmt == "xlsx":
        return ExportFile(export_filename(event.slug, "my-list", "xlsx", stamp), XLSX_MIMETYPE,
                          write_xlsx({SHEET_LINES: sheet, SHEET_SUMMARY: counts}))
    return ExportFile(export_filename(event.slug, "my-list", "csv", stamp), CSV_MIMETYPE, write_csv(sheet))


def _vendor_lines(session: Session, event: Event, vendor: Vendor) -> pd.DataFrame:
    return line_frame(session, event, [Order.event_id == event.id], vendor_line_condition(event, vendor.id))


def _sheet(session: Session, event: Event, vendor: Vendor, lines: pd.DataFrame, actor: str
           ) -> tuple[pd.DataFrame, dict[tuple[str, ...], set[int]], dict[str, dict[str, Any]]]:
    """The vendor's line items (its batch sheet), what they disclose, and per reference the order's id, the
    status of the vendor's lines (an order shared with other vendors may be elsewhere) and their tracking."""
    conditions = [Order.event_id == event.id]
    rows = order_rows(session, conditions, vendor_line_condition(event, vendor.id))
    sheet, disclosed = vendor_line_items(session, event, vendor, lines, lines["line_id"].tolist(), rows)
    # A vendor's lines of one order always move together, so any of them tells where they are.
    statuses = {int(order_id): OrderStatus(status)
                for order_id, status in zip(lines["order_id"], lines["status"], strict=True)}
    tracking = _tracking(session, [order_id for order_id, status in statuses.items()
                                   if status == OrderStatus.SHIPPED], actor)
    orders = {row.reference: {"id": order_id, "status": statuses[order_id], "tracking": tracking.get(order_id)}
              for order_id, row in rows.items()}
    return sheet, disclosed, orders


def _tracking(session: Session, order_ids: Sequence[int], actor: str) -> dict[int, str | None]:
    if not order_ids:
        return {}
    orders = session.scalars(select(Order).where(Order.id.in_(order_ids)).options(selectinload(Order.history)))
    return {order.id: part_tracking(order, actor) for order in orders}


def _changed_orders(session: Session, lines: pd.DataFrame, since: datetime | None, actor: str) -> set[int]:
    """Orders placed, changed or moved since the vendor's previous visit (all of them on the first visit); another
    vendor moving its own part of a shared order is no news to this one."""
    order_ids = sorted({int(i) for i in lines["order_id"]})
    if since is None or not order_ids:
        return set(order_ids)
    changed = set(session.scalars(select(Order.id).where(
        Order.id.in_(order_ids), or_(Order.created_at > since, Order.changed_at > since))))
    moved = set(session.scalars(select(OrderStatusChange.order_id).where(
        OrderStatusChange.order_id.in_(order_ids), OrderStatusChange.at > since,
        or_(OrderStatusChange.part.is_(None), OrderStatusChange.actor == actor))))
    return changed | moved


def _record_views(session: Session, access: PortalAccess, vendor: Vendor,
                  disclosed: dict[tuple[str, ...], set[int]], shown: set[int]) -> None:
    """Record the orders shown, each once per visit: Streamlit draws the page again on every click."""
    already = set(session.scalars(select(Disclosure.order_id).where(
        Disclosure.vendor_id == vendor.id, Disclosure.channel == PORTAL_CHANNEL,
        Disclosure.at >= access.opened_at)))
    now = utcnow()
    for fields, order_ids in disclosed.items():
        new = sorted((order_ids & shown) - already)
        if new:
            record_disclosure(session, vendor, new, list(fields), None, channel=PORTAL_CHANNEL, at=now)


# --- Status updates by the vendor --------------------------------------------------------------------------------


def update_statuses(
    session: Session, access: PortalAccess, tracking_by_reference: dict[str, str | None], new_status: OrderStatus,
    *, settings: Settings | None = None,
) -> int:
    """Move the vendor's orders to in production, shipped (tracking per order, optional) or delivered; returns
    how many changed.

    As an organiser's change (core/fulfilment.py): forward only, history, audit, stock; attendees are told (a
    mail, an SMS if they opted in). All or nothing. Raises NotFound for a revoked link or a reference that is not
    one of the vendor's orders (the same whether it exists or not), StatusChangeRefused, FormValidationError
    under "tracking", or DomainError for another status or after the purge.
    """
    event, vendor = check_access(session, access)
    if new_status not in VENDOR_STATUSES:
        raise DomainError("A vendor can mark orders in production, shipped or delivered only.")
    if event.purged_at is not None:
        raise DomainError("This event's orders were deleted; there is nothing left to update.")
    wanted = {reference.strip().upper(): clean_tracking(tracking, new_status)
              for reference, tracking in tracking_by_reference.items()}
    if not wanted:
        raise DomainError("Choose at least one order.")
    mine = set(session.scalars(select(Order.reference).where(
        Order.event_id == event.id, Order.reference.in_(wanted),
        Order.lines.any(vendor_line_condition(event, vendor.id)))))
    if missing := [reference for reference in wanted if reference not in mine]:
        raise NotFound(f"{missing[0][:20]} is not one of your orders.")
    # Only the vendor's own lines move: in an order shared with other vendors the rest stays where it is.
    items = set(session.scalars(select(Item.id).where(Item.event_id == event.id, Item.vendor_id == vendor.id)))
    return move_vendor_lines(session, access.actor, event, items, wanted, new_status, notify_attendee=True,
                             settings=settings)


def upload_statuses(session: Session, access: PortalAccess, data: bytes, *, settings: Settings | None = None) -> int:
    """Apply the vendor's own CSV, in the format of the organisers' status upload (reference, status, tracking),
    all or nothing; returns how many orders changed.

    Raises FormValidationError under "file" for an unreadable file or naming the first bad rows, and what
    `update_statuses` raises.
    """
    rows = read_status_file(data)
    problems = [f"row {number}: unknown status" for number, _, status, _ in rows if status is None]
    problems += [f"row {number}: a vendor sets in production, shipped or delivered only"
                 for number, _, status, _ in rows if status is not None and status not in VENDOR_STATUSES]
    if problems:
        raise FormValidationError({FILE_FIELD: "Nothing was applied: " + "; ".join(problems[:5]) + "."})
    by_status: dict[OrderStatus, dict[str, str | None]] = {}
    for _, reference, status, tracking in rows:
        assert status is not None
        by_status.setdefault(status, {})[reference] = tracking or None
    # In the order of the steps, so a file that says "shipped" for one order and "delivered" for another works.
    return sum(update_statuses(session, access, by_status[status], status, settings=settings)
               for status in VENDOR_STATUSES if status in by_status)
