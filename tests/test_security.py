"""No one but the portal's own Bitrix24 and its admins can act for a portal, and no secret leaks."""
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from b24sms.store.models import Portal, ProviderAccount
from b24sms.web import session_tokens
from tests.fakes.bitrix import OAUTH
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    SMSAERO_SETTINGS,
    SMSC_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    handler_form,
    handler_path,
    iframe_form,
    install_with_chain,
    make_due,
    message_id,
    open_page,
    run_job,
    save_providers,
    without_auth,
)
from tests.helpers.suite import ENCRYPTION_KEY, PUBLIC_URL

EVIL = "https://evil.example/rest/"


def called_hosts(rsps):
    return {urlsplit(call.request.url).netloc for call in rsps.calls}


# ---------------------------------------------------------------- SSRF
def test_no_url_taken_from_a_request_is_ever_called(client, db, rsps, bitrix, prostor, runner):
    access, refresh = bitrix.issue("1")
    # An iframe visit naming another DOMAIN and endpoints.
    client.post("/install?DOMAIN=evil.example&PROTOCOL=1&LANG=ru&APP_SID=x",
                data=iframe_form(bitrix, access, refresh, SERVER_ENDPOINT=EVIL, client_endpoint=EVIL))
    # ONAPPINSTALL with forged endpoints and domain.
    client.post("/events", data={
        "event": "ONAPPINSTALL", "auth[access_token]": access, "auth[refresh_token]": refresh,
        "auth[member_id]": bitrix.member_id, "auth[application_token]": APPLICATION_TOKEN,
        "auth[domain]": "evil.example", "auth[client_endpoint]": EVIL, "auth[server_endpoint]": EVIL})
    _, token = open_page(client, bitrix, path="/")
    assert save_providers(client, token, [PROSTOR_SETTINGS]).status_code == 200
    # A handler call with forged endpoints, then a job pass that reports its status.
    form = handler_form(bitrix, message_id(1), **{"auth[client_endpoint]": EVIL, "auth[server_endpoint]": EVIL,
                                                  "auth[domain]": "evil.example"})
    assert client.post("/handler", data=form).status_code == 200
    prostor.statuses["1001"] = "delivered"
    make_due(db)
    run_job(runner)

    assert bitrix.statuses == {message_id(1): "delivered"}
    assert called_hosts(rsps) == {urlsplit(OAUTH).netloc, bitrix.domain, "api.prostor-sms.ru"}
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        assert (portal.domain, portal.client_endpoint) == (bitrix.domain, bitrix.endpoint)


def test_an_unpinned_portal_pins_only_after_the_oauth_server_vouches(client, db, rsps, bitrix, prostor):
    open_page(client, bitrix)  # installed without an application token
    forged = handler_form(bitrix, message_id(1), **{"auth[access_token]": "forged", "auth[client_endpoint]": EVIL})
    before = len(rsps.calls)

    response = client.post("/handler", data=forged)

    assert response.status_code == 403
    assert [urlsplit(call.request.url).netloc for call in rsps.calls[before:]] == [urlsplit(OAUTH).netloc]
    with db.session() as session:
        assert session.scalars(select(Portal.application_token)).one() is None


# ---------------------------------------------------------------- the page's session token
def minted_at(moment, data, key="test-secret-key"):
    class Then(TimestampSigner):
        def get_timestamp(self):
            return int(moment)

    return URLSafeTimedSerializer(key, salt=session_tokens.SALT, signer=Then).dumps(data)


def test_session_tokens_expire_and_must_be_ours(client, db, bitrix, prostor):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    with db.session() as session:
        portal_id, install_id = session.execute(select(Portal.id, Portal.install_id)).one()
    claims = {"p": portal_id, "i": install_id, "u": "1", "a": True}

    fresh = minted_at(time.time(), claims)
    stale = minted_at(time.time() - session_tokens.LIFETIME_SECONDS - 5, claims)
    foreign = minted_at(time.time(), claims, key="someone-elses-key")
    tampered = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")

    assert client.get("/api/settings", headers=bearer(fresh)).status_code == 200
    for token, code in ((stale, "session_expired"), (foreign, "bad_session"), (tampered, "bad_session")):
        response = client.put("/api/settings", json={"providers": [PROSTOR_SETTINGS]}, headers=bearer(token))
        assert (response.status_code, response.get_json()["error"]) == (401, code)


def test_a_token_acts_only_for_its_own_portal_and_user_rights(client, db, add_portal, bitrix, prostor):
    other = add_portal("other.bitrix24.ru", "b" * 32)
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    _, other_admin = open_page(client, other, APPLICATION_TOKEN="c" * 32)
    _, employee = open_page(client, bitrix, path="/", user_id="7")

    seen = client.get("/api/settings", headers=bearer(other_admin)).get_json()
    refused = client.put("/api/settings", json={"providers": [{"kind": "log"}]}, headers=bearer(employee))

    assert seen["portal"]["domain"] == "other.bitrix24.ru" and seen["providers"] == []
    assert (refused.status_code, refused.get_json()["error"]) == (403, "admin_only")
    with db.session() as session:
        assert session.scalars(select(ProviderAccount.kind)).all() == ["prostor"]


# ---------------------------------------------------------------- headers
def test_every_answer_has_the_security_headers_and_no_cookie(client, bitrix, prostor):
    response, token = open_page(client, bitrix, APPLICATION_TOKEN=APPLICATION_TOKEN)
    answers = [
        response,
        save_providers(client, token, [PROSTOR_SETTINGS]),
        client.get("/api/messages", headers=bearer(token)),
        client.post("/handler", data=handler_form(bitrix, message_id(1))),
        client.post("/callbacks/prostor/nothing", data={}),
        client.post("/events", data={"event": "NOPE"}),
        client.get("/healthz"),
    ]
    for answer in answers:
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self' https://*.bitrix24.ru" in policy and "https://*.bitrix24.com" in policy
        # Customers' own sites on Bitrix24's site builder must not frame the settings page.
        assert not any(f"bitrix24.{tld}" in policy for tld in ("site", "shop", "online"))
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in answer.headers


# ---------------------------------------------------------------- secrets at rest and in logs
def test_no_secret_reaches_the_logs_or_the_database_file(app, client, db, bitrix, prostor, smsc, smsaero, twilio,
                                                         runner, caplog):
    caplog.set_level(logging.DEBUG)
    prostor.password, smsc.password = "pw-prostor-7Qx2", "pw-smsc-8Rw3"
    smsaero.api_key, twilio.auth_token = "key-aero-9Tz4", "tok-twilio-1Vy5"
    chain = [
        {**TWILIO_SETTINGS, "credentials": {**TWILIO_SETTINGS["credentials"], "auth_token": twilio.auth_token}},
        {**SMSC_SETTINGS, "credentials": {**SMSC_SETTINGS["credentials"], "password": smsc.password}},
        {**SMSAERO_SETTINGS, "credentials": {**SMSAERO_SETTINGS["credentials"], "api_key": smsaero.api_key}},
        {**PROSTOR_SETTINGS, "credentials": {**PROSTOR_SETTINGS["credentials"], "password": prostor.password}},
    ]
    token = install_with_chain(client, bitrix, *chain)
    # Through Twilio (keyed URL, no author) with a receipt; then Twilio refuses and SMSC takes one; a bad
    # number fails; a wrong handler key and an unreadable SMSC receipt are refused (4xx lines are logged).
    client.post(handler_path(db), data=without_auth(handler_form(bitrix, message_id(1))))
    [(sid, resource)] = twilio.messages.items()
    form, headers = twilio.status_callback(sid, "delivered")
    client.post(resource["status_callback"].removeprefix(PUBLIC_URL), data=form, headers=headers)
    twilio.refuse_next.append((401, 20003, "Authenticate"))
    client.post("/handler", data=handler_form(bitrix, message_id(2)))
    client.post("/handler", data=handler_form(bitrix, message_id(3), phone="12"))
    client.get("/api/balance", headers=bearer(token))
    with db.session() as session:
        portal = session.scalars(select(Portal)).one()
        bitrix.expire(portal.access_token)  # the report pass refreshes the token
        accounts = session.scalars(select(ProviderAccount)).all()
        secrets = [a.callback_secret for a in accounts if a.callback_secret] + [portal.handler_key]
        smsc_secret = next(a.callback_secret for a in accounts if a.kind == "smsc")
    assert client.post(f"/callbacks/smsc/{smsc_secret}", data={"x": "1"}).status_code == 400
    assert client.post("/handler/not-the-key-" + portal.handler_key[:8], data={}).status_code == 404
    make_due(db)
    run_job(runner)
    assert bitrix.statuses[message_id(1)] == "delivered" and bitrix.refresh_count == 1

    secrets += [prostor.password, smsc.password, smsaero.api_key, twilio.auth_token, APPLICATION_TOKEN,
                app.config["SECRET_KEY"], ENCRYPTION_KEY, *bitrix.tokens, *bitrix.refresh_tokens]
    logged = caplog.text
    assert "failing over to smsc" in logged  # the flow did log
    assert [secret for secret in secrets if secret in logged] == []
    if db.is_sqlite:
        path = Path(db.engine.url.database)
        stored = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert len(stored) > 10_000
        assert [secret for secret in secrets if secret.encode() in stored] == []
