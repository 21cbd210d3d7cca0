"""Redemption codes: keyed hashes, entry rules, uses taken and given back, throttling."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.event import listen, remove

from core.code_admin import revoke_codes
from core.codes import (
    PublicCodeRules,
    admit_submit,
    check_code,
    code_hash,
    count_submit,
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
from core.errors import CodeRefused, CodeThrottled, SubmitThrottled
from core.models import CodeMode, CodeRedemption, Event, Item, Order, RedemptionCode
from tests.factories import make_shop
from tests.factories.codes import (
    KEY,
    NOW,
    World,
    check_code_for,
    generate_codes_for,
    make_world,
    place_order_id,
    redeem_for_order,
    uses_per_code,
)


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


# --- hashing and entry ----------------------------------------------------------------------------------------


def test_entry_ignores_case_spaces_hyphens_and_underscores() -> None:
    assert normalise_code("  ab-cd_ef 12\t") == "ABCDEF12"
    assert code_hash("summer-ab12 cd34", KEY) == code_hash("SUMMERAB12CD34", KEY)


def test_the_hash_depends_on_the_key() -> None:
    assert code_hash("SUMMERAB12CD34", KEY) != code_hash("SUMMERAB12CD34", b"x" * 32)
    with pytest.raises(ValueError):
        code_hash("SUMMERAB12CD34", b"")


def test_a_copy_of_the_database_reveals_no_code(world: World) -> None:
    codes = generate_codes_for(world, count=50, prefix="summer")
    with read_only(world.engine) as session:
        stored = session.scalars(select(RedemptionCode)).all()
    dump = " ".join(f"{row.code_hash} {row.hint} {row.note}" for row in stored)
    for code in codes:
        random_part = normalise_code(code).removeprefix("SUMMER")
        assert random_part not in dump and random_part[:3] not in {row.hint[7:10] for row in stored}
    # The hint shows the prefix and two characters, so organisers can tell codes apart.
    assert {row.hint[:7] for row in stored} == {"SUMMER-"} and all(len(row.hint) == 10 for row in stored)


def test_check_accepts_the_code_however_it_is_typed(world: World) -> None:
    (code,) = generate_codes_for(world, prefix="vip", max_uses=3, item_keys=("hoodie",))
    check = check_code_for(world, "  " + code.lower().replace("-", " ") + " ")
    assert check.uses_left == 3 and check.item_keys == ("hoodie",)
    assert check.allows("hoodie") and not check.allows("tshirt")


@pytest.mark.parametrize("entered, message", [("", "Please enter your code."),
                                              ("NOPE-12345678", "This code is not known."),
                                              ("X" * 200, "This code is not known.")])
def test_check_refuses_missing_and_unknown_codes(world: World, entered: str, message: str) -> None:
    generate_codes_for(world)
    with pytest.raises(CodeRefused, match=message):
        check_code_for(world, entered)


def test_a_code_is_unknown_under_another_key_and_in_another_event(world: World) -> None:
    (code,) = generate_codes_for(world)
    with pytest.raises(CodeRefused, match="not known"):
        check_code_for(world, code, key=b"y" * 32)
    with unit_of_work(world.engine) as session:
        other = make_shop(session, slug="other-event")
    with read_only(world.engine) as session, pytest.raises(CodeRefused, match="not known"):
        check_code(session, session.get_one(Event, other.id), code, key=KEY, now=NOW)


# --- uses ---------------------------------------------------------------------------------------------------


def test_a_single_use_code_is_used_once(world: World) -> None:
    (code,) = generate_codes_for(world)
    order_id = redeem_for_order(world, code, "first")
    with pytest.raises(CodeRefused, match="already been used"):
        redeem_for_order(world, code.lower(), "second")
    assert uses_per_code(world) == [1]
    with read_only(world.engine) as session:
        assert session.scalars(select(CodeRedemption.order_id)).all() == [order_id]


def test_a_code_allows_n_uses_and_then_says_so(world: World) -> None:
    (code,) = generate_codes_for(world, max_uses=3)
    for n in range(3):
        redeem_for_order(world, code, f"order-{n}")
    with pytest.raises(CodeRefused, match="already been used 3 times"):
        redeem_for_order(world, code, "order-3")
    assert uses_per_code(world) == [3]
    with pytest.raises(CodeRefused, match="already been used 3 times"):
        check_code_for(world, code)


def test_a_code_works_through_its_last_day_in_the_event_timezone(world: World) -> None:
    (code,) = generate_codes_for(world, expires_on=date(2027, 6, 1))
    last_moment = datetime(2027, 6, 1, 21, 59, tzinfo=UTC)  # 23:59 in Berlin (UTC+2)
    assert check_code_for(world, code, now=last_moment).expires_at == datetime(2027, 6, 1, 22, 0, tzinfo=UTC)
    with pytest.raises(CodeRefused, match="expired"):
        check_code_for(world, code, now=last_moment + timedelta(minutes=1))
    with pytest.raises(CodeRefused, match="expired"):
        redeem_for_order(world, code, "late", now=last_moment + timedelta(minutes=1))
    assert uses_per_code(world) == [0]


def test_a_revoked_code_is_no_longer_valid(world: World) -> None:
    (code,) = generate_codes_for(world, max_uses=5)
    redeem_for_order(world, code, "before")
    with unit_of_work(world.engine) as session:
        code_id = session.scalars(select(RedemptionCode.id)).one()
        assert revoke_codes(session, world.organiser, world.event_id, [code_id], now=NOW) == 1
    with pytest.raises(CodeRefused, match="no longer valid"):
        redeem_for_order(world, code, "after")
    assert uses_per_code(world) == [1]


def test_a_code_limited_to_items_refuses_others_by_name(world: World) -> None:
    (code,) = generate_codes_for(world, item_keys=("hoodie", "breakfast"))
    with pytest.raises(CodeRefused, match="not valid for T-shirt"):
        redeem_for_order(world, code, "tshirt-order", ("hoodie", "tshirt"))
    assert uses_per_code(world) == [0]
    redeem_for_order(world, code, "hoodie-order", ("hoodie",))
    assert uses_per_code(world) == [1]


def test_releasing_gives_the_use_back(world: World) -> None:
    (code,) = generate_codes_for(world)
    order_id = redeem_for_order(world, code, "first")
    with unit_of_work(world.engine) as session:
        loaded = session.scalars(select(RedemptionCode)).one()
        assert release_code(session, order_id) is True
        assert release_code(session, order_id) is False
        assert loaded.uses == 0  # what the session holds follows the database
    assert uses_per_code(world) == [0]
    redeem_for_order(world, code, "second")
    assert uses_per_code(world) == [1]


def test_a_refused_redemption_leaves_the_transaction_usable(world: World) -> None:
    (code,) = generate_codes_for(world)
    redeem_for_order(world, code, "first")
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        order_id = place_order_id(session, event, "second")
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
    (code,) = generate_codes_for(world)

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


def test_a_submission_reads_the_clients_entry_once(world: World) -> None:
    """admit_submit runs in every order's write transaction: the check and the count share one locked read."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001, ANN002
        statements.append(statement)

    listen(world.engine, "before_cursor_execute", seen)
    try:
        with unit_of_work(world.engine) as session:
            admit_submit(session, "10.0.0.1", NOW)  # the client's first: read, then INSERT
            admit_submit(session, "10.0.0.1", NOW)  # then read, then UPDATE
    finally:
        remove(world.engine, "before_cursor_execute", seen)
    entry_statements = [s.split()[0] for s in statements if "login_throttle" in s]
    assert entry_statements == ["SELECT", "INSERT", "SELECT", "UPDATE"]


def test_a_submission_counted_after_its_rollback_throttles_like_an_admitted_one(world: World) -> None:
    """The page counts a submit in the order's transaction, and again with count_submit when that rolled back."""
    with unit_of_work(world.engine) as session:
        for _ in range(20):
            count_submit(session, "10.0.0.1", NOW)
        with pytest.raises(SubmitThrottled, match="Please wait 2 seconds"):
            admit_submit(session, "10.0.0.1", NOW)


def test_a_client_waiting_after_wrong_codes_cannot_submit_one_instead(world: World) -> None:
    with unit_of_work(world.engine) as session:
        for _ in range(6):
            record_wrong_code(session, "10.0.0.1", NOW)
        admit_submit(session, "10.0.0.1", NOW)  # without a code it may order
        with pytest.raises(CodeThrottled, match="Too many wrong codes"):
            admit_submit(session, "10.0.0.1", NOW, code_entered=True)


def test_a_code_refused_for_its_items_takes_no_use_even_if_the_transaction_commits(world: World) -> None:
    """The use is taken together with reading what the code allows, so a refusal must give it back at once."""
    (code,) = generate_codes_for(world, item_keys=("hoodie",))
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        loaded = session.scalars(select(RedemptionCode)).one()
        order_id = place_order_id(session, event, "tshirt-order")
        with pytest.raises(CodeRefused, match="not valid for T-shirt"):
            redeem_code(session, event, code, ("tshirt",), order_id, key=KEY, now=NOW)
        assert loaded.uses == 0  # what the session holds follows the database
        redeem_code(session, event, code, ("hoodie",), order_id, key=KEY, now=NOW)
        assert loaded.uses == 1
    assert uses_per_code(world) == [1]
