"""Bitrix24's limit kept on our side: 2 requests a second per portal, a burst of 50."""
from b24sms.bitrix.rate_limit import TokenBucket
from tests.fakes.clock import StillClock
from tests.helpers import install_with_prostor, run_job
from tests.helpers.rows import accepted_backlog
from tests.helpers.suite import use_services


def test_a_burst_of_fifty_goes_at_once_then_two_a_second():
    clock = StillClock()
    bucket = TokenBucket(clock)

    assert [bucket.reserve("a.bitrix24.ru") for _ in range(50)] == [0.0] * 50
    assert bucket.reserve("a.bitrix24.ru") == 0.5  # the 51st waits for the next token
    assert bucket.reserve("a.bitrix24.ru") == 1.0  # and the one after it, behind it
    clock.now += 1.0
    assert bucket.reserve("a.bitrix24.ru") == 0.5  # two tokens came, both were owed


def test_each_portal_has_a_bucket_of_its_own():
    clock = StillClock()
    bucket = TokenBucket(clock)
    for _ in range(50):
        bucket.reserve("a.bitrix24.ru")

    assert bucket.reserve("b.bitrix24.ru") == 0.0


def test_an_idle_portal_gets_its_burst_back_but_never_more():
    clock = StillClock()
    bucket = TokenBucket(clock)
    for _ in range(50):
        bucket.reserve("a.bitrix24.ru")
    clock.now += 3600

    assert [bucket.reserve("a.bitrix24.ru") for _ in range(50)] == [0.0] * 50
    assert bucket.reserve("a.bitrix24.ru") > 0


def test_status_reports_wait_for_the_portals_tokens_rather_than_learn_the_limit_from_refusals(app, client, db,
                                                                                           bitrix, prostor, runner):
    install_with_prostor(client, bitrix)
    accepted_backlog(db, prostor, 150)  # three batches
    clock = StillClock()
    waits = clock.waits
    use_services(app, bitrix_rate_limit=TokenBucket(clock, burst=1))

    run_job(runner)

    assert len(bitrix.rest_requests("batch")) == 3 and len(bitrix.statuses) == 150
    assert waits == [0.5, 1.0]  # one token to start with, then one every half second
