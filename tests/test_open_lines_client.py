"""The Open Lines connector's client (b24sms/bitrix/open_lines.py) against the fake portal, and its registration
by the sender check for portals whose provider receives replies."""
import time
from urllib.parse import unquote

import pytest
import requests
from sqlalchemy import update

from b24sms import providers
from b24sms.bitrix import open_lines
from b24sms.bitrix.client import FixedToken, RestClient
from b24sms.bitrix.errors import BitrixError
from b24sms.bitrix.open_lines import ClientMessage, Delivered, LineGone
from b24sms.bitrix.rate_limit import TokenBucket
from b24sms.config import Settings
from b24sms.providers.twilio import Twilio
from b24sms.providers.vocabulary import REPLIES_HOOKED
from b24sms.store.models import Portal
from tests.helpers import PROSTOR_SETTINGS, TWILIO_SETTINGS, installed, run_job, save_providers
from tests.helpers.suite import PUBLIC_URL

SETTINGS = Settings(public_url="https://sms.example.com", sender_code="b24sms")
CONNECTOR = "b24sms_sms"
EVENTS = {"ONIMCONNECTORMESSAGEADD", "ONIMCONNECTORLINEDELETE", "ONIMCONNECTORSTATUSDELETE"}


@pytest.fixture
def rest(bitrix):
    access, _ = bitrix.issue()
    return RestClient(bitrix.endpoint, FixedToken(access), http=requests.Session(), timeout=5,
                      rate_limit=TokenBucket(time))


@pytest.fixture
def line(bitrix, rest):
    """Line 3, connected to our registered connector and active."""
    open_lines.ensure_connector(rest, SETTINGS)
    bitrix.add_line(3)
    open_lines.activate(rest, SETTINGS, "3", True)
    return "3"


def message(number="+79161234567", id="501", text="Yes, Tuesday suits me", **extra):
    return ClientMessage(id=id, phone=number, text=text, date=1763860000, **extra)


# ---------------------------------------------------------------- registration
def test_the_connector_id_is_ours_and_only_what_bitrix24_takes(bitrix, rest):
    settings = Settings(public_url="https://sms.example.com", sender_code="My.Shop-SMS")

    open_lines.ensure_connector(rest, settings)

    assert open_lines.connector_id(settings) == "my_shop_sms_sms"
    assert list(bitrix.connectors) == ["my_shop_sms_sms"]  # a "." would have been refused
    assert open_lines.connector_id(SETTINGS) == CONNECTOR


def test_register_sends_the_icon_handler_and_flags_and_binds_the_events(bitrix, rest):
    open_lines.ensure_connector(rest, SETTINGS)

    params = bitrix.rest_requests("imconnector.register")[0]
    assert params["ID"] == CONNECTOR and params["NAME"]
    assert params["PLACEMENT_HANDLER"] == "https://sms.example.com/connector"
    image = params["ICON"]["DATA_IMAGE"]
    assert image.startswith("data:image/svg+xml,%3Csvg")
    assert unquote(image.removeprefix("data:image/svg+xml,")).startswith("<svg") and " " not in image
    assert params["ICON"]["COLOR"].startswith("#") and params["ICON"]["SIZE"] and params["ICON"]["POSITION"]
    flags = ("EDIT_INTERNAL_MESSAGES", "DEL_INTERNAL_MESSAGES", "DEL_EXTERNAL_MESSAGES", "NEWSLETTER",
             "NEED_SYSTEM_MESSAGES", "CHAT_GROUP")
    assert {flag: params[flag] for flag in flags} == dict.fromkeys(flags, False)
    assert {event: bitrix.events[event] for event in EVENTS} == dict.fromkeys(EVENTS, "https://sms.example.com/events")


def test_registering_again_updates_and_binds_nothing_twice(bitrix, rest):
    open_lines.ensure_connector(rest, SETTINGS)

    open_lines.ensure_connector(rest, SETTINGS)

    assert len(bitrix.rest_requests("imconnector.register")) == 2 and list(bitrix.connectors) == [CONNECTOR]
    assert len(bitrix.rest_requests("event.bind")) == 3  # event.get said they were bound


def test_an_already_bound_event_is_fine_when_event_get_cannot_tell(bitrix, rest):
    open_lines.ensure_connector(rest, SETTINGS)
    bitrix.missing_methods.add("event.get")

    open_lines.ensure_connector(rest, SETTINGS)  # "Handler already binded" three times: no error

    assert len(bitrix.rest_requests("event.bind")) == 6 and EVENTS <= set(bitrix.events)


def test_both_answer_shapes_are_taken(bitrix, rest):
    for nested in (True, False):
        bitrix.connector_answers_nested = nested
        open_lines.ensure_connector(rest, SETTINGS)
        bitrix.add_line(5)
        open_lines.activate(rest, SETTINGS, 5, True)
        assert bitrix.lines["5"]["active"] is True


def test_an_error_inside_a_200_raises(bitrix, rest):
    bitrix.errors_inside_200 = True

    with pytest.raises(BitrixError) as refused:
        open_lines.activate(rest, SETTINGS, 3, True)  # no connector registered yet

    assert refused.value.code == "IMCONNECTOR_NO_CORRECT_PROVIDER" and not isinstance(refused.value, LineGone)
    open_lines.ensure_connector(rest, SETTINGS)
    with pytest.raises(LineGone):
        open_lines.activate(rest, SETTINGS, 3, True)  # no such line


def test_activate_data_and_status_of_a_line(bitrix, rest):
    open_lines.ensure_connector(rest, SETTINGS)
    bitrix.add_line(3)
    assert open_lines.line_status(rest, SETTINGS, "3") == open_lines.LineStatus(False, False, None)

    open_lines.activate(rest, SETTINGS, "3", True)
    open_lines.set_connector_data(rest, SETTINGS, "3", {"ID": "b24sms-3", "URL": "https://sms.example.com",
                                                        "URL_IM": "https://sms.example.com", "NAME": "SMS"})

    assert bitrix.rest_requests("imconnector.activate")[0] == {"CONNECTOR": CONNECTOR, "LINE": 3, "ACTIVE": "1"}
    assert bitrix.lines["3"]["data"]["NAME"] == "SMS"
    assert open_lines.line_status(rest, SETTINGS, 3) == open_lines.LineStatus(True, True, None)
    bitrix.lines["3"]["error"] = True
    assert open_lines.line_status(rest, SETTINGS, 3) == open_lines.LineStatus(True, False, "ERROR")
    open_lines.activate(rest, SETTINGS, 3, False)
    assert bitrix.rest_requests("imconnector.activate")[-1]["ACTIVE"] == "0" and not bitrix.lines["3"]["active"]
    with pytest.raises(ValueError):
        open_lines.set_connector_data(rest, SETTINGS, 3, {"PHONE": "+1"})


# ---------------------------------------------------------------- messages
def test_send_messages_reads_each_elements_success_and_session(bitrix, rest, line):
    bitrix.refused_messages.add("502")
    sent = [message(name="Maria O'Neil-Smith Longname Extra"), message("+15017122661", "502", name="+1501"),
            message("+447700900123", "503", name="Agent 007")]

    results = open_lines.send_messages(rest, SETTINGS, line, sent)

    assert [(result.message_id, result.success) for result in results] == [("501", True), ("502", False),
                                                                           ("503", True)]
    assert results[0].session_id and results[0].chat_id and results[0].error is None
    assert results[1].error.startswith("IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA") and results[1].session_id is None
    first, _, third = bitrix.rest_requests("imconnector.send.messages")[0]["MESSAGES"]
    assert first["user"] == {"id": "+79161234567", "phone": "+79161234567", "name": "Maria O'Neil-Smith"}
    assert first["message"] == {"id": "501", "date": 1763860000, "text": "Yes, Tuesday suits me"}  # no disable_crm
    assert first["chat"] == {"id": "+79161234567"}
    assert "name" not in third["user"]  # digits are no name
    assert [element["message"]["id"] for element in bitrix.line_messages[line]] == ["501", "503"]


def test_the_same_client_stays_in_one_session(bitrix, rest, line):
    one = open_lines.send_messages(rest, SETTINGS, line, [message()])[0]
    again = open_lines.send_messages(rest, SETTINGS, line, [message(id="504")])[0]

    assert (one.session_id, one.chat_id) == (again.session_id, again.chat_id)


@pytest.mark.parametrize("inside_200", [False, True])
def test_a_deleted_or_inactive_line_is_gone(bitrix, rest, line, inside_200):
    bitrix.errors_inside_200 = inside_200
    bitrix.line_deleted_form(line)

    with pytest.raises(LineGone) as gone:
        open_lines.send_messages(rest, SETTINGS, line, [message()])

    assert gone.value.code == "NOT_ACTIVE_LINE" and bitrix.line_messages[line] == []


def test_other_refusals_are_bitrix_errors(bitrix, rest, line):
    bitrix.connectors.clear()  # an app update dropped the connector

    with pytest.raises(BitrixError) as refused:
        open_lines.send_messages(rest, SETTINGS, line, [message()])

    assert not isinstance(refused.value, LineGone) and refused.value.code == "IMCONNECTOR_NO_CORRECT_PROVIDER"


def test_confirm_delivery_payload(bitrix, rest, line):
    open_lines.confirm_delivery(rest, SETTINGS, line, [
        Delivered(im_chat_id="9801", im_message_id="77123", chat_id="+79161234567", message_ids=["m-1", "m-2"],
                  date=1763860100)])

    assert bitrix.deliveries == [{"CONNECTOR": CONNECTOR, "LINE": 3, "MESSAGES": [{
        "im": {"chat_id": "9801", "message_id": "77123"}, "message": {"id": ["m-1", "m-2"], "date": 1763860100},
        "chat": {"id": "+79161234567"}}]}]


# ---------------------------------------------------------------- the sender check registers it
class ReceivingTwilio(Twilio):
    """Twilio as it is once it declares how replies reach us (another change gives Twilio its reply ways)."""

    reply_ways = frozenset({REPLIES_HOOKED})


@pytest.fixture
def twilio_receives(monkeypatch):
    monkeypatch.setitem(providers.PROVIDERS, "twilio", ReceivingTwilio)
    assert providers.provider_class("twilio").receives_replies()


def due_for_a_check(db):
    with db.session() as session:
        session.execute(update(Portal).values(sender_checked_at=None))
        session.commit()


def test_saving_and_the_check_register_the_connector_for_a_provider_that_receives(
        client, db, bitrix, twilio, runner, twilio_receives):
    token = installed(client, bitrix, lang="en")

    assert save_providers(client, token, [TWILIO_SETTINGS]).status_code == 200

    assert list(bitrix.connectors) == [CONNECTOR]
    assert bitrix.connectors[CONNECTOR]["PLACEMENT_HANDLER"] == PUBLIC_URL + "/connector"
    assert EVENTS <= set(bitrix.events) and bitrix.events["ONIMCONNECTORMESSAGEADD"] == PUBLIC_URL + "/events"
    bitrix.connectors.clear()  # an app update drops connectors and event bindings
    for event in EVENTS:
        del bitrix.events[event]
    due_for_a_check(db)

    run_job(runner)

    assert list(bitrix.connectors) == [CONNECTOR] and EVENTS <= set(bitrix.events)


def test_a_connector_refusal_does_not_break_the_senders(client, db, bitrix, twilio, twilio_receives):
    bitrix.missing_scopes.add("imconnector")  # the app was not granted the scope on this portal
    token = installed(client, bitrix, lang="en")

    response = save_providers(client, token, [TWILIO_SETTINGS])

    assert response.status_code == 200 and response.get_json()["portal"]["sender_registered"] is True
    assert bitrix.senders and bitrix.connectors == {}


def test_a_portal_whose_provider_cannot_receive_sees_no_connector(client, db, bitrix, prostor, runner):
    token = installed(client, bitrix, lang="en")
    save_providers(client, token, [PROSTOR_SETTINGS])
    due_for_a_check(db)
    run_job(runner)

    methods = {method for method, _ in bitrix.calls}
    assert not {method for method in methods if method.startswith("imconnector.")} and "event.get" not in methods
    assert bitrix.events == {"ONAPPUNINSTALL": f"{PUBLIC_URL}/events"}
