"""The Bitrix24 side: REST client, OAuth and tokens, installs and visits, messageservice senders, admins and notices."""
