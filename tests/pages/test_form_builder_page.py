"""The form builder page through AppTest, as an organiser uses it: the list of fields, one open in its editor,
each operation written to the draft at once, errors beside their inputs, the preview, saving and discarding."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.demo import DEMO_FORM
from core.form_builder import STARTER_FORM
from core.form_versions import save_form
from core.forms import FieldType
from core.models import Event, FormDraft, FormVersion
from core.orders import place_order
from tests.factories import BASIC_FORM, answers, make_event, make_shop, make_user
from tests.factories.builder import audit_entries
from tests.pages.conftest import click, render_page

_page = partial(render_page, "form_builder_page")


def _shop(engine: Engine, *, with_order: bool = False) -> tuple[Actor, int]:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        if with_order:
            place_order(session, event, answers(), idempotency_key="k1")
        return actor, event.id


def _rows(at: AppTest) -> list[str]:
    """The list's field buttons, as their labels read ("**Name** :gray[· Short answer]")."""
    return [b.label for b in at.button if str(b.key).startswith("fb-open-")]


def _row_names(at: AppTest) -> list[str]:
    """The fields' labels as the list shows them (Markdown escapes undone)."""
    return [re.sub(r"\\(.)", r"\1", label.split("**")[1]) for label in _rows(at)]


def _open(at: AppTest, label: str) -> AppTest:
    """Click the field labelled `label` in the list (opens it, or closes it when open)."""
    index = _row_names(at).index(label)
    return [b for b in at.button if str(b.key).startswith("fb-open-")][index].click().run()


def _editor(at: AppTest, event_id: int, attribute: str) -> Any:
    """The open field's input for `attribute`."""
    return _widget(at, f"fb.{event_id}.editor.{attribute}")


def _widget(at: AppTest, key: str) -> Any:
    for kind in ("text_input", "number_input", "selectbox", "checkbox", "date_input", "text_area"):
        for widget in getattr(at, kind):
            if widget.key == key:
                return widget
    raise LookupError(key)


def _editor_keys(at: AppTest, event_id: int) -> set[str]:
    prefix = f"fb.{event_id}.editor."
    return {w.key.removeprefix(prefix) for kind in ("text_input", "number_input", "selectbox", "checkbox",
                                                     "date_input") for w in getattr(at, kind)
            if str(w.key).startswith(prefix)}


def _preview_labels(at: AppTest) -> list[str]:
    return [w.label for kind in ("text_input", "text_area", "radio", "checkbox", "selectbox", "number_input")
            for w in getattr(at, kind) if str(w.key).startswith("preview.")]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _draft_fields(engine: Engine) -> list[dict[str, Any]] | None:
    with read_only(engine) as session:
        draft = session.scalars(select(FormDraft)).one_or_none()
        return None if draft is None else draft.document["fields"]


def _schemas(engine: Engine) -> list[dict[str, Any]]:
    with read_only(engine) as session:
        return [v.schema for v in session.scalars(select(FormVersion).order_by(FormVersion.number))]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n" + "\n".join(c.value for c in at.caption)


# --- the list and the preview -----------------------------------------------------------------------------------


def test_the_saved_form_shows_as_a_list_with_friendly_types_and_badges_beside_its_preview(engine: Engine) -> None:
    actor, _ = _shop(engine)
    at = _page(actor)
    assert not at.exception
    assert _rows(at) == ["**Name** :gray[· Short answer]", "**Email** :gray[· Email address]",
                         "**Phone** :gray[· Phone number]", "**Items** :gray[· Items to order]",
                         "**Delivery address** :gray[· Postal address]",
                         "**Anything about sizes?** :gray[· Short answer]"]
    assert ":violet-badge[Shown if Items includes Breakfast box]" in _markdown(at)
    assert "short_text" not in " ".join(_rows(at))
    assert _preview_labels(at) == ["Name *", "Email *", "Phone", "Anything about sizes?", "T-shirt type",
                                   "T-shirt size", "Hoodie size", "T-shirt quantity", "Hoodie quantity",
                                   "Breakfast box quantity"]
    assert "Personal data collected: Name (To label the order), Email (To confirm the order)" in _markdown(at)
    assert "Version 1. No orders use it yet" in _markdown(at)
    assert not at.data_editor


def test_one_field_is_open_at_a_time_with_only_the_attributes_of_its_type(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Anything about sizes?")
    assert _editor_keys(at, event_id) == {"label", "type", "required", "help", "min_length", "max_length", "pattern",
                                          "pattern_hint", "personal", "show_if_field", "key"}
    assert _editor(at, event_id, "max_length").value == 50
    assert _editor(at, event_id, "type").value == FieldType.SHORT_TEXT
    at = _open(at, "Email")
    assert _editor_keys(at, event_id) == {"label", "type", "required", "help", "purpose", "key"}
    assert _editor(at, event_id, "purpose").value == "To confirm the order."
    at = _open(at, "Email")  # closes it
    assert _editor_keys(at, event_id) == set()


def test_editing_a_label_writes_the_draft_and_updates_the_list_and_the_preview(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Name")
    at = _editor(at, event_id, "label").set_value("Your name").run()
    assert not at.exception and _errors(at) == []
    assert _row_names(at)[0] == "Your name" and "Your name *" in _preview_labels(at)
    assert _draft_fields(engine)[0]["label"] == "Your name"
    assert ":orange-badge[Unsaved draft] Changed by olga" in _markdown(at)
    assert _schemas(engine) == [BASIC_FORM]  # not saved yet


def test_a_bad_value_shows_its_error_beside_the_input_and_the_preview_keeps_the_last_valid_form(
        engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Anything about sizes?")
    at = _editor(at, event_id, "min_length").set_value(60).run()
    assert _errors(at) == ["The shortest is longer than the longest (50)."]
    assert _editor(at, event_id, "min_length").value == 60  # what was typed stays, to be corrected
    assert _draft_fields(engine) is None
    assert "Anything about sizes?" in _preview_labels(at)
    at = _editor(at, event_id, "max_length").set_value(80).run()
    assert _errors(at) == []
    assert _draft_fields(engine)[5] == {"key": "size_note", "type": "short_text", "label": "Anything about sizes?",
                                        "min_length": 60, "max_length": 80}


def test_a_personal_field_asks_for_its_purpose(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Anything about sizes?")
    assert "purpose" not in _editor_keys(at, event_id)
    at = _editor(at, event_id, "personal").check().run()
    assert _errors(at) == ["Personal data needs a purpose: say why you collect it."]
    at = _editor(at, event_id, "purpose").set_value("To fit your shirt.").run()
    assert _errors(at) == []
    assert _draft_fields(engine)[5]["purpose"] == "To fit your shirt." and _draft_fields(engine)[5]["personal"]
    assert "Anything about sizes? (To fit your shirt)" in _markdown(at)


def test_options_are_a_list_to_add_to_reorder_and_remove_from(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = click(_page(actor), "A choice")
    assert _editor(at, event_id, "label").value == "Choose one"  # the new field is open
    at = _editor(at, event_id, "label").set_value("Pickup point").run()
    at = _editor(at, event_id, "option.0").set_value("North gate").run()
    at = click(at, "Add an option")
    assert _editor(at, event_id, "option.2").value == ""
    at = _editor(at, event_id, "option.2").set_value("Station").run()
    at = click(at, "Move option 3 up")
    at = click(at, "Remove option 3")
    assert not at.exception and _errors(at) == []
    [field] = [f for f in _draft_fields(engine) if f["key"] == "pickup_point"]
    assert field["options"] == ["North gate", "Station"]
    assert [r.options for r in at.radio if r.key == "preview.pickup_point"] == [["North gate", "Station"]]


def test_show_only_if_offers_earlier_fields_then_their_answers(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Anything about sizes?")
    target = _editor(at, event_id, "show_if_field")
    assert target.options == ["Always shown", "Items"]
    at = target.set_value("items").run()
    assert _errors(at) == [] and _draft_fields(engine) is None  # waits for the answer
    answer = _editor(at, event_id, "show_if_value")
    assert answer.options == ["T-shirt", "Hoodie", "Breakfast box"]
    at = answer.set_value("breakfast").run()
    assert _draft_fields(engine)[5]["show_if"] == {"field": "items", "value": "breakfast"}
    assert _markdown(at).count(":violet-badge[Shown if Items includes Breakfast box]") == 2
    assert "Anything about sizes?" not in _preview_labels(at)
    at = at.number_input(key="preview.items.breakfast.0.quantity").set_value(1).run()
    assert "Anything about sizes?" in _preview_labels(at)
    at = _editor(at, event_id, "show_if_field").set_value("").run()  # "Always shown"
    assert "show_if" not in _draft_fields(engine)[5]


def test_changing_the_type_keeps_what_still_applies(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Anything about sizes?")
    at = _editor(at, event_id, "help").set_value("S, M or L").run()
    at = _editor(at, event_id, "type").set_value(FieldType.SINGLE_CHOICE).run()
    assert _errors(at) == []
    assert _draft_fields(engine)[5] == {"key": "size_note", "type": "single_choice", "label": "Anything about sizes?",
                                        "help": "S, M or L", "options": ["Option 1", "Option 2"]}
    assert _editor(at, event_id, "option.1").value == "Option 2"
    assert "max_length" not in _editor_keys(at, event_id)


def test_fields_move_up_and_down_and_not_past_the_edges(engine: Engine) -> None:
    actor, _ = _shop(engine)
    at = _page(actor)
    assert next(b for b in at.button if b.label == "Move 'Name' up").disabled
    assert next(b for b in at.button if b.label == "Move 'Anything about sizes?' down").disabled
    at = click(at, "Move 'Phone' up")
    assert _row_names(at)[:3] == ["Name", "Phone", "Email"]
    at = click(at, "Move 'Name' down")
    assert _row_names(at)[:3] == ["Phone", "Name", "Email"]
    assert [f["key"] for f in _draft_fields(engine)][:3] == ["phone", "name", "email"]
    at = click(at, "Move 'Delivery address' up")
    assert _errors(at) == ["'Delivery address' is shown only depending on 'Items', so it stays below it. "
                           "Change its condition first."]
    assert _row_names(at)[3:5] == ["Items", "Delivery address"]


def test_a_duplicate_opens_under_a_new_key(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = click(_page(actor), "Duplicate 'Phone'")
    assert _row_names(at)[2:4] == ["Phone", "Phone (copy)"]
    assert _editor(at, event_id, "key").value == "phone_copy"
    assert next(b for b in at.button if b.label == "Duplicate 'Items'").disabled


def test_a_deleted_field_comes_back_with_undo(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = click(_open(_page(actor), "Phone"), "Delete 'Phone'")  # the open field itself
    assert not at.exception
    assert "Phone" not in _row_names(at) and "Deleted 'Phone'." in [i.value for i in at.info]
    assert _editor_keys(at, event_id) == set()
    at = click(at, "Undo")
    assert _row_names(at)[2] == "Phone" and _editor(at, event_id, "label").value == "Phone"
    assert [f["key"] for f in _draft_fields(engine)] == [f["key"] for f in BASIC_FORM["fields"]]
    assert not any(b.label == "Undo" for b in at.button)
    at = click(at, "Delete 'Items'")
    assert _errors(at) == ["'Delivery address' is shown only depending on 'Items'. Change that condition first."]


def test_fields_are_added_from_templates_and_from_every_type(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = click(_page(actor), "Consent")
    assert _row_names(at)[-1].startswith("I agree that my details")
    assert _editor(at, event_id, "required").value is True
    at = click(at, "Number")
    assert _row_names(at)[-1] == "Number" and _editor(at, event_id, "label").value == "Number"
    assert {"min_value", "max_value", "decimals"} <= _editor_keys(at, event_id)
    assert next(b for b in at.button if b.label == "Items to order").disabled  # the form has its item picker
    assert [f["key"] for f in _draft_fields(engine)][-2:] == ["consent", "number"]


def test_a_new_event_can_start_from_the_usual_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        actor = make_user(session, member_of=[make_event(session, form=None)])
    at = _page(actor)
    assert "This event has no form yet" in _markdown(at)
    at = click(at, "Start from the usual form: name, email, items and consent")
    assert _preview_labels(at)[:2] == ["Full name *", "Email *"]
    assert _schemas(engine) == []  # offered, not saved: the organiser reviews it first
    at = click(at, "Save form")
    assert at.success[0].value == "Saved as version 1."
    assert _schemas(engine) == [STARTER_FORM]
    assert not any("usual form" in button.label for button in at.button)


# --- the draft: kept, discarded, saved --------------------------------------------------------------------------


def test_the_draft_survives_a_reload_and_is_the_same_in_a_second_tab(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    first = _open(_page(actor), "Name")
    _editor(first, event_id, "label").set_value("Your name").run()
    second = _page(actor)  # a new session: a reload, or another tab
    assert _row_names(second)[0] == "Your name" and "Unsaved draft" in _markdown(second)
    second = click(second, "Move 'Phone' up")
    first = first.run()
    assert _row_names(first)[:3] == ["Your name", "Phone", "Email"]
    assert _editor(first, event_id, "label").value == "Your name"


def test_discarding_goes_back_to_the_saved_form(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _open(_page(actor), "Name")
    at = _editor(at, event_id, "label").set_value("Your name").run()
    at = click(at, "Discard draft")
    assert not at.exception
    assert _row_names(at)[0] == "Name" and "Name *" in _preview_labels(at)
    assert _editor(at, event_id, "label").value == "Name"  # the open editor follows
    assert "Unsaved draft" not in _markdown(at) and _draft_fields(engine) is None
    with read_only(engine) as session:
        assert [e.action for e in audit_entries(session, "form.")] == ["form.draft_discarded"]


def test_saving_an_unused_form_edits_it_in_place(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _page(actor)
    assert next(b for b in at.button if b.label == "Save form").disabled  # nothing to save yet
    at = _editor(_open(at, "Anything about sizes?"), event_id, "label").set_value("Sizes?").run()
    at = click(at, "Save form")
    assert at.success[0].value == "Saved as version 1."
    [schema] = _schemas(engine)
    assert schema["fields"][5]["label"] == "Sizes?" and _draft_fields(engine) is None


def test_saving_after_an_order_says_a_new_version_was_made(engine: Engine) -> None:
    actor, event_id = _shop(engine, with_order=True)
    at = _page(actor)
    assert "Orders were placed with it, so saving creates version 2" in _markdown(at)
    at = _editor(_open(at, "Anything about sizes?"), event_id, "label").set_value("Sizes?").run()
    at = click(at, "Save form")
    assert not at.exception
    assert at.success[0].value == ("Saved as version 2. Orders use version 1, so a new version was created; "
                                   "those orders keep theirs.")
    old, new = _schemas(engine)
    assert old == BASIC_FORM and new["fields"][5]["label"] == "Sizes?"
    assert "Version 2. No orders use it yet" in _markdown(at)


def test_a_version_saved_meanwhile_is_pointed_out_and_replaced_only_when_asked(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _editor(_open(_page(actor), "Name"), event_id, "label").set_value("Your name").run()
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        place_order(session, event, answers(), idempotency_key="k1")
        save_form(session, event, {"fields": BASIC_FORM["fields"][:4]})
    at = at.run()
    assert "Version 2 was saved since this draft started" in at.warning[0].value
    at = click(at, "Save form")
    assert "saved version 2 of the form since this draft started" in _errors(at)[0]
    assert len(_schemas(engine)) == 2 and _schemas(engine)[1]["fields"][0]["label"] == "Name"
    at = click(at, "Save anyway")
    assert at.success[0].value.startswith("Saved as version 2.")
    assert _schemas(engine)[1]["fields"][0]["label"] == "Your name"


# --- JSON and the key -------------------------------------------------------------------------------------------


def test_json_can_be_pasted_with_its_problems_shown(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = _page(actor)
    assert at.get("download_button")[0].proto.label == "Download the draft as JSON"
    at = at.text_area(key=f"fb.{event_id}.json_text").set_value('{"fields": [').run()
    at = click(at, "Replace the draft with this JSON")
    assert _errors(at) == ["This is not valid JSON: Expecting value (line 1, column 13)."]
    at = at.text_area(key=f"fb.{event_id}.json_text").set_value(json.dumps(DEMO_FORM)).run()
    at = click(at, "Replace the draft with this JSON")
    assert _errors(at) == []
    assert _row_names(at)[0] == "Full name" and "Breakfast preference" in _row_names(at)
    assert '"key": "dietary"' in at.code[0].value


def test_the_key_is_shown_and_changed_only_under_advanced(engine: Engine) -> None:
    actor, event_id = _shop(engine)
    at = click(_page(actor), "Free text")
    assert _editor(at, event_id, "key").value == "anything_else_we_should_know"
    at = _editor(at, event_id, "label").set_value("Notes").run()
    assert _editor(at, event_id, "key").value == "notes"  # follows the label while the field is new
    at = _editor(at, event_id, "key").set_value("Bad Key").run()
    assert _errors(at) == ["A key starts with a lower-case letter and has only lower-case letters, digits and _ "
                           "(at most 40)."]
    at = _editor(at, event_id, "key").set_value("remarks").run()
    assert _draft_fields(engine)[-1]["key"] == "remarks"


# --- who may see it, and what a screen reader hears -------------------------------------------------------------


def test_no_two_inputs_on_screen_share_a_label(engine: Engine) -> None:
    actor, _ = _shop(engine)
    at = _open(click(_page(actor), "A choice"), "Choose one")
    at = _open(at, "Choose one")  # closed, then open again: the editor comes back the same
    labels = [w.label for kind in ("text_input", "text_area", "number_input", "selectbox", "checkbox",
                                   "date_input", "radio", "multiselect") for w in getattr(at, kind)]
    assert len(labels) > 20
    assert sorted(label for label in labels if labels.count(label) > 1) == []
    buttons = [b.label for b in at.button]
    assert sorted(label for label in buttons if buttons.count(label) > 1) == []


def test_an_anonymous_session_is_refused(engine: Engine) -> None:
    _shop(engine)
    at = _page(None)
    assert not at.exception
    assert at.warning[0].value == "Please log in to see this page."
    assert not at.button and not at.text_input and not at.markdown


def test_an_organiser_never_sees_another_organisers_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_user(session, "owner", member_of=[make_shop(session)])
        stranger = make_user(session, "stranger")
    at = _page(stranger)
    assert not at.exception
    assert "There are no events yet" in at.info[0].value
    assert not at.button and not at.text_input
