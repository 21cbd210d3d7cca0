"""The smaller points of issue 13 through AppTest: what organisers read on the Items, Events, Vendors, Audit log,
Outbox and Dashboard screens."""

from __future__ import annotations

import colorsys
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core import audit
from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, Item, MessageKind, Variant, utcnow
from core.outbox import enqueue_message
from tests.factories import make_event, make_shop, make_user
from tests.factories.events import make_member
from tests.factories.orders import place
from tests.pages.conftest import AppFactory, render_page

_items_page = partial(render_page, "items_page")


def _organiser_of_shop(engine: Engine, **event_attributes: Any) -> tuple[Actor, int]:
    with unit_of_work(engine) as session:
        alice = make_user(session, "alice")
        event = make_shop(session, **event_attributes)
        make_member(session, event, alice)
        return alice, event.id


def _stock(engine: Engine, variant_key: str) -> int | None:
    with read_only(engine) as session:
        return session.scalars(select(Variant.stock).join(Item).where(Item.key == "tshirt",
                                                                       Variant.key == variant_key)).one()


def _edit_stock(at: AppTest, row: int, value: object) -> AppTest:
    at.session_state[at.data_editor[0].key] = {"edited_rows": {row: {"Stock": value}}, "added_rows": [],
                                               "deleted_rows": []}
    return at.run()


# --- Items ------------------------------------------------------------------------------------------------------


def test_unlimited_stock_reads_unlimited_not_none(engine: Engine) -> None:
    alice, _ = _organiser_of_shop(engine)
    at = _items_page(alice)
    table = at.data_editor[0]
    assert table.value["Stock"].isna().all()  # the shop's t-shirts have no stock limit
    assert table.proto.placeholder == "Unlimited"  # what an empty Stock or Left cell shows


def test_a_stock_typed_in_the_variants_table_is_saved_as_typed(engine: Engine) -> None:
    alice, _ = _organiser_of_shop(engine)
    # A column that held no number yet hands over what was typed as it came from the browser.
    at = _edit_stock(_items_page(alice), 1, 20)
    assert _stock(engine, "Fitted/M") == 20
    at = _edit_stock(at, 2, "20")
    assert _stock(engine, "Fitted/L") == 20
    assert not at.error


def test_a_stock_that_is_not_a_whole_number_is_refused_not_rounded(engine: Engine) -> None:
    alice, _ = _organiser_of_shop(engine)
    at = _edit_stock(_items_page(alice), 1, 19.6)
    assert [e.value for e in at.error] == ["T-shirt (Fitted, M): Enter a whole number from 0 to 1000000, or nothing."]
    assert _stock(engine, "Fitted/M") is None  # not 19


# --- Events -----------------------------------------------------------------------------------------------------


def test_the_time_inputs_have_labels_of_their_own(engine: Engine) -> None:
    alice, _ = _organiser_of_shop(engine, published=False)
    at = render_page("events_page", alice)
    labels = [t.label for t in at.time_input]
    assert labels == ["Orders open (time)", "Orders close (time)", "Attendees may change orders until (time)",
                      "Batch vendors get their list (time)", "The event ends (time)"]


# --- Vendors ----------------------------------------------------------------------------------------------------


def _vendors_text(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("caption", "info") for e in getattr(at, kind))


def test_the_vendors_page_says_the_fields_come_from_the_saved_form_and_shows_the_cutoff(engine: Engine) -> None:
    cutoff = datetime(2027, 6, 10, 17, 0, tzinfo=UTC)
    alice, _ = _organiser_of_shop(engine, timezone="Europe/Berlin", vendor_cutoff_at=cutoff)
    text = _vendors_text(render_page("vendors_page", alice))
    assert "come from this event's saved form" in text
    assert "at the cutoff: Thu 10 Jun 2027, 19:00 (Europe/Berlin)" in text  # Berlin's summer time


def test_the_vendors_page_says_why_may_see_is_empty_before_a_form_is_saved(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        alice = make_user(session, "alice")
        make_member(session, make_event(session, form=None), alice)
    text = _vendors_text(render_page("vendors_page", alice))
    assert "no saved form yet" in text
    assert "no cutoff is set" in text


# --- Audit log --------------------------------------------------------------------------------------------------


def test_audit_details_are_key_value_text_and_expand_in_full(engine: Engine) -> None:
    long_list = [f"field_{number}" for number in range(40)]
    with unit_of_work(engine) as session:
        event = make_event(session)
        alice = make_user(session, "alice", member_of=[event])
        audit.record(session, alice, "event.updated", event=event, subject="event:test-event",
                     details={"fields": long_list, "old_stock": None, "new_stock": 20})
    at = render_page("audit_page", alice)
    [table] = at.dataframe
    details = table.value["details"].tolist()[0]
    assert details.startswith("fields: field_0, field_1")
    assert "new stock: 20; old stock: none" in details
    assert "{" not in details and '"' not in details
    # Selecting the row opens the details in full, one "key: value" per line.
    at.session_state["audit.table.1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at = at.run()
    [expanded] = at.expander
    text = "\n".join(t.value for t in expanded.text)
    assert text.splitlines() == [f"fields: {', '.join(long_list)}", "new stock: 20", "old stock: none"]


# --- Outbox -----------------------------------------------------------------------------------------------------


def test_the_outbox_shows_when_each_message_was_queued_first(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session)
        alice = make_user(session, "alice", member_of=[event])
        enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=["ada@example.org"], subject="Hi",
                        body_text="Hello", event_id=event.id)
    at = render_page("outbox_page", alice, event_id=event.id)
    [table] = at.dataframe
    assert list(table.proto.column_order)[0] == "created_at"
    columns = json.loads(table.proto.columns)
    assert columns["created_at"]["label"] == "Queued at"


# --- Dashboard --------------------------------------------------------------------------------------------------


def _charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def test_one_day_of_orders_is_charted_per_hour_not_as_one_bar(engine: Engine) -> None:
    alice, event_id = _organiser_of_shop(engine)
    with unit_of_work(engine) as session:
        event = session.get_one(Event, event_id)
        morning = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
        place(session, event, "a", now=morning)
        place(session, event, "b", now=morning + timedelta(hours=3))
    at = render_page("dashboard_page", alice)
    assert "Orders per hour (UTC)" in [h.value for h in at.subheader]
    per_hour = _charts(at)[1]
    assert per_hour["encoding"]["x"]["field"] == "Hour"


def test_variants_are_charted_in_neutral_colours_never_red(engine: Engine) -> None:
    alice, event_id = _organiser_of_shop(engine)
    with unit_of_work(engine) as session:
        event = session.get_one(Event, event_id)
        for number, (cut, size) in enumerate((("Fitted", "S"), ("Fitted", "M"), ("Fitted", "L"), ("Straight", "M"))):
            place(session, event, f"k{number}",
                  items=[{"item": "tshirt", "options": {"type": cut, "size": size}, "quantity": 1}])
    at = render_page("dashboard_page", alice)
    items_chart = _charts(at)[0]
    swatches = items_chart["encoding"]["color"]["scale"]["range"]
    assert len(swatches) >= 4
    for swatch in swatches:
        red, green, blue = (int(swatch[i:i + 2], 16) / 255 for i in (1, 3, 5))
        hue, _, saturation = colorsys.rgb_to_hls(red, green, blue)
        # Reds, oranges and yellows (hue under 70 degrees or over 330) only when greyish.
        assert saturation < 0.15 or 70 / 360 <= hue <= 330 / 360, swatch


def test_a_process_freezes_its_start_up_heap_after_its_first_whole_run(app: AppFactory) -> None:
    """Python's full collections then skip what the start loaded (ui/runtime.py, freeze_startup_heap)."""
    import gc

    from ui import runtime

    gc.unfreeze()  # as a process that has not run the app yet
    runtime._startup_heap_frozen.clear()
    try:
        assert gc.get_freeze_count() == 0
        app(None)
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the app's modules, the engine and the caches at least
        app(None)
        assert gc.get_freeze_count() <= frozen  # once per process: a second freeze would add this run's objects
    finally:
        gc.unfreeze()  # the rest of the test run collects as before
