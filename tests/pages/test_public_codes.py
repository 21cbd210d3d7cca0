"""Codes on the public order page through AppTest: the code that opens the form, codes for some items, throttling."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.code_admin import CodeBatch, generate_codes
from core.config import code_key, load_settings
from core.db import read_only, unit_of_work
from core.models import CodeMode, Item, Order, RedemptionCode
from tests.factories import make_shop, make_user
from tests.pages.conftest import AppFactory

PREFIX = "order.test-event"


def _shop(engine: Engine, mode: CodeMode, *, max_uses: int = 1, item_keys: tuple[str, ...] = ()) -> str:
    """The test shop in `mode` (ITEMS: the hoodie needs a code) and one code for it, returned in clear."""
    with unit_of_work(engine) as session:
        event = make_shop(session, code_mode=mode)
        session.scalars(select(Item).where(Item.key == "hoodie")).one().requires_code = mode == CodeMode.ITEMS
        organiser = make_user(session, "olivia", member_of=[event])
        return generate_codes(session, organiser, event.id, CodeBatch(count=1, max_uses=max_uses, item_keys=item_keys),
                              key=code_key(load_settings())).codes[0]


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "info", "error", "success") for e in getattr(at, kind))


def _enter_code(at: AppTest, code: str) -> AppTest:
    next(w for w in at.text_input if w.label == "Your code").input(code)
    return next(b for b in at.get("form_submit_button") if b.label == "Open the order form").click().run()


def _fill(at: AppTest, *, hoodie: bool = False) -> None:
    at.text_input(key=f"{PREFIX}.name").input("Ada Lovelace")
    at.text_input(key=f"{PREFIX}.email").input("ada@example.com")
    if hoodie:
        at.selectbox(key=f"{PREFIX}.items.hoodie.0.size").select("M")
        at.number_input(key=f"{PREFIX}.items.hoodie.0.quantity").set_value(1)
    else:
        at.selectbox(key=f"{PREFIX}.items.tshirt.0.type").select("Fitted")
        at.selectbox(key=f"{PREFIX}.items.tshirt.0.size").select("M")
        at.number_input(key=f"{PREFIX}.items.tshirt.0.quantity").set_value(1)


def _submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Place order").click().run()


def _orders_and_uses(engine: Engine) -> tuple[int, list[int]]:
    with read_only(engine) as session:
        return (len(session.scalars(select(Order.id)).all()), list(session.scalars(select(RedemptionCode.uses))))


def test_form_mode_opens_the_form_only_with_a_valid_code(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM)
    at = app("test-event")
    assert not at.exception
    assert "Please enter the code you were given" in _texts(at)
    assert not [w for w in at.text_input if w.key == f"{PREFIX}.name"]  # no form yet
    at = _enter_code(at, "WRONG-CODE-99")
    assert [e.value for e in at.error] == ["This code is not known. Please check it and try again."]
    at = _enter_code(at, " " + code.lower().replace("-", " "))
    assert not at.exception and "Your code is accepted." in _texts(at)
    _fill(at)
    at = _submit(at)
    assert not at.exception
    assert "Thank you, your order has been received." in _texts(at)
    assert _orders_and_uses(engine) == (1, [1])
    # The code was single-use: another attendee's session cannot open the form with it.
    at = _enter_code(app("test-event"), code)
    assert [e.value for e in at.error] == ["This code has already been used."]


def test_form_mode_refuses_items_the_code_is_not_for_and_offers_another_code(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM, item_keys=("hoodie",))
    at = _enter_code(app("test-event"), code)
    assert "It is valid for: Hoodie." in _texts(at)
    _fill(at)  # a t-shirt
    at = _submit(at)
    assert "This code is not valid for T-shirt." in [e.value for e in at.error]
    assert _orders_and_uses(engine) == (0, [0])
    at = next(b for b in at.button if b.label == "Enter another code").click().run()
    assert "Please enter the code you were given" in _texts(at)


def test_items_mode_needs_a_code_only_for_the_marked_items(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.ITEMS)
    at = app("test-event")
    assert at.text_input(key=f"{PREFIX}.code_input").label == "Redemption code"
    assert "Needed only to order Hoodie." in _texts(at)
    _fill(at, hoodie=True)
    at = _submit(at)
    assert "Please enter your code." in [e.value for e in at.error]
    at.text_input(key=f"{PREFIX}.code_input").input("WRONG-CODE-99")
    at = _submit(at)
    assert "This code is not known. Please check it and try again." in [e.value for e in at.error]
    at.text_input(key=f"{PREFIX}.code_input").input(code.lower())
    at = _submit(at)
    assert not at.exception and "Thank you, your order has been received." in _texts(at)
    assert _orders_and_uses(engine) == (1, [1])
    # A t-shirt needs no code.
    at = app("test-event")
    _fill(at)
    at = _submit(at)
    assert "Thank you, your order has been received." in _texts(at)
    assert _orders_and_uses(engine) == (2, [1])


def test_wrong_codes_are_throttled_with_a_clear_message(app: AppFactory, engine: Engine) -> None:
    code = _shop(engine, CodeMode.FORM)
    at = app("test-event")
    for _ in range(6):
        at = _enter_code(at, "WRONG-CODE-99")
    assert at.error[0].value.startswith("This code is not known. Please check it and try again. Too many wrong "
                                        "codes. Please wait ")
    at = _enter_code(at, code)  # right, but too soon
    assert at.error[0].value.startswith("Too many wrong codes. Please wait")
    assert "Your code is accepted." not in _texts(at)


def test_the_app_refuses_to_start_with_a_short_code_key(
    app: AppFactory, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODE_KEY", "too-short")
    at = app("test-event")
    assert [e.value for e in at.error] == ["Event Orders is not configured: CODE_KEY is too short: use at least 32 "
                                           "random characters."]


def test_submissions_are_throttled_per_client(app: AppFactory, engine: Engine) -> None:
    _shop(engine, CodeMode.NONE)
    at = app("test-event")
    submits = 0
    while "Too many orders" not in _texts(at) and submits < 30:
        at = _submit(at)  # empty: each is refused, and counted
        submits += 1
    # Twenty go through (the score decays a little between them, so perhaps a twenty-first), then the client waits.
    assert 21 <= submits <= 22
    assert "Too many orders were sent from your connection in a short time. Please wait" in _texts(at)
