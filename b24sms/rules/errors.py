"""Errors a caller can act on. The web layer turns each into `{"error": code, "message": text}` and its status,
the text translated into the page's language: `message` is a gettext template (marked with `N_`) and the
keyword arguments fill its `%(name)s` places, so that layers below the web know nothing of languages."""
from typing import Any


def N_(template: str) -> str:
    """Marks a string for the translation catalogue (pybabel extracts it); it is translated where it is shown."""
    return template


class Plural(str):
    """A template with a plural form (marked with `NP_`): the parameter named `counted_by` picks the form, by the
    language's plural rules (Russian has three: 1 символ, 2 символа, 5 символов). As a str it is the singular."""

    plural: str
    counted_by: str

    def english(self, params: dict[str, Any]) -> str:
        """The English text (logs, callers without a language)."""
        return (self if params.get(self.counted_by) == 1 else self.plural) % params


def NP_(singular: str, plural: str, count: str = "n") -> Plural:
    """Marks a plural template for the catalogue (`pybabel extract -k NP_:1,2`): `count` names the parameter
    whose number picks the form. Translated where it is shown, like N_'s."""
    template = Plural(singular)
    template.plural, template.counted_by = plural, count
    return template


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, status: int | None = None, **params: Any) -> None:
        self.template = message
        self.params = params
        # English: for logs and non-page callers
        self.message = message.english(params) if isinstance(message, Plural) else message % params if params \
            else message
        super().__init__(self.message)
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    """The request is fine but the portal's state does not allow it now (sending is paused, say)."""

    status = 409
    code = "conflict"


class UpstreamError(AppError):
    """Bitrix24 or a provider could not be reached or refused in a way the user can't fix by editing input."""

    status = 502
    code = "upstream_error"
