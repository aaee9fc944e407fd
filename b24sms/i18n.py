"""Russian or English: which one a portal reads, and the catalogues (b24sms/web/i18n.py picks a request's).

Catalogues live in b24sms/translations (`make translations` compiles them). Strings below the web layer are
marked with `errors.N_` and translated where they are shown.
"""
from functools import cache
from pathlib import Path

from babel.support import Translations

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
    text = _catalogue(language if language in LANGUAGES else "en").gettext(template)
    return text % params if params else text


