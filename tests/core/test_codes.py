"""Redemption codes: keyed hashes, entry rules, uses taken and given back, throttling, and organisers' tools."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
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
from core.codes import (
    PublicCodeRules,
    admit_submit,
    check_code,
    code_hash,
    enter_code,
    items_needing_code,
    normalise_code,
    public_code_rules,
    record_wrong_code,
    redeem_code,
    release_code,
)
from core.config import Settings, code_key
from core.db import read_only, unit_of_work
from core.errors import (
    CodeImportError,
    CodeRefused,
    CodeThrottled,
    FormValidationError,
    NotFound,
    PermissionDenied,
    SubmitThrottled,
)
from core.models import AuditEntry, CodeMode, CodeRedemption, Event, Item, Order, RedemptionCode
from tests.factories import make_shop, make_user
from tests.order_admin_factories import place

KEY = b"k" * 32
NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    organiser: Actor


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone=TIMEZONE)
        organiser = make_user(session, "olivia", member_of=[event])
    return World(engine, event.id, organiser)


def _generate(world: World, **batch: object) -> tuple[str, ...]:
    with unit_of_work(world.engine) as session:
        return generate_codes(session, world.organiser, world.event_id, CodeBatch(**{"count": 1, **batch}),
                              key=KEY, now=NOW).codes


def _order_id(session: Session, event: Event, key: str) -> int:
    reference = place(session, event, key, now=NOW)
    session.flush()
    return session.scalars(select(Order.id).where(Order.reference == reference)).one()


def _redeem(world: World, code: str, order_key: str, items: tuple[str, ...] = ("tshirt",), *,
            now: datetime = NOW) -> int:
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        order_id = _order_id(session, event, order_key)
        redeem_code(session, event, code, items, order_id, key=KEY, now=now)
        return order_id


def _check(world: World, code: str, *, now: datetime = NOW, key: bytes = KEY):
    with read_only(world.engine) as session:
        return check_code(session, session.get_one(Event, world.event_id), code, key=key, now=now)


def _uses(world: World) -> list[int]:
    with read_only(world.engine) as session:
        return list(session.scalars(select(RedemptionCode.uses).order_by(RedemptionCode.id)))


# --- hashing and entry ----------------------------------------------------------------------------------------


def test_entry_ignores_case_spaces_hyphens_and_underscores() -> None:
    assert normalise_code("  ab-cd_ef 12\t") == "ABCDEF12"
    assert code_hash("summer-ab12 cd34", KEY) == code_hash("SUMMERAB12CD34", KEY)


def test_the_hash_depends_on_the_key() -> None:
    assert code_hash("SUMMERAB12CD34", KEY) != code_hash("SUMMERAB12CD34", b"x" * 32)
    with pytest.raises(ValueError):
        code_hash("SUMMERAB12CD34", b"")


def test_a_copy_of_the_database_reveals_no_code(world: World) -> None:
    codes = _generate(world, count=50, prefix="summer")
    with read_only(world.engine) as session:
        stored = session.scalars(select(RedemptionCode)).all()
    dump = " ".join(f"{row.code_hash} {row.hint} {row.note}" for row in stored)
    for code in codes:
        random_part = normalise_code(code).removeprefix("SUMMER")
        assert random_part not in dump and random_part[:3] not in {row.hint[7:10] for row in stored}
    # The hint shows the prefix and two characters, so organisers can tell codes apart.
    assert {row.hint[:7] for row in stored} == {"SUMMER-"} and all(len(row.hint) == 10 for row in stored)


def test_check_accepts_the_code_however_it_is_typed(world: World) -> None:
    (code,) = _generate(world, prefix="vip", max_uses=3, item_keys=("hoodie",))
    check = _check(world, "  " + code.lower().replace("-", " ") + " ")
    assert check.uses_left == 3 and check.item_keys == ("hoodie",)
    assert check.allows("hoodie") and not check.allows("tshirt")


@pytest.mark.parametrize("entered, message", [("", "Please enter your code."),
                                              ("NOPE-12345678", "This code is not known."),
                                              ("X" * 200, "This code is not known.")])
def test_check_refuses_missing_and_unknown_codes(world: World, entered: str, message: str) -> None:
    _generate(world)
    with pytest.raises(CodeRefused, match=message):
        _check(world, entered)


def test_a_code_is_unknown_under_another_key_and_in_another_event(world: World) -> None:
    (code,) = _generate(world)
    with pytest.raises(CodeRefused, match="not known"):
        _check(world, code, key=b"y" * 32)
    with unit_of_work(world.engine) as session:
        other = make_shop(session, slug="other-event")
    with read_only(world.engine) as session, pytest.raises(CodeRefused, match="not known"):
        check_code(session, session.get_one(Event, other.id), code, key=KEY, now=NOW)


# --- uses ---------------------------------------------------------------------------------------------------


def test_a_single_use_code_is_used_once(world: World) -> None:
    (code,) = _generate(world)
    order_id = _redeem(world, code, "first")
    with pytest.raises(CodeRefused, match="already been used"):
        _redeem(world, code.lower(), "second")
    assert _uses(world) == [1]
    with read_only(world.engine) as session:
        assert session.scalars(select(CodeRedemption.order_id)).all() == [order_id]


def test_a_code_allows_n_uses_and_then_says_so(world: World) -> None:
    (code,) = _generate(world, max_uses=3)
    for n in range(3):
        _redeem(world, code, f"order-{n}")
    with pytest.raises(CodeRefused, match="already been used 3 times"):
        _redeem(world, code, "order-3")
    assert _uses(world) == [3]
    with pytest.raises(CodeRefused, match="already been used 3 times"):
        _check(world, code)


def test_a_code_works_through_its_last_day_in_the_event_timezone(world: World) -> None:
    (code,) = _generate(world, expires_on=date(2027, 6, 1))
    last_moment = datetime(2027, 6, 1, 21, 59, tzinfo=UTC)  # 23:59 in Berlin (UTC+2)
    assert _check(world, code, now=last_moment).expires_at == datetime(2027, 6, 1, 22, 0, tzinfo=UTC)
    with pytest.raises(CodeRefused, match="expired"):
        _check(world, code, now=last_moment + timedelta(minutes=1))
    with pytest.raises(CodeRefused, match="expired"):
        _redeem(world, code, "late", now=last_moment + timedelta(minutes=1))
    assert _uses(world) == [0]


def test_a_revoked_code_is_no_longer_valid(world: World) -> None:
    (code,) = _generate(world, max_uses=5)
    _redeem(world, code, "before")
    with unit_of_work(world.engine) as session:
        code_id = session.scalars(select(RedemptionCode.id)).one()
        assert revoke_codes(session, world.organiser, world.event_id, [code_id], now=NOW) == 1
    with pytest.raises(CodeRefused, match="no longer valid"):
        _redeem(world, code, "after")
    assert _uses(world) == [1]


def test_a_code_limited_to_items_refuses_others_by_name(world: World) -> None:
    (code,) = _generate(world, item_keys=("hoodie", "breakfast"))
    with pytest.raises(CodeRefused, match="not valid for T-shirt"):
        _redeem(world, code, "tshirt-order", ("hoodie", "tshirt"))
    assert _uses(world) == [0]
    _redeem(world, code, "hoodie-order", ("hoodie",))
    assert _uses(world) == [1]


def test_releasing_gives_the_use_back(world: World) -> None:
    (code,) = _generate(world)
    order_id = _redeem(world, code, "first")
    with unit_of_work(world.engine) as session:
        loaded = session.scalars(select(RedemptionCode)).one()
        assert release_code(session, order_id) is True
        assert release_code(session, order_id) is False
        assert loaded.uses == 0  # what the session holds follows the database
    assert _uses(world) == [0]
    _redeem(world, code, "second")
    assert _uses(world) == [1]


def test_a_refused_redemption_leaves_the_transaction_usable(world: World) -> None:
    (code,) = _generate(world)
    _redeem(world, code, "first")
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        order_id = _order_id(session, event, "second")
        with pytest.raises(CodeRefused):
            redeem_code(session, event, code, ("tshirt",), order_id, key=KEY, now=NOW)
        session.flush()
        assert session.get(Order, order_id) is not None


def test_which_orders_need_a_code_follows_the_mode(world: World) -> None:
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        items = {item.key: item for item in session.scalars(select(Item))}
        items["hoodie"].requires_code = True
        ordered = [items["tshirt"], items["hoodie"]]
        assert items_needing_code(event, ordered) is None
        event.code_mode = CodeMode.FORM
        assert items_needing_code(event, ordered) == {"tshirt", "hoodie"}
        assert items_needing_code(event, []) == frozenset()
        event.code_mode = CodeMode.ITEMS
        assert items_needing_code(event, ordered) == {"hoodie"}
        assert items_needing_code(event, [items["tshirt"]]) is None
        assert public_code_rules(session, event) == PublicCodeRules(CodeMode.ITEMS, ("Hoodie",))


# --- the key ------------------------------------------------------------------------------------------------


def test_the_code_key_comes_from_code_key_or_the_cookie_key() -> None:
    explicit = "c" * 32
    assert code_key(Settings(code_key=explicit, cookie_key="d" * 32)) == explicit.encode()
    derived = code_key(Settings(cookie_key="d" * 32))
    assert len(derived) == 32 and derived != ("d" * 32).encode()
    assert derived != code_key(Settings(cookie_key="e" * 32))
    with pytest.raises(ValueError, match="CODE_KEY is too short"):
        code_key(Settings(code_key="short", cookie_key="d" * 32))
    with pytest.raises(ValueError, match="COOKIE_KEY is not set"):
        code_key(Settings())


# --- throttling -----------------------------------------------------------------------------------------------


def test_wrong_codes_are_throttled_per_client(world: World) -> None:
    (code,) = _generate(world)

    def enter(entered: str, client: str, now: datetime = NOW):
        with unit_of_work(world.engine) as session:
            return enter_code(session, session.get_one(Event, world.event_id), entered, client, key=KEY, now=now)

    for _ in range(4):
        assert enter("WRONG-CODE1", "10.0.0.1").message.startswith("This code is not known.")
    assert "Too many" not in enter("", "10.0.0.1").message  # an empty entry costs nothing
    assert "Too many wrong codes. Please wait 2 seconds" in enter("WRONG-CODE1", "10.0.0.1").message
    blocked = enter(code, "10.0.0.1")  # even the right code must wait
    assert blocked.check is None and blocked.message.startswith("Too many wrong codes. Please wait")
    assert enter(code, "10.0.0.2").check is not None  # another client is not affected
    assert enter(code, "10.0.0.1", NOW + timedelta(seconds=3)).check is not None


def test_submissions_are_throttled_generously_per_client(world: World) -> None:
    with unit_of_work(world.engine) as session:
        for _ in range(20):
            admit_submit(session, "10.0.0.1", NOW)
        with pytest.raises(SubmitThrottled, match="Please wait 2 seconds"):
            admit_submit(session, "10.0.0.1", NOW)
        admit_submit(session, "10.0.0.2", NOW)
        admit_submit(session, "10.0.0.1", NOW + timedelta(seconds=3))


def test_a_client_waiting_after_wrong_codes_cannot_submit_one_instead(world: World) -> None:
    with unit_of_work(world.engine) as session:
        for _ in range(6):
            record_wrong_code(session, "10.0.0.1", NOW)
        admit_submit(session, "10.0.0.1", NOW)  # without a code it may order
        with pytest.raises(CodeThrottled, match="Too many wrong codes"):
            admit_submit(session, "10.0.0.1", NOW, code_entered=True)


# --- organisers -------------------------------------------------------------------------------------------------


def test_generated_codes_are_unique_and_use_the_safe_alphabet(world: World) -> None:
    codes = _generate(world, count=2000, prefix="Sum", length=8)
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
    assert _check(world, "ALPHA2024ONE").item_keys == ("hoodie", "breakfast")
    assert _check(world, "beta-2024-two").uses_left == 1
    with read_only(world.engine) as session:
        hints = set(session.scalars(select(RedemptionCode.hint)))
        assert session.scalars(select(AuditEntry.details).where(AuditEntry.action == "codes.imported")).one() == {
            "count": 2}
    assert hints == {"ALP…", "BE…"}  # a quarter of the code at most


def test_import_is_all_or_nothing_and_names_each_bad_row(world: World) -> None:
    (existing,) = _generate(world)
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
    assert len(_uses(world)) == 1


@pytest.mark.parametrize("data, problem", [(b"number\n123456\n", "\"code\""), (b"\xff\xfe\x00", "UTF-8"),
                                           (b"code\n", "no codes")])
def test_import_refuses_files_it_cannot_read(world: World, data: bytes, problem: str) -> None:
    with unit_of_work(world.engine) as session, pytest.raises(CodeImportError, match=problem):
        import_codes(session, world.organiser, world.event_id, data, key=KEY, now=NOW)


def test_list_shows_status_and_filters(world: World) -> None:
    used, revoked = _generate(world, count=2, note="batch one")
    _generate(world, expires_on=date(2027, 5, 1))
    _generate(world, count=3, prefix="vip")
    _redeem(world, used, "used")
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
    codes = _generate(world, count=3, note="=HYPERLINK(\"http://x\")")
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
    _generate(world, count=2)
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
    (code,) = _generate(world, max_uses=2)
    first = _redeem(world, code, "first")
    _redeem(world, code, "second")
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


def test_a_code_refused_for_its_items_takes_no_use_even_if_the_transaction_commits(world: World) -> None:
    """The use is taken together with reading what the code allows, so a refusal must give it back at once."""
    (code,) = _generate(world, item_keys=("hoodie",))
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        loaded = session.scalars(select(RedemptionCode)).one()
        order_id = _order_id(session, event, "tshirt-order")
        with pytest.raises(CodeRefused, match="not valid for T-shirt"):
            redeem_code(session, event, code, ("tshirt",), order_id, key=KEY, now=NOW)
        assert loaded.uses == 0  # what the session holds follows the database
        redeem_code(session, event, code, ("hoodie",), order_id, key=KEY, now=NOW)
        assert loaded.uses == 1
    assert _uses(world) == [1]
