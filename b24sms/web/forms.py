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
