"""The pages and the API speak the portal's language: Russian for Bitrix24's ru, ua, by and kz, English otherwise;
the catalogue leaves no word untranslated."""
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.helpers import APPLICATION_TOKEN, PROSTOR_SETTINGS, bearer, open_page, save_providers

ROOT = Path(__file__).resolve().parent.parent
RUSSIAN_PO = ROOT / "b24sms/translations/ru/LC_MESSAGES/messages.po"
RUSSIAN_MO = ROOT / "b24sms/translations/ru/LC_MESSAGES/messages.mo"


def _catalogue(path, reader):
    """{msgid: msgstr}; a word with plural forms as (singular, plural): (forms...), whichever way it was read."""
    with open(path, "rb") as file:
        # A plural entry: its ids and forms as tuples (the .mo reader gives lists).
        return {_tuple(message.id): _tuple(message.string) for message in reader(file) if message.id}


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def _translated(string):
    return all(string) and len(string) == 3 if isinstance(string, (tuple, list)) else bool(string)


def test_every_word_of_the_code_has_its_russian_translation(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "NP_:1,2", "--no-location", "-o", str(template), "."],
                   cwd=ROOT, check=True, capture_output=True)
    wanted = set(_catalogue(template, read_po))
    russian = _catalogue(RUSSIAN_PO, lambda file: read_po(file, locale="ru"))
    assert len(wanted) > 150  # the extraction found the code's words at all
    # A plural entry's id and translation are tuples: every one of Russian's three forms must be there.
    untranslated = sorted(str(text) for text in wanted if not _translated(russian.get(text)))
    assert not untranslated, f"run `make translations` and translate these: {untranslated}"


def test_the_compiled_catalogue_is_the_current_one():
    """The .mo the app reads says what the .po says (`make translations` compiles it)."""
    written = {key: value for key, value in _catalogue(RUSSIAN_PO, lambda f: read_po(f, locale="ru")).items()
               if _translated(value)}
    assert _catalogue(RUSSIAN_MO, read_mo) == written


@pytest.mark.parametrize("lang, words", [
    ("ru", "Сохранить и завершить установку"), ("ua", "Сохранить и завершить установку"),
    ("by", "Сохранить и завершить установку"), ("kz", "Сохранить и завершить установку"),
    ("en", "Save and finish installation"), ("de", "Save and finish installation"),
])
def test_the_install_page_speaks_the_portal_language(client, bitrix, lang, words):
    response, token = open_page(client, bitrix, lang=lang, APPLICATION_TOKEN=APPLICATION_TOKEN)
    page = response.get_data(as_text=True)
    assert words in page
    assert f'<html lang="{"ru" if words.startswith("С") else "en"}">' in page


def test_the_page_hands_its_script_every_word_in_its_language(client, bitrix):
    import json
    import re
    response, _ = open_page(client, bitrix, lang="ru", APPLICATION_TOKEN=APPLICATION_TOKEN)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', response.get_data(as_text=True), re.S).group(1))
    assert data["language"] == "ru"
    assert data["strings"]["state_words_delivered"] == "Доставлено"
    assert data["strings"]["error_invalid_credentials"].startswith("%(provider)s не принял логин и пароль")
    prostor = next(entry for entry in data["catalog"] if entry["kind"] == "prostor")
    assert [field["label"] for field in prostor["credentials"]] == ["Логин", "Пароль"]
    assert prostor["title"] == "Prostor SMS" and prostor["cabinet_url"].startswith("https://")


def test_api_errors_come_in_the_language_of_the_page_token(client, bitrix):
    _, russian = open_page(client, bitrix, lang="ru", APPLICATION_TOKEN=APPLICATION_TOKEN)
    _, english = open_page(client, bitrix, lang="en", APPLICATION_TOKEN=APPLICATION_TOKEN)
    body = {"providers": []}
    assert client.put("/api/settings", json=body, headers=bearer(russian)).get_json() == {
        "error": "invalid_settings", "message": "Добавьте хотя бы одного SMS-провайдера."}
    assert client.put("/api/settings", json=body, headers=bearer(english)).get_json()["message"] == \
        "Add at least one SMS provider."
    # The field at fault, with its label in the page's language.
    refused = client.put("/api/settings", headers=bearer(russian),
                         json={"providers": [{"kind": "prostor", "credentials": {"login": "u"}}]}).get_json()
    assert refused == {"error": "invalid_settings", "message": "Заполните поле «Пароль».",
                       "field": "providers[0].credentials.password"}


def test_without_a_valid_token_the_answer_follows_the_pages_accept_language(client):
    answer = client.get("/api/settings", headers={"Accept-Language": "ru"}).get_json()
    assert answer["error"] == "no_session" and "Передайте токен сессии" in answer["message"]
    answer = client.get("/api/settings", headers={"Authorization": "Bearer nope", "Accept-Language": "en"}).get_json()
    assert answer == {"error": "bad_session", "message": "The session token is not valid."}


def test_the_error_page_speaks_the_portal_language(client):
    response = client.post("/install?LANG=ru", data={})
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Откройте b24sms на своём портале Битрикс24" in page and "Ошибка 401" in page
    english = client.post("/install?LANG=en", data={}).get_data(as_text=True)
    assert "Open b24sms from your Bitrix24 portal" in english and "Error 401" in english


def test_provider_words_are_kept_and_introduced_in_the_admins_language(client, bitrix, prostor):
    _, token = open_page(client, bitrix, lang="ru", APPLICATION_TOKEN=APPLICATION_TOKEN)
    wrong = {**PROSTOR_SETTINGS, "credentials": {"login": "user", "password": "wrong"}}
    response = save_providers(client, token, [wrong])
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_credentials",
                                   "message": "Prostor SMS не принял данные для входа: error authorization"}
