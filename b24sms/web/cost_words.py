"""The words of the page's length counter and spend (static/costs.js), marked for the catalogue and handed to the
page translated, with the rule it counts by (b24sms/rules/segments.py: one rule for the server and the page).

Words with a number are plural entries (NP_), handed to the page with every form by plural category, as the
page's other words are (web/page_strings.py); the page picks one with `Intl.PluralRules`.
"""
from b24sms.rules import segments
from b24sms.rules.errors import N_, NP_
from b24sms.web.i18n import plural_forms, translate

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
# Words with a number: the page picks the form (web/i18n.plural_forms hands it every one, by plural category).
PLURALS = {
    "characters": NP_("%(n)s character", "%(n)s characters"),
    "segments": NP_("%(n)s segment", "%(n)s segments"),
    "unpriced": NP_("%(n)s message with no known price", "%(n)s messages with no known price"),
}


def page_data():
    """What the page's costs.js needs: its words, their plural forms and the segments rule."""
    return {"strings": {key: translate(text) for key, text in STRINGS.items()},
            "plurals": {key: plural_forms(text) for key, text in PLURALS.items()}, "segments_rule": segments.RULE}
