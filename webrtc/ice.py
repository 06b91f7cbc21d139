"""Which local addresses the workers' ICE agent offers to the browser.

aioice gathers every non-loopback address and has no setting to choose. Deployments
want control (a LAN interface, not a container bridge), and tests need 127.0.0.1,
which aioice leaves out, so the worker replaces aioice's address lookup at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly ``addresses`` as host candidates (no-op when empty)."""
    if not addresses:
        return
    chosen = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
