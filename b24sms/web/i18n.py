"""The pages' and the API's language in a request: the iframe's LANG, carried in the page token (Flask-Babel).

The catalogues and the translation of templates outside any request are in b24sms/i18n.py.
"""
from flask import g, request
from flask_babel import Babel, get_locale, get_translations, refresh

from b24sms.i18n import LANGUAGES, format_money, format_number, language_for, translate_with
from b24sms.i18n import plural_forms as forms_by_category


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
    """`template` (N_, or NP_ whose count parameter picks the plural form) in the request's language."""
    return translate_with(get_translations(), template, params)


def plural_forms(template):
    """Every form of an NP_ template in the request's language, by CLDR category (for the page's JS)."""
    return forms_by_category(get_translations(), current_language(), template)


def number(value):
    return format_number(current_language(), value)


def money(amount, currency=None):
    return format_money(current_language(), amount, currency)


def init_app(app):
    Babel(app, locale_selector=_select_locale, default_translation_directories="translations",
          default_domain="messages")
    app.jinja_env.globals["current_language"] = current_language
