"""Twilio's side of incoming SMS: the signed push to the number's SmsUrl, and hooking a number to our URL."""
from urllib.parse import parse_qsl

import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.twilio import Twilio
from tests.fakes.twilio import TWILIO

URL = "https://sms.example.com/replies/twilio/s3cret"
NUMBER = "+15017122661"


def provider(twilio):
    return Twilio({"account_sid": twilio.account_sid, "auth_token": twilio.auth_token}, NUMBER, base_url=TWILIO,
                  timeout=3, http=http_client.build())


def pushed(form, headers, url=URL):
    return base.Receipt(url=url, params=tuple(form.items()), headers={k.lower(): v for k, v in headers.items()})


def test_a_pushed_reply_is_read_with_every_field_kept(twilio):
    sid = twilio.receive("+79161234567", NUMBER, "Да, приду\nв 10")
    form, headers = twilio.pushed_reply(sid, URL, NewParameter="later")
    [reply] = provider(twilio).read_replies(pushed(form, headers))
    assert (reply.provider_id, reply.sender, reply.receiver, reply.text) == (sid, "+79161234567", NUMBER,
                                                                             "Да, приду\nв 10")
    assert reply.received_at is None  # Twilio's push carries no time
    assert reply.raw["NewParameter"] == "later" and reply.raw["AccountSid"] == twilio.account_sid


def test_the_older_sid_names_are_read_when_messagesid_is_missing(twilio):
    sid = twilio.receive("+79161234567", NUMBER, "hi")
    form, headers = twilio.pushed_reply(sid, URL)
    del form["MessageSid"]
    [reply] = provider(twilio).read_replies(pushed(form, headers))
    assert reply.provider_id == sid


@pytest.mark.parametrize("missing", ["From", "MessageSid"])
def test_a_push_naming_no_sid_or_sender_is_refused(twilio, missing):
    sid = twilio.receive("+79161234567", NUMBER, "hi")
    form, headers = twilio.pushed_reply(sid, URL)
    for name in {missing, "SmsSid", "SmsMessageSid"} if missing == "MessageSid" else {missing}:
        del form[name]
    with pytest.raises(base.ProviderError) as refused:
        provider(twilio).read_replies(pushed(form, headers))
    assert refused.value.code == "bad_reply"


def test_an_empty_body_is_an_empty_text(twilio):
    sid = twilio.receive("+79161234567", NUMBER, "")
    form, headers = twilio.pushed_reply(sid, URL, NumMedia="1", MediaUrl0="https://api.twilio.com/m/1")
    [reply] = provider(twilio).read_replies(pushed(form, headers))
    assert reply.text == "" and reply.raw["MediaUrl0"] == "https://api.twilio.com/m/1"


def test_the_signature_is_checked(twilio):
    sid = twilio.receive("+79161234567", NUMBER, "hi")
    form, headers = twilio.pushed_reply(sid, URL, Extra="added without notice")
    assert provider(twilio).verify_reply(pushed(form, headers))
    assert not provider(twilio).verify_reply(pushed({**form, "Body": "forged"}, headers))
    assert not provider(twilio).verify_reply(pushed(form, {}))
    assert not provider(twilio).verify_reply(pushed(form, headers, url=URL + "x"))
    other = Twilio({"account_sid": twilio.account_sid, "auth_token": "another token"}, NUMBER, base_url=TWILIO,
                   timeout=3, http=http_client.build())
    assert not other.verify_reply(pushed(form, headers))


@pytest.mark.parametrize("signed_url, our_url", [
    ("https://sms.example.com:443/replies/twilio/s3cret", URL),  # Twilio signed with the default port
    (URL, "https://sms.example.com:443/replies/twilio/s3cret"),  # we see the port, Twilio signed without it
])
def test_the_signature_holds_with_and_without_the_default_port(twilio, signed_url, our_url):
    sid = twilio.receive("+79161234567", NUMBER, "hi")
    form, headers = twilio.pushed_reply(sid, signed_url)
    assert provider(twilio).verify_reply(pushed(form, headers, url=our_url))


def test_the_answer_is_an_empty_twiml():
    body, content_type = Twilio.reply_answer
    assert body.strip() and "<Response" in body and content_type == "text/xml"
    assert Twilio.reply_ways == {base.REPLIES_HOOKED}


def test_hooking_a_number_points_its_sms_url_at_ours(twilio):
    provider(twilio).hook_replies(NUMBER, URL)
    assert twilio.numbers[NUMBER]["sms_url"] == URL and twilio.numbers[NUMBER]["sms_method"] == "POST"
    (get, listed, _), (post, path, form) = twilio.requests
    assert (get, listed, post) == ("GET", f"Accounts/{twilio.account_sid}/IncomingPhoneNumbers.json", "POST")
    assert path == f"Accounts/{twilio.account_sid}/IncomingPhoneNumbers/{'PN' + '1' * 32}.json"
    assert form == {"SmsUrl": URL, "SmsMethod": "POST"}
    # Then Twilio's push to it is ours, signed over that URL.
    sid = twilio.receive("+79161234567", NUMBER, "hi")
    form, headers = twilio.pushed_reply(sid)
    assert provider(twilio).verify_reply(pushed(form, headers))


def test_the_number_is_asked_for_by_its_e164(twilio, rsps):
    provider(twilio).hook_replies("15017122661", URL)  # digits only: the plus is added
    query = dict(parse_qsl(rsps.calls[0].request.url.split("?", 1)[1]))
    assert query == {"PhoneNumber": NUMBER}
    assert twilio.numbers[NUMBER]["sms_url"] == URL


def test_a_number_not_on_the_account_is_named_so(twilio):
    with pytest.raises(base.NumberNotFound) as refused:
        provider(twilio).hook_replies("+15550001111", URL)
    assert refused.value.code == "number_not_found" and "+15550001111" in refused.value.text
    assert [method for method, _, _ in twilio.requests] == ["GET"]  # nothing updated
    assert twilio.numbers[NUMBER]["sms_url"] == ""


def test_bad_credentials_when_hooking_are_bad_credentials(twilio):
    wrong = Twilio({"account_sid": twilio.account_sid, "auth_token": "wrong"}, NUMBER, base_url=TWILIO,
                   timeout=3, http=http_client.build())
    with pytest.raises(base.InvalidCredentials):
        wrong.hook_replies(NUMBER, URL)
