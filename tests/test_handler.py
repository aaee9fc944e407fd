"""Step 4: Bitrix24 posts an SMS to /handler: authenticate, validate, store, send."""
import io
import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from b24sms.rules.handler_call import MAX_BODY
from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, Portal
from tests.helpers import APPLICATION_TOKEN, as_sent, bearer, handler_form, install_with_prostor, message_id
from tests.helpers.suite import services_of

FORM = "application/x-www-form-urlencoded"


def stored(db, bitrix_id):
    with db.session() as session:
        return session.scalars(select(Message).where(Message.bitrix_message_id == bitrix_id)).one_or_none()


def test_crm_sms_is_stored_sent_and_answered(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)

    response = client.post("/handler", data=handler_form(bitrix, message_id(1)))

    assert response.status_code == 200
    body = response.get_json()  # answered once stored: the provider is called off the request
    assert body["message_id"] == message_id(1) and body["state"] == "received" and body["created"] is True
    assert as_sent(client, response)["state"] == "accepted"
    path, sent = prostor.requests[-1]
    assert path == "send.json"
    message = stored(db, message_id(1))
    assert sent["messages"] == [{"clientId": message.provider_key, "phone": "+79161234567", "text": "Hello from CRM",
                                 "sender": "SHOP"}]
    assert message.recipient == "+79161234567" and message.recipient_raw == "+7 (916) 123-45-67"
    assert message.provider == "prostor" and message.provider_message_id == "1001"
    assert message.origin["module_id"] == "crm" and message.origin["bindings"] == [
        {"OWNER_TYPE_ID": "3", "OWNER_ID": "42"}]
    assert message.segments == 1 and message.attempts == 1


def test_bizproc_payload(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)

    response = client.post("/handler", data=handler_form(bitrix, message_id(2), module="bizproc"))

    assert response.status_code == 200
    message = stored(db, message_id(2))
    assert message.origin["module_id"] == "bizproc"
    assert message.origin["document_id"] == ["crm", "CCrmDocumentDeal", "DEAL_7"]
    assert message.state == MessageState.ACCEPTED


def test_repeated_message_id_answers_the_stored_state_and_sends_nothing(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(3)))
    sends = len(prostor.requests)

    again = client.post("/handler", data=handler_form(bitrix, message_id(3), text="different"))

    assert again.status_code == 200
    assert again.get_json()["created"] is False and again.get_json()["state"] == "accepted"
    assert len(prostor.requests) == sends
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_wrong_application_token_is_403_and_stores_nothing(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)

    response = client.post("/handler", data=handler_form(bitrix, message_id(4), application_token="f" * 32))

    assert response.status_code == 403 and response.get_json()["error"] == "bad_token"
    assert stored(db, message_id(4)) is None


def test_no_auth_block_is_401(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    form = {k: v for k, v in handler_form(bitrix, message_id(5)).items() if not k.startswith("auth[")}

    response = client.post("/handler", data=form)

    assert response.status_code == 401 and response.get_json()["error"] == "no_auth"
    assert stored(db, message_id(5)) is None


def test_unknown_portal_is_403(client, db, bitrix):
    response = client.post("/handler", data=handler_form(bitrix, message_id(6)))
    assert response.status_code == 403 and response.get_json()["error"] == "unknown_portal"


def test_unpinned_portal_verifies_the_access_token_and_pins_nothing(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        session.scalars(select(Portal)).one().application_token = None

    first = client.post("/handler", data=handler_form(bitrix, message_id(7), application_token="1" * 32))

    assert first.status_code == 200 and stored(db, message_id(7)) is not None
    with db.session() as session:  # a handler call is never a source to pin from
        assert session.scalars(select(Portal.application_token)).one() is None


def test_unpinned_portal_with_a_forged_access_token_is_refused(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    with db.session() as session:
        session.scalars(select(Portal)).one().application_token = None
    form = handler_form(bitrix, message_id(9))
    form["auth[access_token]"] = "forged"

    response = client.post("/handler", data=form)

    assert response.status_code == 403
    assert stored(db, message_id(9)) is None
    with db.session() as session:
        assert session.scalars(select(Portal.application_token)).one() is None


def test_missing_and_bad_fields_are_400_naming_the_field(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    cases = [
        ({"message_id": ""}, "message_id"),
        ({"message_to": "", "properties[phone_number]": ""}, "message_to"),
        ({"message_body": "", "properties[message_text]": ""}, "message_body"),
        ({"message_body": "x" * 5001}, "message_body"),
        ({"type": "WHATSAPP"}, "type"),
        ({"message_id": "a\x00b"}, "message_id"),
    ]
    for n, (changes, field) in enumerate(cases, start=100):
        form = handler_form(bitrix, message_id(n))
        form.update(changes)
        response = client.post("/handler", data=form)
        assert response.status_code == 400, changes
        assert field in response.get_json()["message"], response.get_json()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_properties_stand_in_for_missing_top_level_fields(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    form = handler_form(bitrix, message_id(10))
    del form["message_to"], form["message_body"]
    assert client.post("/handler", data=form).status_code == 200
    assert stored(db, message_id(10)).recipient == "+79161234567"


def test_invalid_number_fails_the_message_and_is_reported(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)

    response = client.post("/handler", data=handler_form(bitrix, message_id(11), phone="12"))

    assert response.status_code == 200
    assert response.get_json()["state"] == "failed"
    assert response.get_json()["error"]["code"] == "invalid_phone"
    assert [path for path, _ in prostor.requests].count("send.json") == 0
    runner.invoke(args=["jobs", "run-once"])
    assert bitrix.statuses[message_id(11)] == "failed"


def test_permanent_provider_refusal_fails_the_message(client, db, bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    prostor.next_send_status = ["invalid mobile phone"]

    response = client.post("/handler", data=handler_form(bitrix, message_id(12)))

    body = as_sent(client, response)
    assert body["state"] == "failed"
    assert body["error"] == {"code": "invalid_recipient", "message": "invalid mobile phone",
                             "words": "Prostor SMS refused the number: invalid mobile phone"}
    runner.invoke(args=["jobs", "run-once"])
    assert bitrix.statuses[message_id(12)] == "failed"


def test_transient_failure_waits_for_the_job_which_sends_once(client, db, bitrix, prostor, runner, app):
    install_with_prostor(client, bitrix)
    prostor.fail_next = [502]

    response = client.post("/handler", data=handler_form(bitrix, message_id(13)))

    assert as_sent(client, response)["state"] == "retry_wait"
    message = stored(db, message_id(13))
    assert message.error_code == "retry_later:http_502"
    with db.session() as session:  # the backoff has passed
        session.get(Message, message.id).due_at = message.created_at
    result = runner.invoke(args=["jobs", "run-once"])
    assert "sent=1" in result.output
    message = stored(db, message_id(13))
    assert message.state == MessageState.ACCEPTED and message.attempts == 2
    assert len(prostor.sent) == 1


def test_uninstalled_portal_cannot_send(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    client.post("/events", data={"event": "ONAPPUNINSTALL", "data[CLEAN]": "0",
                                 "auth[member_id]": bitrix.member_id, "auth[application_token]": APPLICATION_TOKEN})
    response = client.post("/handler", data=handler_form(bitrix, message_id(14)))
    assert response.status_code == 403
    assert stored(db, message_id(14)) is None


def test_a_long_cyrillic_text_counts_segments(client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    client.post("/handler", data=handler_form(bitrix, message_id(15), text="Привет! " * 20))
    assert stored(db, message_id(15)).segments == 3  # 160 UCS-2 characters: 67 per part


def test_provider_answer_is_json_without_secrets(client, bitrix, prostor):
    install_with_prostor(client, bitrix)
    response = client.post("/handler", data=handler_form(bitrix, message_id(16)))
    text = json.dumps(response.get_json())
    assert "secret" not in text and APPLICATION_TOKEN not in text


# ---------------------------------------------------------------- HANDLER_MAX_BYTES
def test_the_longest_cyrillic_sms_fits_under_the_handler_body_limit(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    form = handler_form(bitrix, message_id(17), text="Щ" * MAX_BODY)  # in message_body and properties: twice
    assert 60_000 < len(urlencode(form)) <= services_of(app).settings.handler_max_bytes == 64 * 1024

    assert client.post("/handler", data=form).status_code == 200
    assert stored(db, message_id(17)).body == "Щ" * MAX_BODY


@pytest.mark.parametrize("path", ["/handler", "/handler/some-key"])
def test_a_handler_call_over_the_handler_body_limit_is_413_and_stores_nothing(app, client, db, bitrix, prostor,
                                                                             path):
    install_with_prostor(client, bitrix)
    form = handler_form(bitrix, message_id(18), padding="x" * services_of(app).settings.handler_max_bytes)
    assert len(urlencode(form)) < app.config["MAX_CONTENT_LENGTH"]  # what any other path would take

    response = client.post(path, data=form)

    assert response.status_code == 413
    assert response.get_json() == {"error": "request_entity_too_large", "message": "The request is too large."}
    assert stored(db, message_id(18)) is None


def test_a_chunked_handler_call_is_read_no_further_than_the_handler_body_limit(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    padding = {"padding": "x" * services_of(app).settings.handler_max_bytes}  # first: what follows it is never read
    body = urlencode({**padding, **handler_form(bitrix, message_id(19))}).encode()

    # No Content-Length: the server ends the stream (gunicorn sets wsgi.input_terminated) and the limit cuts it.
    response = client.post("/handler", input_stream=io.BytesIO(body), content_type=FORM,
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})

    assert 400 <= response.status_code < 500 and stored(db, message_id(19)) is None  # cut short: refused


def test_other_paths_keep_the_general_body_limit(app, client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    padding = "x" * (services_of(app).settings.handler_max_bytes + 1)

    response = client.put("/api/settings", headers=bearer(token), json={"providers": [], "padding": padding})

    assert response.status_code != 413
