"""Issue 11: the portal's admins hear in Bitrix24 (im.notify.system.add) of a balance below its threshold and of
credentials the provider refuses; at most once a day per cause, never for a portal that is not active, and a
refused notice never breaks the job."""
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from b24sms.bitrix import admins, notices
from b24sms.flows import jobs
from b24sms.flows.workers import Workers
from b24sms.store.models import Portal, PortalNotice, PortalState, ProviderAccount
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    bearer,
    handler_form,
    handler_path,
    iframe_form,
    install_event,
    install_with_chain,
    make_due,
    message_id,
    open_page,
    run_job,
    save_providers,
    stored,
)
from tests.helpers.suite import on_postgres, services_of

LOW_PROSTOR = {**PROSTOR_SETTINGS, "balance_threshold": 200}  # the fake Prostor account holds 120.50 RUB


def balance_calls(prostor):
    return sum(path == "balance.json" for path, _ in prostor.requests)


def hours_pass(db, hours):
    """As if `hours` went by: every time the notices and the balance checks keep moves that far back."""
    back = timedelta(hours=hours)
    with db.session() as session:
        for notice in session.scalars(select(PortalNotice)):
            for name in ("noted_at", "due_at", "last_sent_at", "quiet_until"):
                if getattr(notice, name) is not None:
                    setattr(notice, name, getattr(notice, name) - back)
        for account in session.scalars(select(ProviderAccount)):
            if account.balance_checked_at is not None:
                account.balance_checked_at -= back


def install_in(client, bitrix, lang, *chain):
    """Install from an iframe in `lang` and save the chain; returns the page's token."""
    access, refresh = bitrix.issue("1")
    response = client.post(f"/install?DOMAIN={bitrix.domain}&PROTOCOL=1&LANG={lang}&APP_SID=abc",
                           data=iframe_form(bitrix, access, refresh, APPLICATION_TOKEN=APPLICATION_TOKEN))
    token = re.search(r'<meta name="b24sms-token" content="([^"]+)"', response.get_data(as_text=True)).group(1)
    assert save_providers(client, token, list(chain)).status_code == 200
    return token


def test_a_low_balance_is_told_to_the_admin_once_a_day_in_russian(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)  # from a Russian portal (LANG=ru)

    output = run_job(runner)

    assert "balances_checked=1" in output and "notices_sent=1" in output
    [notice] = bitrix.notifications
    assert notice["USER_ID"] == "1" and notice["MESSAGE_OUT"] == notice["MESSAGE"]
    assert "баланс" in notice["MESSAGE"] and "Prostor SMS" in notice["MESSAGE"]
    # Numbers as the Russian page shows them (b24sms/i18n.py): a decimal comma.
    assert "120,50 RUB" in notice["MESSAGE"] and "200,00 RUB" in notice["MESSAGE"]
    assert notice["TAG"].startswith("b24sms|low_balance|")

    hours_pass(db, 2)  # the next hourly check finds it still low: no second notice that day
    output = run_job(runner)
    assert "balances_checked=1" in output and "notices_sent=0" in output and len(bitrix.notifications) == 1

    hours_pass(db, 23)  # a day after the first notice
    run_job(runner)
    assert len(bitrix.notifications) == 2


def test_an_english_portal_is_told_in_english(client, db, bitrix, prostor, runner):
    install_in(client, bitrix, "en", LOW_PROSTOR)

    run_job(runner)

    [notice] = bitrix.notifications
    assert notice["MESSAGE"].startswith("b24sms: the balance of your Prostor SMS account is 120.50 RUB, below the "
                                        "threshold of 200.00 RUB")


def test_a_balance_checked_within_the_hour_is_not_asked_again(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    run_job(runner)
    asked = balance_calls(prostor)

    run_job(runner)

    assert balance_calls(prostor) == asked


def test_a_balance_topped_up_meanwhile_is_not_told_again(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    run_job(runner)
    prostor.balance = 500

    hours_pass(db, 25)
    run_job(runner)

    assert len(bitrix.notifications) == 1


def test_credentials_refused_on_send_are_told_with_the_providers_words(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)  # no threshold: no balance checks
    prostor.password = "changed-in-the-cabinet"

    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    client.post(handler_path(db), data=handler_form(bitrix, message_id(2)))
    run_job(runner)
    run_job(runner)

    assert stored(db, 1).state == "failed" and stored(db, 1).error_code.startswith("invalid_credentials")
    [notice] = bitrix.notifications
    assert "не принимает" in notice["MESSAGE"] and "error authorization" in notice["MESSAGE"]
    assert notice["TAG"].startswith("b24sms|credentials_refused|")
    assert balance_calls(prostor) == 1  # only the check when the settings were saved


def test_credentials_refused_on_a_status_poll_are_told(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))
    assert stored(db, 1).state == "accepted"
    prostor.password = "changed-in-the-cabinet"

    make_due(db)
    run_job(runner)

    [notice] = bitrix.notifications
    assert "error authorization" in notice["MESSAGE"]


def test_a_refused_notice_is_logged_the_job_goes_on_and_it_is_tried_the_next_day(client, db, bitrix, prostor,
                                                                                 runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    bitrix.missing_scopes.add("im")  # the app was installed without the `im` scope

    output = run_job(runner)  # exits 0: no duty failed

    assert "notices_sent=0" in output and bitrix.notifications == []
    with db.session() as session:
        assert "insufficient_scope" in session.scalars(select(PortalNotice.last_error)).one()

    bitrix.missing_scopes.clear()  # the admin granted it
    run_job(runner)
    assert bitrix.notifications == []  # not before a day has passed

    hours_pass(db, 25)
    run_job(runner)
    assert len(bitrix.notifications) == 1


def test_a_portal_that_needs_reauth_gets_no_notice_and_no_balance_check(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    with db.session() as session:
        session.execute(update(Portal).values(state=PortalState.NEEDS_REAUTH))
    asked = balance_calls(prostor)
    prostor.password = "changed-in-the-cabinet"
    client.post(handler_path(db), data=handler_form(bitrix, message_id(1)))  # refused: a cause is noted

    run_job(runner)

    assert bitrix.notifications == []
    assert balance_calls(prostor) == asked


def test_every_known_admin_is_told_and_a_non_admin_is_not(client, db, bitrix, prostor, runner):
    install_with_chain(client, bitrix, LOW_PROSTOR)  # admin 1
    bitrix.admins.add("3")
    open_page(client, bitrix, path="/", user_id="3")
    open_page(client, bitrix, path="/", user_id="7")  # not an admin

    run_job(runner)

    assert [notice["USER_ID"] for notice in bitrix.notifications] == ["3", "1"]
    assert len({notice["TAG"] for notice in bitrix.notifications}) == 2  # one admin's never replaces another's


def test_the_installing_admin_of_onappinstall_is_remembered(client, db, bitrix):
    bitrix.admins.add("5")
    access, refresh = bitrix.issue("5")

    assert client.post("/events", data=install_event(bitrix, access, refresh, APPLICATION_TOKEN)).status_code == 200

    with db.session() as session:
        assert session.scalars(select(Portal.admin_user_ids)).one() == ["5"]


def test_the_admin_list_keeps_the_most_recent_ten():
    portal = Portal(admin_user_ids=None)
    for user_id in range(1, 13):
        admins.remember(portal, user_id)
    admins.remember(portal, "5")

    assert portal.admin_user_ids == ["5", "12", "11", "10", "9", "8", "7", "6", "4", "3"]


def test_the_settings_page_shows_no_notices_state_to_non_admins(client, bitrix, prostor):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    _, user_token = open_page(client, bitrix, path="/", user_id="7")

    providers = client.get("/api/settings", headers=bearer(user_token)).get_json()["providers"]

    assert "balance_threshold" not in providers[0] and "credentials" not in providers[0]


@pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")
def test_two_job_passes_at_once_send_one_notice(app, client, db, bitrix, prostor):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    bitrix.notify_delay = 0.3  # the first pass is still telling the admin when the second one looks
    asked = balance_calls(prostor)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: jobs.run_once(services_of(app)), range(2)))

    assert len(bitrix.notifications) == 1
    assert sum(report.notices_sent for report in reports) == 1
    assert balance_calls(prostor) - asked == 1  # one of them took the hour's check
    assert not any(report.failed_duties for report in reports)


@pytest.mark.skipif(not on_postgres(), reason="row locks are tested on PostgreSQL")
def test_two_runners_claiming_the_same_due_notices_tell_each_admin_once(app, client, db, bitrix, prostor):
    install_with_chain(client, bitrix, PROSTOR_SETTINGS)
    bitrix.admins.add("3")
    open_page(client, bitrix, path="/", user_id="3")
    with db.session() as session:
        account = session.scalars(select(ProviderAccount)).one()
        for cause in (notices.LOW_BALANCE, notices.CREDENTIALS_REFUSED):
            notices.note(session, account.portal_id, account.id, cause,
                         {"balance": "1", "currency": "RUB", "threshold": 5, "words": "error authorization"})
    bitrix.notify_delay = 0.2
    start = threading.Barrier(2)

    def runner(_):
        workers = Workers(services_of(app))
        try:
            start.wait()
            return notices.send_due(services_of(app), workers)
        finally:
            workers.close()

    with ThreadPoolExecutor(2) as pool:
        sent = list(pool.map(runner, range(2)))

    assert sum(sent) == 2  # two notices (one per cause), each told once
    told = sorted((n["TAG"].split("|")[1], n["USER_ID"]) for n in bitrix.notifications)
    assert told == [("credentials_refused", "1"), ("credentials_refused", "3"), ("low_balance", "1"),
                    ("low_balance", "3")]


def test_a_pass_that_starts_while_another_tells_the_admin_finds_nothing_to_send(app, client, db, bitrix, prostor):
    install_with_chain(client, bitrix, LOW_PROSTOR)
    with db.session() as session:  # the hour's balance check already found it low
        account = session.scalars(select(ProviderAccount)).one()
        notices.note(session, account.portal_id, account.id, notices.LOW_BALANCE,
                     {"balance": "120.5", "currency": "RUB", "threshold": 200})
    second = []

    def another_pass():  # runs while the first pass's im.notify.system.add is under way
        if not second:
            second.append(None)
            second[0] = jobs.run_once(services_of(app))

    bitrix.before_notify = another_pass
    first = jobs.run_once(services_of(app))

    assert first.notices_sent == 1 and second[0].notices_sent == 0
    assert len(bitrix.notifications) == 1
