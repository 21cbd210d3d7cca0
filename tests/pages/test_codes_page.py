"""The Codes page through AppTest: the code mode, generating (download once), importing, listing, revoking."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.code_admin import CodeStatus
from core.codes import check_code
from core.config import code_key, load_settings
from core.db import read_only, unit_of_work
from core.models import AuditEntry, CodeMode, Event, Item, RedemptionCode, utcnow
from tests.factories import make_shop, make_user
from tests.pages.conftest import button, render_page


@dataclass(frozen=True)
class Shop:
    alice: Actor
    event_id: int


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="alices-event", title="Alice's event")
        alice = make_user(session, "alice", member_of=[event])
        return Shop(alice, event.id)


_page = partial(render_page, "codes_page")


def _widget(widgets: Any, label: str) -> Any:
    return next(widget for widget in widgets if widget.label == label)


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "info", "error", "success", "warning")
                     for e in getattr(at, kind))


def _generate(at: AppTest, count: int, **settings: Any) -> AppTest:
    _widget(at.number_input, "How many").set_value(count)
    for label, value in settings.items():
        _widget(at.text_input, label).input(value)
    return button(at, "Generate codes").click().run()


def test_the_page_refuses_an_anonymous_session(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.title and not at.button and not at.dataframe


def test_setting_the_mode_marks_the_items_and_errors_beside_them(shop: Shop, engine: Engine) -> None:
    at = _page(shop.alice)
    assert not at.exception and at.title[0].value == "Codes"
    _widget(at.radio, "Code").set_value(CodeMode.ITEMS)
    at = button(at, "Save").click().run()
    assert [e.value for e in at.error] == ["Choose the items that need a code."]
    _widget(at.multiselect, "Items that need a code").set_value(["hoodie"])
    at = button(at, "Save").click().run()
    assert not at.exception and "Saved when a code is needed." in _texts(at)
    with read_only(engine) as session:
        assert session.get_one(Event, shop.event_id).code_mode == CodeMode.ITEMS
        assert list(session.scalars(select(Item.key).where(Item.requires_code))) == ["hoodie"]
    assert _widget(at.radio, "Code").value == CodeMode.ITEMS  # drawn afresh from the database


def test_generated_codes_are_offered_once_as_a_mail_merge_csv(
    shop: Shop, engine: Engine, served: dict[str, bytes]
) -> None:
    at = _generate(_page(shop.alice), 25, **{"Prefix": "vip", "Note": "speakers"})
    assert not at.exception
    assert "Generated 25 codes." in _texts(at)
    assert "cannot be shown or downloaded again" in _texts(at)
    assert [b.label for b in at.download_button] == ["Download codes (CSV for a mail merge)"]
    rows = list(csv.reader(io.StringIO(served[next(n for n in served if "-codes-" in n)].decode("utf-8-sig"))))
    assert rows[0] == ["code", "uses allowed", "valid until", "items"] and len(rows) == 26
    code = rows[1][0]
    with read_only(engine) as session:
        event = session.get_one(Event, shop.event_id)
        key = code_key(load_settings())
        assert check_code(session, event, code.lower(), key=key, now=utcnow()).uses_left == 1
    listed = at.dataframe[0].value
    assert len(listed) == 25 and set(listed["note"]) == {"speakers"}
    # The list shows the prefix and two characters of each code, never the code.
    assert all(hint.startswith("VIP-") and len(hint) == 7 for hint in listed["hint"])
    at = button(at, "I have saved them").click().run()
    assert not at.download_button or all("mail merge" not in b.label for b in at.download_button)


def test_a_bad_setting_is_shown_beside_its_input(shop: Shop, engine: Engine) -> None:
    at = _generate(_page(shop.alice), 5, Prefix="no/slash")
    assert [e.value for e in at.error] == ["Use at most 10 letters and digits for the prefix."]
    with read_only(engine) as session:
        assert session.scalars(select(RedemptionCode.id)).first() is None


def test_import_reports_each_bad_row_and_imports_nothing(shop: Shop, engine: Engine) -> None:
    at = _page(shop.alice)
    at.file_uploader[0].set_value(("codes.csv", b"code,max_uses\nGOOD-CODE-1,2\nshort,1\n", "text/csv")).run()
    at = button(at, "Import codes").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Nothing was imported: 1 problem."]
    assert at.dataframe[0].value["Problem"].tolist()[0].startswith("Row 3: the code needs at least 6")
    at.file_uploader[0].set_value(("codes.csv", b"code,max_uses\nGOOD-CODE-1,2\nGOOD-CODE-2,1\n", "text/csv")).run()
    at = button(at, "Import codes").click().run()
    assert "Imported 2 codes." in _texts(at)
    with read_only(engine) as session:
        assert sorted(session.scalars(select(RedemptionCode.max_uses))) == [1, 2]


def test_revoking_codes_and_exporting_the_list_without_codes(
    shop: Shop, engine: Engine, served: dict[str, bytes]
) -> None:
    at = _generate(_page(shop.alice), 3)
    codes = [row[0] for row in csv.reader(io.StringIO(next(iter(served.values())).decode("utf-8-sig")))][1:]
    _widget(at.multiselect, "Codes to revoke").set_value(_ids(engine)[:2])
    at = button(at, "Revoke").click().run()
    assert not at.exception and "Revoked 2 codes." in _texts(at)
    assert sorted(at.dataframe[0].value["status"]) == ["active", "revoked", "revoked"]
    with read_only(engine) as session:
        assert session.scalars(select(AuditEntry.details).where(AuditEntry.action == "codes.revoked")).one()[
            "count"] == 2
    at = button(at, "Prepare the list as CSV").click().run()
    exported = served[next(name for name in served if "code-list" in name)].decode("utf-8-sig")
    assert exported.splitlines()[0] == '"hint","status","uses","max uses","valid until","items","note","created"'
    assert not any(code.split("-")[-1] in exported for code in codes)


def test_the_status_filter_narrows_the_list(shop: Shop, engine: Engine) -> None:
    at = _generate(_page(shop.alice), 2)
    with unit_of_work(engine) as session:
        session.get_one(RedemptionCode, _ids(engine)[0]).revoked_at = utcnow()
    at.selectbox(key="codes.status").set_value(CodeStatus.REVOKED).run()
    assert at.dataframe[0].value["status"].tolist() == ["revoked"]
    at.text_input(key="codes.search").input("nothing-like-this").run()
    assert "No codes match." in _texts(at)


def _ids(engine: Engine) -> list[int]:
    with read_only(engine) as session:
        return list(session.scalars(select(RedemptionCode.id).order_by(RedemptionCode.id)))
