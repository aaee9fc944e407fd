"""A provider asked on the admin's behalf (saving settings, listing sender names): its refusal as the error the
page shows, the provider's own words kept and introduced in the admin's language."""
from b24sms.providers import transport
from b24sms.providers.base import InvalidCredentials, ProviderError, RetryLater
from b24sms.rules.errors import N_, BadRequest, UpstreamError


def asked(provider, call, *, refused, other, other_error=BadRequest, other_code="invalid_credentials"):
    """`call()`, its provider's refusals raised as AppErrors: bad credentials as 400 with `refused`, an outage as
    502, anything else as `other_error` with `other` (templates taking `provider` and `words`)."""
    try:
        return call()
    except InvalidCredentials as exc:
        raise BadRequest(refused, "invalid_credentials", provider=provider.title, words=exc.text) from None
    except RetryLater as exc:
        failure = transport.failure(exc.code)
        if failure:  # in the admin's words, not the base's English
            raise UpstreamError(failure[0], "provider_unavailable", provider=provider.title, **failure[1]) from None
        raise UpstreamError(N_("%(provider)s could not be reached: %(words)s"), "provider_unavailable",
                            provider=provider.title, words=exc.text) from None
    except ProviderError as exc:
        raise other_error(other, other_code, provider=provider.title, words=str(exc)) from None
