"""Redemption codes for organisers: generating, importing, listing, exporting and revoking codes, the orders
that used one, the event's code mode, and who may do it."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import Engine, select

from core.code_admin import (
    CODE_ALPHABET,
    CODE_COLUMNS,
    MAIL_MERGE_COLUMNS,
    CodeBatch,
    CodeFilters,
    CodeStatus,
    code_overview,
    code_uses,
    export_code_list,
    generate_codes,
    import_codes,
    list_codes,
    revoke_codes,
    set_code_mode,
)
from core.codes import normalise_code, release_code
from core.db import read_only, unit_of_work
from core.errors import CodeImportError, FormValidationError, NotFound, PermissionDenied
from core.models import AuditEntry, CodeMode, Order, RedemptionCode
from tests.factories import make_shop, make_user
from tests.factories.codes import (
    KEY,
    NOW,
    World,
    check_code_for,
    generate_codes_for,
    make_world,
    redeem_for_order,
    uses_per_code,
)


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


def test_generated_codes_are_unique_and_use_the_safe_alphabet(world: World) -> None:
    codes = generate_codes_for(world, count=2000, prefix="Sum", length=8)
    assert len(set(codes)) == 2000
    for code in codes:
        prefix, random_part = code.split("-")
        assert prefix == "SUM" and len(random_part) == 8 and set(random_part) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)
    with read_only(world.engine) as session:
        assert len(set(session.scalars(select(RedemptionCode.code_hash)))) == 2000


def test_generation_returns_a_mail_merge_csv_and_audits_no_code(world: World) -> None:
    with unit_of_work(world.engine) as session:
        new = generate_codes(session, world.organiser, world.event_id,
                             CodeBatch(count=3, max_uses=2, expires_on=date(2027, 7, 1), item_keys=("hoodie",),
                                       note="speakers"), key=KEY, now=NOW)
    rows = list(csv.reader(io.StringIO(new.csv.decode("utf-8-sig"))))
    assert tuple(rows[0]) == MAIL_MERGE_COLUMNS
    assert [row[0] for row in rows[1:]] == list(new.codes)
    assert rows[1][1:] == ["2", "2027-07-01", "Hoodie"]
    assert new.filename.startswith("test-event-codes-") and new.filename.endswith(".csv")
    with read_only(world.engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "codes.generated")).one()
    assert entry.details["count"] == 3
    assert not any(code in str(entry.details) for code in new.codes)


@pytest.mark.parametrize("batch, field", [
    (CodeBatch(count=0), "count"), (CodeBatch(count=10_001), "count"), (CodeBatch(count=1, prefix="a/b"), "prefix"),
    (CodeBatch(count=1, length=4), "length"), (CodeBatch(count=1, max_uses=0), "max_uses"),
    (CodeBatch(count=1, item_keys=("socks",)), "item_keys"), (CodeBatch(count=1, note="x" * 201), "note"),
])
def test_generation_refuses_bad_settings(world: World, batch: CodeBatch, field: str) -> None:
    with unit_of_work(world.engine) as session, pytest.raises(FormValidationError) as refused:
        generate_codes(session, world.organiser, world.event_id, batch, key=KEY, now=NOW)
    assert field in refused.value.errors


def test_only_members_manage_codes(world: World) -> None:
    with unit_of_work(world.engine) as session:
        stranger = make_user(session, "sam")
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        generate_codes(session, stranger, world.event_id, CodeBatch(count=1), key=KEY, now=NOW)
    with read_only(world.engine) as session, pytest.raises(PermissionDenied):
        list_codes(session, stranger, world.event_id)


def test_import_stores_codes_that_then_work(world: World) -> None:
    data = ("code;max_uses;expires;items;note\r\n"
            "Alpha-2024-one;3;2027-06-30;hoodie, breakfast;speakers\r\n"
            "\r\n"
            "beta 2024 two;;;;\r\n").encode("utf-8-sig")
    with unit_of_work(world.engine) as session:
        assert import_codes(session, world.organiser, world.event_id, data, key=KEY, now=NOW) == 2
    assert check_code_for(world, "ALPHA2024ONE").item_keys == ("hoodie", "breakfast")
    assert check_code_for(world, "beta-2024-two").uses_left == 1
    with read_only(world.engine) as session:
        hints = set(session.scalars(select(RedemptionCode.hint)))
        assert session.scalars(select(AuditEntry.details).where(AuditEntry.action == "codes.imported")).one() == {
            "count": 2}
    assert hints == {"ALP…", "BE…"}  # a quarter of the code at most


def test_import_is_all_or_nothing_and_names_each_bad_row(world: World) -> None:
    (existing,) = generate_codes_for(world)
    data = "\n".join(["code,max_uses,expires,items", "GOOD-CODE-1,1,,", "short,1,,", "GOOD-CODE-2,0,,",
                      "GOOD-CODE-3,1,1 July,", "GOOD-CODE-4,1,,socks", "good code 1,1,,", f"{existing},1,,"])
    with unit_of_work(world.engine) as session, pytest.raises(CodeImportError) as refused:
        import_codes(session, world.organiser, world.event_id, data.encode(), key=KEY, now=NOW)
    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "Row 3", "Row 4", "Row 5", "Row 6", "Row 7", "Row 8"]
    assert "Row 7: the same code as row 2." in refused.value.problems
    assert "Row 8: this code already exists in this event." in refused.value.problems
    assert "no item socks" in refused.value.problems[3]
    assert str(refused.value).startswith("Nothing was imported (6 problems)")
    assert len(uses_per_code(world)) == 1


@pytest.mark.parametrize("data, problem", [(b"number\n123456\n", "\"code\""), (b"\xff\xfe\x00", "UTF-8"),
                                           (b"code\n", "no codes")])
def test_import_refuses_files_it_cannot_read(world: World, data: bytes, problem: str) -> None:
    with unit_of_work(world.engine) as session, pytest.raises(CodeImportError, match=problem):
        import_codes(session, world.organiser, world.event_id, data, key=KEY, now=NOW)


def test_list_shows_status_and_filters(world: World) -> None:
    used, revoked = generate_codes_for(world, count=2, note="batch one")
    generate_codes_for(world, expires_on=date(2027, 5, 1))
    generate_codes_for(world, count=3, prefix="vip")
    redeem_for_order(world, used, "used")
    with unit_of_work(world.engine) as session:
        code_id = session.scalars(select(RedemptionCode.id).order_by(RedemptionCode.id)).all()[1]
        revoke_codes(session, world.organiser, world.event_id, [code_id], now=NOW)
    with read_only(world.engine) as session:
        everything = list_codes(session, world.organiser, world.event_id, now=NOW)
        vip = list_codes(session, world.organiser, world.event_id, CodeFilters(text="vip-"), now=NOW)
        noted = list_codes(session, world.organiser, world.event_id, CodeFilters(text="Batch"), now=NOW)
        overview = code_overview(session, world.organiser, world.event_id, now=NOW)
    assert tuple(everything.rows.columns) == CODE_COLUMNS and everything.total == 6
    assert sorted(everything.rows["status"]) == ["active", "active", "active", "expired", "revoked", "used up"]
    # The last day the code works, as the organiser chose it, in the event's timezone.
    assert sorted(everything.rows["valid_until"]) == ["", "", "", "", "", "2027-05-01"]
    assert vip.total == 3 and set(vip.rows["status"]) == {"active"}
    assert noted.total == 2
    assert overview.counts == {CodeStatus.ACTIVE: 3, CodeStatus.USED_UP: 1, CodeStatus.EXPIRED: 1,
                               CodeStatus.REVOKED: 1}
    with read_only(world.engine) as session:
        for status, count in overview.counts.items():
            assert list_codes(session, world.organiser, world.event_id, CodeFilters(status=status),
                              now=NOW).total == count


def test_the_exported_list_has_hints_but_no_codes(world: World) -> None:
    codes = generate_codes_for(world, count=3, note="=HYPERLINK(\"http://x\")")
    with unit_of_work(world.engine) as session:
        filename, mimetype, data = export_code_list(session, world.organiser, world.event_id, now=NOW)
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert mimetype == "text/csv" and filename.endswith(".csv") and len(rows) == 4
    assert rows[0] == ["hint", "status", "uses", "max uses", "valid until", "items", "note", "created"]
    assert all(row[6].startswith("'=") for row in rows[1:])  # a formula in a note is neutralised
    assert not any(normalise_code(code)[-6:] in text for code in codes)


def test_an_event_without_codes_exports_just_the_header(world: World) -> None:
    with unit_of_work(world.engine) as session:
        _, _, data = export_code_list(session, world.organiser, world.event_id, now=NOW)
    assert data.decode("utf-8-sig").splitlines() == [
        '"hint","status","uses","max uses","valid until","items","note","created"']


def test_revoking_is_audited_and_limited_to_the_event(world: World) -> None:
    generate_codes_for(world, count=2)
    with unit_of_work(world.engine) as session:
        other = make_shop(session, slug="other-event")
        member = make_user(session, "admin2", member_of=[other])
        generate_codes(session, member, other.id, CodeBatch(count=1), key=KEY, now=NOW)
    with read_only(world.engine) as session:
        ids = list(session.scalars(select(RedemptionCode.id).order_by(RedemptionCode.id)))
    with unit_of_work(world.engine) as session, pytest.raises(NotFound):
        revoke_codes(session, world.organiser, world.event_id, ids, now=NOW)
    with unit_of_work(world.engine) as session:
        assert revoke_codes(session, world.organiser, world.event_id, ids[:2], now=NOW) == 2
        assert revoke_codes(session, world.organiser, world.event_id, ids[:2], now=NOW) == 0
    with read_only(world.engine) as session:
        details = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "codes.revoked")).all()
    assert details == [{"count": 2, "code_ids": ids[:2]}]


def test_code_uses_lists_the_orders_that_used_it(world: World) -> None:
    (code,) = generate_codes_for(world, max_uses=2)
    first = redeem_for_order(world, code, "first")
    redeem_for_order(world, code, "second")
    with unit_of_work(world.engine) as session:
        release_code(session, first)
    with read_only(world.engine) as session:
        code_id = session.scalars(select(RedemptionCode.id)).one()
        uses = code_uses(session, world.organiser, world.event_id, code_id)
        second = session.scalars(select(Order.reference).where(Order.idempotency_key == "second")).one()
        with pytest.raises(NotFound):
            code_uses(session, world.organiser, world.event_id, code_id + 1)
    assert uses["reference"].tolist() == [second] and uses["status"].tolist() == ["received"]


def test_setting_the_code_mode_marks_items_and_is_audited(world: World) -> None:
    with unit_of_work(world.engine) as session:
        set_code_mode(session, world.organiser, world.event_id, CodeMode.ITEMS, ["hoodie"])
        set_code_mode(session, world.organiser, world.event_id, CodeMode.ITEMS, ["hoodie"])  # no change
    with read_only(world.engine) as session:
        overview = code_overview(session, world.organiser, world.event_id, now=NOW)
        entries = session.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "event.code_mode_changed")).all()
    assert overview.mode == CodeMode.ITEMS and overview.items_requiring_code == {"hoodie"}
    assert entries == [{"old_mode": "none", "new_mode": "items", "items_requiring_code": ["hoodie"]}]
    for mode, items, field in [(CodeMode.ITEMS, [], "items"), (CodeMode.FORM, ["socks"], "items")]:
        with unit_of_work(world.engine) as session, pytest.raises(FormValidationError) as refused:
            set_code_mode(session, world.organiser, world.event_id, mode, items)
        assert field in refused.value.errors
