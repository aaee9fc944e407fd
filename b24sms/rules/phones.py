"""Phone numbers as typed in a CRM card, made E.164 with the portal's country as the default region."""
import phonenumbers

# Portal domains carry the country more often than anything else we get; LANG is the fallback.
REGION_BY_TLD = {"ru": "RU", "by": "BY", "kz": "KZ", "ua": "UA", "uz": "UZ", "de": "DE", "pl": "PL",
                 "fr": "FR", "es": "ES", "it": "IT", "br": "BR", "mx": "MX", "co": "CO", "in": "IN",
                 "tr": "TR", "vn": "VN", "id": "ID", "uk": "GB", "jp": "JP", "cn": "CN"}
REGION_BY_LANGUAGE = {"ru": "RU", "by": "BY", "kz": "KZ", "ua": "UA", "de": "DE", "pl": "PL", "fr": "FR",
                      "it": "IT", "br": "BR", "tr": "TR", "vn": "VN", "id": "ID", "ja": "JP", "sc": "CN",
                      "tc": "TW"}
DEFAULT_REGION = "RU"


class InvalidPhone(ValueError):
    pass


def region_for(domain: str | None, language: str | None = None) -> str:
    tld = (domain or "").rsplit(".", 1)[-1].lower()
    return REGION_BY_TLD.get(tld) or REGION_BY_LANGUAGE.get((language or "").lower()) or DEFAULT_REGION


def normalize(raw: str | None, region: str = DEFAULT_REGION) -> str:
    """E.164 for a number as a person typed it; InvalidPhone when it cannot be a real number."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("the phone number is empty")
    # "00" is how many people type the international prefix; phonenumbers handles "8 900 ..." itself.
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
