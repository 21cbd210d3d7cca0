"""Form versions: edited in place until an order uses one, then frozen."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import Engine, select

from core.db import read_only, unit_of_work
from core.errors import SchemaError
from core.form_versions import current_form_version, save_form
from core.models import Event, FormVersion, Order
from core.orders import place_order
from tests.factories import BASIC_FORM, answers, make_shop


def _with_extra_field(label: str) -> dict:
    document = copy.deepcopy(BASIC_FORM)
    document["fields"].append({"key": "extra", "type": "short_text", "label": label})
    return document


def test_unused_form_is_edited_in_place(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        version, _ = save_form(session, event, _with_extra_field("Extra"))
    assert version.number == 1
    with read_only(engine) as session:
        assert len(session.scalars(select(FormVersion)).all()) == 1


def test_saving_after_an_order_creates_a_new_version_and_the_order_keeps_its_own(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        place_order(session, event, answers(), idempotency_key="k1")
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        version, spec = save_form(session, event, _with_extra_field("Added later"))
    assert version.number == 2
    assert spec.fields[-1].label == "Added later"
    with read_only(engine) as session:
        order = session.scalars(select(Order)).one()
        first = session.get(FormVersion, order.form_version_id)
        assert first is not None and first.number == 1 and first.schema == BASIC_FORM
        assert current_form_version(session, session.scalars(select(Event)).one()).number == 2


def test_invalid_schema_is_refused_and_nothing_changes(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
    broken = _with_extra_field("Extra")
    broken["fields"][-1]["type"] = "email"  # personal, but says nowhere why
    with pytest.raises(SchemaError, match="'extra'.*purpose"), unit_of_work(engine) as session:
        save_form(session, session.merge(event), broken)
    with read_only(engine) as session:
        assert session.scalars(select(FormVersion)).one().schema == BASIC_FORM
