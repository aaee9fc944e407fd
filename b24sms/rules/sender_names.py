"""The rules a sender name follows, as pure functions: no I/O and no imports from the app (they are meant to move
into the `rules/` package as they are).

A sender name is what a phone shows as the SMS's sender and what Bitrix24 users pick in the sender list, so two
names that look the same are one name. A name is therefore kept in Unicode NFC ("Café" typed with a combining
accent is the same Café), and refused when it carries characters that show nothing or change how the rest shows
(controls, format characters such as bidi overrides and zero-width joiners, fillers), or letters restyled to look
like other ones (fullwidth ＳＨＯＰ, mathematical 𝐒𝐇𝐎𝐏). Two names of a portal are one name when their `identity`
(case folding and NFKC) is equal.

What a provider takes as a sender (length, alphabet) is data, `SenderLimits`, declared on each provider class.

Each check answers with a `Problem` (a reason and the values a message about it names) or None; the caller turns a
problem into an error in the admin's language.
"""
import re
import unicodedata
from dataclasses import dataclass, field

MAX_LENGTH = 64

# Unicode categories refused anywhere in a name: controls (Cc), format characters (Cf: bidi overrides, embeddings
# and isolates, zero-width space and joiners, word joiner, BOM, soft hyphen, tags), surrogates (Cs: not text at
# all), private use (Co: shows differently on every phone) and unassigned code points (Cn); Zl and Zp break lines.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters of other categories that show as nothing or as a blank: the combining grapheme joiner, the Hangul
# fillers, the Khmer inherent vowels, the Braille blank, and the variation selectors (Mongolian ones included).
INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
VARIATION_SELECTORS = (range(0x180B, 0x1810), range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
# Compatibility decompositions that only restyle a character ("<wide> 0053" is the fullwidth S): a name with them
# looks like another name, and no SMS network carries them as they are.
STYLED = frozenset({"<wide>", "<narrow>", "<font>", "<circle>", "<super>", "<sub>", "<small>", "<square>",
                    "<vertical>"})

# Why a name is refused (Problem.reason).
LENGTH = "length"  # details: limit
INVISIBLE_CHARACTER = "invisible_character"  # details: char (its code point and name)
STYLED_CHARACTER = "styled_character"  # details: char, plain (the name with plain characters)
ALPHA_CHARACTER = "alpha_character"  # details: char, signs (the punctuation the provider takes)
ALPHA_LENGTH = "alpha_length"  # details: limit, length
NUMBER_LENGTH = "number_length"  # details: limit, length


@dataclass(frozen=True)
class Problem:
    reason: str
    details: dict = field(default_factory=dict)


# Every character here is one septet of the GSM 7-bit basic alphabet, so 11 of them fill the 11 septets of an
# alphanumeric originator address (3GPP TS 23.040). Assumption: the providers' own docs differ on which punctuation
# an alpha name may have; this is the lenient end, and a provider stricter than this refuses the name when sending
# (SenderRejected: the chain fails over), as it did before the name was checked here.
GSM_PUNCTUATION = " !\"#$%&'()*+,-./:;<=>?@_"
NUMBER = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True)
class SenderLimits:
    """What a provider takes as a sender: an alpha name of at most `alpha_max` Latin letters, digits and
    `punctuation`, or a number of at most `digits_max` digits (after an optional plus)."""

    alpha_max: int = 11
    punctuation: str = GSM_PUNCTUATION
    digits_max: int = 15


# The common rule for Russian operators' alpha names (up to 11 Latin letters, digits and some punctuation) and for
# numeric senders (an E.164 number has at most 15 digits). Assumption for the providers that declare it: their docs
# say no more precisely (providers.md has no length or alphabet per provider).
ALPHA_NAME_OR_NUMBER = SenderLimits()


def normalise(value: str) -> str:
    """The name as it is kept: NFC, without the whitespace around it."""
    return unicodedata.normalize("NFC", value).strip()


def identity(name: str) -> str:
    """What two names that look alike share: NFKC after case folding (and before it, so that compatibility forms
    fold as well), with runs of whitespace as one space; near enough Unicode's NFKC_Casefold."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def problem(name: str) -> Problem | None:
    """What is wrong with a normalised name on its own, whatever provider sends it; None when nothing is."""
    if not 1 <= len(name) <= MAX_LENGTH:
        return Problem(LENGTH, {"limit": MAX_LENGTH})
    hidden = next((char for char in name if is_invisible(char)), None)
    if hidden is not None:
        return Problem(INVISIBLE_CHARACTER, {"char": code_point(hidden)})
    styled = next((char for char in name if unicodedata.decomposition(char).split(" ")[0] in STYLED), None)
    if styled is not None:
        return Problem(STYLED_CHARACTER, {"char": styled, "plain": unicodedata.normalize("NFKC", name)})
    return None


def limits_problem(name: str, limits: SenderLimits) -> Problem | None:
    """What stops a provider with `limits` from taking a (normalised, otherwise valid) name as a sender."""
    if NUMBER.fullmatch(name):
        digits = len(name.lstrip("+"))
        return Problem(NUMBER_LENGTH, {"limit": limits.digits_max, "length": digits}) \
            if digits > limits.digits_max else None
    odd = next((char for char in name if not _alpha_character(char, limits)), None)
    if odd is not None:
        return Problem(ALPHA_CHARACTER, {"char": odd if not is_invisible(odd) else code_point(odd),
                                         "signs": " ".join(limits.punctuation.replace(" ", ""))})
    if len(name) > limits.alpha_max:
        return Problem(ALPHA_LENGTH, {"limit": limits.alpha_max, "length": len(name)})
    return None


def is_invisible(char: str) -> bool:
    """Whether a character shows nothing, or changes how the characters around it show."""
    code = ord(char)
    return (unicodedata.category(char) in REFUSED_CATEGORIES or char in INVISIBLE
            or any(code in selectors for selectors in VARIATION_SELECTORS))


def code_point(char: str) -> str:
    """A character as a message can name it when it cannot be shown: "U+202E RIGHT-TO-LEFT OVERRIDE"."""
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".strip()


def _alpha_character(char: str, limits: SenderLimits) -> bool:
    return char.isascii() and (char.isalnum() or char in limits.punctuation)
