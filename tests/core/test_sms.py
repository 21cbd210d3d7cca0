"""SMS: the HTTP provider adapter and the outbox's SMS channel against a local HTTP server standing in for the
provider; the form's SMS opt-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

import core.sms
from core.config import Settings, load_settings
from core.db import read_only, unit_of_work
from core.errors import SchemaError
from core.forms import SMS_OPT_IN_KEY, parse_form_spec
from core.models import MessageChannel, MessageKind, MessageStatus, OutboxMessage
from core.outbox import drain_outbox, enqueue_message
from core.sms import (
    HttpSmsProvider,
    PermanentSmsError,
    SmsProviderUnavailable,
    TemporarySmsError,
    check_provider_url,
    sms_configured,
    sms_sender,
)
from tests.factories import make_event
from tests.mail_server import running_mail_server
from tests.sms_provider import PATH, SmsProvider, closed_port_url, running_sms_provider

NUMBER = "+447700900123"
TOKEN = "test-token-not-a-secret"
T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    with running_sms_provider() as running:
        yield running


def sms_settings(url: str, **overrides: object) -> Settings:
    return Settings(**{"sms_provider_url": url, "sms_token": TOKEN, "sms_sender": "EventOrders", **overrides})


# --- The adapter --------------------------------------------------------------------------------------------------


def test_a_text_is_posted_as_json_with_the_bearer_token(provider: SmsProvider) -> None:
    HttpSmsProvider(provider.url, TOKEN, "EventOrders").send(NUMBER, "Your order is shipped.")
    [request] = provider.received
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"from": "EventOrders", "to": [NUMBER], "body": "Your order is shipped."}


@pytest.mark.parametrize(("status", "error"), [
    (400, PermanentSmsError), (404, PermanentSmsError), (500, TemporarySmsError), (408, TemporarySmsError),
    (503, SmsProviderUnavailable), (429, SmsProviderUnavailable), (401, SmsProviderUnavailable),
])
def test_replies_map_to_permanent_temporary_or_unavailable(provider: SmsProvider, status: int,
                                                           error: type[Exception]) -> None:
    provider.status = status
    with pytest.raises(error) as raised:
        HttpSmsProvider(provider.url, TOKEN, "EventOrders").send(NUMBER, "Hello")
    assert type(raised.value) is error
    # The provider's reply names the number; our error (it goes to last_error and logs) must not.
    assert str(raised.value) == f"SMS provider replied HTTP {status}"
    assert "7700" not in str(raised.value)


def test_an_unreachable_or_slow_provider_is_unavailable(provider: SmsProvider) -> None:
    with pytest.raises(SmsProviderUnavailable, match="unreachable"):
        HttpSmsProvider(closed_port_url(), TOKEN, "EventOrders").send(NUMBER, "Hello")
    provider.delay = 1.0
    with pytest.raises(SmsProviderUnavailable, match="unreachable"):
        HttpSmsProvider(provider.url, TOKEN, "EventOrders", timeout=0.2).send(NUMBER, "Hello")


@pytest.mark.parametrize("url", ["http://sms.example.com/send", "file:///etc/passwd", "ftp://127.0.0.1/x",
                                 "https:///no-host", "sms.example.com"])
def test_the_token_never_travels_in_clear_text_or_to_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        check_provider_url(url)
    with pytest.raises(ValueError):
        sms_sender(sms_settings(url))


def test_https_and_local_http_are_accepted_and_the_token_is_not_in_the_repr() -> None:
    for url in ("https://eu.sms.api.sinch.com/xms/v1/plan/batches", "http://127.0.0.1:9000/x", "http://localhost/x"):
        check_provider_url(url)
    sender = sms_sender(sms_settings("https://eu.sms.api.sinch.com/xms/v1/plan/batches"))
    assert isinstance(sender, HttpSmsProvider)
    assert TOKEN not in repr(sender)


def test_sms_is_off_by_default_and_needs_all_three_settings() -> None:
    assert not sms_configured(Settings())
    assert sms_sender(Settings()) is None
    assert sms_sender(sms_settings("https://sms.example.com/x", sms_token="")) is None
    assert sms_sender(sms_settings("https://sms.example.com/x", sms_sender="")) is None
    settings = load_settings(secrets={}, environ={"SMS_PROVIDER_URL": "https://sms.example.com/x",
                                                  "SMS_TOKEN": "t", "SMS_SENDER": "Orders"})
    assert sms_configured(settings)


# --- The outbox's SMS channel ----------------------------------------------------------------------------------------


def _queue_sms(engine: Engine, count: int = 1) -> list[int]:
    with unit_of_work(engine) as session:
        event = make_event(session)
        ids = []
        for number in range(count):
            message = enqueue_message(session, kind=MessageKind.STATUS_UPDATE, channel=MessageChannel.SMS,
                                      recipients=[NUMBER], subject=f"SMS {number}", body_text=f"Text {number}",
                                      event_id=event.id)
            message.created_at = message.next_attempt_at = T0
            ids.append(message.id)
        return ids


def _row(engine: Engine, outbox_id: int) -> OutboxMessage:
    with read_only(engine) as session:
        return session.get_one(OutboxMessage, outbox_id)


def test_due_sms_rows_go_to_the_provider_and_are_marked_sent(engine: Engine, provider: SmsProvider) -> None:
    ids = _queue_sms(engine, 2)
    report = drain_outbox(engine, sms_settings(provider.url), now=T0)
    assert (report.sent, report.failed) == (2, 0)
    assert [r.json["body"] for r in provider.received] == ["Text 0", "Text 1"]
    assert {_row(engine, i).status for i in ids} == {MessageStatus.SENT}


def test_a_refused_text_fails_for_good_and_raises_an_alarm_by_mail(engine: Engine, provider: SmsProvider) -> None:
    [outbox_id] = _queue_sms(engine)
    provider.status = 400
    with running_mail_server() as mail:
        settings = sms_settings(provider.url, smtp_host=mail.host, smtp_port=mail.port, smtp_security="none",
                                mail_from="Event Orders <ops@example.org>")
        report = drain_outbox(engine, settings, now=T0)
    row = _row(engine, outbox_id)
    assert (row.status, row.attempts, row.last_error) == (MessageStatus.FAILED, 1, "SMS provider replied HTTP 400")
    assert report.alarms == 1
    with read_only(engine) as session:
        alarm = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.ALARM)).one()
    assert alarm.channel == MessageChannel.EMAIL


@pytest.mark.parametrize("status", [500, 503])
def test_a_provider_error_is_retried_later_with_backoff(engine: Engine, provider: SmsProvider, status: int) -> None:
    [outbox_id] = _queue_sms(engine)
    provider.status = status
    report = drain_outbox(engine, sms_settings(provider.url), now=T0)
    row = _row(engine, outbox_id)
    assert (report.retrying, row.status, row.attempts) == (1, MessageStatus.PENDING, 1)
    assert T0 + timedelta(seconds=30) <= row.next_attempt_at <= T0 + timedelta(minutes=1)
    provider.status = 201
    assert drain_outbox(engine, sms_settings(provider.url), now=T0).sent == 0  # not due yet
    report = drain_outbox(engine, sms_settings(provider.url), now=row.next_attempt_at)
    assert report.sent == 1
    assert _row(engine, outbox_id).status == MessageStatus.SENT
    assert len(provider.received) == 2


def test_a_timeout_hands_the_rest_of_the_batch_back_untried(engine: Engine, provider: SmsProvider,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _queue_sms(engine, 3)
    provider.delay = 1.0
    monkeypatch.setattr(core.sms, "SMS_TIMEOUT_SECONDS", 0.2)
    report = drain_outbox(engine, sms_settings(provider.url), now=T0)
    assert (report.retrying, report.released, report.sent) == (1, 2, 0)
    assert [_row(engine, i).attempts for i in ids] == [1, 0, 0]
    assert len(provider.received) == 1


def test_without_sms_configured_texts_are_held_and_mail_is_not_touched(engine: Engine, provider: SmsProvider) -> None:
    [sms_id] = _queue_sms(engine)
    with unit_of_work(engine) as session:
        mail_id = enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=["ada@example.org"],
                                  subject="Your order", body_text="Hello").id
    with running_mail_server() as mail:
        settings = Settings(smtp_host=mail.host, smtp_port=mail.port, smtp_security="none",
                            mail_from="ops@example.org")
        report = drain_outbox(engine, settings)
        assert len(mail.received) == 1
    assert (report.held, report.sent) == (1, 1)
    assert (_row(engine, sms_id).status, _row(engine, mail_id).status) == (MessageStatus.HELD, MessageStatus.SENT)
    assert provider.received == []


def test_sms_goes_out_while_mail_is_not_configured(engine: Engine, provider: SmsProvider) -> None:
    [sms_id] = _queue_sms(engine)
    with unit_of_work(engine) as session:
        mail_id = enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=["ada@example.org"],
                                  subject="Your order", body_text="Hello").id
    report = drain_outbox(engine, sms_settings(provider.url), now=T0 + timedelta(hours=1))
    assert (report.held, report.sent) == (1, 1)
    assert (_row(engine, sms_id).status, _row(engine, mail_id).status) == (MessageStatus.SENT, MessageStatus.HELD)


def test_the_mail_dispatcher_never_sends_an_sms_row_as_mail(engine: Engine, provider: SmsProvider) -> None:
    [sms_id] = _queue_sms(engine)
    with running_mail_server() as server:
        settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                            mail_from="ops@example.org", sms_provider_url=provider.url, sms_token=TOKEN,
                            sms_sender="EventOrders")
        drain_outbox(engine, settings, now=T0)
        assert server.received == []
    assert _row(engine, sms_id).status == MessageStatus.SENT
    assert len(provider.received) == 1


# --- The opt-in -------------------------------------------------------------------------------------------------------

PHONE = {"key": "phone", "type": "phone", "label": "Mobile", "purpose": "To text you about your order."}
OPT_IN = {"key": SMS_OPT_IN_KEY, "type": "checkbox", "label": "Text me when my order ships", "personal": True,
          "purpose": "To text you status updates."}


def test_a_form_may_offer_an_sms_opt_in_with_a_phone_field() -> None:
    form = parse_form_spec({"fields": [PHONE, OPT_IN]})
    assert form.field(SMS_OPT_IN_KEY).is_personal


@pytest.mark.parametrize(("fields", "problem"), [
    ([OPT_IN], "needs a phone field"),
    ([PHONE, {**OPT_IN, "personal": False, "purpose": ""}], "checkbox marked personal"),
    ([PHONE, {**OPT_IN, "type": "short_text"}], "checkbox marked personal"),
])
def test_an_sms_opt_in_must_be_a_personal_checkbox_beside_a_phone_field(fields: list[dict[str, object]],
                                                                       problem: str) -> None:
    with pytest.raises(SchemaError, match=problem) as raised:
        parse_form_spec({"fields": fields})
    assert f"('{SMS_OPT_IN_KEY}')" in str(raised.value)
