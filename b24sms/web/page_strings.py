"""Every word the settings page's JS shows, marked for the catalogue and handed to the page translated: the JS
itself holds no text of its own. `%(name)s` places are filled in by the JS. A plural entry (NP_) reaches the page
as its forms by plural category ({"one", "few", "many", "other"}): the JS picks one with Intl.PluralRules."""
from functools import lru_cache

from b24sms.rules.errors import N_, NP_, Plural
from b24sms.web.i18n import current_language, plural_forms, translate

STRINGS = {
    # the portal's state
    "sender_registered": N_("Sender registered in Bitrix24"),
    "sender_not_registered": N_("Sender not registered in Bitrix24 yet"),
    "state_active": N_("working"),
    "state_needs_reauth": N_("waiting for an administrator to open the app"),
    "state_uninstalled": N_("uninstalled"),
    "sending_paused": N_("sending is paused"),
    # the provider chain
    "primary": N_("first choice"),
    "fallback": N_("fallback %(n)s"),
    "move_up": N_("Move up"),
    "move_down": N_("Move down"),
    "remove": N_("Remove"),
    "remove_confirm": N_("Remove %(what)s?"),
    "remove_yes": N_("Yes, remove"),
    "cancel": N_("Cancel"),
    "threshold": N_("Warn when the balance is below"),
    "threshold_help": N_("Empty: no warning. Administrators get a Bitrix24 notification once a day while it is low."),
    "balance": N_("Balance: %(amount)s %(currency)s"),
    "balance_low": N_("Below your warning level of %(threshold)s."),
    "balance_unknown": N_("The provider does not report a balance."),
    "balance_error": N_("The balance could not be read: %(words)s"),
    "receipts_per_message": N_("Delivery receipts are requested with every message."),
    "receipts_registered": N_("Delivery receipts: b24sms registers its receipt address with %(provider)s when you "
                              "save."),
    "receipts_after_save": N_("Save to get the delivery receipt URL for your %(provider)s account."),
    "receipt_url": N_("Delivery receipt URL"),
    "receipt_url_help": N_(
        "Delivery receipt URL: paste it into the %(provider)s cabinet (settings, status handler URL)"),
    # replies: the numbers that receive them, and how they reach b24sms
    "reply_numbers": N_("Numbers that receive replies"),
    "reply_numbers_help": N_("Your numbers at this provider, e.g. +79161234567. Replies to them reach the Open "
                             "Lines you connect in Bitrix24's Contact Center."),
    "reply_number": N_("Reply number"),
    "add_reply_number": N_("Add a number"),
    "inbound_url": N_("Incoming SMS URL"),
    "inbound_url_help": N_("Incoming SMS URL: paste it into the %(provider)s cabinet"),
    "inbound_after_save": N_("Save to get the incoming SMS URL for your %(provider)s account."),
    "copy": N_("Copy"),
    "copied": N_("Copied"),
    "hook_ok": N_("%(number)s: replies come to b24sms."),
    "hook_error": N_("%(number)s: %(provider)s did not take b24sms's address: %(words)s"),
    "hook_after_save": N_("Save: b24sms then asks %(provider)s to send the replies to these numbers here."),
    # the connector's page (an Open Line)
    "line_connected": N_("Connected: replies to the ticked numbers come into this Open Line."),
    "line_not_connected": N_("Not connected."),
    "line_not_configured": N_("Bitrix24 says the line is not set up yet."),
    "line_error": N_("Bitrix24 says: %(words)s"),
    # sender names
    "sender_name": N_("Sender name"),
    "default_sender": N_("default"),
    "sender_in_bitrix": N_("in Bitrix24's sender list"),
    "sender_not_in_bitrix": N_("not registered in Bitrix24 yet"),
    # saving and checks
    "saved": N_("Saved."),
    "installed": N_("Saved. The installation is finished: b24sms now appears among the SMS senders."),
    "sending": N_("Sending…"),
    "test_stored": N_("Test message: %(state)s. Its progress is in the log below."),
    "http_error": N_("The server answered with error %(status)s."),
    "network_error": N_("The server could not be reached. Check the connection and try again."),
    # the log: states in words
    "state_words_received": N_("Waiting to be sent"),
    "state_words_sending": N_("Sending"),
    "state_words_retry_wait": N_("Waiting to retry"),
    "state_words_reconciling": N_("Checking with the provider whether it got it"),
    "state_words_accepted": N_("Accepted by the provider"),
    "state_words_sent": N_("Sent, waiting for delivery"),
    "state_words_delivered": N_("Delivered"),
    "state_words_undelivered": N_("Not delivered"),
    "state_words_failed": N_("Failed"),
    "possible_duplicate": N_("May have arrived twice: one provider's answer was lost, so the next one sent it."),
    # the log: which way a message went, a client's reply on its way to the Open Line, conversations
    "direction_out": N_("Outgoing"),
    "direction_in": N_("Incoming"),
    "incoming_state_pending": N_("Waiting for the Open Line"),
    "incoming_state_delivered": N_("In the Open Line"),
    "incoming_state_no_line": N_("No Open Line takes replies to this number"),
    "incoming_state_line_gone": N_("The Open Line is deleted or switched off"),
    "incoming_state_failed": N_("The Open Line did not take it"),
    "open_line": N_("Open Line %(line)s"),
    "to_our_number": N_("to %(number)s"),
    "stop_word_reply": N_("A stop word: the number is on the stop list now."),
    "origin_reply": N_("Client's reply"),
    "origin_operator": N_("Operator's answer"),
    "open_conversation": N_("Conversation with %(number)s"),
    # the guard rails: why a message waits or was refused
    "reason_quiet_hours": N_("Waiting: quiet hours in the recipient's time zone"),
    "reason_stop_list": N_("Not sent: the number is on the stop list"),
    "reason_repeat": N_("Not sent: the same text went to this number a moment ago"),
    "reason_daily_cap": N_("Not sent: today's cap is reached"),
    "reason_monthly_cap": N_("Not sent: this month's cap is reached"),
    "refused_totals": N_("Not sent by the guard rails: %(list)s."),
    "refused_short_stop_list": N_("stop list: %(n)s"),
    "refused_short_repeat": N_("repeats: %(n)s"),
    "refused_short_daily_cap": N_("daily cap: %(n)s"),
    "refused_short_monthly_cap": N_("monthly cap: %(n)s"),
    # the guard rails' settings and the stop list
    "guards_saved": N_("Guard rails saved."),
    "stop_list_empty": N_("The stop list is empty."),
    "stop_list_changed": N_("Stop list: %(added)s added, %(removed)s removed."),
    "stop_reason_admin": N_("added by an administrator"),
    "stop_reason_reply": N_("the recipient asked to stop"),
    # where a message came from
    "origin_crm": N_("CRM card"),
    "origin_robot": N_("Robot or business process"),
    "origin_test": N_("Test from this page"),
    "origin_unknown": N_("Bitrix24"),
    # a refusal in words; the provider's own words follow
    "error_invalid_credentials": N_("%(provider)s refused the login and password: %(words)s"),
    "error_no_money": N_("%(provider)s: not enough money on the account: %(words)s"),
    "error_invalid_recipient": N_("%(provider)s refused the number: %(words)s"),
    "error_sender_rejected": N_("%(provider)s refused the sender name: %(words)s"),
    "error_rejected_content": N_("%(provider)s refused the text: %(words)s"),
    "error_retry_later": N_("%(provider)s asked to try again later: %(words)s"),
    "error_answer_lost": N_("The answer of %(provider)s was lost; asking it whether it got the message."),
    "error_cannot_tell": N_("%(provider)s cannot say whether it got the message: %(words)s"),
    "error_provider_given_up": N_("%(provider)s could not be asked about the message, so the next provider sent it."),
    "error_invalid_phone": N_("This is not a phone number that can receive SMS."),
    "error_no_provider": N_("No SMS provider is set up: save one above."),
    "error_provider_error": N_("%(provider)s refused the message: %(words)s"),
    "error_other": N_("%(provider)s: %(words)s"),
    # the failover trail, step by step
    "trail_accepted": N_("accepted"),
    "trail_pending": N_("asked, no answer yet"),
    "trail_skipped": N_("skipped: not answering"),
    "trail_given_up": N_("given up"),
    "error_short_invalid_credentials": N_("login refused"),
    "error_short_no_money": N_("no money"),
    "error_short_invalid_recipient": N_("number refused"),
    "error_short_sender_rejected": N_("sender name refused"),
    "error_short_rejected_content": N_("text refused"),
    "error_short_retry_later": N_("busy, retry later"),
    "error_short_answer_lost": N_("answer lost"),
    "error_short_provider_error": N_("refused"),
    "error_short_cannot_tell": N_("cannot be asked"),
    "error_short_network": N_("no connection"),
    "error_short_timeout": N_("no answer in time"),
    "error_short_tls": N_("secure connection failed"),
    "error_short_answer_too_large": N_("answer too large"),
    "error_short_http": N_("server error"),
    "trail_received": N_("Stored, waiting to be sent"),
    "trail_reported": N_("Bitrix24 told: %(status)s"),
    # the status Bitrix24 is told (the CRM card shows it)
    "bitrix_status_queued": N_("queued"),
    "bitrix_status_sent": N_("sent"),
    "bitrix_status_delivered": N_("delivered"),
    "bitrix_status_undelivered": N_("not delivered"),
    "bitrix_status_failed": N_("failed"),
    # the chart
    "series_delivered": N_("delivered"),
    "series_undelivered": N_("not delivered"),
    "series_failed": N_("failed"),
    "series_pending": N_("sent, no final status yet"),
    "chart_day": N_("%(sent)s sent, %(delivered)s delivered, %(undelivered)s not delivered, %(failed)s failed, "
                    "%(segments)s"),
    "stats_totals": N_("%(sent)s sent, %(delivered)s delivered, %(undelivered)s not delivered, %(failed)s failed; "
                       "%(segments)s billed by the providers."),
    # a number meets a noun: every form of the language (1 SMS-часть, 2 SMS-части, 5 SMS-частей)
    "segments_count": NP_("%(n)s SMS segment", "%(n)s SMS segments"),
    "attempts_count": NP_("%(n)s attempt", "%(n)s attempts"),
    # long texts in the log, and a message's whole trail
    "show_all": N_("Show all"),
    "show_less": N_("Hide"),
    "details": N_("Details"),
    "hide_details": N_("Hide details"),
    "resend": N_("Send again"),
    "resent": N_("Sent again: %(state)s. The new message is at the top of the log."),
    "resent_from": N_("Sent again by an administrator"),
    "loading": N_("Loading…"),
    "phone_missing": N_("Enter the phone number to send the test SMS to."),
}


def translated():
    """Every word of the page in the request's language (the same for every page in it: worked out once)."""
    return dict(_in_language(current_language()))


@lru_cache(maxsize=8)
def _in_language(language):  # the catalogue is read once per process; `language` is the request's
    return {key: plural_forms(text) if isinstance(text, Plural) else translate(text) for key, text in STRINGS.items()}
