"""The provider registry: kind -> class. Adding a provider is one module plus one line here."""
from .base import Provider, ProviderError  # noqa: F401
from .log import LogProvider
from .prostor import Prostor
from .smsaero import SmsAero
from .smsc import Smsc
from .twilio import Twilio

PROVIDERS = {cls.kind: cls for cls in (Prostor, Smsc, SmsAero, Twilio, LogProvider)}


def offered(settings) -> dict:
    """The kinds a portal admin may choose: `log` (which sends nothing and reports delivered) only where
    ENABLE_LOG_PROVIDER is on (development, trials)."""
    return {kind: cls for kind, cls in PROVIDERS.items()
            if kind != LogProvider.kind or settings.get("ENABLE_LOG_PROVIDER")}


class UnknownProvider(KeyError):
    pass


def provider_class(kind) -> type[Provider]:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise UnknownProvider(kind) from None


def build(kind, credentials, sender, settings, http=None) -> Provider:
    """A ready provider for one account, its base URL and timeout taken from the app's settings."""
    cls = provider_class(kind)
    base_url = settings.get(cls.base_url_setting, "") if cls.base_url_setting else ""
    return cls(credentials, sender, base_url=base_url, timeout=settings["HTTP_TIMEOUT"], http=http)


def for_account(account, settings, http=None) -> Provider:
    """The provider behind a stored account (anything with kind, credentials and sender)."""
    return build(account.kind, account.credentials, account.sender, settings, http=http)
