"""A clock for the services' `clock` or Bitrix24's rate limit (b24sms/services.py, Clock) on which no test waits."""


class StillClock:
    """Time stands still until the test moves it (`now`, monotonic seconds); a wait is noted, not slept."""

    def __init__(self):
        self.now = 1000.0
        self.waits = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.waits.append(seconds)
