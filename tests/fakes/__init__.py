"""The one library of fakes: Bitrix24 (its OAuth server and portals) and every SMS provider, answering in their
documented shapes. Each fake's `handle` answers a request; tests reach it through `responses` (mocking.py), the
scripts and the browser tests over real loopback HTTP (serving.py)."""
