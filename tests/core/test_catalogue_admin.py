"""Organisers edit items and variants: variants follow the dimensions, orders keep what they ordered."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.catalogue import Dimension, load_catalogue
from core.catalogue_admin import (
    VariantEdit,
    catalogue_overview,
    create_item_for,
    edit_variants,
    list_items_for_edit,
    parse_dimension_lines,
    parse_price,
    set_variant_active,
    update_item,
)
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError, NotFound, PermissionDenied, SchemaError
from core.models import Event, Item, OrderLine, UserRole, Variant
from core.orders import place_order
from tests.factories import answers, make_event, make_shop, make_user
from tests.factories.builder import audit_entries


def _offered(engine: Engine, item_key: str) -> dict[str, bool]:
    """Variant key -> available, as the public form sees the item."""
    with read_only(engine) as session:
        event = session.scalars(select(Event).where(Event.slug == "test-event")).one()
        item = next(item for item in load_catalogue(session, event) if item.key == item_key)
        return {variant.key: variant.available for variant in item.variants}


def _variant_rows(engine: Engine, item_key: str) -> dict[str, bool]:
    """Every variant row in the database (retired ones too) -> active."""
    with read_only(engine) as session:
        return dict(session.execute(select(Variant.key, Variant.active).join(Item).where(Item.key == item_key)).all())


def _shop(engine: Engine) -> tuple[int, Any]:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
    return event.id, actor


# --- listing and creating ---------------------------------------------------------------------------------------


def test_items_are_listed_with_their_dimensions_and_variants_inactive_ones_included(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "hoodie", {"active": False})
    with read_only(engine) as session:
        tshirt, hoodie, breakfast = list_items_for_edit(session, actor, event_id)
    assert tshirt.dimension_lines == "Type: Fitted, Straight\nSize: S, M, L"
    assert [v.label for v in tshirt.variants][:2] == ["Fitted, S", "Fitted, M"]
    assert hoodie.active is False
    assert breakfast.dimensions == () and [v.key for v in breakfast.variants] == [""]


def test_a_new_item_gets_a_variant_per_combination_and_is_audited(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        created = create_item_for(session, actor, event_id, key="pin", name=" Enamel pin ", price="3.50",
                                  max_per_order=4, dimensions="Colour: Gold, Silver\n\nFinish: Matt, Shiny")
    assert created.name == "Enamel pin" and created.price == Decimal("3.50") and created.position == 3
    assert [v.key for v in created.variants] == ["Gold/Matt", "Gold/Shiny", "Silver/Matt", "Silver/Shiny"]
    assert _offered(engine, "pin") == dict.fromkeys(["Gold/Matt", "Gold/Shiny", "Silver/Matt", "Silver/Shiny"], True)
    with read_only(engine) as session:
        [entry] = audit_entries(session, "item.")
    assert (entry.action, entry.subject, entry.details) == ("item.created", "item:pin", {"item": "pin", "variants": 4})


@pytest.mark.parametrize("inputs, field, message", [
    ({"key": "tshirt"}, "key", "already has an item with the key 'tshirt'"),
    ({"key": "Pin!"}, "key", "lower-case letters"),
    ({"name": "  "}, "name", "Give the item a name."),
    ({"price": "-1"}, "price", "cannot be negative"),
    ({"price": "1.999"}, "price", "two decimal places"),
    ({"price": "free"}, "price", "Enter a price"),
    ({"max_per_order": 0}, "max_per_order", "from 1 to 1000"),
    ({"dimensions": "Colour Gold, Silver"}, "dimensions", "Line 1: write a dimension as"),
    ({"dimensions": "Colour: Gold, Gold"}, "dimensions", "options must be unique"),
    ({"dimensions": "A: " + ",".join(map(str, range(40))) + "\nB: " + ",".join(map(str, range(30)))},
     "dimensions", "1200 variants"),
])
def test_a_bad_new_item_is_refused_beside_the_input_and_nothing_is_created(
    engine: Engine, inputs: dict[str, Any], field: str, message: str
) -> None:
    event_id, actor = _shop(engine)
    values = {"key": "pin", "name": "Pin", "price": "3", "max_per_order": 2, "dimensions": ""} | inputs
    with pytest.raises(FormValidationError) as caught, unit_of_work(engine) as session:
        create_item_for(session, actor, event_id, **values)
    assert list(caught.value.errors) == [field]
    assert message in caught.value.errors[field]
    with read_only(engine) as session:
        assert session.scalars(select(Item.key).order_by(Item.id)).all() == ["tshirt", "hoodie", "breakfast"]
        assert audit_entries(session, "item.") == []


# --- editing ----------------------------------------------------------------------------------------------------


def test_updating_an_item_changes_only_what_differs_and_audits_the_names_of_the_changes(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        updated = update_item(session, actor, event_id, "tshirt", {
            "name": "Tee", "description": "Organic", "price": "12.5", "max_per_order": 3.0, "position": 7,
            "active": True, "dimensions": "Type: Fitted, Straight\nSize: S, M, L"})
    assert (updated.name, updated.price, updated.max_per_order, updated.position) == ("Tee", Decimal("12.50"), 3, 7)
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "tshirt", {"name": "Tee", "price": None})
    with read_only(engine) as session:
        first, second = audit_entries(session, "item.")
    assert first.details == {"item": "tshirt", "changed": ["description", "max_per_order", "name", "position"],
                             "variants_added": [], "variants_retired": []}
    assert second.details["changed"] == ["price"]


def test_an_update_without_a_change_writes_no_audit_entry(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "hoodie",
                    {"name": "Hoodie", "price": "30.00", "dimensions": "Size: S, M, L"})
    with read_only(engine) as session:
        assert audit_entries(session, "item.") == []


def test_bad_changes_are_refused_per_input_and_nothing_changes(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with pytest.raises(FormValidationError) as caught, unit_of_work(engine) as session:
        update_item(session, actor, event_id, "tshirt", {"name": "Tee", "price": "-2", "max_per_order": 0,
                                                          "position": -1, "active": "yes"})
    assert set(caught.value.errors) == {"price", "max_per_order", "position", "active"}
    with read_only(engine) as session:
        assert session.scalars(select(Item.name).where(Item.key == "tshirt")).one() == "T-shirt"


def test_adding_an_option_adds_its_variants_and_leaves_switched_off_ones_off(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "tshirt", "Fitted/M", False)
    with unit_of_work(engine) as session:
        updated = update_item(session, actor, event_id, "tshirt", {"dimensions": "Type: Fitted, Straight\n"
                                                                                  "Size: S, M, L, XL"})
    assert [v.key for v in updated.variants] == ["Fitted/S", "Fitted/M", "Fitted/L", "Fitted/XL", "Straight/S",
                                                 "Straight/M", "Straight/L", "Straight/XL"]
    offered = _offered(engine, "tshirt")
    assert offered["Fitted/XL"] and offered["Straight/XL"] and not offered["Fitted/M"]
    with read_only(engine) as session:
        entry = audit_entries(session, "item.updated")[0]
    assert entry.details["variants_added"] == ["Fitted/XL", "Straight/XL"]


def test_removing_an_option_switches_its_variants_off_but_keeps_the_rows_orders_refer_to(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        place_order(session, event, answers(items=[{"item": "hoodie", "options": {"size": "L"}, "quantity": 1}]),
                    idempotency_key="k1")
    with unit_of_work(engine) as session:
        updated = update_item(session, actor, event_id, "hoodie", {"dimensions": "Size: S, M"})
    assert [v.key for v in updated.variants] == ["S", "M"]
    assert _variant_rows(engine, "hoodie") == {"S": True, "M": True, "L": False}
    assert _offered(engine, "hoodie") == {"S": True, "M": True}  # L is not even shown as sold out
    with read_only(engine) as session:
        line = session.scalars(select(OrderLine)).one()
        assert session.get(Variant, line.variant_id).key == "L"
    # Offering L again brings back the same row, switched on.
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "hoodie", {"dimensions": "Size: S, M, L"})
    assert _variant_rows(engine, "hoodie") == {"S": True, "M": True, "L": True}


def test_reshaping_the_dimensions_retires_old_variants_and_the_catalogue_still_loads(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "tshirt", {"dimensions": "Size: S, M\nColour: Black"})
        update_item(session, actor, event_id, "breakfast", {"dimensions": "Diet: Vegan, Any"})
    assert _offered(engine, "tshirt") == {"S/Black": True, "M/Black": True}
    assert _offered(engine, "breakfast") == {"Vegan": True, "Any": True}
    assert _variant_rows(engine, "breakfast") == {"": False, "Vegan": True, "Any": True}


def test_renaming_a_dimension_keeps_its_variants_and_their_state(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "hoodie", "M", False)
        updated = update_item(session, actor, event_id, "hoodie", {"dimensions": "Hoodie size: S, M, L"})
    assert updated.dimensions == (Dimension("hoodie_size", "Hoodie size", ("S", "M", "L")),)
    assert _variant_rows(engine, "hoodie") == {"S": True, "M": False, "L": True}
    with read_only(engine) as session:
        event = session.get(Event, event_id)
        [hoodie] = [item for item in load_catalogue(session, event) if item.key == "hoodie"]
    assert hoodie.variant_for({"hoodie_size": "L"}).label == "L"


def test_catalogue_edits_keep_the_labels_and_prices_copied_into_order_lines(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        place_order(session, session.get(Event, event_id), answers(), idempotency_key="k1")
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "tshirt", {"name": "Organic tee", "price": "20",
                                                         "dimensions": "Type: Straight\nSize: M, L"})
        update_item(session, actor, event_id, "tshirt", {"active": False})
    with read_only(engine) as session:
        line = session.scalars(select(OrderLine)).one()
        assert (line.item_key, line.item_name, line.variant_key, line.variant_label, line.unit_price) == (
            "tshirt", "T-shirt", "Fitted/M", "Fitted, M", Decimal("12.50"))
        assert line.variant_id is not None and line.item_id is not None


# --- variants on and off ----------------------------------------------------------------------------------------


def test_a_switched_off_variant_is_not_available_and_the_toggle_is_audited(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        variant = set_variant_active(session, actor, event_id, "tshirt", "Straight/L", False)
    assert (variant.label, variant.active) == ("Straight, L", False)
    assert _offered(engine, "tshirt")["Straight/L"] is False
    with unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "tshirt", "Straight/L", False)  # no change, no entry
        set_variant_active(session, actor, event_id, "tshirt", "Straight/L", True)
    assert _offered(engine, "tshirt")["Straight/L"] is True
    with read_only(engine) as session:
        entries = audit_entries(session, "variant.")
    assert [e.details for e in entries] == [{"item": "tshirt", "variant": "Straight/L", "active": False},
                                            {"item": "tshirt", "variant": "Straight/L", "active": True}]


def test_unknown_and_retired_variants_cannot_be_switched(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with unit_of_work(engine) as session:
        update_item(session, actor, event_id, "hoodie", {"dimensions": "Size: S, M"})
    with pytest.raises(NotFound), unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "hoodie", "XXL", True)
    with pytest.raises(NotFound), unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "hoodie", "L", True)
    with pytest.raises(NotFound), unit_of_work(engine) as session:
        set_variant_active(session, actor, event_id, "socks", "M", True)
    assert _variant_rows(engine, "hoodie")["L"] is False


# --- permissions ------------------------------------------------------------------------------------------------


CALLS = {
    "list": lambda session, actor, event_id: list_items_for_edit(session, actor, event_id),
    "create": lambda session, actor, event_id: create_item_for(session, actor, event_id, key="pin", name="Pin"),
    "update": lambda session, actor, event_id: update_item(session, actor, event_id, "tshirt", {"name": "Mine"}),
    "toggle": lambda session, actor, event_id: set_variant_active(session, actor, event_id, "tshirt", "Fitted/M",
                                                                  False),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_who_is_not_a_member_is_refused_everything(engine: Engine, call: Any) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        make_user(session, "owner", member_of=[event])
        stranger = make_user(session, "stranger", member_of=[make_event(session, slug="other")])
    for actor in (stranger, None):
        with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
            call(session, actor, event.id)
    with read_only(engine) as session:
        assert session.scalars(select(Item.name).where(Item.key == "tshirt")).one() == "T-shirt"
        assert audit_entries(session, "item.") == [] and audit_entries(session, "variant.") == []
    assert _offered(engine, "tshirt")["Fitted/M"] is True


def test_an_admin_may_edit_any_catalogue_and_gets_not_found_for_a_missing_event(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        admin = make_user(session, "root", role=UserRole.ADMIN)
        assert update_item(session, admin, event.id, "tshirt", {"name": "Tee"}).name == "Tee"
        with pytest.raises(NotFound):
            list_items_for_edit(session, admin, event.id + 100)
        with pytest.raises(NotFound):
            update_item(session, admin, event.id, "socks", {"name": "Socks"})


# --- parsing ----------------------------------------------------------------------------------------------------


def test_dimension_lines_name_dimensions_after_their_labels_or_keep_existing_names() -> None:
    existing = (Dimension("sz", "Size", ("S",)),)
    assert parse_dimension_lines("T-shirt colour: Black ,  Forest green\n\nsize: S, M", existing) == [
        {"name": "t_shirt_colour", "label": "T-shirt colour", "options": ["Black", "Forest green"]},
        {"name": "sz", "label": "size", "options": ["S", "M"]},
    ]
    assert parse_dimension_lines("2nd choice: A")[0]["name"] == "d_2nd_choice"
    with pytest.raises(SchemaError, match="Line 2"):
        parse_dimension_lines("Size: S\nColour")


@pytest.mark.parametrize("text, price", [("", None), (" 12.5 ", Decimal("12.50")), ("0", Decimal(0)),
                                          (None, None), (7, Decimal(7)), (Decimal("1.10"), Decimal("1.10"))])
def test_prices_are_read_from_text_or_numbers(text: object, price: Decimal | None) -> None:
    assert parse_price(text) == price


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e12", "12,50", 1.5, True])
def test_prices_that_are_not_money_are_refused(text: object) -> None:
    with pytest.raises(SchemaError):
        parse_price(text)


def test_item_picture_is_cleaned_stored_shown_to_the_form_and_removable(engine: Engine) -> None:
    """The upload is re-encoded (no EXIF, no trailing payload) and scaled; organisers of other events are refused."""
    import io

    from PIL import Image

    from core.catalogue import load_catalogue
    from core.catalogue_admin import ITEM_IMAGE_SIDE, set_item_image
    from core.events import get_published_event

    picture = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    Image.new("RGB", (1600, 400), (200, 30, 30)).save(picture, format="JPEG", exif=exif.tobytes())
    upload = picture.getvalue() + b"<?php echo 'payload'; ?>"
    event_id, owner = _shop(engine)
    with unit_of_work(engine) as session:
        stranger = make_user(session, member_of=[], username="stranger")
        set_item_image(session, owner, event_id, "tshirt", upload)
    with read_only(engine) as session:
        [stored] = [i for i in load_catalogue(session, get_published_event(session, "test-event")) if i.key == "tshirt"]
    assert stored.image is not None and b"payload" not in stored.image and b"secret" not in stored.image
    assert max(Image.open(io.BytesIO(stored.image)).size) == ITEM_IMAGE_SIDE
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        set_item_image(session, stranger, event_id, "tshirt", None)
    with unit_of_work(engine) as session:
        set_item_image(session, owner, event_id, "tshirt", None)
    with read_only(engine) as session:
        [stored] = [i for i in load_catalogue(session, get_published_event(session, "test-event")) if i.key == "tshirt"]
    assert stored.image is None


# --- the Items page's table of variants (edit_variants) and its overview -----------------------------------------


def test_editing_the_variant_table_changes_only_what_differs_and_says_so(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with read_only(engine) as session:
        [hoodie] = [item for item in catalogue_overview(session, actor, event_id).items if item.key == "hoodie"]
    wanted = [VariantEdit(v.key, v.active, v.stock) for v in hoodie.variants]
    wanted[0] = VariantEdit(wanted[0].variant_key, False, wanted[0].stock)
    wanted[1] = VariantEdit(wanted[1].variant_key, True, 20)
    with unit_of_work(engine) as session:
        said = edit_variants(session, actor, event_id, "hoodie", wanted)
    first, second = hoodie.variants[0].label, hoodie.variants[1].label
    assert said == (f"Hoodie ({first}) is switched off", f"Hoodie ({second}): stock 20")
    assert _offered(engine, "hoodie")[hoodie.variants[0].key] is False
    with unit_of_work(engine) as session:
        assert edit_variants(session, actor, event_id, "hoodie", wanted) == ()  # nothing differs any more


def test_a_refused_stock_in_the_variant_table_names_the_variant(engine: Engine) -> None:
    event_id, actor = _shop(engine)
    with read_only(engine) as session:
        [hoodie] = [item for item in catalogue_overview(session, actor, event_id).items if item.key == "hoodie"]
    wanted = [VariantEdit(v.key, v.active, -1 if index == 0 else v.stock) for index, v in enumerate(hoodie.variants)]
    with unit_of_work(engine) as session, pytest.raises(DomainError, match=rf"^Hoodie \({hoodie.variants[0].label}\): "):
        edit_variants(session, actor, event_id, "hoodie", wanted)
