"""The one status vocabulary: Bitrix24's five message statuses, plus "unknown" (keep the provider's raw word and
ask again). Every provider maps its own words onto these."""

QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
UNKNOWN = "unknown"
FINAL_STATUSES = frozenset({DELIVERED, UNDELIVERED, FAILED})
# Later statuses never give way to earlier ones (a late "sent" receipt after "delivered" changes nothing).
STATUS_RANK = {QUEUED: 0, SENT: 1, DELIVERED: 2, UNDELIVERED: 2, FAILED: 2}
