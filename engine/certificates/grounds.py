"""IBC 111.4's grounds for suspending or revoking a certificate, as one table: the command line
(``ordinance certificate suspend|revoke --ground``) and the service
(``POST /v1/certificates/{id}/suspend|revoke``) accept the same names and record the same words.
"""

from __future__ import annotations

GROUNDS = {
    # IBC 111.4: the building official may suspend or revoke, in writing, a certificate ...
    "error": "issued in error",
    "incorrect_information": "issued on the basis of incorrect information supplied",
    "violation": "the building or portion is in violation of an ordinance, regulation or the code",
}
# The changes that need a ground; reinstating restores a certificate and needs only a reason.
NEEDS_GROUND = frozenset({"suspend", "revoke"})


def grounded_reason(ground: str | None, reason: str) -> str:
    """The reason the registry records: the ground's words (when one is given), then the
    official's own.

    >>> grounded_reason("error", "wrong occupant load")
    'issued in error: wrong occupant load'
    >>> grounded_reason(None, "corrected")
    'corrected'
    """
    return f"{GROUNDS[ground]}: {reason}" if ground else reason
