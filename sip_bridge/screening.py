"""Which inbound INVITEs may ring an agent (pure).

A worker's SIP port is reachable by anyone who can reach the machine, and SIP scanners
sweep the internet for exactly such ports. Only the configured PBX/registrar (and any
extra trusted addresses, such as a trunk's) may offer calls; known scanner user agents are
refused even from there. A refused INVITE gets 403 and never reaches the agent.

Datagrams from other addresses normally never get this far: the socket filter drops
them before pjsip reads them (sip_bridge/source_filter.py). This check stays for where
the filter cannot be attached, and for scanners that the PBX relays.
"""

from __future__ import annotations

import re

# Lower-case substrings of User-Agent headers sent by SIP scanning tools.
SCANNER_AGENTS = ("friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipsak",
                  "vaxsipuseragent", "iwar", "sundayddr", "pplsip", "siparator")
REFUSED = 403
_USER_AGENT = re.compile(r"^User-Agent\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


def source_host(address: str) -> str:
    """``"10.0.0.5:5060"`` -> ``"10.0.0.5"``; ``"[::1]:5060"`` -> ``"::1"``."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def user_agent(message: str) -> str:
    match = _USER_AGENT.search(message)
    return match.group(1).strip() if match else ""


def screen(source: str, message: str, trusted: frozenset[str]) -> int | None:
    """``None`` to let the INVITE ring, else the SIP status code to refuse it with."""
    if source_host(source) not in trusted:
        return REFUSED
    agent = user_agent(message).lower()
    if any(name in agent for name in SCANNER_AGENTS):
        return REFUSED
    return None
