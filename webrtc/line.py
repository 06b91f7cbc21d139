"""The agent's persistent line: one RTCPeerConnection between the tab and the worker.

The line lives as long as the agent is online. Calls do not renegotiate it: a call
*attaches* a ``MediaLeg`` (the SIP call's audio port, or the echo test) and detaches it
when it ends, so answering is instant and no call pays for ICE and DTLS.

Audio paths, all in the worker's PCM format (``gateway/pcm.py``):

    browser mic -> aiortc decoder -> resample 48k stereo -> 16k mono -> leg.push()
    leg.pop() every 20 ms (or silence) -> LineTrack -> aiortc encoder -> browser speaker
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable
from typing import Protocol

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from gateway.pcm import FRAME_BYTES, SAMPLE_RATE, SAMPLES_PER_FRAME, SILENCE
from gateway.quality import RtpCounters
from webrtc import jitter
from webrtc.pacing import Pacer

log = logging.getLogger(__name__)

_CODEC_MIME = {"opus": "audio/opus", "pcmu": "audio/PCMU", "pcma": "audio/PCMA"}
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class MediaLeg(Protocol):
    """The far side of a call as the line sees it: PCM frames in and out."""

    def push(self, pcm: bytes) -> None: ...

    def pop(self) -> bytes | None: ...


class LineTrack(MediaStreamTrack):
    """Audio toward the browser, paced at 20 ms, from whatever leg is attached.

    With no call on the line it sends nothing at all (``active`` is clear): encoding and
    encrypting silence for every online agent would cost about a tenth of a core each.
    The RTP timestamp jumps over the pause, as after discontinuous transmission.
    """

    kind = "audio"

    def __init__(self, source: Callable[[], bytes | None]) -> None:
        super().__init__()
        self._source = source
        self._pacer = Pacer(SAMPLE_RATE)
        self.active = asyncio.Event()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.active.is_set():
            await self.active.wait()
            self._pacer.skip_to_now(SAMPLES_PER_FRAME)
        pts = await self._pacer.next_pts(SAMPLES_PER_FRAME)
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(self._source() or SILENCE)
        frame.pts = pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        return frame


class Line:
    """One agent's RTCPeerConnection and the call leg currently attached to it."""

    def __init__(
        self,
        agent_id: int,
        codecs: tuple[str, ...],
        ice_servers: list[RTCIceServer],
        on_state: Callable[[int, str], None],
    ) -> None:
        self.agent_id = agent_id
        self._codecs = codecs
        self._on_state = on_state
        self._leg: MediaLeg | None = None
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or None))
        self._track = LineTrack(self._pull)
        self._reader: asyncio.Task[None] | None = None
        self._pc.on("connectionstatechange", self._connection_state_changed)
        self._pc.on("track", self._track_received)

    @property
    def state(self) -> str:
        return str(self._pc.connectionState)

    async def accept_offer(self, sdp: str) -> str:
        """Answer the browser's offer; returns the answer SDP with our candidates."""
        transceiver = self._pc.addTransceiver(self._track, direction="sendrecv")
        wanted = [_CODEC_MIME[c] for c in self._codecs]
        available = RTCRtpSender.getCapabilities("audio").codecs
        preferred = [c for mime in wanted for c in available if c.mimeType.lower() == mime.lower()]
        transceiver.setCodecPreferences(preferred)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for t in self._pc.getTransceivers():
            if t.kind == "audio":
                jitter.install(t.receiver)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        return str(self._pc.localDescription.sdp)

    def attach(self, leg: MediaLeg | None) -> None:
        """Connect a call's audio to the line (``None`` detaches: nothing either way)."""
        self._leg = leg
        if leg is None:
            self._track.active.clear()
        else:
            self._track.active.set()

    async def rtp_counters(self) -> RtpCounters | None:
        """The browser leg's RTP figures from aiortc's stats; ``None`` before media flows.

        aiortc gives jitter in RTP timestamp units (the codec's clock) and the round trip
        in seconds, from the browser's RTCP receiver reports.
        """
        audio = [t for t in self._pc.getTransceivers() if t.kind == "audio"]
        # The negotiated codec (its clock turns jitter into ms) is only on aiortc's
        # private ``_codecs``; before negotiation it is empty.
        if not audio or not audio[0]._codecs:
            return None
        clock = audio[0]._codecs[0].clockRate / 1000  # timestamp units per ms
        report = await self._pc.getStats()
        inbound = [s for s in report.values() if s.type == "inbound-rtp"]
        if not inbound:
            return None
        sent = sum(s.packetsSent for s in report.values() if s.type == "outbound-rtp")
        remote = [s for s in report.values() if s.type == "remote-inbound-rtp"]
        peer = remote[0] if remote else None
        rtt = getattr(peer, "roundTripTime", None)
        return RtpCounters(
            received=inbound[0].packetsReceived,
            lost=inbound[0].packetsLost,
            jitter_ms=inbound[0].jitter / clock,
            sent=sent,
            peer_lost=peer.packetsLost if peer is not None else None,
            peer_jitter_ms=peer.jitter / clock if peer is not None else None,
            rtt_ms=rtt * 1000 if rtt is not None else None,
        )

    def detach(self, leg: MediaLeg) -> None:
        if self._leg is leg:
            self.attach(None)

    async def close(self) -> None:
        self.attach(None)
        # A sender blocked in recv() must see the track end, not wait for a call.
        self._track.stop()
        self._track.active.set()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pc.close()

    # -- internals ----------------------------------------------------------------------

    def _pull(self) -> bytes | None:
        leg = self._leg
        return leg.pop() if leg is not None else None

    def _connection_state_changed(self) -> None:
        self._on_state(self.agent_id, self.state)

    def _track_received(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = bytearray()
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                if self._leg is None:
                    # Nobody to hear it: skip the resampling (aiortc has decoded already).
                    pending.clear()
                    continue
                for out in resampler.resample(frame):
                    # Planes are padded: take only the real samples.
                    pending += bytes(out.planes[0])[: out.samples * 2]
                while len(pending) >= FRAME_BYTES:
                    pcm = bytes(pending[:FRAME_BYTES])
                    del pending[:FRAME_BYTES]
                    leg = self._leg
                    if leg is not None:
                        leg.push(pcm)
        except MediaStreamError:
            return

