"""The Events page through AppTest: list, create, edit with errors beside inputs, image, members; the accent colour."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time
from functools import partial

from PIL import Image
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Node

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, EventMember
from tests.factories import make_event, make_shop, make_user
from tests.factories.events import image_bytes, make_member
from tests.markup_checks import live_addresses
from tests.pages.conftest import click, render_page

_events_page = partial(render_page, "events_page")


def _organiser_with_event(engine: Engine, username: str = "alice", slug: str = "alices-event") -> tuple[Actor, int]:
    with unit_of_work(engine) as session:
        actor = make_user(session, username)
        event = make_shop(session, slug=slug, published=False, title=f"{username.title()}'s event")
        make_member(session, event, actor)
        return actor, event.id


def _next_to(at: AppTest, key: str) -> Node | None:
    """The element drawn right after the widget `key` (or after the columns holding it), in the same container."""
    def search(block: Block) -> Node | None:
        children = list(block.children.values())
        for index, child in enumerate(children):
            holds_key = getattr(child, "key", None) == key or (
                isinstance(child, Block) and child.type == "flex_container" and any(
                    getattr(node, "key", None) == key for column in child.children.values()
                    if isinstance(column, Block) for node in column.children.values()))
            if holds_key:
                return children[index + 1] if index + 1 < len(children) else None
            if isinstance(child, Block) and (found := search(child)) is not None:
                return found
        return None
    return search(at.main)


def _event(engine: Engine, event_id: int) -> Event:
    with read_only(engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event


def test_the_page_refuses_an_anonymous_session(engine: Engine) -> None:
    _organiser_with_event(engine)
    at = _events_page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.title and not at.dataframe and not at.text_input and not at.button


def test_the_list_shows_only_the_organisers_own_events_with_their_state(engine: Engine) -> None:
    alice, _ = _organiser_with_event(engine)
    _organiser_with_event(engine, "bob", "bobs-event")
    at = _events_page(alice)
    assert not at.exception
    table = at.dataframe[0].value
    assert table[["title", "slug", "state"]].values.tolist() == [["Alice's event", "alices-event", "draft"]]
    assert at.sidebar.selectbox(key="organiser.event_id").options == ["Alice's event"]


def test_an_organiser_creates_an_event_which_becomes_the_chosen_one(engine: Engine) -> None:
    alice, _ = _organiser_with_event(engine)
    at = _events_page(alice)
    at.text_input(key="events.new.slug").input("winter-fair")
    at.text_input(key="events.new.title").input("Winter Fair")
    at = click(at, "Create event")
    assert not at.exception
    with read_only(engine) as session:
        event = session.scalars(select(Event).where(Event.slug == "winter-fair")).one()
        assert session.get(EventMember, (event.id, alice.user_id)) is not None
    assert at.sidebar.selectbox(key="organiser.event_id").value == event.id
    assert at.header[0].value == "Winter Fair"
    assert "Created" in at.success[0].value
    assert at.text_input(key="events.new.slug").value == ""


def test_a_bad_slug_is_shown_beside_the_slug_input_and_nothing_is_created(engine: Engine) -> None:
    alice, _ = _organiser_with_event(engine)
    at = _events_page(alice)
    at.text_input(key="events.new.slug").input("Winter Fair!")
    at.text_input(key="events.new.title").input("Winter Fair")
    at = click(at, "Create event")
    beside = _next_to(at, "events.new.slug")
    assert beside is not None and beside.type == "error"
    assert "lower-case letters" in beside.value
    assert at.text_input(key="events.new.title").value == "Winter Fair"  # kept for the next try
    with read_only(engine) as session:
        assert session.scalars(select(Event.slug)).all() == ["alices-event"]


def test_saving_details_stores_local_times_as_utc(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    prefix = f"event.{event_id}.input"
    at.text_input(key=f"{prefix}.title").input("  Alice's Gala ")
    at.color_picker(key=f"{prefix}.accent_colour").pick("#AA3300")
    at.selectbox(key=f"{prefix}.timezone").select("Europe/Berlin")
    at.date_input(key=f"{prefix}.opens_at.date").set_value(date(2027, 7, 1))
    at.time_input(key=f"{prefix}.opens_at.time").set_value(time(9, 0))
    at.date_input(key=f"{prefix}.closes_at.date").set_value(date(2027, 7, 3))
    at.number_input(key=f"{prefix}.retention_days").set_value(14)
    at = click(at, "Save details")
    assert not at.exception
    event = _event(engine, event_id)
    assert (event.title, event.accent_colour, event.timezone, event.retention_days) == (
        "Alice's Gala", "#aa3300", "Europe/Berlin", 14)
    assert event.opens_at == datetime(2027, 7, 1, 7, 0, tzinfo=UTC)
    assert event.closes_at == datetime(2027, 7, 2, 22, 0, tzinfo=UTC)  # midnight in Berlin
    assert _next_to(at, f"event.{event_id}.save").value == "Saved."  # type: ignore[union-attr]
    assert at.text_input(key=f"{prefix}.title").value == "Alice's Gala"  # inputs show what was stored


def test_the_batch_vendors_cutoff_is_set_with_the_other_dates_and_checked_against_them(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    prefix = f"event.{event_id}.input"
    at.selectbox(key=f"{prefix}.timezone").select("Europe/Berlin")
    at.date_input(key=f"{prefix}.opens_at.date").set_value(date(2027, 7, 1))
    at.date_input(key=f"{prefix}.vendor_cutoff_at.date").set_value(date(2027, 6, 30))
    at = click(at, "Save details")
    beside = _next_to(at, f"{prefix}.vendor_cutoff_at.date")
    assert beside is not None and beside.value == "Vendor lists cannot be sent before orders open."
    assert _event(engine, event_id).vendor_cutoff_at is None
    at.date_input(key=f"{prefix}.vendor_cutoff_at.date").set_value(date(2027, 7, 4))
    at.time_input(key=f"{prefix}.vendor_cutoff_at.time").set_value(time(18, 0))
    at = click(at, "Save details")
    assert not at.exception
    assert _event(engine, event_id).vendor_cutoff_at == datetime(2027, 7, 4, 16, 0, tzinfo=UTC)


def test_bad_details_are_shown_beside_their_inputs_and_nothing_is_saved(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    _organiser_with_event(engine, "bob", "bobs-event")
    at = _events_page(alice)
    prefix = f"event.{event_id}.input"
    at.text_input(key=f"{prefix}.title").input("")
    at.text_input(key=f"{prefix}.slug").input("bobs-event")
    at.date_input(key=f"{prefix}.opens_at.date").set_value(date(2027, 7, 3))
    at.date_input(key=f"{prefix}.closes_at.date").set_value(date(2027, 7, 1))
    at.time_input(key=f"{prefix}.ends_at.time").set_value(time(18, 0))
    at = click(at, "Save details")
    assert not at.exception
    beside_time = _next_to(at, f"{prefix}.ends_at.time")
    assert beside_time is not None and beside_time.value == "Choose a date as well as a time."
    at.time_input(key=f"{prefix}.ends_at.time").set_value(None)
    at = click(at, "Save details")
    messages = {name: _next_to(at, key) for name, key in [
        ("title", f"{prefix}.title"), ("slug", f"{prefix}.slug"), ("closes_at", f"{prefix}.closes_at.date")]}
    assert {name: getattr(node, "type", None) for name, node in messages.items()} == {
        "title": "error", "slug": "error", "closes_at": "error"}
    assert "already taken" in messages["slug"].value  # type: ignore[union-attr]
    assert "close after they open" in messages["closes_at"].value  # type: ignore[union-attr]
    event = _event(engine, event_id)
    assert (event.title, event.slug, event.opens_at) == ("Alice's event", "alices-event", None)


def test_the_description_preview_never_renders_raw_html(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    at.text_area(key=f"event.{event_id}.input.description").input("**Hello** <img src=x onerror=alert(1)>").run()
    preview = next(m for m in at.markdown if "Hello" in m.value)
    assert preview.proto.allow_html is False


def test_the_description_preview_renders_no_unsafe_link(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    at.text_area(key=f"event.{event_id}.input.description").input(
        "**Hello** [site](https://example.org) [d](data:text/html,<script>alert(1)</script>) [r][x]\n\n"
        "[x]: javascript:alert(1)").run()
    preview = next(m for m in at.markdown if "Hello" in m.value)
    assert live_addresses(preview.value) == ["https://example.org"]


def test_a_header_image_is_uploaded_cleaned_shown_and_removed(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    at.file_uploader(key=f"event.{event_id}.image.0").set_value(
        ("header.png", image_bytes((3000, 300)) + b"<script>alert(1)</script>", "image/png")).run()
    assert not at.exception
    with read_only(engine) as session:
        stored = session.scalars(select(Event.header_image).where(Event.id == event_id)).one()
    assert stored is not None and b"<script>" not in stored
    assert Image.open(io.BytesIO(stored)).size == (2400, 240)
    assert len(at.get("image")) == 1
    assert at.file_uploader(key=f"event.{event_id}.image.1").value is None  # a fresh, empty uploader

    at.file_uploader(key=f"event.{event_id}.image.1").set_value(("evil.gif", b"GIF89a<html>", "image/gif")).run()
    assert "not a PNG, JPEG, WebP or GIF" in _next_to(at, f"event.{event_id}.image.1").value  # type: ignore[union-attr]
    at = click(at, "Remove image")
    assert _event(engine, event_id).header_image_type is None
    assert len(at.get("image")) == 0


def test_the_published_toggle_publishes_and_unpublishes(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    at.toggle(key=f"event.{event_id}.input.published").set_value(True).run()
    assert _event(engine, event_id).published
    at.toggle(key=f"event.{event_id}.input.published").set_value(False).run()
    assert not _event(engine, event_id).published


def test_an_open_event_cannot_be_archived_but_a_draft_can(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    at.toggle(key=f"event.{event_id}.input.published").set_value(True).run()
    at = click(at, "Archive")
    assert "taking orders" in at.error[0].value
    assert _event(engine, event_id).archived_at is None
    at.toggle(key=f"event.{event_id}.input.published").set_value(False).run()
    at = click(at, "Archive")
    assert _event(engine, event_id).archived_at is not None
    assert [b.label for b in at.button if b.label.startswith("Unarchive")] == ["Unarchive Alice's event"]
    at = click(at, "Unarchive Alice's event")
    assert _event(engine, event_id).archived_at is None


def test_organisers_are_added_by_username_with_errors_beside_the_input(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    with unit_of_work(engine) as session:
        make_user(session, "carol")
    at = _events_page(alice)
    at.text_input(key=f"event.{event_id}.input.username").input("nobody")
    at = click(at, "Add organiser")
    beside = _next_to(at, f"event.{event_id}.input.username")
    assert beside is not None and beside.type == "error" and "no user 'nobody'" in beside.value
    at.text_input(key=f"event.{event_id}.input.username").input("carol")
    at = click(at, "Add organiser")
    with read_only(engine) as session:
        members = session.scalars(select(EventMember.user_id).where(EventMember.event_id == event_id)).all()
    assert len(members) == 2
    assert [b.key for b in at.button if b.label == "Remove"] == [
        f"event.{event_id}.member.alice", f"event.{event_id}.member.carol"]


def test_the_public_page_shows_primary_buttons_in_the_events_accent_colour(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, accent_colour="#ffdd00")
    at = render_page("order_page", query={"event": "test-event"})
    assert not at.exception
    [style] = [h.proto.body for h in at.html]
    assert "stBaseButton-primary" in style
    assert "background-color: #ffdd00" in style and "color: #000000" in style  # dark text on yellow


def test_an_invalid_stored_colour_never_reaches_the_page(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        # Written past the validation, as an old row or a bad import could be (the column holds 7 characters).
        make_event(session, slug="bad-colour", accent_colour="}</styl")
    at = render_page("order_page", query={"event": "bad-colour"})
    assert not at.exception
    assert at.title[0].value == "Event bad-colour"
    assert [h.proto.body for h in at.html] == []


def test_the_sold_out_and_one_order_per_email_settings_are_saved(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice)
    prefix = f"event.{event_id}.input"
    at.toggle(key=f"{prefix}.close_when_sold_out").set_value(True)
    at.toggle(key=f"{prefix}.one_order_per_email").set_value(True)
    at = click(at, "Save details")
    assert not at.exception
    event = _event(engine, event_id)
    assert (event.close_when_sold_out, event.one_order_per_email) == (True, True)
    assert at.toggle(key=f"{prefix}.close_when_sold_out").value  # the input shows what was stored


def test_the_title_comes_first_and_suggests_a_free_address_name(engine: Engine) -> None:
    alice, _ = _organiser_with_event(engine)
    at = _events_page(alice)
    new_event = [w.label for w in at.text_input if str(w.key).startswith("events.new.")]
    assert new_event == ["Title", "Address name"]
    at.text_input(key="events.new.title").input("Alice's Event").run()
    assert at.text_input(key="events.new.slug").value == "alices-event-2"  # "alices-event" is taken
    at.text_input(key="events.new.title").input("Alice's Winter Event").run()
    assert at.text_input(key="events.new.slug").value == "alices-winter-event"  # still following the title
    at.text_input(key="events.new.slug").input("winter").run()
    at.text_input(key="events.new.title").input("Alice's Winter Gala").run()
    assert at.text_input(key="events.new.slug").value == "winter"  # the organiser's own choice stays
    at = click(at, "Create event")
    with read_only(engine) as session:
        assert session.scalars(select(Event.title).where(Event.slug == "winter")).one() == "Alice's Winter Gala"


def test_duplicating_the_chosen_event_makes_a_draft_copy_and_chooses_it(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice, event_id=event_id)
    at.text_input(key="events.copy.title").input("Alice's event 2028").run()
    assert at.text_input(key="events.copy.slug").value == "alices-event-2028"
    at = click(at, "Duplicate")
    assert not at.exception
    assert "Duplicated. The copy is a draft" in at.success[0].value
    with read_only(engine) as session:
        copy = session.scalars(select(Event).where(Event.slug == "alices-event-2028")).one()
        assert [item.key for item in copy.items] == ["tshirt", "hoodie", "breakfast"]
        assert not copy.published
    assert at.sidebar.selectbox(key="organiser.event_id").value == copy.id
    assert at.header[0].value == "Alice's event 2028"


def test_the_chosen_event_links_to_its_preview(engine: Engine) -> None:
    alice, event_id = _organiser_with_event(engine)
    at = _events_page(alice, event_id=event_id)
    assert "[Preview the public page](/?event=alices-event&preview=1)" in [m.value for m in at.markdown]
