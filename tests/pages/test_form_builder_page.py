"""The form builder page through AppTest: the table, its live preview, saving, and who may see it."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.form_builder import STARTER_FORM
from core.models import FormVersion
from core.orders import place_order
from tests.builder_factories import audit_entries
from tests.factories import BASIC_FORM, answers, make_event, make_shop, make_user
from tests.pages.conftest import render_page

_page = partial(render_page, "form_builder")


def _member_of_shop(engine: Engine, *, with_order: bool = False) -> Actor:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        if with_order:
            place_order(session, event, answers(), idempotency_key="k1")
    return actor


def _edit(at: AppTest, *, edited: dict[int, dict[str, Any]] | None = None,
          added: list[dict[str, Any]] | None = None) -> AppTest:
    """Make cell edits in the table (what the browser would send), then rerun."""
    at.session_state[at.data_editor[0].key] = {"edited_rows": edited or {}, "added_rows": added or [],
                                               "deleted_rows": []}
    return at.run()


def _save(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Save form").click().run()


def _preview_labels(at: AppTest) -> list[str]:
    return [w.label for kind in ("text_input", "text_area", "radio", "checkbox", "selectbox", "number_input")
            for w in getattr(at, kind) if str(w.key).startswith("preview.")]


def _preview_keys(node: Any) -> list[str]:
    """The keys of the preview's inputs in the order the page draws them."""
    keys: list[str] = []
    for child in getattr(node, "children", {}).values():
        if str(getattr(child, "key", "")).startswith("preview."):
            keys.append(child.key)
        keys.extend(_preview_keys(child))
    return keys


def _schemas(engine: Engine) -> list[dict[str, Any]]:
    with read_only(engine) as session:
        return [v.schema for v in session.scalars(select(FormVersion).order_by(FormVersion.number))]


def test_the_stored_form_fills_the_table_and_the_preview(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    assert not at.exception
    table = at.data_editor[0]
    assert table.editing_mode == "dynamic"
    assert list(table.value["key"]) == ["name", "email", "phone", "items", "delivery", "size_note"]
    assert _preview_labels(at) == ["Name *", "Email *", "Phone", "Anything about sizes?", "T-shirt type",
                                   "T-shirt size", "Hoodie size", "T-shirt quantity", "Hoodie quantity",
                                   "Breakfast box quantity"]
    surface = next(m.value for m in at.markdown if m.value.startswith("Personal data collected"))
    assert "Email (To confirm the order)" in surface and "4 fields" in surface
    assert "Version 1. No orders use it yet" in " ".join(c.value for c in at.caption)


def test_the_preview_shows_the_edited_rows_before_anything_is_saved(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = _edit(at, edited={0: {"label": "Your name"}, 2: {"purpose": "", "type": "short_text", "personal": False}},
               added=[{"key": "fit", "label": "Preferred fit", "type": "single_choice", "options": "Fitted, Straight",
                       "position": 1.5}])
    assert not at.exception
    assert _preview_labels(at)[:4] == ["Your name *", "Email *", "Phone", "Anything about sizes?"]
    assert [r.label for r in at.radio if r.key.startswith("preview.")] == ["Preferred fit"]
    assert [r.options for r in at.radio] == [["Fitted", "Straight"]]
    assert _preview_keys(at.main)[:3] == ["preview.name", "preview.fit", "preview.email"]  # sorted by position
    # The surface line follows the edited rows: the phone is no longer personal.
    surface = next(m.value for m in at.markdown if m.value.startswith("Personal data collected"))
    assert "Phone" not in surface and "3 fields" in surface
    assert _schemas(engine) == [BASIC_FORM]


def test_a_show_if_condition_works_in_the_preview(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = _edit(at, added=[{"key": "gift", "label": "Is it a gift?", "type": "checkbox"},
                          {"key": "gift_note", "label": "Gift note", "type": "short_text", "show_if_field": "gift"}])
    assert not at.exception
    assert "Gift note" not in _preview_labels(at)
    at = at.checkbox(key="preview.gift").check().run()
    assert "Gift note" in _preview_labels(at)


def test_saving_an_invalid_table_names_the_row_and_saves_nothing(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = _edit(at, edited={1: {"purpose": ""}})
    # The preview gives way to the problem as soon as the table has one.
    assert any("Row 2 ('email')" in e.value for e in at.error)
    assert _preview_labels(at) == []
    at = _save(at)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors.count("Please fix the form: Row 2 ('email'): collects personal data, so 'purpose' must say why") == 2
    assert not at.success
    assert _schemas(engine) == [BASIC_FORM]
    with read_only(engine) as session:
        assert audit_entries(session, "form.") == []


def test_saving_after_an_order_says_a_new_version_was_made(engine: Engine) -> None:
    at = _page(_member_of_shop(engine, with_order=True))
    assert "Orders were placed with it, so saving creates version 2" in " ".join(c.value for c in at.caption)
    at = _save(_edit(at, edited={5: {"label": "Sizes?"}}))
    assert not at.exception
    assert at.success[0].value == ("Saved as version 2. Orders use version 1, so a new version was created; "
                                   "those orders keep theirs.")
    old, new = _schemas(engine)
    assert old == BASIC_FORM and new["fields"][5]["label"] == "Sizes?"
    # The table starts afresh from what was saved.
    assert at.data_editor[0].value.loc[5, "label"] == "Sizes?"
    assert "Version 2. No orders use it yet" in " ".join(c.value for c in at.caption)


def test_saving_an_unused_form_edits_it_in_place(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = _save(_edit(at, edited={5: {"label": "Sizes?"}}))
    assert at.success[0].value == "Saved as version 1."
    [schema] = _schemas(engine)
    assert schema["fields"][5]["label"] == "Sizes?"


def test_an_anonymous_session_is_refused(engine: Engine) -> None:
    _member_of_shop(engine)
    at = _page(None)
    assert not at.exception
    assert at.warning[0].value == "Please log in to see this page."
    assert not at.data_editor and not at.text_input and not at.markdown


def test_an_organiser_never_sees_another_organisers_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_user(session, "owner", member_of=[make_shop(session)])
        stranger = make_user(session, "stranger")
    at = _page(stranger)
    assert not at.exception
    assert "There are no events yet" in at.info[0].value
    assert not at.data_editor and not at.text_input


def test_an_event_without_a_form_starts_from_an_empty_table(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        actor = make_user(session, member_of=[make_event(session, form=None)])
    at = _page(actor)
    assert "This event has no form yet" in " ".join(c.value for c in at.caption)
    at = _save(_edit(at, added=[{"key": "name", "label": "Name", "type": "short_text", "personal": True,
                                 "purpose": "To label the order."}]))
    assert at.success[0].value == "Saved as version 1."
    assert _schemas(engine) == [{"fields": [{"key": "name", "type": "short_text", "label": "Name", "personal": True,
                                             "purpose": "To label the order."}]}]


def test_a_new_event_can_start_from_the_usual_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        actor = make_user(session, member_of=[make_event(session, form=None)])
    at = _page(actor)
    at.button[0].click().run()
    assert _preview_labels(at)[:2] == ["Full name *", "Email *"]
    assert _schemas(engine) == []  # offered, not saved: the organiser reviews it first
    at = _save(at)
    assert at.success[0].value == "Saved as version 1."
    assert _schemas(engine) == [STARTER_FORM]
    assert not any("usual form" in button.label for button in at.button)


def test_discarding_changes_brings_back_the_saved_form(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = _edit(at, edited={0: {"label": "Your name"}})
    assert "Your name *" in _preview_labels(at)
    at = next(b for b in at.button if b.label == "Discard changes").click().run()
    assert not at.exception
    assert "Your name *" not in _preview_labels(at) and "Name *" in _preview_labels(at)
    assert at.data_editor[0].value.loc[0, "label"] == "Name"


def test_a_form_saved_elsewhere_meanwhile_is_pointed_out(engine: Engine) -> None:
    actor = _member_of_shop(engine)
    at = _page(actor)
    assert not at.info
    with unit_of_work(engine) as session:
        session.scalars(select(FormVersion)).one().schema = {"fields": BASIC_FORM["fields"][:2]}
    at = at.run()
    assert "The saved form changed since you started editing here" in at.info[0].value
    assert list(at.data_editor[0].value["key"]) == ["name", "email", "phone", "items", "delivery", "size_note"]
