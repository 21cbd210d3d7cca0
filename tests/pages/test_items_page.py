"""The items page through AppTest: listing, adding and editing items, switching variants, and who may see it."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.catalogue import load_catalogue
from core.db import read_only, unit_of_work
from core.models import Event, Item, Variant
from tests.factories import make_shop, make_user
from tests.factories.builder import audit_entries
from tests.pages.conftest import click, render_page

_page = partial(render_page, "items_page")


def _member_of_shop(engine: Engine) -> Actor:
    with unit_of_work(engine) as session:
        return make_user(session, member_of=[make_shop(session)])


def _offered(engine: Engine, item_key: str) -> dict[str, bool]:
    with read_only(engine) as session:
        event = session.scalars(select(Event)).one()
        item = next(item for item in load_catalogue(session, event) if item.key == item_key)
        return {variant.key: variant.available for variant in item.variants}


def _form(at: AppTest, prefix: str) -> Any:
    return next(block for block in at.main.children.values()
                if block.type == "form" and str(getattr(block, "key", "")).startswith(prefix))


def test_the_items_of_the_event_are_listed(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Key"]) == ["tshirt", "hoodie", "breakfast"]
    assert list(table["Price"]) == ["12.50", "30.00", "9.50"]
    assert list(table["Variants on"]) == ["6 of 6", "3 of 3", "1 of 1"]
    assert list(at.data_editor[0].value["Variant"]) == ["Fitted, S", "Fitted, M", "Fitted, L", "Straight, S",
                                                        "Straight, M", "Straight, L"]


def test_adding_an_item_creates_its_variants(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    prefix = _form(at, "catalogue.add").key
    at.text_input(key=f"{prefix}.key").input("socks")
    at.text_input(key=f"{prefix}.name").input("Socks")
    at.text_input(key=f"{prefix}.price").input("6")
    at.number_input(key=f"{prefix}.max_per_order").set_value(3)
    at.text_area(key=f"{prefix}.dimensions").input("Size: 36-39, 40-43\nColour: Black, Green")
    at = click(at, "Add item")
    assert not at.exception
    assert at.success[0].value == "Added Socks. 4 of 4 variants are offered."
    assert _offered(engine, "socks") == {"36-39/Black": True, "36-39/Green": True, "40-43/Black": True,
                                         "40-43/Green": True}
    assert list(at.dataframe[0].value["Key"]) == ["tshirt", "hoodie", "breakfast", "socks"]
    # The form is empty again for the next item.
    assert at.text_input(key=f"{_form(at, 'catalogue.add').key}.key").value == ""


def test_a_bad_new_item_shows_each_error_beside_its_input_and_creates_nothing(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    prefix = _form(at, "catalogue.add").key
    at.text_input(key=f"{prefix}.key").input("tshirt")
    at.text_input(key=f"{prefix}.name").input("Another shirt")
    at.text_input(key=f"{prefix}.price").input("-4")
    at = click(at, "Add item")
    assert not at.exception
    children = list(_form(at, "catalogue.add").children.values())
    after = {getattr(child, "key", None): children[index + 1] for index, child in enumerate(children[:-1])}
    assert after[f"{prefix}.key"].type == "error"
    assert "already has an item with the key 'tshirt'" in after[f"{prefix}.key"].value
    assert after[f"{prefix}.price"].value == "A price cannot be negative."
    assert after[f"{prefix}.name"].type != "error"
    assert at.text_input(key=f"{prefix}.name").value == "Another shirt"  # nothing typed is lost
    with read_only(engine) as session:
        assert session.scalars(select(Item.name).where(Item.key == "tshirt")).one() == "T-shirt"
        assert len(session.scalars(select(Item)).all()) == 3


def test_switching_a_variant_off_hides_it_from_the_order_form(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    table = at.data_editor[0]
    at.session_state[table.key] = {"edited_rows": {1: {"Offered": False}}, "added_rows": [], "deleted_rows": []}
    at = at.run()
    assert not at.exception
    assert at.success[0].value == "T-shirt (Fitted, M) is switched off."
    assert _offered(engine, "tshirt")["Fitted/M"] is False
    assert sum(_offered(engine, "tshirt").values()) == 5
    assert list(at.data_editor[0].value["Offered"]) == [True, False, True, True, True, True]
    assert list(at.dataframe[0].value["Variants on"])[0] == "5 of 6"
    with read_only(engine) as session:
        assert [e.details["variant"] for e in audit_entries(session, "variant.toggled")] == ["Fitted/M"]


def test_editing_an_item_removes_an_option_and_keeps_its_variant_row(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    at = next(box for box in at.selectbox if box.label == "Item to edit").select("hoodie").run()
    prefix = _form(at, "catalogue.edit.").key
    assert ".hoodie." in prefix
    assert at.text_area(key=f"{prefix}.dimensions").value == "Size: S, M, L"
    at.text_input(key=f"{prefix}.name").input("Zip hoodie")
    at.text_area(key=f"{prefix}.dimensions").input("Size: S, M")
    at = click(at, "Save changes")
    assert not at.exception
    assert at.success[0].value == "Saved Zip hoodie. 2 of 2 variants are offered."
    assert _offered(engine, "hoodie") == {"S": True, "M": True}
    with read_only(engine) as session:
        retired = session.scalars(select(Variant).join(Item).where(Item.key == "hoodie", Variant.key == "L")).one()
        assert retired.active is False
        assert session.scalars(select(Item.name).where(Item.key == "hoodie")).one() == "Zip hoodie"


def test_a_bad_edit_shows_the_error_beside_its_input(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    prefix = _form(at, "catalogue.edit.").key
    at.text_input(key=f"{prefix}.price").input("12.345")
    at = click(at, "Save changes")
    children = list(_form(at, "catalogue.edit.").children.values())
    price_at = next(i for i, child in enumerate(children) if getattr(child, "key", None) == f"{prefix}.price")
    assert children[price_at + 1].value == "Use at most two decimal places."
    assert not at.success


def test_an_anonymous_session_is_refused(engine: Engine) -> None:
    _member_of_shop(engine)
    at = _page(None)
    assert not at.exception
    assert at.warning[0].value == "Please log in to see this page."
    assert not at.dataframe and not at.text_input and not at.button


def test_an_organiser_never_sees_another_organisers_items(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_user(session, "owner", member_of=[make_shop(session)])
        stranger = make_user(session, "stranger")
    at = _page(stranger)
    assert not at.exception
    assert not at.dataframe and not at.text_input


def test_switching_events_shows_the_other_events_item_in_the_edit_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        first = make_shop(session)
        second = make_shop(session, slug="second")
        session.flush()
        session.scalars(select(Item).where(Item.event_id == second.id, Item.key == "tshirt")).one().name = "Tee"
        actor = make_user(session, member_of=[first, second])
    at = _page(actor)
    at = at.sidebar.selectbox[0].select(first.id).run()
    prefix = _form(at, "catalogue.edit.").key
    assert at.text_input(key=f"{prefix}.name").value == "T-shirt"
    at = at.sidebar.selectbox[0].select(second.id).run()
    prefix = _form(at, "catalogue.edit.").key
    assert at.text_input(key=f"{prefix}.name").value == "Tee"


def test_uploading_a_picture_shows_it_on_the_order_form_and_a_bad_file_is_refused(engine: Engine) -> None:
    import io

    from PIL import Image

    at = _page(_member_of_shop(engine))  # the first item, the t-shirt, is chosen
    at.file_uploader[0].set_value(("notes.png", b"not really a picture", "image/png")).run()
    assert "not a PNG, JPEG, WebP or GIF image" in at.error[0].value
    picture = io.BytesIO()
    Image.new("RGB", (120, 80), (10, 120, 60)).save(picture, format="PNG")
    at.file_uploader[0].set_value(("shirt.png", picture.getvalue(), "image/png")).run()
    assert "Picture of T-shirt saved." in at.success[0].value
    with read_only(engine) as session:
        [tshirt] = [i for i in load_catalogue(session, session.scalars(select(Event)).one()) if i.key == "tshirt"]
    assert Image.open(io.BytesIO(tshirt.image)).size == (120, 80)
    at = click(at, "Remove the picture")
    with read_only(engine) as session:
        [tshirt] = [i for i in load_catalogue(session, session.scalars(select(Event)).one()) if i.key == "tshirt"]
    assert tshirt.image is None


def _stock(engine: Engine, item_key: str) -> dict[str, tuple[int | None, int]]:
    with read_only(engine) as session:
        return {key: (stock, sold) for key, stock, sold in session.execute(
            select(Variant.key, Variant.stock, Variant.sold).join(Item).where(Item.key == item_key))}


def test_stock_is_set_per_variant_in_the_table_and_emptied_for_no_limit(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    table = at.data_editor[0]
    at.session_state[table.key] = {"edited_rows": {1: {"Stock": 20}, 2: {"Stock": 0}}, "added_rows": [],
                                   "deleted_rows": []}
    at = at.run()
    assert not at.exception
    assert at.success[0].value == "T-shirt (Fitted, M): stock 20; T-shirt (Fitted, L): stock 0."
    assert _stock(engine, "tshirt")["Fitted/M"] == (20, 0)
    assert list(at.data_editor[0].value["Left"].fillna(-1))[:3] == [-1, 20, 0]  # -1: empty, no limit
    table = at.data_editor[0]
    at.session_state[table.key] = {"edited_rows": {1: {"Stock": None}}, "added_rows": [], "deleted_rows": []}
    at = at.run()
    assert _stock(engine, "tshirt")["Fitted/M"] == (None, 0)


def test_stock_below_what_is_sold_is_refused_with_the_reason(engine: Engine) -> None:
    actor = _member_of_shop(engine)
    with unit_of_work(engine) as session:
        variant = session.scalars(select(Variant).join(Item).where(Item.key == "tshirt", Variant.key == "Fitted/M")
                                  ).one()
        variant.sold = 3
    at = _page(actor)
    at.session_state[at.data_editor[0].key] = {"edited_rows": {1: {"Stock": 2}}, "added_rows": [],
                                               "deleted_rows": []}
    at = at.run()
    assert [e.value for e in at.error] == [
        "T-shirt (Fitted, M): 3 are already sold: enter at least that many, or nothing for no limit."]
    assert _stock(engine, "tshirt")["Fitted/M"] == (None, 3)


def _pool_table(at: AppTest) -> Any:
    return next(frame.value for frame in at.dataframe if "Capacity" in frame.value.columns)


def test_a_shared_stock_is_created_and_an_item_draws_on_it(engine: Engine) -> None:
    at = _page(_member_of_shop(engine))
    form = _form(at, "catalogue.pools.")
    at.text_input(key=f"{form.key}.name").input("Tops")
    at.number_input(key=f"{form.key}.capacity").set_value(200)
    at = click(at, "Save shared stock")
    assert not at.exception
    assert at.success[0].value == "Saved the shared stock Tops."
    pools = _pool_table(at)
    assert (list(pools["Name"]), list(pools["Capacity"]), list(pools["Left"])) == (["Tops"], [200], [200])
    next(box for box in at.selectbox if box.label == "Shared stock T-shirt draws on").select("Tops").run()
    assert not at.exception
    assert at.success[0].value == "T-shirt draws on Tops."
    assert list(_pool_table(at)["Items"]) == ["tshirt"]
    assert list(at.dataframe[0].value["Shared stock"]) == ["Tops", "—", "—"]
    with read_only(engine) as session:
        assert {e.action for e in audit_entries(session, "")} >= {"pool.created", "item.pool_set"}
