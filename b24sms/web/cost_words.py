"""The words of the page's length counter and spend (static/costs.js), marked for the catalogue and handed to the
page translated, with the rule it counts by (b24sms/rules/segments.py: one rule for the server and the page).

Words with a number have all their plural forms: the page picks one by the CLDR category of the number
(`Intl.PluralRules`), so `PLURAL_FORMS` hands it the translation for each category its language has.
"""
from babel import Locale
from flask_babel import get_translations

from b24sms.rules import segments
from b24sms.rules.errors import N_
from b24sms.web.i18n import current_language, translate

STRINGS = {
    "length_line": N_("%(characters)s · %(encoding)s · %(segments)s"),
    "encoding_gsm7": N_("GSM-7"),
    "encoding_ucs2": N_("UCS-2"),
    "length_help": N_("What the providers bill: up to 160 characters of the Latin alphabet (GSM-7) or 70 of any "
                      "other (UCS-2, Cyrillic) make one segment; longer texts go in parts of 153 or 67."),
    "cost_unknown": N_("price unknown"),
    "spend_unknown": N_("unknown"),
    "spend_none": N_("No provider has reported a price yet."),
    "spend_month": N_("Month to date: %(amounts)s"),
    "spend_window": N_("The last 30 days: %(amounts)s"),
}


def _forms(translations, n):
    """Every word with a number, as the catalogue has it for `n` (`%(num)s` is filled in by the page)."""
    return {
        "characters": translations.ngettext("%(num)s character", "%(num)s characters", n),
        "segments": translations.ngettext("%(num)s segment", "%(num)s segments", n),
        "unpriced": translations.ngettext("%(num)s message with no known price",
                                          "%(num)s messages with no known price", n),
    }


def plural_forms():
    """{"<word>": {"<CLDR category>": "<template>"}} in the current language: for each category the page's
    `Intl.PluralRules` may name, the form gettext gives a whole number of that category ("other", which in
    Russian only fractions reach, takes the form of 5)."""
    translations = get_translations()
    locale = Locale.parse(current_language())
    samples: dict[str, int] = {}
    for n in range(0, 200):
        samples.setdefault(locale.plural_form(n), n)
    samples.setdefault("other", samples.get("many", 5))
    by_category = {category: _forms(translations, n) for category, n in samples.items()}
    return {word: {category: forms[word] for category, forms in by_category.items()}
            for word in _forms(translations, 1)}


def page_data():
    """What the page's costs.js needs: its words, their plural forms and the segments rule."""
    return {"strings": {key: translate(text) for key, text in STRINGS.items()},
            "plurals": plural_forms(), "segments_rule": segments.RULE}
