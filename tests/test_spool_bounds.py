"""The spool's bounds: SPOOL_MAX_CALLS and SPOOL_MAX_BYTES (503 past them, logged once per interval), the
smaller part of them for calls whose handler key this process has not stored lately, and the running total that
spares a handler call reading the spool (b24sms/flows/spool_usage.py)."""
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from b24sms.config import Settings
from b24sms.flows import spool, spool_usage
from b24sms.flows.handler_calls import VouchedKeys
from b24sms.flows.spool_usage import (
    REFUSALS_LOGGED_EVERY,
    UNVOUCHED_PART,
    RefusalLog,
    SpoolFull,
    SpoolUsage,
)
from b24sms.services import OutageWaits
from tests.helpers import handler_form, handler_path, install_with_prostor, message_id, without_auth
from tests.helpers.spool import locked, moved_away, post_all, replay_settled, spool_files, spooled, stored_ids
from tests.helpers.suite import use_settings


@pytest.fixture
def app(app_on_own_file):
    """The app over an SQLite file of the test's own (conftest.py)."""
    return app_on_own_file


MADE_UP_KEY = "M" * 32


def vouched_key_path(client, db, bitrix):
    """The portal's handler path, after a call through it that this process stored (so it vouches for the key)."""
    path = handler_path(db)
    assert client.post(path, data=without_auth(handler_form(bitrix, message_id(100)))).status_code == 200
    return path


def calls(path, bitrix, numbers):
    return [(path, without_auth(handler_form(bitrix, message_id(n)))) for n in numbers]


def refused(answer):
    answer_json = answer.get_json()
    return answer.status_code == 503 and answer_json["error"] == "spool_full" and bool(answer_json["message"])


def full_lines(caplog):
    return [record for record in caplog.records if "the spool is full" in record.getMessage()]


def test_past_spool_max_calls_a_call_gets_503_the_log_says_why_once_and_a_replay_makes_room(app, client, db,
                                                                                             bitrix, prostor, runner,
                                                                                             caplog):
    install_with_prostor(client, bitrix)
    keyed = vouched_key_path(client, db, bitrix)
    use_settings(app, spool_max_calls=2)
    with locked(db):
        answers = post_all(app, calls(keyed, bitrix, (1, 2, 3, 4)))

    assert sorted(spooled(answer, n) or refused(answer) for answer, n in zip(answers, (1, 2, 3, 4))) == [True] * 4
    assert sum(answer.status_code == 503 for answer in answers) == 2
    [line] = full_lines(caplog)  # two refusals, one line
    assert line.levelname == "ERROR" and "SPOOL_MAX_CALLS=2 reached" in line.getMessage()
    assert keyed.removeprefix("/handler/") not in caplog.text
    replay_settled(app, runner)
    assert len(stored_ids(db)) == 1 + 2

    with locked(db):  # the replay emptied the spool: there is room again
        answers = post_all(app, calls(keyed, bitrix, (5, 6)))
    assert [spooled(answer, n) for answer, n in zip(answers, (5, 6))] == [True, True]


def test_past_spool_max_bytes_a_call_gets_503(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    keyed = vouched_key_path(client, db, bitrix)
    with locked(db):
        assert spooled(client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1)))), 1)
        [file] = spool_files(app)
        use_settings(app, spool_max_bytes=file.stat().st_size * 5 // 2)  # room for one more call of the same size
        answers = post_all(app, calls(keyed, bitrix, (2, 3)))

    assert sorted(answer.status_code for answer in answers) == [200, 503]
    assert any(refused(answer) for answer in answers)


def test_calls_to_keys_not_seen_fill_only_their_part_and_known_keys_keep_the_rest(app, client, db, bitrix, prostor,
                                                                                   runner, caplog):
    install_with_prostor(client, bitrix)
    keyed = vouched_key_path(client, db, bitrix)
    use_settings(app, spool_max_calls=2 * UNVOUCHED_PART)  # made-up keys may fill 2 of 8
    with moved_away(db):  # not even a read: the made-up key cannot be told from a real one by the database
        flood = post_all(app, calls(f"/handler/{MADE_UP_KEY}", bitrix, (1, 2, 3, 4)))
        genuine = post_all(app, calls(keyed, bitrix, (5, 6, 7, 8)))

    assert sorted(answer.status_code for answer in flood) == [200, 200, 503, 503]
    assert [spooled(answer, n) for answer, n in zip(genuine, (5, 6, 7, 8))] == [True] * 4
    assert "calls whose handler key this process has not seen" in full_lines(caplog)[0].getMessage()
    assert MADE_UP_KEY not in caplog.text
    replay_settled(app, runner)
    assert stored_ids(db) == sorted(message_id(n) for n in (5, 6, 7, 8, 100))  # the made-up ones dropped


def test_a_spool_left_from_before_counts_from_the_first_call(app, client, db, bitrix, prostor):
    install_with_prostor(client, bitrix)
    keyed = vouched_key_path(client, db, bitrix)
    directory = Path(use_settings(app, spool_max_calls=3).settings.spool_dir)
    directory.mkdir(mode=0o700, exist_ok=True)
    left = b"".join(b'{"key": null, "form": [], "spooled_at": "2025-01-01T00:00:00Z"}\n' for _ in range(3))
    (directory / "replaying-999999-0000.jsonl").write_bytes(left)  # a process that died mid-replay

    with locked(db):
        answer = client.post(keyed, data=without_auth(handler_form(bitrix, message_id(1))))

    assert refused(answer)


# ---------------------------------------------------------------- the running total
class Lister:
    """spool.py's own listing of the spool files, counted."""

    def __init__(self):
        self.listings = 0

    def __call__(self, directory):
        self.listings += 1
        return spool._files(directory)


def write(path, lines, mode="ab"):
    with open(path, mode) as handle:
        handle.write(b"".join(b'{"n": %d}\n' % n for n in range(lines)))


SETTINGS = Settings(spool_max_bytes=10**9, spool_max_calls=10**6)
RECOUNT_EVERY = OutageWaits().spool_recount_every  # production's: a second


def usage_of(directory, list_files=spool._files, clock=lambda: 100.0):
    """The running total of `directory`, on a clock that stands still unless the test moves it."""
    return SpoolUsage(list_files, directory, clock, RECOUNT_EVERY)


def test_calls_are_admitted_from_a_running_total_and_the_spool_is_listed_once_a_second(tmp_path):
    now, lister = [100.0], Lister()
    usage = usage_of(tmp_path, lister, clock=lambda: now[0])
    write(tmp_path / "calls-1.jsonl", 3)
    for _ in range(50):  # one process's calls within a second
        usage.admit(10, SETTINGS, vouched=True)
        usage.written(10)
    assert lister.listings == 1 and usage.calls == 3 + 50

    write(tmp_path / "calls-2.jsonl", 4)  # another process's calls: seen at the next count
    now[0] += RECOUNT_EVERY
    usage.admit(10, SETTINGS, vouched=True)
    assert lister.listings == 2 and usage.calls == 3 + 4  # the files as they are (this test wrote no lines)
    assert usage.bytes == sum(path.stat().st_size for path in tmp_path.iterdir())


def test_the_count_follows_renames_growth_truncation_and_removal(tmp_path):
    usage = usage_of(tmp_path)
    live = tmp_path / "calls-1.jsonl"
    write(live, 5)
    usage.recount()
    assert usage.calls == 5

    write(live, 2)  # grown: only the new bytes are read
    usage.recount()
    assert usage.calls == 7
    claimed = tmp_path / "replaying-1-abcd.jsonl"
    live.rename(claimed)  # a replayer claimed it
    write(tmp_path / "calls-1.jsonl", 1)  # and the writer started a new file
    usage.recount()
    assert usage.calls == 8
    write(claimed, 3, mode="wb")  # shorter than counted: read again
    usage.recount()
    assert usage.calls == 4
    claimed.unlink()
    os.remove(tmp_path / "calls-1.jsonl")
    usage.recount()
    assert (usage.calls, usage.bytes) == (0, 0)


def test_the_bounds_and_the_unvouched_part(tmp_path):
    usage = usage_of(tmp_path)  # no recount after the first
    write(tmp_path / "calls-1.jsonl", 3)
    settings = Settings(spool_max_bytes=10**6, spool_max_calls=4 * UNVOUCHED_PART)

    usage.admit(100, settings, vouched=False)  # the 4th call: the last that the unvouched part takes
    usage.written(100)
    with pytest.raises(SpoolFull, match=r"SPOOL_MAX_CALLS=16 reached \(1/4 of it"):
        usage.admit(100, settings, vouched=False)
    usage.admit(100, settings, vouched=True)  # a known key's call: 5 of 16

    settings = replace(settings, spool_max_bytes=usage.bytes + 99)
    with pytest.raises(SpoolFull, match=f"SPOOL_MAX_BYTES={usage.bytes + 99} reached: the spool holds"):
        usage.admit(100, settings, vouched=True)


def test_a_full_spool_is_logged_once_per_interval_with_the_count_refused(caplog):
    now = [0.0]
    log = RefusalLog(clock=lambda: now[0])
    for _ in range(100):
        log.refused("SPOOL_MAX_CALLS=2 reached")
    now[0] += REFUSALS_LOGGED_EVERY
    log.refused("SPOOL_MAX_CALLS=2 reached")

    lines = [record.getMessage() for record in caplog.records if record.name == spool_usage.__name__]
    assert len(lines) == 2 and "(1 since" in lines[0] and "(100 since" in lines[1]
    assert all(record.levelno == logging.ERROR for record in caplog.records if record.name == spool_usage.__name__)


def test_the_keys_a_process_vouches_for_are_the_most_recently_stored_with():
    keys = VouchedKeys(kept=2)
    for key in ("key-a", "key-b", "key-a", "key-c"):  # key-a used again: key-b is the oldest
        keys.add(key)

    assert [keys.has(key) for key in ("key-a", "key-b", "key-c", "key-d")] == [True, False, True, False]
    assert not keys.has(None)  # the legacy /handler has no key to vouch for
