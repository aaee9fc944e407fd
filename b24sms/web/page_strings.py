"""Every word the settings page's JS shows, marked for the catalogue and handed to the page translated: the JS
itself holds no text of its own."""
from ..errors import N_
from ..i18n import translate

STRINGS = {
    "saved": N_("Saved."),
}


def translated():
    return {key: translate(text) for key, text in STRINGS.items()}
