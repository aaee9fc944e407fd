"""Who a portal's administrators are, as far as we have seen: Bitrix24 offers no call listing them that an app
can rely on, so the user ids of verified admins are kept as they come (an admin's iframe visit, the installing
admin's ONAPPINSTALL), most recent first. Notices to admins (b24sms/bitrix/notices.py) go to them.

A visit that `user.admin` answers "no" for does not take anyone off the list: `is_admin` also says no when
Bitrix24 could not be asked, and losing the only admin we know would leave notices with nobody to go to."""

MAX_ADMINS = 10


def remember(portal, user_id):
    """Put a verified admin at the front of the portal's list (the oldest one drops off past MAX_ADMINS)."""
    if user_id in (None, ""):
        return
    user_id = str(user_id)
    known = [user_id, *(str(known_id) for known_id in (portal.admin_user_ids or []) if str(known_id) != user_id)]
    known = known[:MAX_ADMINS]
    if known != (portal.admin_user_ids or []):
        portal.admin_user_ids = known  # a new list: the JSON column is written only when reassigned
