"""Items declare their own dimensions; variants are every combination of their options."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from core.catalogue import load_catalogue
from core.db import read_only, unit_of_work
from core.errors import SchemaError
from core.events import get_published_event
from tests.factories import make_event, make_item


def test_variants_are_every_combination_of_the_item_dimensions(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session)
        make_item(session, event, "tshirt", dimensions=[
            {"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
            {"name": "size", "label": "Size", "options": ["S", "M"]},
            {"name": "colour", "label": "Colour", "options": ["Black"]},
        ])
        make_item(session, event, "breakfast", dimensions=[])
    with read_only(engine) as session:
        tshirt, breakfast = load_catalogue(session, get_published_event(session, "test-event"))
    assert [v.key for v in tshirt.variants] == ["Fitted/S/Black", "Fitted/M/Black", "Straight/S/Black",
                                                "Straight/M/Black"]
    assert tshirt.variant_for({"type": "Straight", "size": "M", "colour": "Black"}).label == "Straight, M, Black"
    assert [v.key for v in breakfast.variants] == [""]
    assert breakfast.variant_for({}) is breakfast.variants[0]


def test_switched_off_variants_and_items_are_not_offered(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session)
        shirt = make_item(session, event, "tshirt")
        hidden = make_item(session, event, "hoodie")
        shirt.variants[0].active = False
        hidden.active = False
    with read_only(engine) as session:
        [tshirt] = load_catalogue(session, get_published_event(session, "test-event"))
    assert [v.available for v in tshirt.variants].count(False) == 1


@pytest.mark.parametrize("dimensions, problem", [
    ([{"name": "size", "label": "Size", "options": []}], "at least one option"),
    ([{"name": "size", "label": "Size", "options": ["M", "M"]}], "unique"),
    ([{"name": "size", "label": "Size", "options": ["S/M"]}], "may not contain"),
    ([{"name": "Size!", "label": "Size", "options": ["S"]}], "lower-case"),
    ([{"name": "size", "label": "", "options": ["S"]}], "label"),
    ([{"name": "size", "label": "A", "options": ["S"]}, {"name": "size", "label": "B", "options": ["S"]}], "twice"),
])
def test_malformed_dimensions_are_refused_with_the_reason(engine: Engine, dimensions: list, problem: str) -> None:
    with pytest.raises(SchemaError, match=problem), unit_of_work(engine) as session:
        make_item(session, make_event(session), "tshirt", dimensions=dimensions)
