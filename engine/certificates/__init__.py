"""Certificates of occupancy (issue 12): signing keys and trust lists (``keys``), the signed QR
payload (``payload``) and the QR symbol (``qr``).

Nothing in ``engine/run`` imports this package: evaluating a case needs no cryptography.
"""
