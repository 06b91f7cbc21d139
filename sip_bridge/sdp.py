"""The SIP leg's audio offer and answer when the worker carries the RTP itself.

With direct media (``sip_bridge/direct_media.py``) pjsua creates no audio stream: it
still writes the SDP's session part (``o=`` with its version, ``s=``, ``t=``) and runs
the offer/answer exchange, and the engine swaps the media part for this module's. The
decisions live here, in pure code: which of our codecs to offer and in what order, which
one an offer leads us to answer with (in the offerer's payload type), where the far
end wants our RTP and whether it will send or listen (hold).

Only what a PBX or trunk sends for a telephone call is read: one audio stream, RTP/AVP,
static or ``rtpmap``-named payload types, ``telephone-event`` for DTMF, and the
direction attributes (at session or media level, media level winning).
"""

from __future__ import annotations

from dataclasses import dataclass

DTMF_PAYLOAD_TYPE = 101  # ours, in an offer; in an answer the offerer's is kept


@dataclass(frozen=True)
class Codec:
    """An audio codec as SDP names it."""

    name: str  # config name: "pcmu"
    encoding: str  # rtpmap name: "PCMU"
    payload_type: int  # static payload type (RFC 3551)
    clock_rate: int = 8000


CODECS = {
    "pcmu": Codec("pcmu", "PCMU", 0),
    "pcma": Codec("pcma", "PCMA", 8),
}
_STATIC = {codec.payload_type: codec for codec in CODECS.values()}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
           "inactive": "inactive"}


@dataclass(frozen=True)
class RemoteAudio:
    """The far end's audio stream as its SDP describes it."""

    address: str
    port: int
    # (payload type, codec) for each payload type of ours it lists, in its order.
    codecs: tuple[tuple[int, Codec], ...] = ()
    dtmf_payload_type: int | None = None
    direction: str = "sendrecv"

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def listens(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True)
class LocalAudio:
    """What we put in our SDP: where we listen, the codecs (payload type, codec) in
    order of preference, DTMF, and our direction."""

    address: str
    port: int
    codecs: tuple[tuple[int, Codec], ...]
    dtmf_payload_type: int | None = DTMF_PAYLOAD_TYPE
    direction: str = "sendrecv"

    def lines(self) -> list[str]:
        types = [str(pt) for pt, _ in self.codecs]
        if self.dtmf_payload_type is not None:
            types.append(str(self.dtmf_payload_type))
        lines = [f"m=audio {self.port} RTP/AVP {' '.join(types)}",
                 f"c=IN IP4 {self.address}"]
        lines += [f"a=rtpmap:{pt} {codec.encoding}/{codec.clock_rate}"
                  for pt, codec in self.codecs]
        if self.dtmf_payload_type is not None:
            lines += [f"a=rtpmap:{self.dtmf_payload_type} telephone-event/8000",
                      f"a=fmtp:{self.dtmf_payload_type} 0-16"]
        lines += ["a=ptime:20", f"a={self.direction}"]
        return lines


def offer(address: str, port: int, codecs: tuple[str, ...], held: bool = False) -> LocalAudio:
    """Our offer: every configured codec we carry, in the configured order."""
    ours = tuple((CODECS[name].payload_type, CODECS[name]) for name in codecs
                 if name in CODECS)
    return LocalAudio(address, port, ours, direction="sendonly" if held else "sendrecv")


def answer(remote: RemoteAudio, address: str, port: int, codecs: tuple[str, ...],
           held: bool = False) -> LocalAudio | None:
    """Our answer to ``remote``'s offer: the first codec of our preference it offers, in
    its payload type; ``None`` when it offers none of ours (the stream is refused)."""
    chosen = negotiated(remote, codecs)
    if chosen is None:
        return None
    direction = _MIRROR[remote.direction]
    if held:
        direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
    return LocalAudio(address, port, (chosen,), remote.dtmf_payload_type, direction)


def negotiated(remote: RemoteAudio, codecs: tuple[str, ...]) -> tuple[int, Codec] | None:
    """The codec the call uses: our first preference among those the far end lists."""
    for name in codecs:
        for pt, codec in remote.codecs:
            if codec.name == name:
                return pt, codec
    return None


def parse(sdp: str) -> RemoteAudio | None:
    """The first audio stream of ``sdp``; ``None`` if there is none or it is refused
    (port 0) or it names no address. Tolerates CRLF or LF and stray spaces."""
    session_address = ""
    session_direction = "sendrecv"
    media: list[str] | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if media is not None:
                break  # only the first audio stream is ours
            if line.startswith("m=audio "):
                media = [line]
            continue
        if media is not None:
            media.append(line)
        elif line.startswith("c="):
            session_address = _address(line)
        elif line[2:] in _DIRECTIONS and line.startswith("a="):
            session_direction = line[2:]
    if media is None:
        return None
    parts = media[0].split()
    try:
        port = int(parts[1].split("/")[0])
        types = [int(pt) for pt in parts[3:]]
    except (IndexError, ValueError):
        return None
    if port <= 0 or port > 65535:
        return None
    address = session_address
    direction = session_direction
    names: dict[int, tuple[str, int]] = {}
    for line in media[1:]:
        if line.startswith("c="):
            address = _address(line)
        elif line.startswith("a=rtpmap:"):
            mapped = _rtpmap(line[len("a=rtpmap:"):])
            if mapped is not None:
                names[mapped[0]] = mapped[1]
        elif line.startswith("a=") and line[2:] in _DIRECTIONS:
            direction = line[2:]
    if not address:
        return None
    codecs: list[tuple[int, Codec]] = []
    dtmf: int | None = None
    for pt in types:
        named = names.get(pt)
        if named is None:
            static = _STATIC.get(pt)
            if static is not None:
                codecs.append((pt, static))
            continue
        encoding, rate = named
        if encoding.lower() == "telephone-event" and rate == 8000:
            dtmf = pt if dtmf is None else dtmf
            continue
        codec = CODECS.get(encoding.lower())
        if codec is not None and rate == codec.clock_rate:
            codecs.append((pt, codec))
    return RemoteAudio(address, port, tuple(codecs), dtmf, direction)


def with_audio(session_sdp: str, audio: LocalAudio | None) -> str:
    """``session_sdp`` (pjsua's) with its media part replaced by ``audio``'s; ``None``
    refuses the stream (``m=audio 0``), as an answer must when no codec is shared."""
    head: list[str] = []
    for raw in session_sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            break
        if line and not line.startswith("c=") and line[2:] not in _DIRECTIONS:
            head.append(line)
    body = ["m=audio 0 RTP/AVP 0", "c=IN IP4 0.0.0.0"] if audio is None else audio.lines()
    return "\r\n".join(head + body) + "\r\n"


def _address(line: str) -> str:
    parts = line[2:].split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] != "IP4":
        return ""
    return parts[2].split("/")[0]


def _rtpmap(value: str) -> tuple[int, tuple[str, int]] | None:
    try:
        pt_text, rest = value.split(None, 1)
        encoding, rate_text = rest.strip().split("/")[:2]
        return int(pt_text), (encoding, int(rate_text))
    except ValueError:
        return None
