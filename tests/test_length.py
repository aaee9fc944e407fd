"""Length before sending (issue 20, item 1): characters, encoding and segments by one rule (b24sms/rules/segments.py),
answered by `/api/length`, and counted by the page's script (static/costs.js) from the same character sets, with
the same results."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sms.rules import segments
from b24sms.rules.segments import measure
from tests.helpers import bearer, install_with_prostor
from tests.helpers.segments import SEGMENT_TABLE

COSTS_JS = Path(__file__).resolve().parent.parent / "b24sms" / "static" / "costs.js"
NODE = shutil.which("node") or shutil.which("nodejs")



@pytest.mark.parametrize("text, characters, encoding, parts", SEGMENT_TABLE)
def test_the_rule(text, characters, encoding, parts):
    assert measure(text).as_json() == {"characters": characters, "encoding": encoding, "segments": parts}
    assert segments.segments(text) == parts


def test_the_api_measures_by_the_rule(client, bitrix, prostor):
    token = install_with_prostor(client, bitrix)
    for text, characters, encoding, parts in SEGMENT_TABLE:
        answer = client.get("/api/length", query_string={"text": text}, headers=bearer(token))
        assert answer.status_code == 200
        assert answer.get_json() == {"characters": characters, "encoding": encoding, "segments": parts}
    long = client.post("/api/length", json={"text": "ж" * 700}, headers=bearer(token))
    assert long.get_json() == {"characters": 700, "encoding": "ucs2", "segments": 11}


@pytest.mark.parametrize("call", [
    lambda client, headers: client.get("/api/length", headers=headers),
    lambda client, headers: client.post("/api/length", json={"text": 5}, headers=headers),
    lambda client, headers: client.post("/api/length", json=["text"], headers=headers),
    lambda client, headers: client.get("/api/length", query_string={"text": "x" * 5001}, headers=headers),
])
def test_bad_input_is_a_400_naming_the_field(client, bitrix, prostor, call):
    token = install_with_prostor(client, bitrix)
    answer = call(client, bearer(token))
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] in ("missing_field", "invalid_field", "invalid_json") and body["message"]
    if body["error"] != "invalid_json":
        assert body["field"] == "text"


def test_the_api_needs_the_pages_token(client):
    assert client.get("/api/length?text=hi").status_code == 401


def test_the_page_counts_with_the_servers_sets_not_a_table_of_its_own():
    script = COSTS_JS.read_text()
    assert "ΦΓΛΩΠΨΣΘΞ" not in script and "160" not in script and "153" not in script


# ---------------------------------------------------------------- the page's script agrees with the rule
def measured_by_the_page(texts):
    """static/costs.js run by Node over `texts`, with the rule the page gets (b24sms/web/cost_words.py)."""
    harness = """
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
global.window = { b24sms: { $: () => null, el: () => null, t: (k) => k, day: (d) => d, providerTitle: (k) => k,
  data: { language: "en", costs: { strings: {}, plurals: {}, segments_rule: input.rule } } } };
global.document = { querySelector: () => null };
eval(fs.readFileSync(input.script, "utf8"));
process.stdout.write(JSON.stringify(input.texts.map((text) => window.b24sms.measure(text))));
"""
    payload = json.dumps({"rule": segments.RULE, "script": str(COSTS_JS), "texts": texts})
    done = subprocess.run([NODE, "-e", harness], input=payload, capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (the browser test compares too)")


@needs_node
def test_the_page_and_the_server_agree_on_the_table():
    texts = [text for text, *_ in SEGMENT_TABLE]
    assert measured_by_the_page(texts) == [measure(text).as_json() for text in texts]


ALPHABET = st.sampled_from(sorted(segments.GSM7 | segments.GSM7_EXTENDED) + list("жЖёЁ€ç`😀👍🏽\u00a0\u200b"))


@needs_node
@settings(max_examples=1, deadline=None)
@given(st.lists(st.one_of(st.text(ALPHABET, max_size=400), st.text(max_size=200)), min_size=200, max_size=200))
def test_the_page_and_the_server_agree_on_any_text(texts):
    # One Node run for a batch of texts: near the boundaries (alphabet mixes) and anything at all.
    assert measured_by_the_page(texts) == [measure(text).as_json() for text in texts]
