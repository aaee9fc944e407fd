"""Two-way SMS as the tests of the log set it up through the real flows: a portal on Twilio whose number feeds an
Open Line, a client's reply as Twilio pushes it, an operator's answer as Bitrix24 posts it."""
from tests.helpers import APPLICATION_TOKEN, TWILIO_SETTINGS, bearer, installed, save_providers
from tests.helpers.suite import PUBLIC_URL

OUR_NUMBER = "+15017122661"  # FakeTwilio's number (TWILIO_SETTINGS sends from it)


def connect_twilio_line(client, bitrix, line="3", lang="ru"):
    """Installs the portal on Twilio, its number feeding Open Line `line`; returns the admin's page token."""
    bitrix.add_line(line)
    token = installed(client, bitrix, lang=lang)
    saved = save_providers(client, token, [{**TWILIO_SETTINGS, "reply_numbers": [OUR_NUMBER]}])
    assert saved.status_code == 200, saved.get_json()
    connected = client.put(f"/api/lines/{line}", json={"reply_numbers": [OUR_NUMBER], "active": True},
                           headers=bearer(token))
    assert connected.status_code == 200, connected.get_json()
    return token


def push_reply(client, twilio, sender, text):
    """The client's SMS as Twilio posts it to the number's SmsUrl (the app set it on save)."""
    sid = twilio.receive(sender, OUR_NUMBER, text)
    form, headers = twilio.pushed_reply(sid)
    answer = client.post(twilio.numbers[OUR_NUMBER]["sms_url"].removeprefix(PUBLIC_URL), data=form, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return sid


def answer_in_line(client, bitrix, number, text, im_message_id, line="3"):
    """The operator's answer in the line's chat with `number`, as Bitrix24 posts the event."""
    answer = client.post("/events", data=bitrix.operator_answer_form(
        line, number, text, im_chat_id=77, im_message_id=im_message_id, application_token=APPLICATION_TOKEN))
    assert answer.status_code == 200 and answer.get_json()["stored"] == 1, answer.get_data(as_text=True)
