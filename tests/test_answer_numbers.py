"""Which number an operator's answer goes from. Twilio needs a from-number (`From`, one of the account's numbers):
the answer goes from the reply number that received the client's last reply (that line's first), else from the
account's own sender; a provider failed over to sends with its own sender, never the Twilio number."""
import pytest

from b24sms.rules.replies import answer_from, reply_number_origin
from tests.helpers import (
    APPLICATION_TOKEN,
    PROSTOR_SETTINGS,
    TWILIO_SETTINGS,
    bearer,
    installed,
    run_job,
    save_providers,
)
from tests.helpers.suite import PUBLIC_URL

OWN_SENDER = TWILIO_SETTINGS["sender"]  # the account's own From: FakeTwilio's first number
SECOND = "+14155552671"  # another number of the account, which receives replies
CLIENT = "+79161234567"


@pytest.fixture
def receiving(client, bitrix, twilio):
    """Install with a chain (Twilio first) whose Twilio numbers feed lines 3 (SECOND) and 5 (OWN_SENDER)."""
    twilio.numbers[SECOND] = {"sid": "PN" + "2" * 32, "phone_number": SECOND, "sms_url": "", "sms_method": "POST"}
    bitrix.add_line("3")
    bitrix.add_line("5")
    token = installed(client, bitrix, lang="en")

    def chain(*providers):
        saved = save_providers(client, token, [{**TWILIO_SETTINGS, "reply_numbers": [SECOND, OWN_SENDER]},
                                               *providers])
        assert saved.status_code == 200, saved.get_json()
        for line, number in (("3", SECOND), ("5", OWN_SENDER)):
            connected = client.put(f"/api/lines/{line}", json={"reply_numbers": [number], "active": True},
                                   headers=bearer(token))
            assert connected.status_code == 200, connected.get_json()

    chain.token = token  # the admin's page token
    return chain


def reply(client, twilio, to, text, sender=CLIENT):
    """The client's SMS to our number `to`, pushed by Twilio to the URL the app set on it."""
    form, headers = twilio.pushed_reply(twilio.receive(sender, to, text))
    assert client.post(twilio.numbers[to]["sms_url"].removeprefix(PUBLIC_URL), data=form,
                       headers=headers).status_code == 200


def answer(client, bitrix, line, text, im_message_id, chat=CLIENT):
    form = bitrix.operator_answer_form(line, chat, text, im_chat_id=77, im_message_id=im_message_id,
                                       application_token=APPLICATION_TOKEN)
    assert client.post("/events", data=form).get_json()["stored"] == 1


def sent_from(twilio):
    """(To, From, Body) of every message the app asked Twilio to send."""
    return [(form["To"], form.get("From"), form["Body"]) for method, path, form in twilio.requests
            if method == "POST" and path.endswith("/Messages.json")]


def test_an_answer_goes_from_the_number_the_client_wrote_to(client, bitrix, twilio, runner, receiving):
    receiving()
    reply(client, twilio, SECOND, "Is my order ready?")
    run_job(runner)  # handed to line 3

    answer(client, bitrix, "3", "Yes, today.", 901)

    assert sent_from(twilio) == [(CLIENT, SECOND, "Yes, today.")]
    [logged] = [entry for entry in client.get("/api/messages", headers=bearer(receiving.token)).get_json()
                if entry["text"] == "Yes, today."]
    assert logged["origin"]["reply_number"] == {"number": SECOND}  # the number, not our account's internal id


def test_without_a_reply_from_the_client_an_answer_goes_from_the_accounts_own_sender(client, bitrix, twilio,
                                                                                    receiving):
    receiving()
    reply(client, twilio, SECOND, "hello", sender="+79167654321")  # another client wrote

    answer(client, bitrix, "3", "Hello!", 902)

    assert sent_from(twilio) == [(CLIENT, OWN_SENDER, "Hello!")]


def test_the_last_reply_to_the_answers_line_counts_first(client, bitrix, twilio, runner, receiving):
    receiving()
    reply(client, twilio, SECOND, "first, to line 3")
    reply(client, twilio, OWN_SENDER, "then, to line 5")
    run_job(runner)

    answer(client, bitrix, "3", "Answer in line 3", 903)
    answer(client, bitrix, "5", "Answer in line 5", 904)

    assert sent_from(twilio) == [(CLIENT, SECOND, "Answer in line 3"), (CLIENT, OWN_SENDER, "Answer in line 5")]


def test_a_provider_failed_over_to_sends_with_its_own_sender(client, bitrix, twilio, prostor, runner, receiving):
    receiving(PROSTOR_SETTINGS)
    reply(client, twilio, SECOND, "Is my order ready?")
    run_job(runner)
    twilio.refuse_next.append((400, 21408, "Permission to send an SMS has not been enabled for the region"))

    answer(client, bitrix, "3", "Yes, today.", 905)

    assert sent_from(twilio) == [(CLIENT, SECOND, "Yes, today.")]  # refused
    [sent] = prostor.sent.values()
    assert (sent["phone"], sent["text"], sent["sender"]) == (CLIENT, "Yes, today.", "SHOP")


def test_the_rule_takes_the_reply_number_only_for_its_own_account_and_where_a_from_number_is_needed():
    origin = {"module_id": "imopenlines", **reply_number_origin(SECOND, 7)}
    assert answer_from(origin, 7, needs_from_number=True) == SECOND
    assert answer_from(origin, 8, needs_from_number=True) is None  # another account: not its number
    assert answer_from(origin, 7, needs_from_number=False) is None  # an alpha name would do: its own sender
    assert answer_from({"module_id": "crm"}, 7, needs_from_number=True) is None
    assert answer_from(None, 7, needs_from_number=True) is None
