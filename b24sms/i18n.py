"""The pages' and the API's language: Russian or English, from the iframe's LANG, carried in the page token.

Catalogues live in b24sms/translations (`make translations` compiles them). Strings below the web layer are
marked with `errors.N_` and translated where they are shown.
"""
from functools import lru_cache
from pathlib import Path

from babel.support import Translations
from flask import g, request
from flask_babel import Babel, get_locale, gettext, refresh

LANGUAGES = ("en", "ru")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# Bitrix24's LANG codes whose portals read Russian: Ukrainian, Belarusian and Kazakh portals included.
RUSSIAN_READING = {"ru", "ua", "by", "kz"}


def language_for(lang_code):
    """`ru` for Bitrix24's ru, ua, by and kz; `en` for anything else."""
    return "ru" if (lang_code or "").strip().lower()[:2] in RUSSIAN_READING else "en"


def _select_locale():
    page = g.get("page")
    if page is not None and getattr(page, "language", None) in LANGUAGES:
        return page.language
    if g.get("language") in LANGUAGES:
        return g.language
    if "LANG" in request.args:
        return language_for(request.args["LANG"])
    # The page's JS names its language, so that even an expired token is answered in it.
    return request.accept_languages.best_match(LANGUAGES) or "en"


def use_language(language):
    """From here on this request speaks `language` (a verified visit's LANG, a page token's)."""
    g.language = language
    refresh()


def current_language():
    return str(get_locale() or "en")


def translate(template, params=None):
    text = gettext(template)
    return text % params if params else text


@lru_cache(maxsize=None)
def _catalogue(language):
    return Translations.load(str(TRANSLATIONS), [language], domain="messages")


def translate_to(language, template, params=None):
    """`template` in `language`, outside any request (a job pass writing to a portal in its language)."""
    text = _catalogue(language if language in LANGUAGES else "en").gettext(template)
    return text % params if params else text


def init_app(app):
    Babel(app, locale_selector=_select_locale, default_translation_directories="translations",
          default_domain="messages")
    app.jinja_env.globals["current_language"] = current_language
