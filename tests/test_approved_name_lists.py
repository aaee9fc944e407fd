"""Every provider's list of approved sender names, read in the shapes it may come in: one the app cannot read is
"cannot check" (None: the names are saved, the provider refuses a wrong one when sending), never "none approved"
([]: which would refuse every name on save)."""
import pytest

from b24sms import http_client, providers
from b24sms.config import Settings
from b24sms.providers import approved_names
from tests.fakes.exolve import EXOLVE
from tests.fakes.p1sms import P1SMS
from tests.fakes.prostor import PROSTOR
from tests.fakes.smsaero import SMSAERO
from tests.fakes.smsc import SMSC
from tests.fakes.smsru import SMSRU

# kind -> (HTTP method, the provider's API base, the list's path, the answer around the list)
LISTS = {
    "prostor": ("POST", PROSTOR, "senders.json", lambda senders: {"status": "ok", "senders": senders}),
    "smsc": ("POST", SMSC, "senders.php", lambda senders: senders),
    "smsru": ("POST", SMSRU, "my/senders", lambda senders: {"status": "OK", "status_code": 100, "senders": senders}),
    "smsaero": ("POST", SMSAERO, "sign/list", lambda signs: {"success": True, "data": signs}),
    "p1sms": ("GET", P1SMS, "apiUsers/getUserSenders", lambda senders: {"status": "success", "data": senders}),
    "exolve": ("POST", EXOLVE, "messaging/v1/GetAlphaNames", lambda names: {"alpha_names": names}),
}
MISSING = object()  # the list's key left out of the answer


def provider(kind):
    base = LISTS[kind][1]
    return providers.build(kind, {}, "SHOP", Settings(http_timeout=3, api_urls={kind: base}), http_client.build())


def names_from(rsps, kind, listed):
    method, base, path, wrap = LISTS[kind]
    answer = wrap(listed)
    if listed is MISSING:
        answer = {key: value for key, value in answer.items() if value is not MISSING}
    rsps.add(method, base + path, json=answer)
    return provider(kind).sender_names()


@pytest.mark.parametrize("kind, listed", [
    ("prostor", MISSING), ("prostor", "nonsense"), ("prostor", [5, "junk"]), ("prostor", [{"info": "no name"}]),
    ("smsc", {"something": "else"}), ("smsc", "nonsense"), ("smsc", [{"id": 1}]),
    ("smsru", MISSING), ("smsru", "nonsense"), ("smsru", None),
    ("smsaero", "nonsense"), ("smsaero", [{"id": 1}]), ("smsaero", {"links": {}, "totalCount": "2"}),
    ("p1sms", "nonsense"), ("p1sms", {"senderName": "SHOP"}), ("p1sms", [{"status": None}]),
    ("exolve", [5]), ("exolve", [{"id": 5}]),
])
def test_a_list_in_a_shape_we_cannot_read_cannot_be_checked(rsps, kind, listed):
    assert names_from(rsps, kind, listed) is None


@pytest.mark.parametrize("kind, listed", [
    ("prostor", []), ("prostor", [{"name": "SHOP", "status": "pending"}]),
    ("smsc", []),
    ("smsru", []),
    ("smsaero", []), ("smsaero", {"links": {}, "totalCount": "0"}),
    ("p1sms", []), ("p1sms", [{"senderName": "SHOP", "status": "rejected"}]),
    ("exolve", []),
])
def test_a_readable_list_without_approved_names_says_none(rsps, kind, listed):
    assert names_from(rsps, kind, listed) == []


@pytest.mark.parametrize("kind, listed", [
    ("prostor", [{"name": "Cafe\u0301", "status": "active"}]),
    ("smsc", [{"id": 1, "sender": "Cafe\u0301"}]),
    ("smsru", ["Cafe\u0301"]),
    ("smsaero", [{"id": 1, "name": "Cafe\u0301", "status": 1}]),
    ("p1sms", [{"senderName": "Cafe\u0301", "status": None}]),
    ("exolve", [{"name": "Cafe\u0301", "status": "ACTIVE"}]),
])
def test_listed_names_come_in_nfc_as_ours_do(rsps, kind, listed):
    assert names_from(rsps, kind, listed) == ["Caf\u00e9"]


def test_a_list_that_cannot_be_read_lets_every_name_through(rsps):
    rsps.add("POST", PROSTOR + "senders.json", json={"status": "ok", "senders": "nonsense"})

    approved_names.check(provider("prostor"), [("ANY", "senders[0].name")])  # no refusal
