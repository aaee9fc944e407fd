"""Reading Bitrix24's PHP-style form posts."""
from flask import request

from b24sms.bitrix.forms import FormError, parse
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
