"""Duplicating an event: the copy has the source's set-up, item for item, and nothing of its people."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.code_admin import CodeBatch, generate_codes, set_code_mode
from core.db import read_only, unit_of_work
from core.demo import seed_demo
from core.errors import EventValidationError, PermissionDenied
from core.event_admin import create_event_for, slugify, suggest_slug
from core.event_copy import COPIED_SETTINGS, duplicate_event
from core.form_versions import current_form_version
from core.mail_templates import save_template
from core.models import (
    AuditEntry,
    Base,
    CodeMode,
    Event,
    EventMember,
    Item,
    MailTemplate,
    MessageKind,
    Order,
    StockPool,
    Variant,
    utcnow,
)
from core.orders import place_order
from core.vendors import route_item
from tests.factories import make_user
from tests.factories.events import image_bytes
from tests.factories.vendors import make_vendor

SECRET_NAME, SECRET_EMAIL = "Zebedee Secretname", "zebedee.secret@example.com"


@pytest.fixture
def source(engine: Engine) -> tuple[Actor, Actor, int]:
    """The demo event set up to the full, with its orders, codes and history: its organiser, a second organiser
    and its id."""
    with unit_of_work(engine) as session:
        seed_demo(session)
        event = session.scalars(select(Event).where(Event.slug == "demo")).one()
        event.opens_at, event.closes_at = utcnow() - timedelta(days=1), utcnow() + timedelta(days=30)
        event.retention_days, event.one_order_per_email = 14, True
        olga, bea = make_user(session, "olga", member_of=[event]), make_user(session, "bea", member_of=[event])
        pool = StockPool(event_id=event.id, name="Cotton", capacity=200, sold=0)
        session.add(pool)
        session.flush()
        tshirt, hoodie = (session.scalars(select(Item).where(Item.event_id == event.id, Item.key == key)).one()
                          for key in ("tshirt", "hoodie"))
        tshirt.pool_id, tshirt.image, tshirt.image_type = pool.id, image_bytes(), "image/png"
        hoodie.variants[0].stock, hoodie.variants[1].active = 20, False
        printer = make_vendor(session, "Printer", owner=olga, visible_fields=["name", "delivery"])
        route_item(session, olga, event.id, "hoodie", printer.id)
        save_template(session, olga, event.id, MessageKind.CONFIRMATION, "Thanks, {name}", "Your {items}.")
        place_order(session, event, {
            "name": SECRET_NAME, "email": SECRET_EMAIL, "consent": True, "dietary": "Vegan",
            "delivery": {"street": "1 Secret Lane", "city": "Secretville", "postcode": "SE1 1AA",
                         "country": "United Kingdom"},
            "items": [{"item": "hoodie", "options": {"size": "S"}, "quantity": 2},
                      {"item": "breakfast", "options": {}, "quantity": 1}]}, idempotency_key="secret",
                    code_key=b"k" * 32)
        set_code_mode(session, olga, event.id, CodeMode.FORM)
        generate_codes(session, olga, event.id, CodeBatch(count=3), key=b"k" * 32)
        return olga, bea, event.id


def _duplicate(engine: Engine, actor: Actor, source_id: int) -> int:
    with unit_of_work(engine) as session:
        return duplicate_event(session, actor, source_id, slug="summer-meetup-2028", title="Summer Meetup 2028").id


def _items(session: Session, event_id: int) -> list[tuple]:
    items = session.scalars(select(Item).where(Item.event_id == event_id).order_by(Item.position)).all()
    return [(i.key, i.name, i.description, i.price, i.dimensions, i.max_per_order, i.active, i.position, i.image,
             i.image_type, i.vendor_id, i.requires_code, i.pool_id and session.get_one(StockPool, i.pool_id).name,
             [(v.key, v.options, v.active, v.stock) for v in i.variants]) for i in items]


def test_the_copy_has_the_sources_set_up_as_a_new_draft(engine: Engine, source: tuple[Actor, Actor, int]) -> None:
    olga, bea, source_id = source
    copy_id = _duplicate(engine, olga, source_id)
    with read_only(engine) as session:
        original, twin = session.get_one(Event, source_id), session.get_one(Event, copy_id)
        assert (twin.slug, twin.title, twin.published) == ("summer-meetup-2028", "Summer Meetup 2028", False)
        assert {name: getattr(twin, name) for name in COPIED_SETTINGS} == {
            name: getattr(original, name) for name in COPIED_SETTINGS}
        assert twin.header_image and twin.code_mode == CodeMode.FORM and twin.retention_days == 14
        assert (twin.opens_at, twin.closes_at) == (None, None)  # last year's dates are past
        assert _items(session, copy_id) == _items(session, source_id)
        assert [v.sold for i in twin.items for v in i.variants] == [0] * sum(len(i.variants) for i in twin.items)
        assert session.scalars(select(StockPool.sold).where(StockPool.event_id == copy_id)).all() == [0]
        assert current_form_version(session, twin).schema == current_form_version(session, original).schema
        assert [(t.kind, t.subject, t.body) for t in session.scalars(
            select(MailTemplate).where(MailTemplate.event_id == copy_id))] == [
            (MessageKind.CONFIRMATION, "Thanks, {name}", "Your {items}.\n")]
        assert set(session.scalars(select(EventMember.user_id).where(EventMember.event_id == copy_id))) == {
            olga.user_id, bea.user_id}


def test_nothing_personal_and_no_history_is_copied(engine: Engine, source: tuple[Actor, Actor, int]) -> None:
    olga, _, source_id = source
    copy_id = _duplicate(engine, olga, source_id)
    with read_only(engine) as session:
        assert session.scalars(select(Order).where(Order.event_id == source_id)).all()  # the source had one
        copied_item_ids = set(session.scalars(select(Item.id).where(Item.event_id == copy_id)))
        rows_of_the_copy = []
        for mapper in Base.registry.mappers:
            model, columns = mapper.class_, inspect(mapper.class_).columns
            if "event_id" in columns:
                rows_of_the_copy += [(model.__tablename__, row) for row in
                                     session.scalars(select(model).where(columns["event_id"] == copy_id))]
        rows_of_the_copy += [("variants", v) for v in session.scalars(
            select(Variant).where(Variant.item_id.in_(copied_item_ids)))]
        tables = {table for table, _ in rows_of_the_copy}
        assert tables == {"items", "variants", "stock_pools", "form_versions", "mail_templates", "event_members",
                          "audit_log"}  # no orders, codes, outbox, disclosures, drafts, links, receipts ...
        dumped = repr([{c.key: getattr(row, c.key) for c in inspect(row).mapper.column_attrs}
                       for _, row in rows_of_the_copy])
        for secret in (SECRET_NAME, SECRET_EMAIL, "Secret Lane", "Secretville"):
            assert secret not in dumped
        entries = session.scalars(select(AuditEntry).where(AuditEntry.event_id == copy_id)).all()
        assert [(e.action, e.actor, e.details) for e in entries] == [
            ("event.duplicated", "olga", {"from": "demo", "from_id": source_id})]


def test_only_an_organiser_of_the_source_may_duplicate_it_to_a_free_address(
    engine: Engine, source: tuple[Actor, Actor, int]
) -> None:
    olga, _, source_id = source
    with unit_of_work(engine) as session:
        stranger = make_user(session, "mallory")
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        duplicate_event(session, stranger, source_id, slug="mine", title="Mine")
    with pytest.raises(EventValidationError) as refused, unit_of_work(engine) as session:
        duplicate_event(session, olga, source_id, slug="demo", title="Again")
    assert refused.value.errors == {"slug": "The address name 'demo' is already taken."}


def test_an_address_name_is_suggested_from_the_title_with_the_next_free_number(engine: Engine) -> None:
    assert slugify("Summer Meetup 2027!") == "summer-meetup-2027"
    assert slugify("Café Crème — Brunch") == "cafe-creme-brunch"
    assert slugify("Alice’s Club's Fair") == "alices-clubs-fair"
    assert slugify("!!!") == ""
    assert len(slugify("x" * 100)) == 64
    with unit_of_work(engine) as session:
        olga = make_user(session, "olga")
        assert suggest_slug(session, "Running Club Hoodies") == "running-club-hoodies"
        create_event_for(session, olga, slug="running-club-hoodies", title="Running Club Hoodies")
        assert suggest_slug(session, "Running Club Hoodies") == "running-club-hoodies-2"
        create_event_for(session, olga, slug="running-club-hoodies-2", title="Running Club Hoodies")
        assert suggest_slug(session, "Running club hoodies") == "running-club-hoodies-3"
        assert suggest_slug(session, "Running Club") == "running-club"
