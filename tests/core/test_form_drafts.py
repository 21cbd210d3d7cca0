"""The server-side form draft: each builder operation written at once, kept across sessions, discarded, saved as
a form version (a new one when orders use the old), stale drafts, audit, and who may do it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import make_engine, read_only, unit_of_work
from core.demo import DEMO_FORM
from core.errors import DomainError, FormValidationError, NewerFormSaved, NotFound, PermissionDenied, SchemaError
from core.form_builder import STARTER_FORM, canonical
from core.form_drafts import (
    add_field_from_template,
    add_field_of_type,
    delete_field,
    discard_draft,
    duplicate_field,
    export_form_json,
    import_form_json,
    load_draft,
    move_field,
    save_draft,
    start_from_usual_form,
    undo_delete,
    update_field,
)
from core.form_versions import current_form_version, save_form
from core.forms import FieldType, parse_form_spec
from core.models import Event, FormDraft, FormVersion, Order, UserRole
from core.orders import place_order
from tests.factories import BASIC_FORM, answers, make_event, make_shop, make_user
from tests.factories.builder import audit_entries


def _shop(engine: Engine, **event: Any) -> tuple[int, Actor]:
    with unit_of_work(engine) as session:
        shop = make_shop(session, **event)
        return shop.id, make_user(session, member_of=[shop])


def _load(engine: Engine, actor: Actor, event_id: int):  # noqa: ANN202 - a Draft
    with read_only(engine) as session:
        return load_draft(session, actor, event_id)


def _keys(draft: Any) -> list[str]:
    return [field["key"] for field in draft.fields]


def _schemas(engine: Engine) -> list[dict[str, Any]]:
    with read_only(engine) as session:
        return [v.schema for v in session.scalars(select(FormVersion).order_by(FormVersion.number))]


# --- loading ----------------------------------------------------------------------------------------------------


def test_without_a_draft_the_builder_shows_the_saved_form(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    draft = _load(engine, actor, event_id)
    assert _keys(draft) == ["name", "email", "phone", "items", "delivery", "size_note"]
    assert draft.spec == parse_form_spec(BASIC_FORM) and draft.problem == ""
    assert (draft.saved_number, draft.saved_in_use, draft.changed, draft.changed_by) == (1, False, False, None)
    assert [item.key for item in draft.catalogue] == ["tshirt", "hoodie", "breakfast"]
    assert draft.saved_keys == frozenset(_keys(draft))


def test_an_event_without_a_form_starts_empty_and_its_first_save_is_version_1(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session, form=None)
        actor = make_user(session, member_of=[event])
    draft = _load(engine, actor, event.id)
    assert (draft.fields, draft.spec, draft.saved_number, draft.problem) == ((), None, None,
                                                                             "The form has no fields yet.")
    with unit_of_work(engine) as session:
        draft = start_from_usual_form(session, actor, event.id)
        assert draft.changed and _keys(draft) == ["name", "email", "items", "consent"]
    assert _schemas(engine) == []  # offered, not saved: the organiser reviews it first
    with unit_of_work(engine) as session:
        saved = save_draft(session, actor, event.id)
    assert (saved.number, saved.previous_in_use, saved.draft.changed) == (1, False, False)
    assert _schemas(engine) == [STARTER_FORM]


def test_the_usual_form_is_offered_only_for_an_empty_form(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with pytest.raises(DomainError, match="only while the form is empty"), unit_of_work(engine) as session:
        start_from_usual_form(session, actor, event_id)


def test_a_broken_stored_form_loads_as_it_is_to_be_repaired_field_by_field(engine: Engine) -> None:
    broken = copy.deepcopy(BASIC_FORM)
    broken["fields"][1]["type"] = "telegram"
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        session.scalars(select(FormVersion)).one().schema = broken
    draft = _load(engine, actor, event.id)
    assert draft.spec is None and "Field 2 ('email')" in draft.problem
    assert draft.rows[1].type is None and "telegram" in draft.rows[1].type_name and draft.rows[1].problem
    assert _keys(draft) == [field["key"] for field in BASIC_FORM["fields"]]
    with unit_of_work(engine) as session:
        repaired = update_field(session, actor, event.id, "email", {"type": FieldType.EMAIL})
    assert repaired.problem == "" and repaired.spec == parse_form_spec(BASIC_FORM)


# --- operations write the draft at once -------------------------------------------------------------------------


def test_every_operation_writes_the_draft_which_a_new_session_finds(engine: Engine, database_url: str) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        draft = add_field_from_template(session, actor, event_id, "choice")
    assert draft.focus == "choose_one" and draft.changed and draft.changed_by == "olga"
    # Another engine is another process or worker: only the database is shared.
    other = make_engine(database_url)
    try:
        again = _load(other, actor, event_id)
    finally:
        other.dispose()
    assert _keys(again)[-1] == "choose_one" and again.changed and again.changed_at == draft.changed_at
    assert again.fields == draft.fields
    assert _schemas(engine) == [BASIC_FORM]  # nothing saved yet


def test_adding_by_type_opens_the_new_field_under_a_key_of_its_own(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        first = add_field_of_type(session, actor, event_id, FieldType.NUMBER)
        second = add_field_of_type(session, actor, event_id, "number")
    assert (first.focus, second.focus) == ("number", "number_2")
    assert second.rows[-1].type_name == "Number"
    with pytest.raises(DomainError, match="one item picker"), unit_of_work(engine) as session:
        add_field_of_type(session, actor, event_id, FieldType.ITEMS)


def test_an_edit_with_a_problem_leaves_the_draft_at_its_last_valid_state(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"label": "Sizes?"})
    with pytest.raises(FormValidationError) as caught, unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"label": "", "personal": True})
    assert caught.value.errors == {"label": "Give the field a label.",
                                   "purpose": "Personal data needs a purpose: say why you collect it."}
    draft = _load(engine, actor, event_id)
    assert draft.fields[-1]["label"] == "Sizes?" and draft.spec is not None  # the preview's last valid state


def test_moves_at_the_edges_are_refused_and_change_nothing(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        draft = move_field(session, actor, event_id, "phone", -1)
    assert _keys(draft)[:3] == ["name", "phone", "email"] and draft.focus == "phone"
    for key, offset in (("name", -1), ("size_note", 1)):
        with pytest.raises(DomainError, match="already the"), unit_of_work(engine) as session:
            move_field(session, actor, event_id, key, offset)
    assert _keys(_load(engine, actor, event_id))[:3] == ["name", "phone", "email"]


def test_duplicate_delete_and_undo(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        copied = duplicate_field(session, actor, event_id, "size_note")
    assert copied.focus == "anything_about_sizes_copy" and copied.fields[-1]["label"] == "Anything about sizes? (copy)"
    with unit_of_work(engine) as session:
        draft = delete_field(session, actor, event_id, "phone")
    assert "phone" not in _keys(draft) and draft.removed is not None and draft.removed.index == 2
    with unit_of_work(engine) as session:
        back = undo_delete(session, actor, event_id, draft.removed)
    assert _keys(back)[2] == "phone" and back.focus == "phone"
    with pytest.raises(DomainError, match="shown only depending on 'Items'"), unit_of_work(engine) as session:
        delete_field(session, actor, event_id, "items")


def test_a_new_label_gives_a_new_field_a_new_key_but_a_saved_field_keeps_its_key(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        add_field_from_template(session, actor, event_id, "choice")
        renamed = update_field(session, actor, event_id, "choose_one", {"label": "Pickup point"})
        kept = update_field(session, actor, event_id, "size_note", {"label": "Sizes?"})
    assert renamed.focus == "pickup_point"
    assert kept.focus == "size_note" and kept.fields[5]["label"] == "Sizes?"


def test_show_if_choices_come_from_the_draft_and_the_catalogue(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        add_field_from_template(session, actor, event_id, "choice")
        draft = update_field(session, actor, event_id, "choose_one",
                             {"label": "Pickup point", "show_if": {"field": "items", "value": "breakfast"}})
    [condition] = draft.conditions("pickup_point")
    assert condition.key == "items" and [a.label for a in condition.answers] == ["T-shirt", "Hoodie",
                                                                                  "Breakfast box"]
    assert draft.rows[-1].shown_if == "Shown if Items includes Breakfast box"
    assert draft.conditions("name") == ()


def test_json_round_trip_through_the_draft(engine: Engine) -> None:
    event_id, actor = _shop(engine, slug="summer")
    with unit_of_work(engine) as session:
        imported = import_form_json(session, actor, event_id, json.dumps(DEMO_FORM))
    assert imported.spec == parse_form_spec(DEMO_FORM)
    filename, mimetype, data = export_form_json(imported)
    assert (filename, mimetype) == ("form-summer.json", "application/json")
    assert json.loads(data) == {"fields": [canonical(field) for field in DEMO_FORM["fields"]]}
    with pytest.raises(FormValidationError) as caught, unit_of_work(engine) as session:
        import_form_json(session, actor, event_id, '{"fields": [}')
    assert caught.value.errors["json"].startswith("This is not valid JSON")
    assert _load(engine, actor, event_id).spec == parse_form_spec(DEMO_FORM)


# --- discarding and saving --------------------------------------------------------------------------------------


def test_discarding_goes_back_to_the_saved_form_and_is_audited(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "name", {"label": "Your name"})
        move_field(session, actor, event_id, "phone", -1)
    with unit_of_work(engine) as session:
        draft = discard_draft(session, actor, event_id)
    assert not draft.changed and draft.fields[0]["label"] == "Name" and _keys(draft)[1] == "email"
    with read_only(engine) as session:
        assert session.scalars(select(FormDraft)).all() == []
        [entry] = audit_entries(session, "form.")
    assert (entry.action, entry.details) == ("form.draft_discarded", {"fields": 6, "saved_version": 1})


def test_only_saves_and_discards_are_audited_not_each_change(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        add_field_of_type(session, actor, event_id, "date")
        update_field(session, actor, event_id, "date", {"label": "Arrival"})
        move_field(session, actor, event_id, "arrival", -1)
    with read_only(engine) as session:
        assert audit_entries(session, "form.") == []


def test_saving_edits_the_form_in_place_while_no_order_uses_it_and_drops_the_draft(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        add_field_of_type(session, actor, event_id, "short_text")
        saved = save_draft(session, actor, event_id)
    assert (saved.number, saved.previous_in_use, saved.draft.changed) == (1, False, False)
    [schema] = _schemas(engine)
    assert schema["fields"][-1] == {"key": "short_answer", "type": "short_text", "label": "Short answer"}
    with read_only(engine) as session:
        assert session.scalars(select(FormDraft)).all() == []


def test_saving_after_an_order_creates_a_new_version_and_the_order_keeps_its_own(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        place_order(session, session.get(Event, event_id), answers(), idempotency_key="k1")
    assert _load(engine, actor, event_id).saved_in_use
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"label": "Added later"})
        saved = save_draft(session, actor, event_id)
    assert (saved.number, saved.previous_in_use) == (2, True)
    with read_only(engine) as session:
        order = session.scalars(select(Order)).one()
        assert session.get(FormVersion, order.form_version_id).schema == BASIC_FORM
    draft = _load(engine, actor, event_id)
    assert (draft.saved_number, draft.saved_in_use, draft.fields[-1]["label"]) == (2, False, "Added later")
    # Saving again edits version 2 in place: no order uses it yet.
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"label": "Later still"})
        again = save_draft(session, actor, event_id)
    assert (again.number, again.previous_in_use) == (2, False)


def test_saving_is_audited_with_the_version_and_field_keys_but_no_personal_data(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        place_order(session, session.get(Event, event_id), answers(name="Ada Lovelace", email="ada@example.com"),
                    idempotency_key="k1")
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"help": "S, M or L"})
        save_draft(session, actor, event_id)
    with read_only(engine) as session:
        [entry] = audit_entries(session, "form.")
    assert (entry.action, entry.actor, entry.event_id) == ("form.saved", "olga", event_id)
    assert entry.details == {"version": 2, "new_version": True,
                             "fields": ["name", "email", "phone", "items", "delivery", "size_note"]}
    recorded = json.dumps(entry.details) + entry.subject
    assert "Ada" not in recorded and "example.com" not in recorded and "label the order" not in recorded


def test_saving_without_changes_or_without_fields_is_refused(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with pytest.raises(DomainError, match="no unsaved changes"), unit_of_work(engine) as session:
        save_draft(session, actor, event_id)
    with unit_of_work(engine) as session:
        move_field(session, actor, event_id, "phone", -1)
        move_field(session, actor, event_id, "phone", 1)  # back as saved
    with pytest.raises(DomainError, match="no unsaved changes"), unit_of_work(engine) as session:
        save_draft(session, actor, event_id)
    with unit_of_work(engine) as session:
        event = make_event(session, slug="empty", form=None)
        session.flush()
        admin = make_user(session, "root", role=UserRole.ADMIN)
        add_field_of_type(session, admin, event.id, "date")
        delete_field(session, admin, event.id, "date")
    with pytest.raises(SchemaError, match="Add at least one field"), unit_of_work(engine) as session:
        save_draft(session, admin, event.id)
    assert _schemas(engine) == [BASIC_FORM]


def test_a_version_saved_since_the_draft_started_is_not_overwritten_silently(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_field(session, actor, event_id, "size_note", {"label": "From the draft"})
    # Meanwhile orders arrive and the form is saved another way: version 2.
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        place_order(session, event, answers(), idempotency_key="k1")
        save_form(session, event, {"fields": BASIC_FORM["fields"][:4]})
    draft = _load(engine, actor, event_id)
    assert draft.newer_version == 2
    with pytest.raises(NewerFormSaved, match="saved version 2 of the form since this draft started"), \
            unit_of_work(engine) as session:
        save_draft(session, actor, event_id)
    with read_only(engine) as session:
        assert current_form_version(session, session.get(Event, event_id)).schema["fields"] == BASIC_FORM["fields"][:4]
    with unit_of_work(engine) as session:
        saved = save_draft(session, actor, event_id, replace_newer=True)
    assert saved.number == 2 and _schemas(engine)[1]["fields"][5]["label"] == "From the draft"


# --- who may ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda session, actor, event_id: load_draft(session, actor, event_id),
    lambda session, actor, event_id: add_field_from_template(session, actor, event_id, "email"),
    lambda session, actor, event_id: add_field_of_type(session, actor, event_id, "date"),
    lambda session, actor, event_id: update_field(session, actor, event_id, "name", {"label": "X"}),
    lambda session, actor, event_id: move_field(session, actor, event_id, "phone", -1),
    lambda session, actor, event_id: duplicate_field(session, actor, event_id, "phone"),
    lambda session, actor, event_id: delete_field(session, actor, event_id, "phone"),
    lambda session, actor, event_id: import_form_json(session, actor, event_id, json.dumps(DEMO_FORM)),
    lambda session, actor, event_id: discard_draft(session, actor, event_id),
    lambda session, actor, event_id: save_draft(session, actor, event_id),
])
def test_an_organiser_who_is_not_a_member_is_refused(engine: Engine, call: Any) -> None:
    event_id, _ = _shop(engine)
    with unit_of_work(engine) as session:
        stranger = make_user(session, "stranger", member_of=[make_event(session, slug="other")])
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        call(session, stranger, event_id)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        call(session, None, event_id)
    with read_only(engine) as session:
        assert audit_entries(session, "form.") == []
        assert session.scalars(select(FormDraft)).all() == []
    assert _schemas(engine)[0] == BASIC_FORM


def test_an_admin_may_edit_any_form_and_gets_not_found_for_a_missing_event(engine: Engine) -> None:
    event_id, _ = _shop(engine)
    with unit_of_work(engine) as session:
        admin = make_user(session, "root", role=UserRole.ADMIN)
        add_field_of_type(session, admin, event_id, "date")
        assert save_draft(session, admin, event_id).number == 1
        with pytest.raises(NotFound):
            load_draft(session, admin, event_id + 100)
        with pytest.raises(NotFound):
            add_field_of_type(session, admin, event_id + 100, "date")
