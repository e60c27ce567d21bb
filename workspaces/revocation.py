"""Revocation fan-out for the API's in-process credential cache.

Placeholder contract (the API work fills it in): `publish_revoked(credential_id)` is
called after a revoke commits and must make every API process stop accepting that
credential's tokens at once.
"""


def publish_revoked(credential_id: int) -> None:
    return None
