"""Reading Bitrix24's PHP-style form posts, and what providers push."""
from flask import request

from b24sms.bitrix.forms import FormError, parse
from b24sms.providers.base import Receipt
from b24sms.rules.errors import N_, BadRequest


def posted_data():
    """The request's form (and query) as nested data; a malformed form is a 400."""
    try:
        return parse(request.form.items(multi=True))
    except FormError as exc:
        raise BadRequest(N_("The form could not be read: %(reason)s"), "malformed_form", reason=str(exc)) from None


def auth_block(data):
    """The call's `auth[...]` group as posted; a field of it sent as a group (`auth[member_id][x]=`) is a 400,
    so that only text reaches the checks (and the columns) behind it."""
    auth = data.get("auth")
    if isinstance(auth, dict) and not all(isinstance(value, str) for value in auth.values()):
        raise BadRequest(N_("Each auth[...] field must be a single text value."), "malformed_auth")
    return auth


def pushed_request(public_url):
    """The request a provider pushed (a receipt, a reply) as a provider-neutral Receipt. The URL is rebuilt from
    PUBLIC_URL, which is what the provider was given (behind a proxy, request.url may say http or an inner host):
    Twilio signs that URL."""
    url = public_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return Receipt(
        url=url,
        method=request.method,
        params=tuple(request.form.items(multi=True)),
        query=tuple(request.args.items(multi=True)),
        json=request.get_json(silent=True) if request.is_json else None,
        headers={name.lower(): value for name, value in request.headers.items()},
    )
