"""Whether a client address is this machine's own: the gate for admin calls that have no token.
Standard library only, so a tool that is not a web function can use it without Flask."""

from __future__ import annotations

import ipaddress


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1; False for any other address, for None and for a non-address."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
