"""Receipts pushed by providers to /callbacks/<provider>/<secret>, and the SMSC poll budget."""
import hashlib
from datetime import timedelta

from sqlalchemy import select, text, update

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message, ProviderAccount, utcnow
from tests.helpers import (
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    install_with_chain,
    make_due,
    message_id,
    run_job,
    save_providers,
    send_messages,
    stored,
)
from tests.helpers.suite import PUBLIC_URL


def callback_path(url):
    assert url.startswith(PUBLIC_URL + "/callbacks/")
    return url.removeprefix(PUBLIC_URL)


# ---------------------------------------------------------------- Twilio
def test_twilio_receipt_updates_at_once_and_is_reported_next_pass(client, db, bitrix, twilio, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    send_messages(client, bitrix, 1)
    [(sid, resource)] = twilio.messages.items()
    assert resource["to"] == "+79161234567" and resource["from"] == "+15017122661"
    form, headers = twilio.status_callback(sid, "delivered")

    response = client.post(callback_path(resource["status_callback"]), data=form, headers=headers)

    assert response.status_code == 200 and response.get_json()["changed"] == 1
    message = stored(db)
    assert (message.state, message.provider_status, message.report_pending) == (MessageState.DELIVERED,
                                                                                "delivered", True)
    assert bitrix.statuses == {}
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "delivered"}


def test_twilio_receipt_with_a_tampered_param_or_wrong_url_is_403(client, db, bitrix, twilio):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    send_messages(client, bitrix, 1)
    [(sid, resource)] = twilio.messages.items()
    path = callback_path(resource["status_callback"])
    form, headers = twilio.status_callback(sid, "undelivered", error_code=30007)

    tampered = client.post(path, data={**form, "MessageStatus": "delivered"}, headers=headers)
    wrong_url = client.post(path + "?extra=1", data=form, headers=headers)
    unsigned = client.post(path, data=form)

    for response in (tampered, wrong_url, unsigned):
        assert response.status_code == 403 and response.get_json()["error"] == "bad_signature"
    assert stored(db).state == MessageState.ACCEPTED
    assert client.post(path, data=form, headers=headers).status_code == 200
    message = stored(db)
    assert (message.state, message.error_code) == (MessageState.UNDELIVERED, "twilio:30007")


def test_out_of_order_receipts_never_move_a_status_back(client, db, bitrix, twilio, runner):
    install_with_chain(client, bitrix, TWILIO_SETTINGS)
    send_messages(client, bitrix, 1)
    [(sid, resource)] = twilio.messages.items()
    path = callback_path(resource["status_callback"])

    for status in ("delivered", "sent", "queued"):
        form, headers = twilio.status_callback(sid, status)
        assert client.post(path, data=form, headers=headers).status_code == 200
    twilio.set_status(sid, "sent")  # a poll that lags behind too
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.DELIVERED
    assert bitrix.statuses == {message_id(1): "delivered"}


# ---------------------------------------------------------------- secrets
def test_unknown_secret_or_wrong_provider_is_404(client, db, bitrix, twilio, smsc):
    install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS)
    send_messages(client, bitrix, 1)
    [resource] = twilio.messages.values()
    secret = resource["status_callback"].rsplit("/", 1)[-1]

    for path in ("/callbacks/twilio/not-a-secret", f"/callbacks/smsc/{secret}", f"/callbacks/nope/{secret}",
                 "/callbacks/twilio/" + "x" * 300):
        response = client.post(path, data={"id": "1", "status": "1"})
        assert response.status_code == 404, path
        assert response.get_json()["error"] == "unknown_callback"
    assert stored(db).state == MessageState.ACCEPTED


def test_secrets_are_random_per_account_stored_hashed_and_encrypted(client, db, bitrix, twilio, smsc, smsaero):
    install_with_chain(client, bitrix, TWILIO_SETTINGS, SMSC_SETTINGS, SMSAERO_SETTINGS)
    with db.session() as session:
        accounts = session.scalars(select(ProviderAccount)).all()
        secrets_ = {a.kind: a.callback_secret for a in accounts}
        hashes = {a.kind: a.callback_secret_hash for a in accounts}
        raw = session.execute(text("SELECT callback_secret FROM provider_accounts")).scalars().all()
    assert len(set(secrets_.values())) == 3 and all(len(s) >= 32 for s in secrets_.values())
    assert hashes == {kind: hashlib.sha256(s.encode()).hexdigest() for kind, s in secrets_.items()}
    assert not any(secret in str(raw) for secret in secrets_.values())


def test_the_smsc_url_is_shown_and_stays_the_same_across_saves(client, db, bitrix, smsc, twilio):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    [entry] = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    assert entry["callback_url"].startswith(PUBLIC_URL + "/callbacks/smsc/")

    again = save_providers(client, token, [TWILIO_SETTINGS, entry]).get_json()["providers"]

    assert again[1]["callback_url"] == entry["callback_url"]
    assert "callback_url" not in again[0]  # Twilio's URL goes with each message, nothing to paste
    assert "twilio-auth-token" not in str(again) and "smsc-pass" not in str(again)


# ---------------------------------------------------------------- SMSC and SMS Aero
def test_smsc_receipt_from_the_account_url(client, db, bitrix, smsc, runner):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    [entry] = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    send_messages(client, bitrix, 2)
    first = smsc.sent[0]

    response = client.post(callback_path(entry["callback_url"]), data={
        "id": first["id"], "phone": first["phones"], "status": "1", "err": "0", "time": "1763892000",
        "sha1": "0" * 40})

    assert response.get_json() == {"ok": True, "received": 1, "matched": 1, "changed": 1}
    assert stored(db, 1).state == MessageState.DELIVERED and stored(db, 2).state == MessageState.ACCEPTED
    run_job(runner)
    assert bitrix.statuses[message_id(1)] == "delivered"


def test_a_receipt_for_a_message_we_do_not_have_changes_nothing(client, db, bitrix, smsc):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    [entry] = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]

    response = client.post(callback_path(entry["callback_url"]), data={"id": "999999", "status": "1", "err": "0"})

    assert response.status_code == 200 and response.get_json()["matched"] == 0


def test_an_unreadable_receipt_is_400_and_an_unknown_status_is_polled_at_once(client, db, bitrix, smsc):
    token = install_with_chain(client, bitrix, SMSC_SETTINGS)
    [entry] = client.get("/api/settings", headers=bearer(token)).get_json()["providers"]
    send_messages(client, bitrix, 1)
    path = callback_path(entry["callback_url"])

    assert client.post(path, data={"phone": "79161234567"}).get_json()["error"] == "bad_receipt"
    assert client.post(path, data={"id": smsc.sent[0]["id"], "status": "77"}).status_code == 200

    message = stored(db)
    assert message.provider_status == "77" and message.state == MessageState.ACCEPTED
    assert message.due_at <= utcnow()


def test_smsaero_asks_for_receipts_per_message_and_reads_them(client, db, bitrix, smsaero, runner):
    install_with_chain(client, bitrix, SMSAERO_SETTINGS)
    send_messages(client, bitrix, 1)
    [(aero_id, body)] = smsaero.sent.items()
    assert body["number"] == 79161234567 and body["sign"] == "SHOP"

    response = client.post(callback_path(body["callbackUrl"]),
                           json={"id": aero_id, "status": 2, "extendStatus": "no delivery"})

    assert response.get_json()["changed"] == 1
    assert stored(db).state == MessageState.UNDELIVERED
    run_job(runner)
    assert bitrix.statuses == {message_id(1): "undelivered"}


def test_smsaero_statuses_are_polled_one_per_request(client, db, bitrix, smsaero, runner):
    install_with_chain(client, bitrix, SMSAERO_SETTINGS)
    send_messages(client, bitrix, 3)
    for aero_id in smsaero.sent:
        smsaero.statuses[aero_id] = 1
    make_due(db)

    run_job(runner)

    assert [path for path, _ in smsaero.requests].count("sms/status") == 3
    assert bitrix.statuses == {message_id(n): "delivered" for n in (1, 2, 3)}


def test_smsc_gets_at_most_one_bulk_status_request_a_minute(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    send_messages(client, bitrix, 3)
    make_due(db)

    run_job(runner)
    make_due(db)
    run_job(runner)

    assert len(smsc.status_requests) == 1
    assert smsc.status_requests[0]["id"].count(",") == 3  # all three in one request
    # A minute on, the account's slot is free again.
    with db.session() as session:
        session.execute(update(ProviderAccount).values(poll_not_before=utcnow() - timedelta(seconds=1)))
    make_due(db)
    run_job(runner)
    assert len(smsc.status_requests) == 2


def test_smsc_polls_a_big_backlog_in_one_chunk_per_slot(client, db, bitrix, smsc, runner):
    install_with_chain(client, bitrix, SMSC_SETTINGS)
    send_messages(client, bitrix, 205)
    make_due(db)

    run_job(runner)

    [request] = smsc.status_requests
    assert request["id"].count(",") == 200
    with db.session() as session:
        waiting = session.scalars(select(Message.due_at).order_by(Message.due_at.desc())).all()
    assert waiting[0] - utcnow() > timedelta(seconds=50)  # the other five wait for the next slot
