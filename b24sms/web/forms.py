"""Reading Bitrix24's PHP-style form posts."""
from flask import request

from ..bitrix.forms import FormError, parse
from ..errors import BadRequest


def posted_data():
    """The request's form (and query) as nested data; a malformed form is a 400."""
    try:
        return parse(request.form.items(multi=True))
    except FormError as exc:
        raise BadRequest(str(exc), "malformed_form") from None


def auth_block(data):
    """The call's `auth[...]` group as posted; a field of it sent as a group (`auth[member_id][x]=`) is a 400,
    so that only text reaches the checks (and the columns) behind it."""
    auth = data.get("auth")
    if isinstance(auth, dict) and not all(isinstance(value, str) for value in auth.values()):
        raise BadRequest("Each auth[...] field must be a single text value.", "malformed_auth")
    return auth
