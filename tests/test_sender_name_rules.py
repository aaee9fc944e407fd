"""The rules a sender name follows (b24sms/rules/sender_names.py), as the settings' parser applies them: names kept in
NFC, nothing invisible or restyled, no two that look alike, and what each provider declares it takes."""
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from b24sms import providers
from b24sms.bitrix import sender_names
from b24sms.rules import sender_names as rules
from b24sms.rules.errors import BadRequest

CAFE_NFC = "Caf\u00e9"
CAFE_NFD = "Cafe\u0301"


def refusal(name):
    """(reason, field) of the parser's refusal of a one-name list, or None when it takes the name."""
    try:
        sender_names.parse([{"name": name, "default": True}])
    except BadRequest as exc:
        return exc.template, exc.params.get("field_path")
    return None


@pytest.mark.parametrize("name, reason", [
    ("\u202ePOHS", rules.INVISIBLE_CHARACTER),  # right-to-left override: shows as SHOP
    ("SHOP\u202c", rules.INVISIBLE_CHARACTER),  # pop directional formatting
    ("\u2067SHOP\u2069", rules.INVISIBLE_CHARACTER),  # right-to-left isolate
    ("SH\u200bOP", rules.INVISIBLE_CHARACTER),  # zero-width space
    ("SH\u200cOP", rules.INVISIBLE_CHARACTER),  # zero-width non-joiner
    ("\u200dSHOP", rules.INVISIBLE_CHARACTER),  # zero-width joiner
    ("S\u2060HOP", rules.INVISIBLE_CHARACTER),  # word joiner
    ("\ufeffSHOP", rules.INVISIBLE_CHARACTER),  # zero-width no-break space (BOM)
    ("SH\u00adOP", rules.INVISIBLE_CHARACTER),  # soft hyphen
    ("SH\u3164OP", rules.INVISIBLE_CHARACTER),  # Hangul filler (a letter that shows as a blank)
    ("SHOP\ufe0f", rules.INVISIBLE_CHARACTER),  # variation selector
    ("SH\tOP", rules.INVISIBLE_CHARACTER),  # control (Cc)
    ("SH\u0085OP", rules.INVISIBLE_CHARACTER),  # C1 control
    ("SH\u2028OP", rules.INVISIBLE_CHARACTER),  # line separator
    ("SH\ue000OP", rules.INVISIBLE_CHARACTER),  # private use
    ("\uff33\uff28\uff2f\uff30", rules.STYLED_CHARACTER),  # fullwidth ＳＨＯＰ
    ("SHO\uff30", rules.STYLED_CHARACTER),  # one fullwidth letter
    ("\U0001d412\U0001d407\U0001d40e\U0001d40f", rules.STYLED_CHARACTER),  # mathematical bold
    ("\u24c8HOP", rules.STYLED_CHARACTER),  # circled S
    ("", rules.LENGTH),
    ("X" * 65, rules.LENGTH),
])
def test_a_name_that_hides_or_restyles_characters_is_refused(name, reason):
    problem = rules.problem(rules.normalise(name))

    assert problem is not None and problem.reason == reason
    assert refusal(name) == (sender_names.NAME_PROBLEMS[reason], "senders[0].name")


@pytest.mark.parametrize("typed, kept", [
    ("SHOP", "SHOP"),
    (" SHOP ", "SHOP"),
    (CAFE_NFC, CAFE_NFC),
    (CAFE_NFD, CAFE_NFC),  # the same Café, kept in one form
    ("Магазин", "Магазин"),
    ("A\u00a0B", "A\u00a0B"),  # a no-break space is a space, not hidden: it only matters beside "A B"
])
def test_names_are_kept_in_nfc(typed, kept):
    assert rules.problem(rules.normalise(typed)) is None
    assert sender_names.parse([{"name": typed, "default": True}])[0].name == kept


@pytest.mark.parametrize("first, second", [
    (CAFE_NFC, CAFE_NFD),
    ("SHOP", "shop"),
    ("Straße", "STRASSE"),  # case folding
    ("A B", "A\u00a0B"),  # NFKC: the no-break space
    ("A B", "A  B"),  # a run of spaces
    ("office", "of\ufb01ce"),  # NFKC: the fi ligature
])
def test_two_names_that_look_alike_are_refused_naming_the_second(first, second):
    assert rules.identity(first) == rules.identity(second)
    assert refusal_of_pair(first, second) == ("The sender name “%(name)s” is in the list twice.", "senders[1].name")


@pytest.mark.parametrize("first, second", [("SHOP", "SHOP2"), (CAFE_NFC, "Cafe"), ("A B", "AB")])
def test_names_that_differ_are_two_names(first, second):
    assert rules.identity(first) != rules.identity(second)
    assert refusal_of_pair(first, second) is None


def refusal_of_pair(first, second):
    try:
        sender_names.parse([{"name": first, "default": True}, {"name": second}])
    except BadRequest as exc:
        return exc.template, exc.params.get("field_path")
    return None


@pytest.mark.parametrize("name, reason", [
    ("SHOP", None),
    ("Shop-24.ru", None),
    ("ABCDEFGHIJK", None),  # 11
    ("ABCDEFGHIJKL", rules.ALPHA_LENGTH),  # 12
    ("My Shop!", None),
    ("Магазин", rules.ALPHA_CHARACTER),  # Cyrillic: not an alpha name Russian operators take
    (CAFE_NFC, rules.ALPHA_CHARACTER),
    ("SHOP{1}", rules.ALPHA_CHARACTER),  # a GSM extension character: two septets
    ("79161234567", None),
    ("+79161234567", None),
    ("123456789012345", None),  # 15 digits
    ("1234567890123456", rules.NUMBER_LENGTH),  # 16 digits
])
def test_the_common_alpha_name_or_number_rule(name, reason):
    problem = rules.limits_problem(name, rules.ALPHA_NAME_OR_NUMBER)

    assert (problem.reason if problem else None) == reason


@pytest.mark.parametrize("kind, limited", [
    ("prostor", True), ("smsc", True), ("smsru", True), ("smsaero", True), ("p1sms", True), ("devino", True),
    ("smstraffic", True), ("exolve", True),
    ("twilio", False),  # a number, a Messaging Service SID or an alpha ID: not one rule
    ("log", False),  # sends nothing
])
def test_each_provider_declares_its_limits_as_data(kind, limited):
    assert (providers.PROVIDERS[kind].sender_name_limits is not None) is limited


# ---------------------------------------------------------------- properties
HIDDEN = ["\u202e", "\u202d", "\u2066", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e",
          "\x00", "\x1b", "\x7f", "\u0085", "\u3164", "\u034f", "\ufe0f", "\U000e0041", "\u0301", "\uff33", " "]
names = st.one_of(
    st.text(max_size=70),
    st.builds(lambda head, hidden, tail: head + hidden + tail,
              st.text(max_size=10), st.sampled_from(HIDDEN), st.text(max_size=10)),
    st.builds(lambda parts: "".join(parts), st.lists(st.sampled_from(HIDDEN + ["S", "e", "Ж", "é"]), max_size=12)),
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(typed=names)
@example(typed="\u202ePOHS")
@example(typed=CAFE_NFD)
@example(typed="SH\u200bOP")
def test_no_accepted_name_hides_a_character_and_normalising_is_idempotent(typed):
    try:
        accepted = sender_names.parse([{"name": typed, "default": True}])[0].name
    except BadRequest:
        return
    assert all(unicodedata.category(char) not in ("Cc", "Cf") for char in accepted)
    assert not any(char in accepted for char in "\u200b\u200c\u200d\u2060\ufeff\u3164\u034f")
    assert unicodedata.is_normalized("NFC", accepted)
    assert sender_names.parse([{"name": accepted, "default": True}])[0].name == accepted  # idempotent
    assert rules.normalise(rules.normalise(typed)) == rules.normalise(typed)
    assert rules.identity(rules.identity(accepted)) == rules.identity(accepted)
