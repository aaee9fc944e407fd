"""The provider registry: kind -> class, found in this package's modules. Adding a provider is one module (a
`Provider` subclass with its `kind`) plus its tests; nothing here or in the settings changes."""
import importlib
import pkgutil

from b24sms.providers.base import Provider, ProviderError  # noqa: F401
from b24sms.providers.log import LogProvider

NOT_PROVIDERS = {"base", "vocabulary", "approved_names", "refusals", "transport", "devino_legacy"}


def _discover():
    """Every Provider subclass of this package's modules, ordered as the settings page offers them (the most
    used first, `log` last)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in NOT_PROVIDERS:
            importlib.import_module(f"{__name__}.{info.name}")
    found = [cls for cls in _subclasses(Provider) if cls.kind and cls.__module__.startswith(__name__ + ".")]
    return {cls.kind: cls for cls in sorted(found, key=lambda cls: (cls is LogProvider, cls.offer_rank, cls.kind))}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


PROVIDERS = _discover()


def offered(settings) -> dict:
    """The kinds a portal admin may choose: `log` (which sends nothing and reports delivered) only where
    ENABLE_LOG_PROVIDER is on (development, trials)."""
    return {kind: cls for kind, cls in PROVIDERS.items()
            if kind != LogProvider.kind or settings.enable_log_provider}


class UnknownProvider(KeyError):
    pass


def provider_class(kind) -> type[Provider]:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise UnknownProvider(kind) from None


def base_url(cls, settings):
    """The provider's API base: `<KIND>_API_URL` from the settings (tests, regional gateways), else its public one."""
    return settings.api_urls.get(cls.kind) or cls.default_base_url


def build(kind, credentials, sender, settings, http) -> Provider:
    """A ready provider for one account, its base URL and timeout taken from the app's settings (b24sms.config),
    calling out through `http`, the process's one HTTP client."""
    cls = provider_class(kind)
    return cls(credentials, sender, base_url=base_url(cls, settings), timeout=settings.http_timeout, http=http)


def for_account(account, settings, http) -> Provider:
    """The provider behind a stored account (anything with kind, credentials and sender)."""
    return build(account.kind, account.credentials, account.sender, settings, http)
