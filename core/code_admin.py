"""Redemption codes for organisers: the event's code mode, generating, importing, listing, exporting and
revoking codes, and which orders used one.

Generated codes exist in clear only in what `generate_codes` returns (and its mail-merge CSV); like imported
ones, they are stored as the keyed hash and hint of core/codes.py, which also takes and gives back their uses.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission
from core.codes import MAX_CODE_LENGTH, code_hash, normalise_code
from core.errors import CodeImportError, FormValidationError, NotFound, SchemaError
from core.event_admin import get_event_for
from core.models import CodeMode, CodeRedemption, Event, Item, Order, RedemptionCode, utcnow
from core.spreadsheets import write_csv

MAX_GENERATE = 10_000
MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_BYTES = 2_000_000
MIN_CODE_LENGTH = 6
MAX_PREFIX_LENGTH = 10
RANDOM_LENGTHS = range(8, 21)
MAX_USES = 1_000_000
MAX_NOTE_LENGTH = 200
MAX_LISTED = 1_000
# Upper-case letters and digits without look-alikes (0/O, 1/I/L), as order references (core/orders.py).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# How many characters after the prefix the hint shows: enough to tell codes apart in a list, far too few to
# guess the rest (31^6 and more remain at the shortest length, and guesses are throttled).
HINT_RANDOM_CHARS = 2
_HASH_CHUNK = 900  # below every database's limit on bound parameters


class CodeStatus(StrEnum):
    ACTIVE = "active"
    USED_UP = "used up"
    EXPIRED = "expired"
    REVOKED = "revoked"


# `valid_until` is the last day a code works (inclusive) in the event's timezone, as organisers set it.
CODE_COLUMNS = ("id", "hint", "status", "uses", "max_uses", "valid_until", "items", "note", "created")
MAIL_MERGE_COLUMNS = ("code", "uses allowed", "valid until", "items")
LIST_EXPORT_COLUMNS = ("hint", "status", "uses", "max uses", "valid until", "items", "note", "created")


@dataclass(frozen=True)
class CodeBatch:
    """What to generate: `count` codes `PREFIX-XXXXXXXXXX` (`length` random characters of CODE_ALPHABET).

    `expires_on` is the last day the codes work, in the event's timezone; `item_keys` empty means all items.
    """

    count: int
    prefix: str = ""
    length: int = 10
    max_uses: int = 1
    expires_on: date | None = None
    item_keys: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class NewCodes:
    """Freshly generated codes in clear: the only time they exist; `csv` is the mail-merge file."""

    codes: tuple[str, ...]
    filename: str
    csv: bytes
    mimetype: str = "text/csv"


@dataclass(frozen=True)
class CodeOverview:
    """What the Codes page shows above the list: the mode, the items, and how many codes are in each status."""

    mode: CodeMode
    timezone: str
    items: dict[str, str]  # key -> name, in catalogue order
    items_requiring_code: frozenset[str]
    counts: dict[CodeStatus, int]


@dataclass(frozen=True)
class CodeFilters:
    """Narrows the code list: by status, and by a hint prefix or a word of the note (`text`)."""

    status: CodeStatus | None = None
    text: str = ""


@dataclass(frozen=True)
class CodeList:
    """Up to MAX_LISTED codes as a frame of CODE_COLUMNS (times in the event's timezone), and how many match."""

    rows: pd.DataFrame
    total: int


def code_overview(session: Session, actor: Actor, event_id: int, *, now: datetime | None = None) -> CodeOverview:
    """The event's code mode, its items, and its codes counted by status."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    now = now or utcnow()
    items = session.execute(select(Item.key, Item.name, Item.requires_code).where(Item.event_id == event.id)
                            .order_by(Item.position, Item.id)).all()
    counts = {status: session.scalar(select(func.count()).select_from(RedemptionCode).where(
        RedemptionCode.event_id == event.id, _status_condition(status, now))) or 0 for status in CodeStatus}
    return CodeOverview(mode=event.code_mode, timezone=event.timezone, items={i.key: i.name for i in items},
                        items_requiring_code=frozenset(i.key for i in items if i.requires_code), counts=counts)


def set_code_mode(session: Session, actor: Actor, event_id: int, mode: CodeMode,
                  items_requiring_code: Collection[str] = ()) -> None:
    """Set whether the event needs codes (none, for the form, for some items) and which items need one.

    `items_requiring_code` matters in ITEMS mode only (the marks are kept otherwise, for switching back); ITEMS
    mode without such items is refused. Audited as `event.code_mode_changed` when anything changes.
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    items = list(session.scalars(select(Item).where(Item.event_id == event.id)))
    wanted = set(items_requiring_code)
    if unknown := sorted(wanted - {item.key for item in items}):
        raise FormValidationError({"items": f"The event has no item {unknown[0]}."})
    if mode == CodeMode.ITEMS and not wanted:
        raise FormValidationError({"items": "Choose the items that need a code."})
    old_mode = event.code_mode
    old_items = sorted(item.key for item in items if item.requires_code)
    if mode == old_mode and (mode != CodeMode.ITEMS or sorted(wanted) == old_items):
        return
    event.code_mode = mode
    if mode == CodeMode.ITEMS:
        for item in items:
            item.requires_code = item.key in wanted
    audit.record(session, actor, "event.code_mode_changed", event=event, subject=f"event:{event.slug}",
                 details={"old_mode": old_mode.value, "new_mode": mode.value,
                          "items_requiring_code": sorted(wanted) if mode == CodeMode.ITEMS else old_items})


def generate_codes(session: Session, actor: Actor, event_id: int, batch: CodeBatch, *, key: bytes,
                   now: datetime | None = None) -> NewCodes:
    """Create `batch.count` random codes; only their hashes and hints are stored.

    The clear codes exist only in the result (and its mail-merge CSV): they cannot be shown again. Raises
    FormValidationError naming the bad setting. Audited as `codes.generated` (the count, never a code).
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    now = now or utcnow()
    prefix = _check_batch(session, event, batch)
    expires_at = _end_of_day(batch.expires_on, event.timezone)
    codes: dict[str, str] = {}  # hash -> code
    while len(codes) < batch.count:
        for _ in range(batch.count - len(codes)):
            random_part = "".join(secrets.choice(CODE_ALPHABET) for _ in range(batch.length))
            code = f"{prefix}-{random_part}" if prefix else random_part
            codes[code_hash(code, key)] = code
        # A clash with an existing code is astronomically rare (31^8 and more), but cheap to rule out.
        for taken in _existing_hashes(session, event, list(codes)):
            del codes[taken]
    hint_length = len(prefix) + HINT_RANDOM_CHARS
    session.execute(insert(RedemptionCode), [
        {"event_id": event.id, "code_hash": digest, "hint": _hint(normalise_code(code)[:hint_length], prefix),
         "max_uses": batch.max_uses, "uses": 0, "expires_at": expires_at, "item_keys": list(batch.item_keys),
         "note": batch.note.strip(), "created_at": now}
        for digest, code in codes.items()])
    audit.record(session, actor, "codes.generated", event=event, subject=f"event:{event.slug}",
                 details={"count": batch.count, "prefix": prefix, "max_uses": batch.max_uses,
                          "expires_at": expires_at.isoformat() if expires_at else None,
                          "item_keys": list(batch.item_keys)})
    listed = tuple(codes.values())
    frame = pd.DataFrame({
        "code": pd.Series(listed, dtype="str"),
        "uses allowed": pd.Series([batch.max_uses] * len(listed), dtype="int64"),
        "valid until": pd.Series([batch.expires_on.isoformat() if batch.expires_on else ""] * len(listed),
                                 dtype="str"),
        "items": pd.Series([_items_text(batch.item_keys, event, session)] * len(listed), dtype="str"),
    }, columns=list(MAIL_MERGE_COLUMNS))
    return NewCodes(codes=listed, filename=_filename(event.slug, "codes", now), csv=write_csv(frame))


def import_codes(session: Session, actor: Actor, event_id: int, data: bytes, *, key: bytes,
                 now: datetime | None = None) -> int:
    """Store the codes of a CSV file (column `code`; optional `max_uses`, `expires`, `items`, `note`).

    All or nothing: raises CodeImportError listing every bad row. `expires` is the last valid day (YYYY-MM-DD,
    event timezone); `items` lists item keys separated by spaces, commas or semicolons. Returns how many codes
    were stored; audited as `codes.imported` (the count).
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    now = now or utcnow()
    rows = _read_import(data)
    item_keys = set(session.scalars(select(Item.key).where(Item.event_id == event.id)))
    problems: list[tuple[int, str]] = []  # (row number, what is wrong)
    parsed: dict[str, dict[str, Any]] = {}  # hash -> row values
    first_row: dict[str, int] = {}
    for number, row in rows:
        try:
            values = _import_row(row, item_keys, event.timezone)
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        digest = code_hash(values.pop("code"), key)
        if digest in parsed:
            problems.append((number, f"the same code as row {first_row[digest]}."))
            continue
        parsed[digest], first_row[digest] = values, number
    for digest in _existing_hashes(session, event, list(parsed)):
        problems.append((first_row[digest], "this code already exists in this event."))
    if problems:
        raise CodeImportError([f"Row {number}: {problem}" for number, problem in sorted(problems)])
    if not parsed:
        raise CodeImportError(["the file has no codes."])
    session.execute(insert(RedemptionCode), [
        {"event_id": event.id, "code_hash": digest, "uses": 0, "created_at": now, **values}
        for digest, values in parsed.items()])
    audit.record(session, actor, "codes.imported", event=event, subject=f"event:{event.slug}",
                 details={"count": len(parsed)})
    return len(parsed)


def list_codes(session: Session, actor: Actor, event_id: int, filters: CodeFilters = CodeFilters(), *,
               now: datetime | None = None) -> CodeList:
    """The event's codes matching `filters`, newest first (at most MAX_LISTED), and how many match."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    now = now or utcnow()
    conditions = _code_conditions(event, filters, now)
    total = session.scalar(select(func.count()).select_from(RedemptionCode).where(*conditions)) or 0
    codes = session.scalars(select(RedemptionCode).where(*conditions)
                            .order_by(RedemptionCode.created_at.desc(), RedemptionCode.id.desc()).limit(MAX_LISTED))
    return CodeList(rows=_code_frame(list(codes), event.timezone, now), total=total)


def export_code_list(session: Session, actor: Actor, event_id: int, filters: CodeFilters = CodeFilters(), *,
                     now: datetime | None = None) -> tuple[str, str, bytes]:
    """All the event's codes matching `filters` as CSV `(filename, mimetype, bytes)`: hints, never codes (only
    their hashes are stored). Audited as `codes.exported`."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    now = now or utcnow()
    codes = list(session.scalars(select(RedemptionCode).where(*_code_conditions(event, filters, now))
                                 .order_by(RedemptionCode.created_at, RedemptionCode.id)))
    frame = _code_frame(codes, event.timezone, now)
    frame["created"] = frame["created"].dt.tz_localize(None)
    frame = frame.rename(columns={"max_uses": "max uses", "valid_until": "valid until"})[list(LIST_EXPORT_COLUMNS)]
    audit.record(session, actor, "codes.exported", event=event, subject=f"event:{event.slug}",
                 details={"count": len(codes), "status": filters.status.value if filters.status else None})
    return _filename(event.slug, "code-list", now), "text/csv", write_csv(frame)


def revoke_codes(session: Session, actor: Actor, event_id: int, code_ids: Collection[int], *,
                 now: datetime | None = None) -> int:
    """Revoke the given codes of the event (orders already placed keep theirs); returns how many were revoked.

    Codes already revoked are left alone; ids of other events' codes raise NotFound. Audited as `codes.revoked`.
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    now = now or utcnow()
    wanted = set(code_ids)
    if not wanted:
        raise SchemaError("Choose at least one code.")
    codes = list(session.scalars(select(RedemptionCode).where(
        RedemptionCode.event_id == event.id, RedemptionCode.id.in_(sorted(wanted)))))
    if len(codes) != len(wanted):
        raise NotFound("Some of these codes do not belong to this event.")
    revoking = [code for code in codes if code.revoked_at is None]
    for code in revoking:
        code.revoked_at = now
    if revoking:
        audit.record(session, actor, "codes.revoked", event=event, subject=f"event:{event.slug}",
                     details={"count": len(revoking), "code_ids": sorted(code.id for code in revoking)})
    return len(revoking)


def code_uses(session: Session, actor: Actor, event_id: int, code_id: int) -> pd.DataFrame:
    """The orders that used a code (reference, placed at in the event's timezone, status), oldest first.

    Cancelled orders gave their use back and are not listed.
    """
    event = get_event_for(session, actor, event_id, Permission.ORDERS_VIEW)
    if session.scalar(select(RedemptionCode.id).where(RedemptionCode.id == code_id,
                                                      RedemptionCode.event_id == event.id)) is None:
        raise NotFound("There is no such code in this event.")
    found = session.execute(
        select(Order.reference, Order.created_at, Order.status)
        .join(CodeRedemption, CodeRedemption.order_id == Order.id)
        .where(CodeRedemption.code_id == code_id).order_by(Order.created_at, Order.id)).all()
    return pd.DataFrame({
        "reference": pd.Series([row.reference for row in found], dtype="str"),
        "placed_at": pd.Series(pd.to_datetime([row.created_at for row in found], utc=True).tz_convert(event.timezone)),
        "status": pd.Series([row.status.value for row in found], dtype="str"),
    })


def _check_batch(session: Session, event: Event, batch: CodeBatch) -> str:
    """The batch's normalised prefix, once every setting is sensible; raises FormValidationError."""
    errors: dict[str, str] = {}
    prefix = normalise_code(batch.prefix)
    if not 1 <= batch.count <= MAX_GENERATE:
        errors["count"] = f"Generate 1 to {MAX_GENERATE:,} codes at a time."
    if len(prefix) > MAX_PREFIX_LENGTH or not prefix.isalnum() and prefix:
        errors["prefix"] = f"Use at most {MAX_PREFIX_LENGTH} letters and digits for the prefix."
    if batch.length not in RANDOM_LENGTHS:
        errors["length"] = (f"Use {RANDOM_LENGTHS.start} to {RANDOM_LENGTHS.stop - 1} random characters: fewer "
                            "would be easy to guess.")
    if not 1 <= batch.max_uses <= MAX_USES:
        errors["max_uses"] = "A code must allow at least one use."
    if len(batch.note.strip()) > MAX_NOTE_LENGTH:
        errors["note"] = f"Keep the note to {MAX_NOTE_LENGTH} characters."
    known = set(session.scalars(select(Item.key).where(Item.event_id == event.id)))
    if unknown := sorted(set(batch.item_keys) - known):
        errors["item_keys"] = f"The event has no item {unknown[0]}."
    if errors:
        raise FormValidationError(errors)
    return prefix


def _end_of_day(day: date | None, timezone: str) -> datetime | None:
    """The instant a code valid through `day` (in `timezone`) expires: the next midnight there, in UTC."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(timezone)).astimezone(UTC)


def _last_day(expires_at: datetime | None, timezone: str) -> str:
    """The last day (YYYY-MM-DD, in `timezone`) a code expiring at `expires_at` works; "" when it never expires."""
    if expires_at is None:
        return ""
    return (expires_at.astimezone(ZoneInfo(timezone)) - timedelta(microseconds=1)).date().isoformat()


def _hint(start: str, prefix: str = "") -> str:
    if prefix and start.startswith(prefix):
        return f"{prefix}-{start[len(prefix):]}…"
    return f"{start}…"


def _existing_hashes(session: Session, event: Event, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(hashes), _HASH_CHUNK):
        found.update(session.scalars(select(RedemptionCode.code_hash).where(
            RedemptionCode.event_id == event.id, RedemptionCode.code_hash.in_(hashes[start:start + _HASH_CHUNK]))))
    return found


def _read_import(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The rows of a codes CSV as (row number as a spreadsheet shows it, {lower-case column: value})."""
    if len(data) > MAX_IMPORT_BYTES:
        raise CodeImportError([f"the file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CodeImportError(["the file is not UTF-8 text. Save it as \"CSV UTF-8\"."]) from None
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many European locales save CSV with semicolons.
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if "code" not in columns:
        raise CodeImportError(["the first row must name the columns, one of them \"code\"."])
    rows = []
    for number, row in enumerate(reader, start=2):
        values = {(name or "").strip().lower(): (value or "").strip() if isinstance(value, str) else ""
                  for name, value in row.items()}
        if not any(values.values()):
            continue
        rows.append((number, values))
        if len(rows) > MAX_IMPORT_ROWS:
            raise CodeImportError([f"the file has more than {MAX_IMPORT_ROWS:,} codes; split it."])
    return rows


def _import_row(row: dict[str, str], item_keys: set[str], timezone: str) -> dict[str, Any]:
    """One CSV row as RedemptionCode values plus its `code`; raises ValueError saying what is wrong."""
    code = normalise_code(row.get("code", ""))
    if len(code) < MIN_CODE_LENGTH:
        raise ValueError(f"the code needs at least {MIN_CODE_LENGTH} letters or digits; shorter codes are easy "
                         "to guess.")
    if len(code) > MAX_CODE_LENGTH or not code.isalnum():
        raise ValueError(f"a code has at most {MAX_CODE_LENGTH} letters and digits (spaces, hyphens and "
                         "underscores are ignored).")
    uses_text = row.get("max_uses", "") or "1"
    if not uses_text.isdigit() or not 1 <= int(uses_text) <= MAX_USES:
        raise ValueError(f"max_uses must be a whole number from 1 to {MAX_USES:,}.")
    try:
        expires_on = date.fromisoformat(row["expires"]) if row.get("expires") else None
    except ValueError:
        raise ValueError("expires must be a date written YYYY-MM-DD.") from None
    items = [key for key in re.split(r"[\s,;]+", row.get("items", "")) if key]
    if unknown := sorted(set(items) - item_keys):
        raise ValueError(f"the event has no item {unknown[0]}.")
    note = row.get("note", "")
    if len(note) > MAX_NOTE_LENGTH:
        raise ValueError(f"the note is longer than {MAX_NOTE_LENGTH} characters.")
    return {"code": code, "hint": _hint(code[:min(4, len(code) // 4)]), "max_uses": int(uses_text),
            "expires_at": _end_of_day(expires_on, timezone), "item_keys": items, "note": note}


def _code_conditions(event: Event, filters: CodeFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [RedemptionCode.event_id == event.id]
    if filters.status is not None:
        conditions.append(_status_condition(filters.status, now))
    if text := filters.text.strip():
        conditions.append(or_(RedemptionCode.hint.startswith(normalise_code(text), autoescape=True),
                              RedemptionCode.hint.startswith(text.upper(), autoescape=True),
                              RedemptionCode.note.icontains(text, autoescape=True)))
    return conditions


def _status_condition(status: CodeStatus, now: datetime) -> ColumnElement[bool]:
    revoked = RedemptionCode.revoked_at.is_not(None)
    expired = and_(RedemptionCode.expires_at.is_not(None), RedemptionCode.expires_at <= now)
    used_up = RedemptionCode.uses >= RedemptionCode.max_uses
    match status:
        case CodeStatus.REVOKED:
            return revoked
        case CodeStatus.EXPIRED:
            return and_(~revoked, expired)
        case CodeStatus.USED_UP:
            return and_(~revoked, ~expired, used_up)
        case CodeStatus.ACTIVE:
            return and_(~revoked, ~expired, ~used_up)


def _status(code: RedemptionCode, now: datetime) -> CodeStatus:
    if code.revoked_at is not None:
        return CodeStatus.REVOKED
    if code.expires_at is not None and code.expires_at <= now:
        return CodeStatus.EXPIRED
    if code.uses >= code.max_uses:
        return CodeStatus.USED_UP
    return CodeStatus.ACTIVE


def _code_frame(codes: Sequence[RedemptionCode], timezone: str, now: datetime) -> pd.DataFrame:
    def times(values: list[datetime | None]) -> pd.Series:
        return pd.Series(pd.to_datetime(values, utc=True).tz_convert(timezone))

    return pd.DataFrame({
        "id": pd.Series([code.id for code in codes], dtype="int64"),
        "hint": pd.Series([code.hint for code in codes], dtype="str"),
        "status": pd.Series([_status(code, now).value for code in codes], dtype="str"),
        "uses": pd.Series([code.uses for code in codes], dtype="int64"),
        "max_uses": pd.Series([code.max_uses for code in codes], dtype="int64"),
        "valid_until": pd.Series([_last_day(code.expires_at, timezone) for code in codes], dtype="str"),
        "items": pd.Series([", ".join(code.item_keys) or "all" for code in codes], dtype="str"),
        "note": pd.Series([code.note for code in codes], dtype="str"),
        "created": times([code.created_at for code in codes]),
    }, columns=list(CODE_COLUMNS))


def _items_text(item_keys: Sequence[str], event: Event, session: Session) -> str:
    if not item_keys:
        return "all items"
    names = {key: name for key, name in session.execute(
        select(Item.key, Item.name).where(Item.event_id == event.id))}
    return ", ".join(names.get(key, key) for key in item_keys)


def _filename(slug: str, what: str, now: datetime) -> str:
    return f"{slug}-{what}-{now:%Y%m%d-%H%M}.csv"
