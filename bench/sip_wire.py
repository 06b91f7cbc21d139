"""A raw SIP far end on one UDP socket, for benchmarks that time messages on the wire.

Timestamps are ``time.monotonic()`` taken in ``datagram_received`` (or just before
``sendto``), in the benchmark's own process: CLOCK_MONOTONIC is one clock for every
process on the host, so they compare with what the gateway and its workers do.

It plays two parts, enough for call set-up and nothing more:

- a line that refuses (``busy=True``): every INVITE is stamped, then answered
  100 and 486, so the caller's call ends at once;
- a line that answers (``media=RtpPeer``): 200 with a PCMU answer, then that RTP end
  streams to the caller's offered address;
- a caller (``invite``): INVITE with a PCMU offer through the proxy, ACK for the 200
  along the Record-Route set, ``bye`` to end it; a BYE from the far end gets its 200.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.rtp_peer import RtpPeer


@dataclass
class SipMessage:
    first: str
    headers: list[tuple[str, str]]
    body: str
    at: float

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0] if self.is_request else self.cseq.split()[-1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first.split()[1])

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name.lower()), "")

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or self.header("i")

    @property
    def cseq(self) -> str:
        return self.header("CSeq")


_COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
            "l": "Content-Length", "c": "Content-Type"}


def parse(data: bytes, at: float) -> SipMessage:
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip()
        headers.append((_COMPACT.get(name, name), value.strip()))
    return SipMessage(lines[0], headers, body, at)


def _sdp_address(sdp: str) -> tuple[str, int]:
    """Where an SDP offer wants its audio: (c= address, m=audio port)."""
    host = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    port = re.search(r"^m=audio (\d+)", sdp, re.M)
    if host is None or port is None:
        raise ValueError("SDP without an audio address")
    return host.group(1), int(port.group(1))


def _uri_hostport(uri: str) -> tuple[str, int]:
    match = re.search(r"sip:(?:[^@>;]*@)?([^:;>]+)(?::(\d+))?", uri)
    if match is None:
        raise ValueError(f"no host in {uri!r}")
    return match.group(1), int(match.group(2) or 5060)


@dataclass
class Dialog:
    call_id: str
    target: str
    invite_sent: float
    local_tag: str
    responses: list[SipMessage] = field(default_factory=list)
    remote_tag: str = ""
    route: list[str] = field(default_factory=list)
    remote_uri: str = ""
    remote_addr: tuple[str, int] | None = None
    cseq: int = 1

    def first(self, match: Callable[[SipMessage], bool]) -> SipMessage | None:
        return next((r for r in self.responses if match(r)), None)


class SipWire(asyncio.DatagramProtocol):
    """One UDP socket speaking just enough SIP; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", busy: bool = False,
                 media: RtpPeer | None = None) -> None:
        self.host = host
        self.busy = busy
        # A line that answers: INVITEs get 200 with this RTP end in the SDP.
        self.media = media
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.invites: list[SipMessage] = []  # INVITEs received (busy line)
        self.dialogs: dict[str, Dialog] = {}
        self._changed = asyncio.Event()
        self._rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rtp.bind((host, 0))  # absorbs the far end's RTP; never read

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, 0))
        self.port = self.transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._rtp.close()

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    # -- receiving -----------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse(data, time.monotonic())
        if msg.is_request:
            self._request(msg, addr)
        else:
            dialog = self.dialogs.get(msg.call_id)
            if dialog is not None:
                dialog.responses.append(msg)
                if msg.method == "INVITE" and 200 <= msg.status < 300:
                    self._ack(dialog, msg)
        self._changed.set()

    def _request(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        method = msg.method
        if method == "ACK":
            return
        if method == "INVITE" and self.busy:
            self.invites.append(msg)
            self._reply(msg, addr, "100 Trying")
            self._reply(msg, addr, "486 Busy Here", to_tag=uuid.uuid4().hex[:8])
            return
        if method == "INVITE" and self.media is not None:
            self.invites.append(msg)
            self._reply(msg, addr, "100 Trying")
            sdp = self._sdp(self.media.port)
            self._reply(msg, addr, "200 OK", to_tag=uuid.uuid4().hex[:8], body=sdp)
            self.media.send_to(_sdp_address(msg.body))
            return
        # BYE (or OPTIONS, CANCEL ...) from the far end: accept it.
        self._reply(msg, addr, "200 OK")

    def _sdp(self, rtp_port: int) -> str:
        return (f"v=0\r\no=bench 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\n"
                f"t=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

    def _reply(self, msg: SipMessage, addr: tuple[str, int], status: str,
               to_tag: str = "", body: str = "") -> None:
        to = msg.header("To")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines = [f"SIP/2.0 {status}"] + [f"Via: {v}" for v in msg.all("Via")]
        if body:  # a dialog-forming answer: the proxy's route set and our Contact
            lines += [f"Record-Route: {r}" for r in msg.all("Record-Route")]
            lines += [f"Contact: <sip:bench@{self.hostport}>", "Content-Type: application/sdp"]
        lines += [f"From: {msg.header('From')}", f"To: {to}", f"Call-ID: {msg.call_id}",
                  f"CSeq: {msg.cseq}", f"Content-Length: {len(body)}"]
        self._send("\r\n".join(lines) + "\r\n\r\n" + body, addr)

    def _send(self, text: str, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), addr)

    async def wait(self, ready: Callable[[], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("SIP wire: condition not met in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    # -- calling -------------------------------------------------------------------------

    def invite(self, proxy: str, target: str, from_user: str) -> Dialog:
        """Send an INVITE for ``target`` via ``proxy`` ("host:port"); returns its dialog,
        stamped with the moment just before the datagram left."""
        call_id = f"{uuid.uuid4().hex}@{self.host}"
        tag = uuid.uuid4().hex[:8]
        sdp = self._sdp(self._rtp.getsockname()[1])
        lines = [f"INVITE sip:{target}@{proxy} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.hostport};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
                 "Max-Forwards: 70", f"From: <sip:{from_user}@{self.host}>;tag={tag}",
                 f"To: <sip:{target}@{proxy}>", f"Call-ID: {call_id}", "CSeq: 1 INVITE",
                 f"Contact: <sip:{from_user}@{self.hostport}>",
                 "Content-Type: application/sdp", f"Content-Length: {len(sdp)}"]
        host, port = proxy.rsplit(":", 1)
        dialog = Dialog(call_id, target, time.monotonic(), tag)
        self.dialogs[call_id] = dialog
        self._send("\r\n".join(lines) + "\r\n\r\n" + sdp, (host, int(port)))
        return dialog

    def _ack(self, dialog: Dialog, ok: SipMessage) -> None:
        dialog.remote_tag = ok.header("To").rsplit(";tag=", 1)[-1]
        # The UAC's route set is the 200's Record-Route, in order (RFC 3261 12.1.2).
        dialog.route = [r.strip() for rr in ok.all("Record-Route") for r in rr.split(",")]
        contact = ok.header("Contact")
        dialog.remote_uri = contact.strip("<>").split(">")[0] if contact else ""
        next_hop = dialog.route[0] if dialog.route else dialog.remote_uri
        dialog.remote_addr = _uri_hostport(next_hop)
        self._in_dialog(dialog, "ACK", cseq=1)

    def _in_dialog(self, dialog: Dialog, method: str, cseq: int) -> None:
        assert dialog.remote_addr is not None
        lines = [f"{method} {dialog.remote_uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.hostport};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
                 "Max-Forwards: 70"]
        lines += [f"Route: {r}" for r in dialog.route]
        lines += [f"From: <sip:bench@{self.host}>;tag={dialog.local_tag}",
                  f"To: <sip:{dialog.target}@{self.host}>;tag={dialog.remote_tag}",
                  f"Call-ID: {dialog.call_id}", f"CSeq: {cseq} {method}",
                  "Content-Length: 0"]
        self._send("\r\n".join(lines) + "\r\n\r\n", dialog.remote_addr)

    def bye(self, dialog: Dialog) -> None:
        dialog.cseq += 1
        self._in_dialog(dialog, "BYE", cseq=dialog.cseq)
