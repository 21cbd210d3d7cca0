"""Mail templates per event: subject and body with placeholders, checked on save, rendered as text and HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from string import Formatter
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import load_catalogue
from core.config import load_settings
from core.db import transaction_connection
from core.errors import NotFound, SchemaError, TemplateValidationError
from core.form_versions import current_form_version
from core.forms import FieldSpec, FieldType, FormSpec, parse_form_spec
from core.models import Event, MailTemplate, MessageKind
from core.money import format_money, lines_total

# The kinds of mail an organiser can word; batch and alarm mails are written by the system.
TEMPLATE_KINDS = (MessageKind.CONFIRMATION, MessageKind.VENDOR_ORDER, MessageKind.STATUS_UPDATE)
KIND_LABELS = {MessageKind.CONFIRMATION: "Confirmation to the attendee",
               MessageKind.VENDOR_ORDER: "Order mail to a per-order vendor",
               MessageKind.STATUS_UPDATE: "Status update to the attendee"}

PLACEHOLDERS: dict[str, str] = {
    "name": "the attendee's name (in a vendor mail only if that vendor may see the name field)",
    "order_ref": "the order reference, e.g. K7M2QX9P",
    "items": "what was ordered, one line per item (in a vendor mail only that vendor's items)",
    "delete_after": "the date the attendee's personal data will be deleted",
    "event_title": "the event's title",
    "total": "'Total: ' and what the order costs in the event's currency, e.g. Total: €42.00 (in a vendor mail "
             "only that vendor's items); empty when an item has no price",
}
# Only in the attendee's own mail: the link is a secret that opens, changes and cancels the order.
ATTENDEE_PLACEHOLDERS: dict[str, str] = {
    "lookup_link": "the attendee's own secret link to see, change or cancel their order",
}
VENDOR_PLACEHOLDERS: dict[str, str] = {
    "vendor_name": "the vendor's name",
    "fields": "the order details this vendor may see, one 'Label: value' per line",
}
# A status update is sent long after the order, when its secret link is no longer known (only its hash is kept).
STATUS_PLACEHOLDERS: dict[str, str] = {
    "lookup_link": "the order lookup page, where the reference and email address find the order",
    "status": "the order's new status, e.g. Shipped",
    "tracking": "'Tracking: ' and the tracking number or link when there is one; empty otherwise",
}

DEFAULT_TEMPLATES: dict[MessageKind, tuple[str, str]] = {
    MessageKind.CONFIRMATION: (
        "Your order {order_ref} for {event_title}",
        "Hello {name},\n\n"
        "thank you for your order for {event_title}. Your order reference is {order_ref}.\n\n"
        "{items}\n"
        "{total}\n\n"
        "See, change or cancel your order: {lookup_link}\n\n"
        "We use your details only to get your order to you, and delete them once the event is over "
        "(deletion date: {delete_after}).\n",
    ),
    MessageKind.VENDOR_ORDER: (
        "Order {order_ref} for {event_title}",
        "Hello {vendor_name},\n\n"
        "a new order {order_ref} for {event_title}:\n\n"
        "{items}\n\n"
        "{fields}\n",
    ),
    MessageKind.STATUS_UPDATE: (
        "Your order {order_ref}: {status}",
        "Hello {name},\n\n"
        "your order {order_ref} for {event_title} is now: {status}.\n"
        "{tracking}\n\n"
        "{items}\n\n"
        "Look your order up: {lookup_link}\n",
    ),
}

SUBJECT_MAX_LENGTH = 200
BODY_MAX_LENGTH = 10_000
# The outbox column's size; a subject grown past it by long values is shortened, never refused.
RENDERED_SUBJECT_MAX_LENGTH = 300
DELETE_AFTER_UNKNOWN = "after the event"
# Tab and line feed are fine in a body; other control characters have no business in a mail.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_LINE_BREAK = re.compile("[\r\n\u2028\u2029\x85]")

# A pair of (literal text, placeholder or None), as string.Formatter.parse yields them.
Part = tuple[str, str | None]
# Built once: it runs for every mail about an order. A Core table, so the row's text is all that is read.
_MAIL_TEMPLATES = MailTemplate.__table__
_STORED_TEMPLATE = select(_MAIL_TEMPLATES.c.subject, _MAIL_TEMPLATES.c.body).where(
    _MAIL_TEMPLATES.c.event_id == bindparam("event_id"), _MAIL_TEMPLATES.c.kind == bindparam("kind"))


@dataclass(frozen=True)
class TemplateText:
    """An event's wording of one kind of mail; `is_default` when the event has none of its own."""

    kind: MessageKind
    subject: str
    body: str
    is_default: bool


@dataclass(frozen=True)
class RenderedMail:
    """A mail ready for the outbox: a one-line subject, the plain-text part and the (escaped) HTML part."""

    subject: str
    text: str
    html: str


def placeholders_for(kind: MessageKind) -> dict[str, str]:
    """The placeholders a template of `kind` may use, with what each stands for."""
    _check_kind(kind)
    return {**PLACEHOLDERS, **(VENDOR_PLACEHOLDERS if kind == MessageKind.VENDOR_ORDER else ATTENDEE_PLACEHOLDERS),
            **(STATUS_PLACEHOLDERS if kind == MessageKind.STATUS_UPDATE else {})}


def check_template(kind: MessageKind, subject: str, body: str) -> tuple[str, str]:
    """The subject and body cleaned (trimmed, line endings made \\n); raises TemplateValidationError per part."""
    _check_kind(kind)
    allowed = placeholders_for(kind)
    subject = subject.strip()
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"
    errors: dict[str, str] = {}
    if not subject:
        errors["subject"] = "Enter a subject."
    elif len(subject) > SUBJECT_MAX_LENGTH:
        errors["subject"] = f"Use at most {SUBJECT_MAX_LENGTH} characters (you used {len(subject)})."
    elif _LINE_BREAK.search(subject) or _CONTROL.search(subject):
        errors["subject"] = "A subject is one line: remove the line breaks and control characters."
    elif problem := _placeholder_problem(subject, allowed):
        errors["subject"] = problem
    if not body.strip():
        errors["body"] = "Enter the text of the mail."
    elif len(body) > BODY_MAX_LENGTH:
        errors["body"] = f"Use at most {BODY_MAX_LENGTH} characters (you used {len(body)})."
    elif _CONTROL.search(body):
        errors["body"] = "Remove the control characters."
    elif problem := _placeholder_problem(body, allowed):
        errors["body"] = problem
    if errors:
        raise TemplateValidationError(errors)
    return subject, body


@lru_cache(maxsize=64)
def _checked_template(kind: MessageKind, subject: str, body: str) -> tuple[str, str]:
    """`check_template`, cached by its arguments (a pure function of them; refusals are not cached)."""
    return check_template(kind, subject, body)


def _placeholder_problem(text: str, allowed: Mapping[str, str]) -> str | None:
    try:
        parts = _parse(text)
    except ValueError:
        return "A brace is not closed. Placeholders look like {name}; write {{ or }} for a brace itself."
    # Attribute and index lookups ({name.__class__}, {items[0]}) and positional fields ({}, {0}) are simply
    # unknown names here, so a template can reach nothing but the values it is given.
    unknown = list(dict.fromkeys(name for _, name in parts if name is not None and name not in allowed))
    if unknown:
        return (f"Unknown placeholder{'s' if len(unknown) > 1 else ''} "
                f"{', '.join('{' + name + '}' for name in unknown)}. "
                f"Use {', '.join('{' + name + '}' for name in allowed)}; write {{{{ or }}}} for a brace itself.")
    return None


@lru_cache(maxsize=256)
def _parse(text: str) -> tuple[Part, ...]:
    """Literal text and placeholders; raises ValueError for unpaired braces.

    A placeholder takes no format spec or conversion ({name:>10}, {name!r}): such a one keeps them in its name,
    which is then unknown. Cached by the text (a tuple, so no caller can change what others get): every mail
    of an event renders the same few templates.
    """
    parts: list[Part] = []
    for literal, name, spec, conversion in Formatter().parse(text):
        if spec or conversion:
            # So the organiser's error message quotes exactly what they wrote.
            name = f"{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}"
        parts.append((literal, name))
    return tuple(parts)


def render_mail(kind: MessageKind, subject: str, body: str, values: Mapping[str, str]) -> RenderedMail:
    """Fill a checked template with `values` (one per placeholder of `kind`).

    Only the template is parsed; values are inserted as they are, so braces, HTML or a file path in an
    attendee's answer stay plain text. The HTML part escapes the template and every value alike (organisers
    write no HTML either); the subject is made one line and shortened to fit the outbox.
    """
    missing = set(placeholders_for(kind)) - set(values)
    if missing:
        raise ValueError(f"values missing for {', '.join(sorted(missing))}")
    subject_parts, body_parts = _parse(subject), _parse(body)
    one_line = " ".join(_fill(subject_parts, values, escape=False).split())
    if len(one_line) > RENDERED_SUBJECT_MAX_LENGTH:
        one_line = one_line[:RENDERED_SUBJECT_MAX_LENGTH - 1].rstrip() + "…"
    text = _fill(body_parts, values, escape=False)
    marked_up = _fill(body_parts, values, escape=True).replace("\n", "<br>\n")
    return RenderedMail(subject=one_line, text=text, html=marked_up)


def _fill(parts: Sequence[Part], values: Mapping[str, str], *, escape: bool) -> str:
    out: list[str] = []
    for literal, name in parts:
        pieces = [literal] if name is None else [literal, _plain_lines(values[name])]
        out.extend(html.escape(piece) if escape else piece for piece in pieces)
    return "".join(out)


def _plain_lines(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _check_kind(kind: MessageKind) -> None:
    if kind not in TEMPLATE_KINDS:
        raise SchemaError(f"There is no template for {kind} mails.")


# --- Stored templates --------------------------------------------------------------------------------------------


def template_for(session: Session, event_id: int, kind: MessageKind) -> TemplateText:
    """The event's own template of `kind`, or the default when it has none (or its stored one no longer passes
    the checks, so that a mail is always written)."""
    stored = transaction_connection(session).execute(_STORED_TEMPLATE, {"event_id": event_id, "kind": kind}).first()
    if stored is not None:
        try:
            subject, body = _checked_template(kind, stored.subject, stored.body)
        except TemplateValidationError:
            pass
        else:
            return TemplateText(kind, subject, body, is_default=False)
    subject, body = DEFAULT_TEMPLATES[kind]
    return TemplateText(kind, subject, body, is_default=True)


def load_template(session: Session, actor: Actor, event_id: int, kind: MessageKind) -> TemplateText:
    """The template of `kind` that the event's mails use now; raises PermissionDenied, NotFound or SchemaError."""
    require(session, actor, Permission.EVENT_VIEW, event_id)
    _check_kind(kind)
    _event(session, event_id)
    return template_for(session, event_id, kind)


def save_template(
    session: Session, actor: Actor, event_id: int, kind: MessageKind, subject: str, body: str
) -> TemplateText:
    """Store the event's own template of `kind` (audited as `template.saved`).

    Raises TemplateValidationError naming unknown placeholders or other problems per part ("subject", "body"),
    PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    subject, body = check_template(kind, subject, body)
    stored = session.scalars(
        select(MailTemplate).where(MailTemplate.event_id == event.id, MailTemplate.kind == kind)).first()
    if stored is None:
        try:
            # A savepoint: another organiser may save the first template of this kind at the same moment.
            with session.begin_nested():
                stored = MailTemplate(event_id=event.id, kind=kind, subject=subject, body=body)
                session.add(stored)
        except IntegrityError:
            stored = session.scalars(
                select(MailTemplate).where(MailTemplate.event_id == event.id, MailTemplate.kind == kind)).one()
    stored.subject, stored.body = subject, body
    audit.record(session, actor, "template.saved", event=event, subject=f"template:{kind.value}",
                 details={"kind": kind.value})
    return TemplateText(kind, subject, body, is_default=False)


def reset_template(session: Session, actor: Actor, event_id: int, kind: MessageKind) -> TemplateText:
    """Drop the event's own template of `kind`, so its mails use the default again (audited as `template.reset`)."""
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    _check_kind(kind)
    stored = session.scalars(
        select(MailTemplate).where(MailTemplate.event_id == event.id, MailTemplate.kind == kind)).first()
    if stored is not None:
        session.delete(stored)
        audit.record(session, actor, "template.reset", event=event, subject=f"template:{kind.value}",
                     details={"kind": kind.value})
    subject, body = DEFAULT_TEMPLATES[kind]
    return TemplateText(kind, subject, body, is_default=True)


def preview_template(
    session: Session, actor: Actor, event_id: int, kind: MessageKind, subject: str, body: str,
    *, public_base_url: str | None = None,
) -> RenderedMail:
    """Render an (unsaved) template with a made-up order of this event: its real items, sample answers.

    Raises TemplateValidationError like `save_template`, PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_VIEW, event_id)
    event = _event(session, event_id)
    subject, body = check_template(kind, subject, body)
    values = sample_values(session, event, public_base_url=public_base_url)
    if kind == MessageKind.STATUS_UPDATE:
        values["lookup_link"] = lookup_link(None, public_base_url)  # as sent: no secret is known by then
    return render_mail(kind, subject, body, values)


SAMPLE_NAME = "Alex Example"
SAMPLE_REFERENCE = "SAMPLE23"
SAMPLE_LOOKUP_TOKEN = "sample-secret"
SAMPLE_VALUES: dict[FieldType, str] = {
    FieldType.SHORT_TEXT: "Sample answer",
    FieldType.LONG_TEXT: "A longer sample answer.",
    FieldType.EMAIL: "alex@example.com",
    # A number reserved for drama by Ofcom: never anyone's real phone.
    FieldType.PHONE: "+447700900123",
    FieldType.NUMBER: "2",
    FieldType.CHECKBOX: "Yes",
    FieldType.DATE: "2030-01-31",
    FieldType.ADDRESS: "1 Sample Street, Exampleton, EX1 2MP, United Kingdom",
}


def sample_values(session: Session, event: Event, *, public_base_url: str | None = None) -> dict[str, str]:
    """Values for every placeholder from a made-up order: no real attendee's data ever appears in a preview.

    The items are the event's first two (or a stand-in), and {fields} lists each field of the current form
    with a sample answer, as a vendor who may see all of them would get it.
    """
    try:
        form: FormSpec | None = parse_form_spec(current_form_version(session, event).schema)
    except (NotFound, SchemaError):
        form = None
    catalogue = load_catalogue(session, event)
    lines = [(1, item.name, item.variants[0].label if item.variants else "") for item in catalogue[:2]]
    fields = [spec for spec in form.fields if spec.type != FieldType.ITEMS] if form else []
    name_key = attendee_name_key(form) if form else None
    values = order_values(event, SAMPLE_REFERENCE, [(item.price, 1) for item in catalogue[:2]])
    values.update(
        lookup_link=lookup_link(SAMPLE_LOOKUP_TOKEN, public_base_url),
        name=SAMPLE_NAME,
        items=item_lines(lines or [(1, "Sample item", "")]),
        vendor_name="Sample vendor",
        status="Shipped",
        tracking="Tracking: https://tracking.example.com/SAMPLE23",
        fields="\n".join(f"{spec.label}: {SAMPLE_NAME if spec.key == name_key else _sample_answer(spec)}"
                         for spec in fields),
    )
    return values


def _sample_answer(spec: FieldSpec) -> str:
    if spec.options and spec.type != FieldType.ADDRESS:
        return spec.options[0]
    return SAMPLE_VALUES.get(spec.type, "Sample answer")


# --- Values of a real order --------------------------------------------------------------------------------------


def order_values(event: Event, reference: str, priced_lines: Iterable[tuple[Decimal | None, int]]) -> dict[str, str]:
    """The placeholders that are the same for every mail about one order (the attendee's and the vendors').

    `priced_lines` are the (unit price, quantity) of the lines the mail is about, for {total}.
    """
    return {
        "order_ref": reference,
        "event_title": event.title,
        "delete_after": delete_after(event),
        "total": total_text(lines_total(priced_lines), event.currency),
    }


def total_text(total: Decimal | None, currency: str) -> str:
    """ "Total: €42.00", or empty when there is no total (an item without a price)."""
    return f"Total: {format_money(total, currency)}" if total is not None else ""


def lookup_link(token: str | None, public_base_url: str | None = None) -> str:
    """The attendee's secret link to their order, `<public_base_url>/lookup?t=<token>`.

    Without a token (it is known only when the order is placed or its link renewed) this is the lookup page
    itself, where reference and email find the order.
    """
    base = (load_settings().public_base_url if public_base_url is None else public_base_url).rstrip("/")
    return f"{base}/lookup?t={quote(token, safe='')}" if token else f"{base}/lookup"


def delete_after(event: Event) -> str:
    """The day personal data of the event will be deleted (the end plus the retention), in its time zone."""
    if event.ends_at is None:
        return DELETE_AFTER_UNKNOWN
    day = (event.ends_at + timedelta(days=event.retention_days)).astimezone(ZoneInfo(event.timezone)).date()
    return f"{day.day} {day:%B %Y}"


def item_lines(lines: Sequence[tuple[int, str, str]], separator: str = "\n") -> str:
    """(quantity, item name, variant label) written one per line: "2 × T-shirt (Fitted, M)"."""
    return separator.join(f"{quantity} × {name}" + (f" ({label})" if label else "")
                          for quantity, name, label in lines)


def attendee_name_key(form: FormSpec) -> str | None:
    """The key of the attendee's name: the form's first personal short-text field (as on the Orders page)."""
    return next((spec.key for spec in form.fields if spec.type == FieldType.SHORT_TEXT and spec.is_personal), None)


def _event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    return event
