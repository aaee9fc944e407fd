"""Providers that receive SMS, for the tests of reply numbers and Open Lines: until the provider modules declare
their reply ways, two small Provider subclasses stand for them (one whose API sets a number's incoming URL, one
whose cabinet takes it pasted), registered where the app's providers are and removed after the test."""
from decimal import Decimal

import pytest

from b24sms import providers
from b24sms.providers.base import REPLIES_HOOKED, REPLIES_PASTED, Balance, Provider, ProviderError, Setting
from b24sms.rules.errors import N_


class HookedReplies(Provider):
    """Sets each reply number's incoming URL through its API, as Twilio does; refuses the numbers in `refused`."""

    kind = "hookedsms"
    title = "HookedSMS"
    credential_settings = (Setting("api_key", N_("API key"), secret=True),)
    sender_setting = Setting("sender", N_("Sender name"), required=False)
    reply_ways = frozenset({REPLIES_HOOKED})
    hooked: list[tuple[str, str]] = []  # (number, url) of every hook_replies call
    refused: set[str] = set()

    def balance(self):
        return Balance(Decimal("10"), "RUB")

    def hook_replies(self, number, url):
        type(self).hooked.append((number, url))
        if number in type(self).refused:
            raise ProviderError("The number is not in this account", "21421")


class PastedReplies(Provider):
    """Pushes replies to a URL the admin pastes into its cabinet."""

    kind = "pastedsms"
    title = "PastedSMS"
    credential_settings = (Setting("api_key", N_("API key"), secret=True),)
    sender_setting = Setting("sender", N_("Sender name"), required=False)
    reply_ways = frozenset({REPLIES_PASTED})
    replies_help = N_("Where in the cabinet to paste the URL: Settings, incoming messages.")

    def balance(self):
        return Balance(Decimal("10"), "RUB")


HOOKED = {"kind": "hookedsms", "sender": "SHOP", "credentials": {"api_key": "hooked-key"}}
PASTED = {"kind": "pastedsms", "sender": "SHOP", "credentials": {"api_key": "pasted-key"}}


@pytest.fixture
def receivers():
    """Both receiving providers offered for the test's length; their records emptied."""
    HookedReplies.hooked, HookedReplies.refused = [], set()
    providers.PROVIDERS.update({cls.kind: cls for cls in (HookedReplies, PastedReplies)})
    yield HookedReplies, PastedReplies
    for cls in (HookedReplies, PastedReplies):
        providers.PROVIDERS.pop(cls.kind, None)
