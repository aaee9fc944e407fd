"""The guard rails' pure rules: settings, quiet hours across time zones (Russian zones keep no DST; New York does),
the zone a number is judged in, cap periods and counts."""
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from phonenumbers import parse
from phonenumbers import timezone as number_zones

from b24sms.rules import guards
from b24sms.rules.errors import BadRequest

NIGHT = guards.QuietHours(time(21, 0), time(9, 0))
MOSCOW = "+74951234567"  # a Moscow landline: Europe/Moscow, UTC+3 all year
VLADIVOSTOK = "+74232123456"  # Asia/Vladivostok, UTC+10 all year
RUSSIAN_MOBILE = "+79161234567"  # a mobile range the data gives every Russian zone
WASHINGTON = "+12025550123"  # America/New_York: EST (UTC-5), EDT (UTC-4) from 2026-03-08


def utc(*args):
    return datetime(*args)


def test_defaults_are_no_caps_a_ten_minute_repeat_window_and_no_quiet_hours():
    settings = guards.from_stored(None)
    assert settings.as_json() == {"daily_messages": None, "monthly_messages": None, "daily_spend": None,
                                  "monthly_spend": None, "repeat_window_minutes": 10, "quiet_hours": None,
                                  "stop_words": []}


def test_settings_round_trip_through_what_is_stored():
    given = {"daily_messages": 100, "monthly_messages": 2000, "daily_spend": "150.5", "monthly_spend": 3000,
             "repeat_window_minutes": 0, "quiet_hours": {"from": "21:00", "to": "9:00"},
             "stop_words": ["STOP", " Стоп ", "stop"]}
    stored = guards.parse(given).as_json()
    assert stored == {"daily_messages": 100, "monthly_messages": 2000, "daily_spend": "150.50",
                      "monthly_spend": "3000.00", "repeat_window_minutes": 0,
                      "quiet_hours": {"from": "21:00", "to": "09:00"}, "stop_words": ["stop", "стоп"]}
    assert guards.from_stored(stored).as_json() == stored


@pytest.mark.parametrize("given, field", [
    ({"daily_messages": -1}, "guards.daily_messages"),
    ({"daily_messages": 1.5}, "guards.daily_messages"),
    ({"monthly_messages": True}, "guards.monthly_messages"),
    ({"daily_spend": "ten"}, "guards.daily_spend"),
    ({"monthly_spend": "-5"}, "guards.monthly_spend"),
    ({"monthly_spend": "NaN"}, "guards.monthly_spend"),
    ({"repeat_window_minutes": None}, "guards.repeat_window_minutes"),
    ({"repeat_window_minutes": 100000}, "guards.repeat_window_minutes"),
    ({"quiet_hours": "21-9"}, "guards.quiet_hours"),
    ({"quiet_hours": {"from": "25:00", "to": "09:00"}}, "guards.quiet_hours.from"),
    ({"quiet_hours": {"from": "21:00"}}, "guards.quiet_hours.to"),
    ({"quiet_hours": {"from": "09:00", "to": "09:00"}}, "guards.quiet_hours.to"),
    ({"stop_words": "stop"}, "guards.stop_words"),
    ({"stop_words": ["stop", ""]}, "guards.stop_words[1]"),
])
def test_a_bad_setting_is_refused_naming_its_field(given, field):
    with pytest.raises(BadRequest) as refused:
        guards.parse(given)
    assert refused.value.code == "invalid_guards" and refused.value.params["field_path"] == field


def test_quiet_hours_across_midnight_in_moscow_end_at_nine_moscow_time():
    zone = guards.recipient_zone(MOSCOW, utc(2026, 12, 4, 12))
    assert zone == "Europe/Moscow"
    # 22:00 in Moscow: quiet until 09:00 Moscow tomorrow, 06:00 UTC
    assert guards.quiet_until(NIGHT, zone, utc(2026, 12, 4, 19)) == utc(2026, 12, 5, 6)
    # 08:59 in Moscow: quiet for one more minute
    assert guards.quiet_until(NIGHT, zone, utc(2026, 12, 5, 5, 59)) == utc(2026, 12, 5, 6)
    # 09:00 and 20:59 in Moscow: not quiet
    assert guards.quiet_until(NIGHT, zone, utc(2026, 12, 5, 6)) is None
    assert guards.quiet_until(NIGHT, zone, utc(2026, 12, 5, 17, 59)) is None
    # the same hour of the summer: Moscow has no DST, so the same UTC times
    assert guards.quiet_until(NIGHT, zone, utc(2026, 7, 4, 19)) == utc(2026, 7, 5, 6)


def test_the_same_moment_is_night_in_moscow_and_morning_in_vladivostok():
    moment = utc(2026, 12, 4, 20)  # 23:00 in Moscow, 06:00 tomorrow in Vladivostok
    zone = guards.recipient_zone(VLADIVOSTOK, moment)
    assert zone == "Asia/Vladivostok"
    assert guards.quiet_until(NIGHT, zone, moment) == utc(2026, 12, 4, 23)  # 09:00 Vladivostok
    assert guards.quiet_until(NIGHT, "Europe/Moscow", moment) == utc(2026, 12, 5, 6)
    assert guards.quiet_until(NIGHT, zone, utc(2026, 12, 5, 0)) is None  # 10:00 there


def test_quiet_hours_follow_daylight_saving_time_where_the_zone_has_it():
    zone = guards.recipient_zone(WASHINGTON, utc(2026, 1, 10))
    assert zone == "America/New_York"
    # winter: 22:00 EST -> 09:00 EST = 14:00 UTC
    assert guards.quiet_until(NIGHT, zone, utc(2026, 1, 10, 3)) == utc(2026, 1, 10, 14)
    # the night clocks go forward (2026-03-08 02:00 local): 22:00 EST on the 7th -> 09:00 EDT = 13:00 UTC
    assert guards.quiet_until(NIGHT, zone, utc(2026, 3, 8, 3)) == utc(2026, 3, 8, 13)
    # summer: 22:00 EDT -> 09:00 EDT = 13:00 UTC
    assert guards.quiet_until(NIGHT, zone, utc(2026, 7, 10, 2)) == utc(2026, 7, 10, 13)


def test_hours_within_one_day_hold_only_between_them():
    lunch = guards.QuietHours(time(13, 0), time(14, 30))
    assert guards.quiet_until(lunch, "Europe/Moscow", utc(2026, 12, 4, 10, 15)) == utc(2026, 12, 4, 11, 30)
    assert guards.quiet_until(lunch, "Europe/Moscow", utc(2026, 12, 4, 11, 30)) is None
    assert guards.quiet_until(lunch, "Europe/Moscow", utc(2026, 12, 4, 9, 59)) is None
    assert guards.quiet_until(None, "Europe/Moscow", utc(2026, 12, 4, 10, 15)) is None


@pytest.mark.parametrize("moment", [utc(2026, 1, 15, 3), utc(2026, 7, 15, 20), utc(2026, 3, 29, 1)])
def test_a_number_spanning_zones_is_judged_where_the_day_starts_last(moment):
    zones = number_zones.time_zones_for_number(parse(RUSSIAN_MOBILE))
    assert len(zones) > 5  # the data gives this range all of Russia
    chosen = guards.recipient_zone(RUSSIAN_MOBILE, moment)
    aware = moment.replace(tzinfo=ZoneInfo("UTC"))
    offsets = {name: aware.astimezone(ZoneInfo(name)).utcoffset() for name in zones}
    assert chosen in zones and offsets[chosen] == min(offsets.values())
    assert offsets[chosen] < offsets["Asia/Vladivostok"]


def test_a_number_of_unknown_zone_is_judged_in_utc():
    assert guards.recipient_zone("+888123", utc(2026, 1, 1)) == "UTC"
    assert guards.recipient_zone("not a number", utc(2026, 1, 1)) == "UTC"


def test_caps_count_in_utc_days_and_months():
    assert guards.periods(utc(2026, 12, 31, 23, 59)) == ("d2026-12-31", "m2026-12")
    assert guards.periods(utc(2027, 1, 1, 0, 0)) == ("d2027-01-01", "m2027-01")
    assert guards.periods(utc(2026, 12, 31, 22), "Europe/Moscow") == ("d2027-01-01", "m2027-01")
    assert guards.period_starts(utc(2026, 12, 15, 10)) == (utc(2026, 12, 15), utc(2026, 12, 1))
    assert guards.period_starts(utc(2026, 12, 15, 22), "Europe/Moscow") == (utc(2026, 12, 15, 21),
                                                                            utc(2026, 11, 30, 21))


def test_a_counter_lets_through_only_what_fits_the_cap():
    assert guards.granted(0, 5, None) == 5
    assert guards.granted(0, 5, 3) == 3
    assert guards.granted(3, 5, 3) == 0
    assert guards.granted(7, 1, 3) == 0
    assert guards.granted(0, 2, 0) == 0


def test_spend_caps_are_reached_at_the_cap():
    assert not guards.over_spend(Decimal("9.99"), Decimal("10"))
    assert guards.over_spend(Decimal("10"), Decimal("10"))
    assert not guards.over_spend(None, Decimal("0.01"))
    assert not guards.over_spend(Decimal("1000"), None)


def test_texts_are_compared_exactly_and_stop_words_whole():
    assert guards.text_key("Hello") == guards.text_key("Hello") != guards.text_key("Hello ")
    assert len(guards.text_key("x" * 5000)) == 64
    words = guards.parse({"stop_words": ["STOP", "стоп"]}).stop_words
    assert guards.says_stop(" Stop! ", words) and guards.says_stop("СТОП", words)
    assert not guards.says_stop("do not stop", words)


def test_a_later_quiet_end_is_never_before_now():
    # 09:00 does not exist or repeats on no day of Moscow; the resume time is always ahead
    moment = utc(2026, 12, 4, 5, 59, 59)
    assert guards.quiet_until(NIGHT, "Europe/Moscow", moment) - moment == timedelta(seconds=1)
