"""Issue 17, item 2: reconciling by content (P1SMS lists messages by number; the text is all there is to match)
never takes an earlier SMS alike, nor one another message of ours holds, for the message whose answer was lost;
in doubt it cannot tell, and the message waits for a receipt instead of taking another SMS's id and status."""
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select

from b24sms.rules.lifecycle import MessageState
from b24sms.store.models import Message
from tests.helpers import (
    P1SMS_SETTINGS,
    install_with_chain,
    make_due,
    message_id,
    post_sms,
    run_job,
    stored,
)

PHONE, TEXT = "79161234567", "Hello from CRM"  # what handler_form sends


def creates(fake):
    return [body for _, path, body in fake.requests if path == "apiSms/create"]


def test_the_same_text_sent_again_never_takes_the_id_an_earlier_message_holds(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    first = post_sms(client, bitrix, 1)
    p1sms.fail_next.append(requests.ReadTimeout())  # the second send never reaches P1SMS; its answer is lost

    assert post_sms(client, bitrix, 2)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    second = stored(db, 2)
    assert first["state"] == MessageState.ACCEPTED and stored(db, 1).provider_message_id == "12854727"
    assert (second.state, second.provider_message_id) == (MessageState.ACCEPTED, "12854728")  # sent, its own id
    assert len(p1sms.sent) == 2 and len(creates(p1sms)) == 3
    assert message_id(2) not in bitrix.statuses  # the first SMS's status was not reported for it


def test_an_earlier_sms_alike_is_passed_over_and_the_message_sent(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    earlier = p1sms.sent_before(PHONE, TEXT, ago=600)  # the same code, sent ten minutes ago (held by none of ours)
    p1sms.fail_next.append(requests.ReadTimeout())

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert message.state == MessageState.ACCEPTED and message.provider_message_id not in (None, str(earlier))
    assert len(p1sms.sent) == 2 and len(creates(p1sms)) == 2


def test_ours_is_told_from_an_earlier_sms_alike_by_its_date(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    earlier = p1sms.sent_before(PHONE, TEXT, ago=3600)
    p1sms.lose_answers = 1  # P1SMS takes the message; its answer never arrives

    assert post_sms(client, bitrix)["state"] == MessageState.RECONCILING
    make_due(db)
    run_job(runner)

    message = stored(db)
    [ours] = [id_ for id_ in p1sms.sent if id_ != earlier]
    assert (message.state, message.provider_message_id) == (MessageState.SENT, str(ours))
    assert len(creates(p1sms)) == 1


@pytest.mark.parametrize("ago, listed_date", [
    (30, None),  # stamped just before our call: ours on a slow clock, or an earlier one; nobody can tell
    (0, lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")),  # no zone
    (0, lambda seconds: seconds * 1000),  # milliseconds? not guessed at
])
def test_a_look_alike_in_doubt_is_cannot_tell_never_a_match(client, db, bitrix, p1sms, runner, ago, listed_date):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    p1sms.sent_before(PHONE, TEXT, ago=ago)
    if listed_date:
        p1sms.listed_date = listed_date
    p1sms.fail_next.append(requests.ReadTimeout())

    post_sms(client, bitrix)
    make_due(db)
    run_job(runner)

    message = stored(db)  # it waits for a receipt naming it (P1SMS is the only provider: nowhere to move on to)
    assert (message.state, message.provider_message_id) == (MessageState.RECONCILING, None)
    assert message.due_at > datetime.now(UTC).replace(tzinfo=None)
    assert len(creates(p1sms)) == 1 and bitrix.statuses == {}
    assert [path for _, path, _ in p1sms.requests].count("apiUsers/getSmsList") == 1


def test_a_call_whose_start_is_not_known_cannot_tell(client, db, bitrix, p1sms, runner):
    install_with_chain(client, bitrix, P1SMS_SETTINGS)
    p1sms.lose_answers = 1
    post_sms(client, bitrix)
    with db.session() as session:  # a log written before call starts were kept
        message = session.scalars(select(Message)).one()
        message.attempt_log = [{k: v for k, v in entry.items() if k != "called_at"} for entry in message.attempt_log]
        session.commit()
    make_due(db)
    run_job(runner)

    message = stored(db)
    assert (message.state, message.provider_message_id) == (MessageState.RECONCILING, None)
    assert len(creates(p1sms)) == 1
