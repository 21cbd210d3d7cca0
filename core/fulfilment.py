"""Fulfilment: each order's status history (received, sent to vendor, ..., delivered or cancelled), tracking
numbers, and telling the attendee when their order moves (a mail, and an SMS if they opted in)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import FormValidationError, SchemaError
from core.forms import SMS_OPT_IN_KEY, FieldType, FormSpec, parse_form_spec
from core.mail_templates import (
    TemplateText,
    attendee_name_key,
    item_lines,
    lookup_link,
    order_values,
    render_mail,
    template_for,
)
from core.models import (
    Event,
    FormVersion,
    MessageChannel,
    MessageKind,
    Order,
    OrderStatus,
    OrderStatusChange,
    OutboxMessage,
    utcnow,
)
from core.outbox import enqueue_message
from core.sms import sms_configured

STATUS_LABELS: dict[OrderStatus, str] = {
    OrderStatus.RECEIVED: "Received",
    OrderStatus.SENT_TO_VENDOR: "Sent to vendor",
    OrderStatus.IN_PRODUCTION: "In production",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.DELIVERED: "Delivered",
    OrderStatus.CANCELLED: "Cancelled",
}
MAX_TRACKING_LENGTH = 500  # the column's size
MAX_TRACKING_CODE_LENGTH = 100
# Carriers' codes: letters and digits, sometimes grouped with spaces, dashes, dots or slashes ("JD 0146 0000").
_TRACKING_CODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ./-]*[A-Za-z0-9])?")
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f<>\"'\\`]")
TRACKING_HINT = "Enter a tracking number (letters, digits, spaces, - . /) or a link starting with https://."
# An SMS is cut here: two concatenated GSM-7 parts hold 306 characters.
SMS_MAX_LENGTH = 306
SMS_TITLE_LENGTH = 40


def record_status(session: Session, order: Order, status: OrderStatus, actor: str, *,
                  tracking: str | None = None, at: datetime | None = None) -> OrderStatusChange:
    """Append a step to the order's history (the caller has set `order.status`); `actor` is a username,
    "attendee" or the system, never a person's name."""
    change = OrderStatusChange(status=status, actor=actor, tracking=tracking, at=at or utcnow())
    order.history.append(change)
    return change


# --- Tracking ------------------------------------------------------------------------------------------------


def tracking_problem(text: str) -> str | None:
    """Why `text` (already stripped, not empty) is no tracking number or link, or None when it is one.

    A link must be http(s) with a host: it is shown to the attendee as a link, so `javascript:` and the like
    are refused, as are spaces, quotes and angle brackets that no carrier's link needs.
    """
    if len(text) > MAX_TRACKING_LENGTH:
        return f"Use at most {MAX_TRACKING_LENGTH} characters (you used {len(text)})."
    if "://" in text or text.lower().startswith(("http:", "https:")):
        try:
            parts = urlsplit(text)
        except ValueError:
            return TRACKING_HINT
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or _URL_FORBIDDEN.search(text):
            return TRACKING_HINT
        return None
    if len(text) > MAX_TRACKING_CODE_LENGTH or not _TRACKING_CODE.fullmatch(text):
        return TRACKING_HINT
    return None


def clean_tracking(raw: str | None, status: OrderStatus) -> str | None:
    """The tracking number or link to record with a move to `status`: stripped, None when empty.

    Raises FormValidationError under "tracking" for a malformed one, or one given with a status other than
    shipped (only a shipped order has a parcel to follow).
    """
    text = (raw or "").strip()
    if not text:
        return None
    if status != OrderStatus.SHIPPED:
        raise FormValidationError({"tracking": "A tracking number or link goes with the status Shipped only."})
    if problem := tracking_problem(text):
        raise FormValidationError({"tracking": problem})
    return text


def current_tracking(order: Order) -> str | None:
    """The tracking number or link of the order's latest shipped step, if it has one."""
    shipped = [step for step in order.history if step.status == OrderStatus.SHIPPED]
    return shipped[-1].tracking if shipped else None


# --- History -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusStep:
    """One step of an order's history; `actor` (a username, "attendee" or "system") only in organisers' views."""

    status: OrderStatus
    at: datetime
    tracking: str | None
    actor: str | None = None

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def status_history(session: Session, order_id: int) -> tuple[StatusStep, ...]:
    """The order's steps, oldest first, as the attendee may see them: without who made each change.

    Checks no permission: the caller has already shown the order is theirs to see (its lookup link).
    """
    return tuple(StatusStep(step.status, step.at, step.tracking) for step in _steps(session, order_id))


def organiser_history(session: Session, order_id: int) -> tuple[StatusStep, ...]:
    """The order's steps, oldest first, with who made each; for callers that checked ORDERS_VIEW."""
    return tuple(StatusStep(step.status, step.at, step.tracking, step.actor) for step in _steps(session, order_id))


def _steps(session: Session, order_id: int) -> list[OrderStatusChange]:
    return list(session.scalars(select(OrderStatusChange).where(OrderStatusChange.order_id == order_id)
                                .order_by(OrderStatusChange.at, OrderStatusChange.id)))


# --- Telling the attendee ----------------------------------------------------------------------------------------


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

    def notify(self, order: Order, tracking: str | None) -> list[OutboxMessage]:
        """Queue the messages about `order`'s new status; returns them. An order without an address (none asked,
        or its personal data purged) gets no mail; one whose stored form is broken, nothing at all."""
        if order.personal is None:
            return []
        form = self._form(order.form_version_id)
        if form is None:
            return []
        personal: Mapping[str, Any] = order.personal.answers
        status = STATUS_LABELS[order.status]
        messages: list[OutboxMessage] = []
        if email := _first_answer(form, personal, FieldType.EMAIL):
            messages.append(self._mail(order, form, personal, email, status, tracking))
        phone = _first_answer(form, personal, FieldType.PHONE)
        if phone and personal.get(SMS_OPT_IN_KEY) is True and sms_configured(self._settings):
            messages.append(enqueue_message(
                self._session, kind=MessageKind.STATUS_UPDATE, channel=MessageChannel.SMS, recipients=[phone],
                subject=f"SMS: order {order.reference} {status.lower()}",
                body_text=sms_text(self._event.title, order.reference, status, tracking),
                event_id=self._event.id, order_id=order.id, flush=False))
        return messages

    def _mail(self, order: Order, form: FormSpec, personal: Mapping[str, Any], email: str, status: str,
              tracking: str | None) -> OutboxMessage:
        if self._template is None:
            self._template = template_for(self._session, self._event.id, MessageKind.STATUS_UPDATE)
        name_key = attendee_name_key(form)
        mail = render_mail(MessageKind.STATUS_UPDATE, self._template.subject, self._template.body, {
            **order_values(self._event, order.reference),
            "name": str(personal.get(name_key, "")) if name_key else "",
            "items": item_lines([(line.quantity, line.item_name, line.variant_label) for line in order.lines]),
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
