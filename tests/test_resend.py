"""A failed message looked at closely (GET /api/messages/<id>: its whole trail in words) and sent again by an
administrator (POST /api/messages/<id>/resend): a new message, exempt from repeat suppression, still bound by
the stop list, the caps and the pause."""
from b24sms.rules.lifecycle import MessageState
from tests.helpers import bearer, install_with_prostor, open_page, post_sms, run_job


def resend(client, token, message):
    return client.post(f"/api/messages/{message['id']}/resend", headers=bearer(token))


def refused_number(client, bitrix, prostor, n=1):
    """A CRM message that Prostor refused for its number: failed."""
    prostor.next_send_status = ["invalid mobile phone"]
    failed = post_sms(client, bitrix, n)
    assert failed["state"] == MessageState.FAILED
    return failed


def test_an_admin_sends_a_failed_message_again_as_a_new_message_linked_to_the_first(client, bitrix, prostor,
                                                                                     runner):
    token = install_with_prostor(client, bitrix)
    failed = refused_number(client, bitrix, prostor)

    answer = resend(client, token, failed)

    assert answer.status_code == 201
    again = answer.get_json()
    assert again["id"] != failed["id"] and again["message_id"].startswith("resend-")
    assert again["state"] == MessageState.ACCEPTED and again["text"] == failed["text"] and again["to"] == failed["to"]
    assert again["origin"]["resent_from"] == failed["id"] and again["origin"]["module_id"] == "crm"
    # The first stays as it was: failed, and what Bitrix24 was told stands.
    log = client.get("/api/messages", headers=bearer(token)).get_json()
    assert [(m["id"], m["state"]) for m in log] == [(again["id"], "accepted"), (failed["id"], "failed")]
    run_job(runner)
    assert list(bitrix.statuses) == [failed["message_id"]]  # the new one is not Bitrix24's to hear of


def test_the_trail_of_a_failed_message_in_the_pages_language(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)  # a Russian portal
    failed = refused_number(client, bitrix, prostor)

    details = client.get(f"/api/messages/{failed['id']}", headers=bearer(token)).get_json()

    assert details["id"] == failed["id"] and details["error"]["code"] == "invalid_recipient"
    events = [step["event"] for step in details["trail"]]
    assert events[0] == "received" and "attempt" in events and events[-1] == "failed"
    words = " ".join(step["words"] for step in details["trail"])
    assert "Prostor SMS отклонил номер: invalid mobile phone" in words
    assert all(step["at"] for step in details["trail"])


def test_a_resend_is_never_taken_for_a_repeat(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    post_sms(client, bitrix, 1, text="Your code is 1234")
    repeat = post_sms(client, bitrix, 2, text="Your code is 1234")
    assert repeat["reason"] == "repeat"

    again = resend(client, token, repeat)

    assert again.status_code == 201 and again.get_json()["state"] == MessageState.ACCEPTED
    assert again.get_json()["reason"] is None
    assert [m["text"] for m in prostor.sent.values()] == ["Your code is 1234"] * 2


def test_a_resend_still_obeys_the_stop_list(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    failed = refused_number(client, bitrix, prostor)
    client.put("/api/stop-list", json={"add": ["+79161234567"]}, headers=bearer(token))

    again = resend(client, token, failed)

    assert again.status_code == 201
    assert (again.get_json()["state"], again.get_json()["reason"]) == ("failed", "stop_list")
    assert prostor.sent == {}


def test_only_a_failed_message_of_the_portal_and_only_by_an_admin(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    failed = refused_number(client, bitrix, prostor, 1)
    delivered = post_sms(client, bitrix, 2)
    _, employee = open_page(client, bitrix, path="/", user_id="7")

    not_admin = resend(client, employee, failed)
    not_failed = resend(client, token, delivered)
    unknown = client.post("/api/messages/999999/resend", headers=bearer(token))
    huge = client.post(f"/api/messages/{10**30}/resend", headers=bearer(token))
    hidden = client.get(f"/api/messages/{failed['id']}", headers=bearer(employee))  # user 1's message

    assert not_admin.status_code == 403 and not_admin.get_json()["error"] == "admin_only"
    assert not_failed.status_code == 409 and not_failed.get_json()["error"] == "not_failed"
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_message"
    assert "сообщения" in unknown.get_json()["message"]  # in the page's language
    assert huge.status_code == 404 and hidden.status_code == 404


def test_no_resend_while_paused_or_without_a_provider_or_to_a_bad_number(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    failed = refused_number(client, bitrix, prostor, 1)
    bad_number = post_sms(client, bitrix, 2, phone="12")
    assert bad_number["error"]["code"] == "invalid_phone"

    client.put("/api/pause", json={"paused": True}, headers=bearer(token))
    paused = resend(client, token, failed)
    client.put("/api/pause", json={"paused": False}, headers=bearer(token))
    invalid = resend(client, token, bad_number)

    assert paused.status_code == 409 and paused.get_json()["error"] == "paused"
    assert invalid.status_code == 400
    assert invalid.get_json()["error"] == "invalid_phone" and invalid.get_json()["field"] == "to"
