"""Certificates of occupancy (issue 12): signing keys and trust lists (``keys``), the signed QR
payload (``payload``), the QR symbol (``qr``) and the registry of issued certificates and their
events (``registry``).

Nothing in ``engine/run`` imports this package: evaluating a case needs no cryptography.
"""
