"""An event's setup checklist on its Dashboard: each step done, or what is missing and which screen fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.auth import Actor, Permission
from core.config import Settings
from core.event_admin import get_event_for
from core.models import CodeMode, Event, FormVersion, Item, RedemptionCode, Vendor, utcnow
from core.purge import retention_end


@dataclass(frozen=True)
class ChecklistStep:
    """One step: `missing` says what is left ("" when done); `fix_path` is the url path of the screen that fixes it."""

    key: str
    label: str
    missing: str
    fix_path: str
    fix_label: str

    @property
    def done(self) -> bool:
        return not self.missing


def setup_checklist(session: Session, actor: Actor, event_id: int, settings: Settings, *,
                    now: datetime | None = None) -> tuple[ChecklistStep, ...]:
    """The steps to set `event_id` up, in the order an organiser takes them; raises PermissionDenied unless `actor`
    may view the event. "Codes" is a step only when the event asks for codes."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    now = now or utcnow()
    items = session.scalars(select(Item).where(Item.event_id == event.id, Item.active).order_by(Item.position)).all()
    steps = [
        ChecklistStep("details", "Details and dates", _details_missing(event), "events", "Edit the event"),
        ChecklistStep("form", "Order form", _form_missing(session, event, bool(items)), "form-builder",
                      "Open the form builder"),
        ChecklistStep("items", "Items", "" if items else "No item to order yet.", "items", "Add items"),
        ChecklistStep("vendors", "Vendors and routing", _routing_missing(session, items), "vendors",
                      "Route items to vendors"),
        ChecklistStep("mail", "Mail", _mail_missing(settings), "outbox", "See the mail waiting"),
        ChecklistStep("retention", "Deleting personal data", _retention_missing(event), "events",
                      "Set when the event ends"),
    ]
    if event.code_mode != CodeMode.NONE:
        steps.append(ChecklistStep("codes", "Redemption codes", _codes_missing(session, event, now), "codes",
                                   "Create codes"))
    steps.append(ChecklistStep("published", "Published", "" if event.published else
                               "Attendees cannot see the form until it is published.", "events", "Publish it"))
    return tuple(steps)


def _details_missing(event: Event) -> str:
    absent = [what for what, value in (("a description", event.description.strip()),
                                       ("when orders close", event.closes_at)) if not value]
    return f"Add {' and '.join(absent)}." if absent else ""


def _form_missing(session: Session, event: Event, has_items: bool) -> str:
    schema = session.scalars(select(FormVersion.schema).where(FormVersion.event_id == event.id)
                             .order_by(FormVersion.number.desc()).limit(1)).first()
    fields = (schema or {}).get("fields") or []
    if not fields:
        return "No form is saved yet."
    if has_items and not any(field.get("type") == "items" for field in fields):
        return "The form has no \"Items to order\" field, so attendees cannot choose items."
    return ""


def _routing_missing(session: Session, items: list[Item]) -> str:
    unrouted = [item.name for item in items if item.vendor_id is None]
    if unrouted:
        return f"Not routed to a vendor: {', '.join(unrouted)}."
    vendors = session.execute(select(Vendor.name, Vendor.emails).where(
        Vendor.id.in_({item.vendor_id for item in items})).order_by(Vendor.name)).all()
    silent = [name for name, emails in vendors if not emails]
    return f"No email address for: {', '.join(silent)}." if silent else ""


def _mail_missing(settings: Settings) -> str:
    absent = [name for name, value in (("SMTP_HOST", settings.smtp_host), ("MAIL_FROM", settings.mail_from))
              if not value]
    if absent:
        return (f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not set, so mail waits in the outbox "
                "(see the README, Configuration).")
    return ""


def _retention_missing(event: Event) -> str:
    if retention_end(event) is None:
        return "Neither an end nor a close of orders is set, so personal data is never deleted by itself."
    return ""


def _codes_missing(session: Session, event: Event, now: datetime) -> str:
    usable = session.scalar(select(func.count()).select_from(RedemptionCode).where(
        RedemptionCode.event_id == event.id, RedemptionCode.revoked_at.is_(None),
        RedemptionCode.uses < RedemptionCode.max_uses,
        or_(RedemptionCode.expires_at.is_(None), RedemptionCode.expires_at > now)))
    return "" if usable else "The event asks for codes, and none can be used yet."
