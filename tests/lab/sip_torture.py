"""Hostile SIP over UDP: a corpus of torture and scanner messages, and a raw client.

The corpus follows the categories of RFC 4475 ("SIP Torture Test Messages"), written
afresh for a line worker's port rather than copied: tortuous but valid requests
(folded and compact headers, escapes, an extension method, very long values), and
invalid ones (bad or duplicated Content-Length, missing mandatory headers, bad
request-URIs, a wrong version, NUL bytes, a negative or huge CSeq, a packet far over
the MTU, stray responses, plain garbage). Scanner probes copy the shape of what
``friendly-scanner`` / ``sipvicious`` send: OPTIONS, REGISTER and INVITE sweeps.

``RawSip`` is a UDP socket bound to a chosen loopback address (127.0.0.2 is "not the
PBX"); it sends datagrams and collects every reply, keyed by Call-ID. ``drain`` sends a
plain OPTIONS last and waits for its answer: the worker reads its socket in order on
one thread, so once that answer is back every earlier datagram has been handled.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Torture:
    """One datagram of the corpus: ``valid`` ones would be accepted from the PBX."""

    name: str
    data: bytes
    method: str
    call_id: str
    valid: bool = False


@dataclass(frozen=True)
class Reply:
    """A datagram the worker sent back."""

    status: int | None  # None: not a status line at all
    call_id: str
    cseq_method: str
    text: str


_SDP = ("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class _Builder:
    """Writes requests from ``source`` to ``user`` at ``target`` ("host:port")."""

    def __init__(self, target: str, source: str, user: str) -> None:
        self.target = target
        self.source = source
        self.user = user
        self.host = source.rsplit(":", 1)[0]

    def request(self, method: str, *, uri: str = "", headers: list[str] | None = None,
                body: str = "", user_agent: str = "", skip: tuple[str, ...] = (),
                version: str = "SIP/2.0", cseq: str = "", content_length: str | None = None,
                call_id: str = "") -> tuple[bytes, str]:
        call_id = call_id or f"{uuid.uuid4().hex}@{self.host}"
        lines = {
            "Via": f"Via: SIP/2.0/UDP {self.source};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
            "Max-Forwards": "Max-Forwards: 70",
            "From": f"From: <sip:torture@{self.host}>;tag={uuid.uuid4().hex[:8]}",
            "To": f"To: <sip:{self.user}@{self.target}>",
            "Call-ID": f"Call-ID: {call_id}",
            "CSeq": f"CSeq: {cseq or '1 ' + method}",
            "Contact": f"Contact: <sip:torture@{self.source}>",
        }
        out = [f"{method} {uri or f'sip:{self.user}@{self.target}'} {version}"]
        out += [line for name, line in lines.items() if name not in skip]
        if user_agent:
            out.append(f"User-Agent: {user_agent}")
        out += headers or []
        if body:
            out.append("Content-Type: application/sdp")
        if "Content-Length" not in skip:
            length = str(len(body.encode())) if content_length is None else content_length
            out.append(f"Content-Length: {length}")
        return ("\r\n".join(out) + "\r\n\r\n" + body).encode(), call_id

    def sdp(self) -> str:
        return _SDP.format(host=self.host)


def valid_tortures(target: str, source: str, user: str) -> list[Torture]:
    """Unusual but well-formed requests (RFC 4475 section 3.1.1 style). From the PBX some
    of them would ring the agent, so they are sent from elsewhere."""
    b = _Builder(target, source, user)
    out: list[Torture] = []

    def add(name: str, method: str, data: bytes, call_id: str) -> None:
        out.append(Torture(name, data, method, call_id, valid=True))

    # Compact header names, odd case, folded lines and extra white space.
    call_id = f"tortuous-{uuid.uuid4().hex}"
    text = (f"INVITE sip:{user}@{target};unknownparam SIP/2.0\r\n"
            f"TO :\r\n sip:{user}@{target} ;   newparam    = 1918181833n\r\n"
            f"from   : \"J Rosenbrg \\\\\\\"\"       <sip:jdrosen@{b.host}>\r\n  ;\r\n"
            f"  tag = 98asjd8\r\n"
            f"MaX-fOrWaRdS: 0068\r\n"
            f"Call-ID: {call_id}\r\n"
            f"Content-Length   : 0\r\n"
            f"cseq: 0009\r\n  INVITE\r\n"
            f"Via  : SIP  /   2.0\r\n /UDP\r\n    {source};"
            f"branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
            f"s :\r\nNewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
            f"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
            f"m:\"Quoted string \\\"\\\"\" <sip:jdrosen@{source}> ; newparam =\r\n"
            f"      newvalue ;\r\n  secondparam ; q = 0.33\r\n\r\n")
    add("tortuous-invite", "INVITE", text.encode(), call_id)
    data, cid = b.request("OPTIONS", uri=f"sip:%75ser%2D{user}@{target};lr")
    add("escaped-request-uri", "OPTIONS", data, cid)
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    data, cid = b.request(method, cseq=f"1 {method}")
    add("extension-method", method, data, cid)
    data, cid = b.request("OPTIONS", headers=[f"X-Long: {'x' * 3000}",
                                              f"Subject: {'lorem ipsum ' * 80}"])
    add("long-header-values", "OPTIONS", data, cid)
    data, cid = b.request("OPTIONS", headers=[f"Via: SIP/2.0/UDP 192.0.2.{k}:5060;"
                                              f"branch=z9hG4bKv{k}" for k in range(1, 40)])
    add("many-vias", "OPTIONS", data, cid)
    data, cid = b.request("INVITE", body=b.sdp(), headers=[f"Subject: {'é' * 200}"])
    add("unicode-subject-invite", "INVITE", data, cid)
    return out


def invalid_tortures(target: str, source: str, user: str) -> list[Torture]:
    """Malformed datagrams (RFC 4475 sections 3.1.2 and 3.3 style): whoever sends them,
    none may start a call."""
    b = _Builder(target, source, user)
    out: list[Torture] = []

    def add(name: str, method: str, built: tuple[bytes, str]) -> None:
        out.append(Torture(name, built[0], method, built[1]))

    sdp = b.sdp()
    add("content-length-too-large", "INVITE",
        b.request("INVITE", body=sdp, content_length="9999"))
    add("content-length-negative", "INVITE",
        b.request("INVITE", body=sdp, content_length="-5"))
    add("content-length-not-a-number", "INVITE",
        b.request("INVITE", body=sdp, content_length="twelve"))
    add("content-length-twice", "INVITE", b.request(
        "INVITE", body=sdp, headers=["Content-Length: 3"]))
    add("content-length-huge", "INVITE",
        b.request("INVITE", body=sdp, content_length="36893488147419103232"))
    for missing in ("Call-ID", "From", "To", "CSeq", "Via"):
        add(f"missing-{missing.lower()}", "INVITE",
            b.request("INVITE", body=sdp, skip=(missing,)))
    add("cseq-negative", "INVITE", b.request("INVITE", body=sdp, cseq="-1 INVITE"))
    add("cseq-huge", "INVITE", b.request("INVITE", body=sdp, cseq="36893488147419103232 INVITE"))
    add("cseq-method-mismatch", "INVITE", b.request("INVITE", body=sdp, cseq="1 BYE"))
    add("max-forwards-huge", "INVITE", b.request("INVITE", body=sdp,
                                                 headers=["Max-Forwards: 300"]))
    add("request-uri-in-angle-brackets", "INVITE",
        b.request("INVITE", uri=f"<sip:{user}@{target}>", body=sdp))
    add("request-uri-with-spaces", "INVITE",
        b.request("INVITE", uri=f"sip:{user} @ {target}", body=sdp))
    add("request-uri-unknown-scheme", "INVITE",
        b.request("INVITE", uri="name:torture", body=sdp))
    add("request-uri-escaped-nul", "INVITE",
        b.request("INVITE", uri=f"sip:{user}%00x@{target}", body=sdp))
    add("request-uri-empty", "INVITE", b.request("INVITE", uri=" ", body=sdp))
    add("version-7", "INVITE", b.request("INVITE", body=sdp, version="SIP/7.0"))
    add("no-version", "INVITE", b.request("INVITE", body=sdp, version=""))
    add("unknown-method-with-body", "TORTURE", b.request("TORTURE", cseq="1 TORTURE",
                                                         body=sdp))
    add("unbalanced-quotes", "INVITE", b.request(
        "INVITE", body=sdp, headers=['Subject: "never closed', 'X-Q: "a\\"b']))
    add("bad-from-display-name", "INVITE", b.request(
        "INVITE", body=sdp, skip=("From",),
        headers=['From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43']))
    add("header-without-colon", "INVITE", b.request(
        "INVITE", body=sdp, headers=["ThisHeaderHasNoColon"]))
    data, cid = b.request("INVITE", body=sdp, headers=["X-Nul: before\x00after"])
    out.append(Torture("nul-byte-in-header", data, "INVITE", cid))
    data, cid = b.request("INVITE", body=sdp)
    out.append(Torture("nul-bytes-everywhere", data.replace(b"\r\n", b"\r\n\x00", 3),
                       "INVITE", cid))
    data, cid = b.request("INVITE", body="v=0\r\nm=audio banana RTP/AVP x\r\n\x01\x02garbage")
    out.append(Torture("malformed-sdp", data, "INVITE", cid))
    data, cid = b.request("INVITE", body=sdp, headers=["Content-Type: application/sdp"])
    out.append(Torture("two-content-types", data, "INVITE", cid))
    # Far over the MTU and over pjsip's packet buffer: dropped or refused, never parsed
    # into a call.
    data, cid = b.request("INVITE", body=sdp, headers=[f"X-Pad-{k}: {'p' * 990}"
                                                       for k in range(60)])
    out.append(Torture("huge-datagram", data, "INVITE", cid))
    data, cid = b.request("INVITE", body=sdp)
    out.append(Torture("truncated", data[: len(data) // 2], "INVITE", cid))
    data, cid = b.request("ACK")
    out.append(Torture("ack-out-of-dialog", data, "ACK", cid))
    data, cid = b.request("BYE")
    out.append(Torture("bye-out-of-dialog", data, "BYE", cid))
    data, cid = b.request("CANCEL")
    out.append(Torture("cancel-unknown-transaction", data, "CANCEL", cid))
    for status in ("200 OK", "4294967301 Too Big", "99 Too Small", "xyz Not A Number"):
        cid = uuid.uuid4().hex
        stray = (f"SIP/2.0 {status}\r\nVia: SIP/2.0/UDP {target};branch=z9hG4bKstray{cid[:8]}"
                 f"\r\nFrom: <sip:{user}@{target}>;tag=1\r\nTo: <sip:x@{b.host}>;tag=2\r\n"
                 f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        out.append(Torture(f"stray-response-{status.split()[0]}", stray.encode(), "", cid))
    for name, blob in (("empty", b""), ("crlf-keepalive", b"\r\n\r\n"),
                       ("bare-method", b"INVITE"), ("binary", bytes(range(256)) * 4),
                       ("only-request-line", f"INVITE sip:{user}@{target} SIP/2.0\r\n\r\n"
                        .encode())):
        out.append(Torture(name, blob, "", ""))
    return out


def scanner_probes(target: str, source: str, user: str) -> list[Torture]:
    """What SIP scanners send: sweeps with their own User-Agent headers."""
    b = _Builder(target, source, user)
    out: list[Torture] = []
    for agent in ("friendly-scanner", "sipvicious", "sipcli/v1.8", "VaxSIPUserAgent/3.1"):
        for method in ("OPTIONS", "REGISTER", "INVITE"):
            body = b.sdp() if method == "INVITE" else ""
            uri = f"sip:{target}" if method == "REGISTER" else ""
            data, cid = b.request(method, uri=uri, user_agent=agent, body=body)
            out.append(Torture(f"scanner-{agent.split('/')[0]}-{method.lower()}", data,
                               method, cid, valid=True))
    return out


_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_CSEQ = re.compile(r"^CSeq\s*:\s*\d+\s+(\S+)", re.IGNORECASE | re.MULTILINE)


def parse_reply(data: bytes) -> Reply:
    """Status code, Call-ID and CSeq method of a datagram the worker sent."""
    text = data.decode(errors="replace")
    status = _STATUS.match(data)
    call_id = _CALL_ID.search(text)
    cseq = _CSEQ.search(text)
    return Reply(int(status.group(1)) if status else None,
                 call_id.group(1) if call_id else "", cseq.group(1) if cseq else "", text)


def ack_for(reply: Reply, user: str, target: str) -> bytes:
    """The ACK that ends a refused INVITE's transaction (RFC 3261 17.1.1.3): without it
    the worker would resend its refusal for 32 s and keep the transaction until then."""
    def header(name: str, compact: str) -> str:
        found = re.search(rf"^(?:{name}|{compact})\s*:\s*(.*)$", reply.text,
                          re.IGNORECASE | re.MULTILINE)
        return found.group(1).strip() if found else ""

    cseq = header("CSeq", "CSeq").split()[0] if header("CSeq", "CSeq") else "1"
    lines = [f"ACK sip:{user}@{target} SIP/2.0", f"Via: {header('Via', 'v')}",
             "Max-Forwards: 70", f"From: {header('From', 'f')}", f"To: {header('To', 't')}",
             f"Call-ID: {reply.call_id}", f"CSeq: {cseq} ACK", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class RawSip:
    """A UDP socket on ``host`` (a loopback address) that talks to one SIP port."""

    host: str
    target: tuple[str, int]
    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, 0))
        self.port: int = self.sock.getsockname()[1]

    @property
    def source(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def target_hostport(self) -> str:
        return f"{self.target[0]}:{self.target[1]}"

    def send(self, data: bytes) -> None:
        # EMSGSIZE for a datagram over 64 KiB is part of the torture, not a fault.
        with contextlib.suppress(OSError):
            self.sock.sendto(data, self.target)

    def drain(self, user: str, timeout: float = 10.0) -> Reply:
        """Send a plain OPTIONS and collect replies until its answer is back and every
        INVITE that got a provisional answer has its final one."""
        data, call_id = _Builder(self.target_hostport, self.source, user).request("OPTIONS")
        self.send(data)
        deadline = time.monotonic() + timeout
        probe: Reply | None = None
        # Retransmitted as a UAC does over UDP (RFC 3261 timer E): after a flood the
        # worker's receive buffer may have been full when the probe arrived.
        interval = 0.5
        while True:
            if probe is not None and not self._unfinished_invites():
                return probe
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to the probe OPTIONS from {self.source}, or "
                                   f"INVITEs left unanswered: {self._unfinished_invites()}")
            self.sock.settimeout(min(remaining, interval))
            try:
                reply = parse_reply(self.sock.recv(65535))
            except TimeoutError:
                if probe is None:
                    self.send(data)
                    interval = min(interval * 2, 4.0)
                continue
            if reply.call_id == call_id and reply.status is not None and reply.status >= 200:
                probe = reply
                continue
            self.replies.append(reply)
            if reply.cseq_method == "INVITE" and (reply.status or 0) >= 300:
                self.send(ack_for(reply, user, self.target_hostport))

    def _unfinished_invites(self) -> set[str]:
        """INVITEs answered 1xx but not yet finally (the worker refuses them a moment
        after it has read them)."""
        trying = {r.call_id for r in self.replies
                  if r.cseq_method == "INVITE" and r.status is not None and r.status < 200}
        final = {r.call_id for r in self.replies
                 if r.cseq_method == "INVITE" and r.status is not None and r.status >= 200}
        return trying - final

    def close(self) -> None:
        self.sock.close()
