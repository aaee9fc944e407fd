"""Devino's side of incoming SMS: the push to the number's external handler URL (GET or POST)."""
import pytest

from b24sms import http_client
from b24sms.providers import base
from b24sms.providers.devino import Devino
from tests.fakes.devino import API_KEY, DEVINO

URL = "https://sms.example.com/replies/devino/s3cret"


def provider():
    return Devino({"api_key": API_KEY}, "SHOP", base_url=DEVINO, timeout=3, http=http_client.build())


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_pushed_reply_is_read_from_the_query_or_the_form(devino, method):
    message_id = devino.receive("79089876534", "2435", "Играйте с нами", prefix="loto")
    fields = tuple(devino.pushed_reply(message_id).items())
    pushed = base.Receipt(url=URL, query=fields) if method == "GET" else base.Receipt(url=URL, params=fields)
    [reply] = provider().read_replies(pushed)
    assert (reply.provider_id, reply.sender, reply.receiver, reply.text) == (message_id, "79089876534", "2435",
                                                                             "Играйте с нами")
    assert reply.raw["prefix"] == "loto" and reply.received_at is None


def test_unknown_fields_are_kept_and_a_missing_number_is_empty():
    pushed = base.Receipt(url=URL, params=(("sourcePhone", "79089876534"), ("messageId", "9"), ("text", "hi"),
                                           ("newField", "x")))
    [reply] = provider().read_replies(pushed)
    assert (reply.receiver, reply.raw["newField"]) == ("", "x")


@pytest.mark.parametrize("missing", ["messageId", "sourcePhone"])
def test_a_push_naming_no_id_or_sender_is_refused(devino, missing):
    fields = devino.pushed_reply(devino.receive("79089876534", "2435", "hi"))
    del fields[missing]
    with pytest.raises(base.ProviderError) as refused:
        provider().read_replies(base.Receipt(url=URL, params=tuple(fields.items())))
    assert refused.value.code == "bad_reply"


def test_the_answer_sends_nothing_back():
    # Devino turns an answer `{sms=<text>}` into an SMS to the client: ours says nothing.
    body, content_type = Devino.reply_answer
    assert "sms=" not in body and content_type.startswith("text/plain")


def test_devino_replies_are_pasted_only_its_pull_needs_a_login():
    assert Devino.reply_ways == {base.REPLIES_PASTED}
    with pytest.raises(base.ProviderError) as refused:
        provider().fetch_replies(None)
    assert refused.value.code == "no_replies"
