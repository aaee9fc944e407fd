"""Russian or English: which one a portal reads, and the catalogues (b24sms/web/i18n.py picks a request's).

Catalogues live in b24sms/translations (`make translations` compiles them). Strings below the web layer are
marked with `errors.N_` and translated where they are shown.
"""
from functools import cache
from pathlib import Path

from babel import Locale
from babel.numbers import format_decimal
from babel.support import Translations

from b24sms.rules.errors import Plural

LANGUAGES = ("en", "ru")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# Bitrix24's LANG codes whose portals read Russian: Ukrainian, Belarusian and Kazakh portals included.
RUSSIAN_READING = {"ru", "ua", "by", "kz"}


def language_for(lang_code):
    """`ru` for Bitrix24's ru, ua, by and kz; `en` for anything else."""
    return "ru" if (lang_code or "").strip().lower()[:2] in RUSSIAN_READING else "en"


@cache
def _catalogue(language):
    return Translations.load(str(TRANSLATIONS), [language], domain="messages")


def translate_to(language, template, params=None):
    """`template` in `language`, outside any request (a job pass writing to a portal in its language)."""
    return translate_with(_catalogue(language if language in LANGUAGES else "en"), template, params)


def translate_with(catalogue, template, params=None):
    """`template` (N_ or NP_) through `catalogue`, its places filled from `params`; a plural template takes the
    form its count asks for in the catalogue's language."""
    if isinstance(template, Plural):
        text = catalogue.ngettext(template, template.plural, _count(params, template.counted_by))
    else:
        text = catalogue.gettext(template)
    return text % params if params else text


def plural_forms(catalogue, language, template):
    """Every form of a plural template in `language`, by CLDR category ({"one": ..., "few": ..., "many": ...}):
    the page's JS picks one with Intl.PluralRules, whose categories these are."""
    rule = Locale.parse(language).plural_form
    forms = {}
    for sample in SAMPLE_COUNTS:
        forms.setdefault(rule(sample), catalogue.ngettext(template, template.plural, sample))
    return forms


# Whole numbers that meet every plural category of Russian and English (one, few, many, other).
SAMPLE_COUNTS = (1, 2, 5, 0, 11, 21, 22, 100)


def _count(params, name):
    value = (params or {}).get(name, 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---- numbers: one way per language, the same as the page's Intl.NumberFormat (1 234,5 in Russian) ----
def format_number(language, value):
    """A count or amount as the page shows it: grouped, as many decimals as it has (at most three)."""
    return format_decimal(value, locale=_locale(language))


def format_money(language, amount, currency=None):
    """An amount with two decimals (1 234,50 RUB in Russian, 1,234.50 RUB in English); `?` when unknown."""
    if amount is None:
        return "?"
    try:
        shown = format_decimal(amount, format="#,##0.00", locale=_locale(language))
    except (TypeError, ValueError, ArithmeticError):
        shown = str(amount)
    return f"{shown} {currency}" if currency else shown


def _locale(language):
    return language if language in LANGUAGES else "en"


