"""Organiser services for events: create, edit with field errors, publish, archive, members, and who may do it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.dashboard import event_dashboard
from core.db import read_only, unit_of_work
from core.errors import DomainError, EventValidationError, NotFound, PermissionDenied, SchemaError
from core.event_admin import (
    EventChanges,
    EventState,
    add_member,
    archive_event,
    create_event_for,
    get_event_for_edit,
    list_event_rows,
    list_events,
    moments_from_local,
    preview_event,
    publish_event,
    remove_member,
    set_header_image,
    unarchive_event,
    unpublish_event,
    update_event,
)
from core.events import EventPhase, load_public_event, local_to_utc
from core.models import AuditEntry, Event, EventMember, UserRole, utcnow
from tests.factories import make_event, make_shop, make_user
from tests.factories.events import image_bytes, make_member, make_order

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """Two organisers with an event each, and an admin."""

    engine: Engine
    alice: Actor
    bob: Actor
    admin: Actor
    alices_event: int
    bobs_event: int


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        alice, bob = make_user(session, "alice"), make_user(session, "bob")
        admin = make_user(session, "root", role=UserRole.ADMIN)
        alices = make_shop(session, slug="alices-event", published=False)
        bobs = make_shop(session, slug="bobs-event", published=False)
        make_member(session, alices, alice)
        make_member(session, bobs, bob)
        return World(engine, alice, bob, admin, alices.id, bobs.id)


def _event(engine: Engine, event_id: int) -> Event:
    with read_only(engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event


def _audit(engine: Engine, action: str | None = None) -> list[AuditEntry]:
    with read_only(engine) as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def _update(world: World, actor: Actor, **changes: Any) -> tuple[str, ...]:
    with unit_of_work(world.engine) as session:
        return update_event(session, actor, world.alices_event, EventChanges(**changes))


def _errors(world: World, **changes: Any) -> dict[str, str]:
    with pytest.raises(EventValidationError) as caught:
        _update(world, world.alice, **changes)
    return caught.value.errors


# --- creating ---

def test_creating_an_event_makes_a_draft_with_the_creator_as_organiser(world: World) -> None:
    with unit_of_work(world.engine) as session:
        event_id = create_event_for(session, world.alice, slug=" summer-party ", title=" Summer party ").id
    event = _event(world.engine, event_id)
    assert (event.slug, event.title, event.published) == ("summer-party", "Summer party", False)
    with read_only(world.engine) as session:
        assert session.get(EventMember, (event_id, world.alice.user_id)) is not None
        assert [e.slug for e in list_events(session, world.bob)] == ["bobs-event"]
    [entry] = _audit(world.engine, "event.created")
    assert (entry.actor, entry.event_id, entry.subject) == ("alice", event_id, "event:summer-party")


def test_a_new_event_with_a_bad_slug_and_no_title_names_both_fields(world: World) -> None:
    with pytest.raises(EventValidationError) as caught, unit_of_work(world.engine) as session:
        create_event_for(session, world.alice, slug="Summer Party", title="  ")
    assert set(caught.value.errors) == {"slug", "title"}
    assert isinstance(caught.value, SchemaError)
    assert "Address name: Use lower-case letters" in str(caught.value)
    assert _audit(world.engine, "event.created") == []


def test_a_new_event_cannot_take_a_slug_in_use(world: World) -> None:
    with pytest.raises(EventValidationError) as caught, unit_of_work(world.engine) as session:
        create_event_for(session, world.alice, slug="bobs-event", title="Mine now")
    assert caught.value.errors == {"slug": "The address name 'bobs-event' is already taken."}


def test_nobody_logged_in_cannot_create_an_event(world: World) -> None:
    with pytest.raises(PermissionDenied), unit_of_work(world.engine) as session:
        create_event_for(session, None, slug="anonymous", title="Anonymous")  # type: ignore[arg-type]
    with read_only(world.engine) as session:
        assert session.scalar(select(Event.id).where(Event.slug == "anonymous")) is None


@pytest.mark.parametrize("slug", ["Upper", "-leading", "trailing-", "with space", "a" * 65, "ümlaut"])
def test_malformed_slugs_are_refused_on_create(engine: Engine, slug: str) -> None:
    with pytest.raises(SchemaError), unit_of_work(engine) as session:
        make_event(session, slug=slug)


def test_slugs_are_unique(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_event(session, slug="taken")
    with pytest.raises(SchemaError, match="already taken"), unit_of_work(engine) as session:
        make_event(session, slug="taken")


# --- editing ---

def test_update_saves_the_given_settings_and_audits_only_the_names_of_those_that_changed(world: World) -> None:
    before = _event(world.engine, world.alices_event)
    changed = _update(world, world.alice, title="Alice's Gala", accent_colour="#AA00FF",
                      description=before.description, timezone="Europe/Berlin")
    assert changed == ("title", "accent_colour", "timezone")
    event = _event(world.engine, world.alices_event)
    assert (event.title, event.accent_colour, event.timezone) == ("Alice's Gala", "#aa00ff", "Europe/Berlin")
    assert (event.slug, event.retention_days) == (before.slug, before.retention_days)
    [entry] = _audit(world.engine, "event.updated")
    assert entry.details == {"fields": ["title", "accent_colour", "timezone"]}
    assert "Gala" not in json.dumps(entry.details)  # names of settings, never their values


def test_an_update_that_changes_nothing_writes_no_audit_entry(world: World) -> None:
    event = _event(world.engine, world.alices_event)
    assert _update(world, world.alice, title=event.title, slug=event.slug) == ()
    assert _audit(world.engine, "event.updated") == []


def test_a_time_stored_with_seconds_is_unchanged_by_the_same_minute_and_changed_by_another(world: World) -> None:
    precise = datetime(2031, 5, 1, 10, 30, 45, 123456, tzinfo=UTC)  # as the shell or the demo may store it
    assert _update(world, world.alice, closes_at=precise) == ("closes_at",)
    assert _update(world, world.alice, closes_at=precise.replace(second=0, microsecond=0)) == ()
    assert _event(world.engine, world.alices_event).closes_at == precise
    assert _update(world, world.alice, closes_at=datetime(2031, 5, 1, 10, 31, tzinfo=UTC)) == ("closes_at",)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("slug", "Alice Event", "lower-case letters"),
    ("slug", "-alice", "lower-case letters"),
    ("slug", "bobs-event", "already taken"),
    ("title", "   ", "Give the event a title"),
    ("title", "x" * 201, "at most 200"),
    ("description", "x" * 20_001, "at most 20,000"),
    ("closed_message", "x" * 2_001, "at most 2,000"),
    ("accent_colour", "red", "#3b5bdb"),
    ("accent_colour", "#fff", "#3b5bdb"),
    ("accent_colour", "#12345g", "#3b5bdb"),
    ("accent_colour", "#123456;}</style><script>", "#3b5bdb"),
    ("timezone", "Mars/Olympus_Mons", "time zone"),
    ("timezone", "../../../etc/passwd", "time zone"),
    ("phone_region", "XX", "region"),
    ("retention_days", -1, "0 to 3650"),
    ("retention_days", 3651, "0 to 3650"),
    ("retention_days", True, "0 to 3650"),
    ("retention_days", "30", "0 to 3650"),
    ("opens_at", datetime(2027, 6, 1, 9, 0), "time zone"),
    ("ends_at", "2027-06-01", "time zone"),
])
def test_a_bad_setting_is_refused_with_a_message_for_that_field(world: World, field: str, value: object,
                                                                 message: str) -> None:
    before = _event(world.engine, world.alices_event)
    errors = _errors(world, **{field: value})
    assert list(errors) == [field]
    assert message in errors[field]
    assert getattr(_event(world.engine, world.alices_event), field) == getattr(before, field)


@pytest.mark.parametrize(("changes", "field"), [
    ({"opens_at": NOW, "closes_at": NOW}, "closes_at"),
    ({"opens_at": NOW, "closes_at": NOW - timedelta(hours=1)}, "closes_at"),
    ({"closes_at": NOW, "ends_at": NOW - timedelta(days=1)}, "ends_at"),
    ({"opens_at": NOW, "change_deadline": NOW - timedelta(days=1)}, "change_deadline"),
    ({"ends_at": NOW, "change_deadline": NOW + timedelta(days=1)}, "change_deadline"),
])
def test_dates_in_the_wrong_order_are_refused_beside_the_later_one(world: World, changes: dict[str, Any],
                                                                   field: str) -> None:
    assert list(_errors(world, **changes)) == [field]


def test_date_order_is_checked_against_the_stored_dates_too(world: World) -> None:
    _update(world, world.alice, opens_at=NOW)
    assert list(_errors(world, closes_at=NOW - timedelta(minutes=1))) == ["closes_at"]


def test_several_bad_settings_are_reported_together_and_nothing_is_saved(world: World) -> None:
    errors = _errors(world, title="Fine title", slug="NOT OK", accent_colour="blue", retention_days=9999)
    assert set(errors) == {"slug", "accent_colour", "retention_days"}
    assert _event(world.engine, world.alices_event).title != "Fine title"


def test_dates_are_stored_in_utc_and_shown_in_the_events_time_zone(world: World) -> None:
    opens = local_to_utc(datetime(2027, 7, 1, 9, 0), "Europe/Berlin")
    closes = local_to_utc(datetime(2027, 7, 3, 18, 30), "Europe/Berlin")
    _update(world, world.alice, timezone="Europe/Berlin", opens_at=opens, closes_at=closes, ends_at=closes,
            change_deadline=closes)
    event = _event(world.engine, world.alices_event)
    assert event.opens_at == datetime(2027, 7, 1, 7, 0, tzinfo=UTC)
    assert event.opens_at is not None and event.opens_at.utcoffset() == timedelta(0)
    with read_only(world.engine) as session:
        settings = get_event_for_edit(session, world.alice, world.alices_event)
    assert settings.local(settings.opens_at) == datetime(2027, 7, 1, 9, 0)
    assert settings.local(settings.closes_at) == datetime(2027, 7, 3, 18, 30)
    assert settings.local(None) is None


def test_a_date_can_be_cleared(world: World) -> None:
    _update(world, world.alice, closes_at=NOW)
    assert _update(world, world.alice, closes_at=None) == ("closes_at",)
    assert _event(world.engine, world.alices_event).closes_at is None


# --- publishing, archiving, header image ---

def test_publishing_shows_the_event_to_attendees_and_unpublishing_hides_it_again(world: World) -> None:
    with unit_of_work(world.engine) as session:
        assert publish_event(session, world.alice, world.alices_event)
        assert not publish_event(session, world.alice, world.alices_event)
    with read_only(world.engine) as session:
        assert load_public_event(session, "alices-event", utcnow()).title == "Event alices-event"
    with unit_of_work(world.engine) as session:
        assert unpublish_event(session, world.alice, world.alices_event)
    with pytest.raises(NotFound), read_only(world.engine) as session:
        load_public_event(session, "alices-event", utcnow())
    assert [e.action for e in _audit(world.engine) if e.action.startswith("event.")] == [
        "event.published", "event.unpublished"]


def test_an_event_taking_orders_cannot_be_archived(world: World) -> None:
    with unit_of_work(world.engine) as session:
        publish_event(session, world.alice, world.alices_event)
    with pytest.raises(DomainError, match="taking orders"), unit_of_work(world.engine) as session:
        archive_event(session, world.alice, world.alices_event)
    assert _event(world.engine, world.alices_event).archived_at is None


def test_archiving_hides_an_event_from_the_picker_until_it_is_unarchived(world: World) -> None:
    with unit_of_work(world.engine) as session:
        archive_event(session, world.alice, world.alices_event, now=NOW)
    with read_only(world.engine) as session:
        assert list_events(session, world.alice) == []
        [row] = list_event_rows(session, world.alice)
        assert row.state == EventState.ARCHIVED
    with unit_of_work(world.engine) as session:
        unarchive_event(session, world.alice, world.alices_event)
    with read_only(world.engine) as session:
        assert [e.slug for e in list_events(session, world.alice)] == ["alices-event"]
    assert [e.action for e in _audit(world.engine) if e.action.startswith("event.")] == [
        "event.archived", "event.unarchived"]


def test_list_rows_show_each_state_in_local_time(world: World) -> None:
    with unit_of_work(world.engine) as session:
        for slug, attributes in {
            "scheduled": {"opens_at": NOW + timedelta(days=1)},
            "open": {"opens_at": NOW - timedelta(days=1), "closes_at": NOW + timedelta(days=1)},
            "closed": {"closes_at": NOW - timedelta(days=1), "change_deadline": NOW + timedelta(days=1)},
            "fulfilment": {"closes_at": NOW - timedelta(days=1)},
            "purged": {"closes_at": NOW - timedelta(days=9), "purged_at": NOW - timedelta(days=1)},
        }.items():
            make_member(session, make_event(session, slug=slug, timezone="America/New_York", **attributes),
                        world.alice)
    with read_only(world.engine) as session:
        rows = {row.slug: row for row in list_event_rows(session, world.alice, now=NOW)}
    assert {slug: row.state for slug, row in rows.items()} == {
        "alices-event": EventState.DRAFT, "scheduled": EventState.SCHEDULED, "open": EventState.OPEN,
        "closed": EventState.CLOSED, "fulfilment": EventState.FULFILMENT, "purged": EventState.PURGED}
    assert rows["scheduled"].opens == datetime(2027, 6, 2, 8, 0)  # 12:00 UTC is 08:00 in New York in June


def test_a_header_image_is_stored_cleaned_and_can_be_removed(world: World) -> None:
    upload = image_bytes((3000, 600), image_format="JPEG") + b"<script>alert(1)</script>"
    with unit_of_work(world.engine) as session:
        set_header_image(session, world.alice, world.alices_event, upload)
    with read_only(world.engine) as session:
        settings = get_event_for_edit(session, world.alice, world.alices_event)
    assert settings.header_image_type == "image/jpeg"
    assert settings.header_image is not None and b"<script>" not in settings.header_image
    [entry] = _audit(world.engine, "event.image_changed")
    assert entry.details == {"type": "image/jpeg", "bytes": len(settings.header_image)}

    with pytest.raises(SchemaError), unit_of_work(world.engine) as session:
        set_header_image(session, world.alice, world.alices_event, b"<html>not an image</html>")
    with read_only(world.engine) as session:
        assert get_event_for_edit(session, world.alice, world.alices_event).header_image == settings.header_image

    with unit_of_work(world.engine) as session:
        set_header_image(session, world.alice, world.alices_event, None)
    with read_only(world.engine) as session:
        kept = get_event_for_edit(session, world.alice, world.alices_event)
    assert (kept.header_image, kept.header_image_type) == (None, None)
    assert _audit(world.engine, "event.image_changed")[-1].details == {"removed": True}


# --- members ---

def test_an_added_organiser_may_edit_the_event_and_loses_access_when_removed(world: World) -> None:
    with unit_of_work(world.engine) as session:
        add_member(session, world.alice, world.alices_event, " BOB ")
    _update(world, world.bob, title="Edited by Bob")
    with read_only(world.engine) as session:
        members = get_event_for_edit(session, world.bob, world.alices_event).members
    assert [m.username for m in members] == ["alice", "bob"]
    with unit_of_work(world.engine) as session:
        remove_member(session, world.alice, world.alices_event, "bob")
    with pytest.raises(PermissionDenied):
        _update(world, world.bob, title="Edited by Bob again")
    assert [(e.action, e.subject) for e in _audit(world.engine) if e.action.startswith("event.member")] == [
        ("event.member_added", "user:bob"), ("event.member_removed", "user:bob")]


def test_adding_an_unknown_or_existing_organiser_is_refused(world: World) -> None:
    with pytest.raises(NotFound, match="no user 'nobody'"), unit_of_work(world.engine) as session:
        add_member(session, world.alice, world.alices_event, "nobody")
    with pytest.raises(EventValidationError) as caught, unit_of_work(world.engine) as session:
        add_member(session, world.alice, world.alices_event, "alice")
    assert list(caught.value.errors) == ["username"]


def test_the_last_organiser_cannot_be_removed(world: World) -> None:
    with pytest.raises(DomainError, match="at least one organiser"), unit_of_work(world.engine) as session:
        remove_member(session, world.alice, world.alices_event, "alice")
    with read_only(world.engine) as session:
        assert session.get(EventMember, (world.alices_event, world.alice.user_id)) is not None


# --- who may do what ---

SERVICES: dict[str, Callable[[Session, Actor, int], object]] = {
    "get_event_for_edit": lambda s, a, e: get_event_for_edit(s, a, e),
    "update_event": lambda s, a, e: update_event(s, a, e, EventChanges(title="Taken over")),
    "publish_event": lambda s, a, e: publish_event(s, a, e),
    "unpublish_event": lambda s, a, e: unpublish_event(s, a, e),
    "archive_event": lambda s, a, e: archive_event(s, a, e),
    "unarchive_event": lambda s, a, e: unarchive_event(s, a, e),
    "set_header_image": lambda s, a, e: set_header_image(s, a, e, image_bytes()),
    "remove_header_image": lambda s, a, e: set_header_image(s, a, e, None),
    "add_member": lambda s, a, e: add_member(s, a, e, "bob"),
    "remove_member": lambda s, a, e: remove_member(s, a, e, "alice"),
    "event_dashboard": lambda s, a, e: event_dashboard(s, a, e),
}


@pytest.mark.parametrize("service", SERVICES)
def test_an_organiser_can_neither_read_nor_change_another_organisers_event(world: World, service: str) -> None:
    before = _event(world.engine, world.alices_event)
    with pytest.raises(PermissionDenied), unit_of_work(world.engine) as session:
        SERVICES[service](session, world.bob, world.alices_event)
    after = _event(world.engine, world.alices_event)
    assert (after.title, after.published, after.archived_at, after.header_image_type) == (
        before.title, before.published, before.archived_at, before.header_image_type)
    with read_only(world.engine) as session:
        assert session.get(EventMember, (world.alices_event, world.bob.user_id)) is None
    assert [e.action for e in _audit(world.engine) if e.action.startswith("event.")] == []


@pytest.mark.parametrize("service", SERVICES)
def test_nobody_logged_in_can_use_any_event_service(world: World, service: str) -> None:
    with pytest.raises(PermissionDenied, match="log in"), unit_of_work(world.engine) as session:
        SERVICES[service](session, None, world.alices_event)  # type: ignore[arg-type]


def test_an_organiser_cannot_probe_which_event_ids_exist(world: World) -> None:
    for event_id in (world.bobs_event, 999_999):
        with pytest.raises(PermissionDenied), read_only(world.engine) as session:
            get_event_for_edit(session, world.alice, event_id)
    with pytest.raises(NotFound), read_only(world.engine) as session:
        get_event_for_edit(session, world.admin, 999_999)


def test_an_admin_may_manage_any_event(world: World) -> None:
    with unit_of_work(world.engine) as session:
        update_event(session, world.admin, world.bobs_event, EventChanges(title="Checked by admin"))
        add_member(session, world.admin, world.bobs_event, "alice")
    assert _event(world.engine, world.bobs_event).title == "Checked by admin"
    assert _audit(world.engine, "event.updated")[0].actor == "root"


def test_audit_entries_of_event_services_hold_no_attendee_data(world: World) -> None:
    with unit_of_work(world.engine) as session:
        publish_event(session, world.alice, world.alices_event)
        event = session.get(Event, world.alices_event)
        assert event is not None
        make_order(session, event, [{"item": "breakfast", "options": {}, "quantity": 1}], key="k1",
                   name="Grace Hopper", email="grace@example.com", phone="+44 20 7946 0958",
                   delivery={"street": "1 Navy Way", "city": "Arlington", "postcode": "SW1A 1AA",
                             "country": "United Kingdom"})
    with unit_of_work(world.engine) as session:
        for service in ("update_event", "set_header_image", "add_member", "unpublish_event", "archive_event",
                        "unarchive_event", "publish_event", "remove_header_image", "remove_member"):
            SERVICES[service](session, world.alice, world.alices_event)
    entries = [e for e in _audit(world.engine) if e.action.startswith("event.")]
    assert len(entries) == 10  # the first publish, then one per service
    written = json.dumps([[e.actor, e.action, e.subject, e.details] for e in entries])
    for personal in ("Grace", "Hopper", "grace@example.com", "7946", "Navy", "Arlington", "SW1A"):
        assert personal not in written


def test_only_the_events_organisers_preview_it_as_open_whatever_its_state(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        draft = make_shop(session, slug="draft", published=False, opens_at=NOW + timedelta(days=30))
        olga = make_user(session, "olga", member_of=[draft])
        stranger = make_user(session, "mallory")
        admin = make_user(session, "root", role=UserRole.ADMIN)
    with read_only(engine) as session:
        with pytest.raises(NotFound):
            load_public_event(session, "draft", NOW)  # attendees: no such event
        for actor in (olga, admin):
            shown = preview_event(session, actor, "draft", NOW)
            assert shown.event.phase == EventPhase.OPEN and shown.event.form is not None
            assert [item.key for item in shown.event.catalogue] == ["tshirt", "hoodie", "breakfast"]
        for actor, slug in ((stranger, "draft"), (olga, "no-such-event"), (olga, "../etc")):
            with pytest.raises(NotFound, match="There is no event at this address."):
                preview_event(session, actor, slug, NOW)


def test_dates_picked_in_the_event_zone_become_utc_and_each_bad_one_is_named() -> None:
    moments = moments_from_local({"opens_at": (date(2027, 7, 1), time(9, 30)), "ends_at": (date(2027, 7, 3), None),
                                  "closes_at": (None, None)}, "Europe/Berlin")
    assert moments == {"opens_at": datetime(2027, 7, 1, 7, 30, tzinfo=UTC),
                       "ends_at": datetime(2027, 7, 2, 22, 0, tzinfo=UTC), "closes_at": None}
    with pytest.raises(EventValidationError) as refused:
        moments_from_local({"opens_at": (None, time(9, 0)), "closes_at": (None, time(10, 0))}, "Europe/Berlin")
    assert sorted(refused.value.errors) == ["closes_at", "opens_at"]
