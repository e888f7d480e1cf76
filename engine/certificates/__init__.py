"""Certificates of occupancy (issue 12): signing keys and trust lists (``keys``), the signed QR
payload (``payload``), the QR symbol (``qr``), what the policy says a certificate states
(``draft``), issuing it (``issue``), the printed PDF (``document``) and the email (``mail``),
the registry of issued certificates and their events (``registry``), the signed status list
(``status``) and the full verification (``verify``).

Nothing in ``engine/run`` imports this package: evaluating a case needs no cryptography.
"""
