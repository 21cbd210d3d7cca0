"""Order mail: every mail about an order, composed in one place and queued in the caller's transaction.

- the attendee's confirmation, with the secret link to their order (`queue_confirmation`), when an order is
  placed (`notify_order_placed`, which also mails per-order vendors) or changed by its attendee;
- a per-order vendor's mail of its lines and the fields it may see, recorded in the disclosure register, and
  the mail telling it of an attendee's change or cancellation (`notify_order_changed`);
- the status update to the attendee, a mail and an opted-in SMS (`StatusNotifier`, used by core/fulfilment.py).

Each mail renders the event's template (core/mail_templates.py) and goes into the outbox (core/outbox.py), so an
order and its mails are committed together or not at all. Batch vendors' spreadsheets are
core/vendor_batches.py's.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import SchemaError
from core.forms import SMS_OPT_IN_KEY, CleanAnswers, FieldType, FormSpec, format_answer, parse_form_spec
from core.mail_templates import (
    RENDERED_SUBJECT_MAX_LENGTH,
    TemplateText,
    attendee_name_key,
    item_lines,
    lookup_link,
    order_values,
    render_mail,
    template_for,
    total_text,
)
from core.models import (
    Disclosure,
    Event,
    FormVersion,
    Item,
    MessageChannel,
    MessageKind,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    Vendor,
    VendorMode,
)
from core.money import lines_total
from core.outbox import enqueue_message
from core.portal_links import portal_link_paragraph
from core.sms import sms_configured
from core.vendors import disclosed_fields, record_disclosure

# An SMS is cut here: two concatenated GSM-7 parts hold 306 characters.
SMS_MAX_LENGTH = 306
SMS_TITLE_LENGTH = 40


# --- When an order is placed, changed or cancelled -----------------------------------------------------------


@dataclass(frozen=True)
class VendorShare:
    """What one per-order vendor is sent of an order: its lines and the fields it may see, written out."""

    vendor: Vendor
    items: str
    # {total} of the vendor's own lines (empty when one has no price).
    total: str
    name: str
    fields: tuple[str, ...]
    details: str


def notify_order_placed(
    session: Session, event: Event, order: Order, form: FormSpec, clean: CleanAnswers,
    *, public_base_url: str | None = None, lookup_token: str | None = None,
    items_with_vendor: Collection[int] | None = None,
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
    # `items_with_vendor`: the ids of the order's items that have a vendor, read by the caller in this
    # transaction (the catalogue); when none has one, no vendor query is needed.
    shares = (per_order_shares(session, order, form, clean.values)
              if items_with_vendor is None or items_with_vendor else {})
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
        **order_values(event, order.reference, _priced(order.lines)),
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
    order_currency = session.get_one(Event, order.event_id).currency  # loaded already: from the identity map
    shares: dict[int, VendorShare] = {}
    for vendor, lines in _per_order_vendor_lines(session, order):
        shown = tuple(key for key in disclosed_fields(vendor, form)
                      if form.field(key).type != FieldType.ITEMS and answers.get(key) not in (None, "", []))
        shares[vendor.id] = VendorShare(
            vendor=vendor, items=_lines_text(lines), total=total_text(lines_total(_priced(lines)), order_currency),
            name=str(answers.get(name_key, "")) if name_key in shown else "",
            fields=shown,
            # The Orders page's wording (format_answer), so that organiser and vendor read the same.
            details="\n".join(f"{form.field(key).label}: {format_answer(answers[key])}" for key in shown),
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


def resend_to_vendors(session: Session, event: Event, order: Order, form: FormSpec,
                      answers: Mapping[str, object]) -> list[OutboxMessage]:
    """Queue the new-order mail again to each per-order vendor with lines in `order`, as the order is now, and
    record the disclosures; returns the queued mails (none when no per-order vendor has its items)."""
    return [_queue_vendor_order(session, event, order, share)
            for share in per_order_shares(session, order, form, answers).values()]


def _queue_vendor_order(session: Session, event: Event, order: Order, share: VendorShare) -> OutboxMessage:
    template = template_for(session, event.id, MessageKind.VENDOR_ORDER)
    mail = render_mail(MessageKind.VENDOR_ORDER, template.subject, template.body, {
        **order_values(event, order.reference, ()), "total": share.total, "name": share.name, "items": share.items,
        "vendor_name": share.vendor.name, "fields": share.details,
    })
    text, marked_up = mail.text, mail.html
    if portal := portal_link_paragraph(session, event.id, share.vendor.id):
        text, marked_up = f"{text.rstrip()}\n\n{portal}\n", f"{marked_up}\n<p>{html.escape(portal)}</p>"
    message = enqueue_message(
        session, kind=MessageKind.VENDOR_ORDER, recipients=list(share.vendor.emails), subject=mail.subject,
        body_text=text, body_html=marked_up, event_id=event.id, order_id=order.id, vendor_id=share.vendor.id)
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
    if portal := portal_link_paragraph(session, event.id, vendor.id):
        body += f"\n{portal}\n"
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


def _priced(lines: Sequence[OrderLine]) -> list[tuple[Decimal | None, int]]:
    return [(line.unit_price, line.quantity) for line in lines]


def _lines_text(lines: Sequence[OrderLine], separator: str = "\n") -> str:
    return item_lines([(line.quantity, line.item_name, line.variant_label) for line in lines], separator)


# --- When an order moves along ----------------------------------------------------------------------------------


class StatusNotifier:
    """Tells attendees that their orders moved: the STATUS_UPDATE mail to the order's email address and, if the
    attendee ticked the form's SMS opt-in and `settings` configure SMS, a short SMS to the form's phone number.

    One per status change of many orders: the event's template and each form version are read once, and the
    messages are inserted together at the caller's next flush. Call it in the transaction that changes the
    status, so that the change and its messages commit together.
    """

    def __init__(self, session: Session, event: Event, settings: Settings):
        self._session = session
        self._event = event
        self._settings = settings
        self._forms: dict[int, FormSpec | None] = {}
        self._template: TemplateText | None = None

    def notify(self, order: Order, tracking: str | None, *, status_label: str,
               part: Sequence[OrderLine] | None = None, rest_behind: bool = False) -> list[OutboxMessage]:
        """Queue the messages about `order`'s new status, called `status_label` (`fulfilment.STATUS_LABELS`: the
        words for statuses are fulfilment's, which calls this); returns them.

        `part`: the lines that moved, when not the whole order did; the mail names and lists only those, and says
        the rest follows separately when `rest_behind`; an SMS says "part of your order". An order without an
        address (none asked, or its personal data purged) gets no mail; one whose stored form is broken, nothing.
        """
        if order.personal is None:
            return []
        form = self._form(order.form_version_id)
        if form is None:
            return []
        personal: Mapping[str, Any] = order.personal.answers
        messages: list[OutboxMessage] = []
        if email := _first_answer(form, personal, FieldType.EMAIL):
            status = status_label
            if part is not None:
                rest = "; the rest of your order follows separately" if rest_behind else ""
                status = f"{status_label} ({_lines_text(part, separator=', ')}{rest})"
            messages.append(self._mail(order, form, personal, email, status, tracking,
                                       order.lines if part is None else part))
        phone = _first_answer(form, personal, FieldType.PHONE)
        if phone and personal.get(SMS_OPT_IN_KEY) is True and sms_configured(self._settings):
            # Item names stay out of the text: they may hold characters outside GSM-7, which cost a part each 70.
            status = status_label if part is None else f"{status_label} (part of your order)"
            messages.append(enqueue_message(
                self._session, kind=MessageKind.STATUS_UPDATE, channel=MessageChannel.SMS, recipients=[phone],
                subject=f"SMS: order {order.reference} {status.lower()}",
                body_text=sms_text(self._event.title, order.reference, status, tracking),
                event_id=self._event.id, order_id=order.id, flush=False))
        return messages

    def _mail(self, order: Order, form: FormSpec, personal: Mapping[str, Any], email: str, status: str,
              tracking: str | None, lines: Sequence[OrderLine]) -> OutboxMessage:
        if self._template is None:
            self._template = template_for(self._session, self._event.id, MessageKind.STATUS_UPDATE)
        name_key = attendee_name_key(form)
        mail = render_mail(MessageKind.STATUS_UPDATE, self._template.subject, self._template.body, {
            **order_values(self._event, order.reference, _priced(order.lines)),
            "name": str(personal.get(name_key, "")) if name_key else "",
            "items": _lines_text(lines),
            # The secret link is known only when the order is placed; this one opens the lookup page.
            "lookup_link": lookup_link(None, self._settings.public_base_url),
            "status": status,
            "tracking": f"Tracking: {tracking}" if tracking else "",
        })
        return enqueue_message(
            self._session, kind=MessageKind.STATUS_UPDATE, recipients=[email], subject=mail.subject,
            body_text=mail.text, body_html=mail.html, event_id=self._event.id, order_id=order.id, flush=False)

    def _form(self, version_id: int) -> FormSpec | None:
        if version_id not in self._forms:
            try:
                self._forms[version_id] = parse_form_spec(self._session.get_one(FormVersion, version_id).schema)
            except SchemaError:
                self._forms[version_id] = None
        return self._forms[version_id]


def sms_text(event_title: str, reference: str, status: str, tracking: str | None) -> str:
    """The status SMS: "Summer Meetup: your order K7M2QX9P is now shipped. Tracking: …", at most 306 characters."""
    title = " ".join(event_title.split())
    if len(title) > SMS_TITLE_LENGTH:
        title = title[:SMS_TITLE_LENGTH - 3].rstrip() + "..."
    text = f"{title}: your order {reference} is now {status.lower()}." + (f" Tracking: {tracking}" if tracking else "")
    # "...", not "…": one character outside GSM-7 would send the whole text as UCS-2, 70 characters a part.
    return text if len(text) <= SMS_MAX_LENGTH else text[:SMS_MAX_LENGTH - 3] + "..."


def _first_answer(form: FormSpec, answers: Mapping[str, Any], field_type: FieldType) -> str | None:
    key = next((spec.key for spec in form.fields if spec.type == field_type), None)
    value = answers.get(key) if key else None
    return value if isinstance(value, str) and value else None
