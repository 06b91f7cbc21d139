"""The agent's persistent line: one RTCPeerConnection between the tab and the worker.

The line lives as long as the agent is online. Calls do not renegotiate it: a call
*attaches* a ``MediaLeg`` (the SIP call's audio port, or the echo test) and detaches it
when it ends, so answering is instant and no call pays for ICE and DTLS.

Audio paths, all in the worker's PCM format (``gateway/pcm.py``):

    browser mic -> receive buffer -> decoded at 16k mono as released (webrtc/decoding.py)
    -> leg.push()
    leg.pop() as each frame is ready -> LineTrack encodes (webrtc/encoding.py) -> packed
    and encrypted -> browser

Once connected, the packets themselves are moved by the line's fast path
(``webrtc/rtp_fast_path.py``), not aiortc's per-packet code; ``HEADSET_AIORTC_RTP=1``
gives them back to aiortc (LineTrack then hands it packets to pack).

Neither direction goes through aiortc's codecs or thread hops (see those modules for
why); a codec they do not know falls back to aiortc's, resampled by ``webrtc/resampling.py``
(whole 20 ms frames the moment they are complete: a frame held back for the next one's
first samples would add 20 ms).
Where each millisecond goes can be recorded on request (``webrtc/media_timing.py``).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeGuard, TypeVar

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
from aiortc.rtcrtpreceiver import StreamStatistics

from gateway.pcm import FRAME_MS, SAMPLE_RATE, SAMPLES_PER_FRAME, SILENCE
from gateway.quality import RtpCounters
from webrtc import decoding, jitter, media_timing, rtp_fast_path
from webrtc.encoding import PacketEncoder, encoder_for
from webrtc.pacing import FollowClock
from webrtc.resampling import Aligner

log = logging.getLogger(__name__)

_CODEC_MIME = {"opus": "audio/opus", "pcmu": "audio/PCMU", "pcma": "audio/PCMA"}
# What the answer asks of a browser's Opus when the far end is telephone band only (every
# SIP codec 8 kHz): RFC 7587's maxplaybackrate, which libwebrtc turns into its encoder's
# top bandwidth (narrowband at 8000), and sprop-maxcapturerate, which says our own Opus
# carries no more. Audio above 4 kHz would only be thrown away on the SIP side; sent
# narrowband, it costs the browser fewer bits and the worker a cheaper decode (full-band
# Opus decoded to 8 kHz was ~15 % of a worker's busy time at 32 Opus calls).
NARROWBAND_OPUS = {"maxplaybackrate": 8000, "sprop-maxcapturerate": 8000}
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_Out = TypeVar("_Out")


class MediaLeg(Protocol):
    """The far side of a call as the line sees it: PCM frames in and out."""

    def push(self, pcm: bytes) -> None: ...

    def pop(self) -> bytes | None: ...

    @property
    def waiting(self) -> int:
        """Frames ready for the browser."""
        ...

    def listen(self, wake: Callable[[], None] | None,
               record: Callable[[str, float], None] | None = None) -> None:
        """Call ``wake()`` (from any thread) when a frame for the browser is ready;
        ``record(stage, seconds)`` with each frame's wait (webrtc/media_timing.py)."""
        ...


class RelayingLeg(MediaLeg, Protocol):
    """A leg that can carry the browser's payloads without the worker's 16 kHz audio
    (sip_bridge/rtp_leg.py): as they are when the far end uses the same codec, or
    transcoded straight between Opus and G.711 at 8 kHz (webrtc/narrowband.py)."""

    def relay_to(self, send: Callable[[bytes, int, int], None] | None,
                 mime_type: str) -> None:
        """Hand the far end's payloads to ``send(payload, gap, samples)`` in the
        browser's codec ``mime_type`` when the leg can (``gap``: time missing before
        it, ``samples``: its length, both in that codec's clock); ``None`` stops."""
        ...

    def take_payload(self, payload: bytes) -> bool:
        """Send the browser's ``payload`` on; ``False`` when the leg cannot relay it
        (the line decodes it and pushes the audio instead)."""
        ...


class LineTrack(MediaStreamTrack):
    """Audio toward the browser, from whatever leg is attached.

    Each frame is sent the moment the call's clock hands it over (``FollowClock``), not
    on a 20 ms clock of the track's own, which would hold every frame for up to a frame
    time. If the leg stops handing frames over, the track keeps 20 ms time itself with
    the leg's concealment, then silence.

    With no call on the line it sends nothing at all (``active`` is clear): encoding and
    encrypting silence for every online agent would cost about a tenth of a core each.
    The RTP timestamp jumps over the pause, as after discontinuous transmission.

    Once the codec is known (``encode_as``) the track hands aiortc encoded packets, not
    frames: see ``webrtc/encoding.py`` for why. On the line's fast path
    (``webrtc/rtp_fast_path.py``) nothing awaits it: it *pushes* each payload to the
    path's ``send`` (``push_to``) from a plain loop callback the clock's hand-over
    schedules, with no future, task step or timer per frame. A/B at 24 calls it cost
    the same CPU as the awaited way (a profile under load had suggested a sixth of the
    loop); it is kept for the simpler timing: a frame leaves ~0.3 ms after hand-over.
    """

    kind = "audio"
    GRACE = 0.04  # past a frame time: how late the call's clock may be before we fill in

    def __init__(self) -> None:
        super().__init__()
        self.leg: MediaLeg | None = None
        self.active = asyncio.Event()
        self.timing: media_timing.StageTimes | None = None
        self._clock = FollowClock(FRAME_MS / 1000, self.GRACE)
        self._pts = 0
        self._paused_at: float | None = None
        self._encoder: PacketEncoder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._armed = False
        self._returned_at: float | None = None
        self._send: Callable[[bytes, int], None] | None = None
        self._pump_due = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop_thread: int | None = None

    def encode_as(self, mime_type: str, wideband: bool = True) -> None:
        """Encode for the negotiated codec here (see ``webrtc/encoding.py``); ``wideband``
        is whether the far end can send audio above 4 kHz."""
        self._encoder = encoder_for(mime_type, wideband)

    @property
    def encodes(self) -> bool:
        """Whether the track encodes (``encode_as`` found an encoder for the codec)."""
        return self._encoder is not None

    def follow(self, leg: MediaLeg | None) -> None:
        """Take frames from ``leg`` from now on; ``None`` pauses (nothing is sent)."""
        self.leg = leg
        if leg is None:
            self.active.clear()
            if self._send is not None:
                self._pause()
        else:
            self.active.set()
            if self._send is not None:
                self._resume()

    def push_to(self, send: Callable[[bytes, int], None] | None) -> None:
        """Push each ``(payload, pts)`` to ``send`` on this event loop (after
        ``encode_as``) as soon as the leg hands a frame over, or at the deadline when it
        does not, instead of being awaited; ``None`` stops pushing."""
        self._send = send
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._cancel_timer()
        if send is None:
            return
        if self.active.is_set():
            self._resume()
        else:
            self._pause()

    def wake(self) -> None:
        """A frame is ready (called by the leg, on any thread; on the loop's own thread
        the frame is sent before this returns)."""
        loop = self._loop
        if loop is None:
            return
        if self._send is not None:
            if threading.get_ident() == self._loop_thread:
                # Handed over on the loop itself (direct media's legs): sent at once,
                # with no self-pipe write and loop turn to get back here.
                self._pump()
                return
            # One pump per burst of hand-overs: the flag is cleared before the pump
            # drains the leg, so a frame pushed meanwhile is drained or pumped again.
            if not self._pump_due:
                self._pump_due = True
                loop.call_soon_threadsafe(self._pump)
        elif self._armed:
            self._armed = False
            loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> av.AudioFrame | av.Packet:
        return await self._next(self._encoded)

    async def _next(self, make: Callable[[bytes], _Out | None]) -> _Out:
        if self.readyState != "live":
            raise MediaStreamError
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        if self._returned_at is not None and self.timing is not None:
            self.timing.record("down.send", now - self._returned_at)
        if not self.active.is_set():
            self._paused_at = self._paused_at or now
            await self.active.wait()
            if self.readyState != "live":
                raise MediaStreamError  # woken to end, not for a call
        if self._paused_at is not None:
            self._skip(loop.time() - self._paused_at)
            self._paused_at = None
            self._clock.restart()
        while True:
            pcm, handed_over = await self._next_pcm(loop)
            self._clock.sent(loop.time(), handed_over)
            out = make(pcm or SILENCE)
            if out is not None:
                break
        self._returned_at = loop.time()
        return out

    async def _next_pcm(self, loop: asyncio.AbstractEventLoop) -> tuple[bytes | None, bool]:
        """The next frame: the leg's as soon as it is ready, or whatever it has (its
        concealment, else nothing) when the deadline comes first."""
        while True:
            leg = self.leg
            self._armed = True  # before looking, so a push in between is not missed
            if leg is not None and leg.waiting:
                self._armed = False
                return leg.pop(), True
            deadline = self._clock.deadline(loop.time())
            if loop.time() >= deadline or leg is None:
                self._armed = False
                return (leg.pop() if leg is not None else None), False
            waiter = self._waiter = loop.create_future()
            timer = loop.call_at(deadline, self._woken)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None

    # -- pushing (the fast path) -----------------------------------------------------------

    def relay(self, payload: bytes, gap: int, samples: int) -> None:
        """Send a payload the far end's leg gives in the browser's codec as it is: it
        is the call's clock here, as a hand-over is (the deadline moves on, nothing is
        filled in while payloads come). ``gap`` and ``samples`` are in the codec's
        clock: time skipped before the payload, and its length."""
        send, loop = self._send, self._loop
        if send is None or loop is None:
            return
        self._clock.sent(loop.time(), True)
        pts = self._pts + gap
        send(payload, pts)
        self._pts = pts + samples
        self._arm()

    def _pump(self) -> None:
        self._pump_due = False
        leg = self.leg
        if leg is None or self._send is None:
            return
        while leg.waiting:
            self._push(leg.pop(), handed_over=True)
        self._arm()

    def _on_deadline(self) -> None:
        self._timer = None
        leg, loop = self.leg, self._loop
        if leg is None or self._send is None or loop is None:
            return
        now = loop.time()
        if now >= self._clock.deadline(now):
            self._push(leg.pop(), handed_over=False)  # concealment, else silence
        self._arm()

    def _push(self, pcm: bytes | None, handed_over: bool) -> None:
        send, loop = self._send, self._loop
        assert send is not None and loop is not None
        started = loop.time()
        self._clock.sent(started, handed_over)
        out = self._payload(pcm or SILENCE)
        if out is not None:
            send(*out)
        if self.timing is not None:
            self.timing.record("down.send", loop.time() - started)

    def _arm(self) -> None:
        """A timer for the deadline, unless one is pending: it is not moved for every
        frame; when it fires before a deadline that moved on, it is set again."""
        loop = self._loop
        if self._timer is None and loop is not None:
            self._timer = loop.call_at(self._clock.deadline(loop.time()), self._on_deadline)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _pause(self) -> None:
        self._cancel_timer()
        if self._paused_at is None and self._loop is not None:
            self._paused_at = self._loop.time()

    def _resume(self) -> None:
        loop = self._loop
        assert loop is not None
        if self._paused_at is not None:
            self._skip(loop.time() - self._paused_at)
            self._paused_at = None
        self._clock.restart()  # the first frame goes out at once
        self._cancel_timer()
        self._arm()

    def _encoded(self, pcm: bytes) -> av.AudioFrame | av.Packet | None:
        """A packet for aiortc to pack (a frame for it to encode before ``encode_as``);
        ``None`` if the encoder held this frame back."""
        encoder = self._encoder
        if encoder is None:
            frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
            frame.planes[0].update(pcm)
            frame.sample_rate = SAMPLE_RATE
            frame.time_base = _TIME_BASE
            frame.pts = self._pts
            self._pts += SAMPLES_PER_FRAME
            return frame
        out = self._payload(pcm)
        if out is None:
            return None
        packet = av.Packet(out[0])
        packet.pts = out[1]
        packet.time_base = fractions.Fraction(1, encoder.clock_rate)
        return packet

    def _payload(self, pcm: bytes) -> tuple[bytes, int] | None:
        """(payload, pts) for ``pcm``; ``None`` if the encoder held this frame back."""
        encoder = self._encoder
        if encoder is None:
            raise RuntimeError("no encoder: the codec was not one the line encodes")
        payload = encoder.encode(pcm)
        pts = self._pts
        self._pts += encoder.samples  # a held-back frame's time still passes
        return None if payload is None else (payload, pts)

    def _skip(self, seconds: float) -> None:
        rate = self._encoder.clock_rate if self._encoder is not None else SAMPLE_RATE
        step = rate * FRAME_MS // 1000
        self._pts += int(seconds * rate) // step * step


def _relays(leg: MediaLeg) -> TypeGuard[RelayingLeg]:
    return hasattr(leg, "relay_to") and hasattr(leg, "take_payload")


class Line:
    """One agent's RTCPeerConnection and the call leg currently attached to it."""

    def __init__(
        self,
        agent_id: int,
        codecs: tuple[str, ...],
        ice_servers: list[RTCIceServer],
        on_state: Callable[[int, str], None],
        far_end_wideband: bool = True,
    ) -> None:
        self.agent_id = agent_id
        self._codecs = codecs
        self._far_end_wideband = far_end_wideband
        self._on_state = on_state
        self._leg: MediaLeg | None = None
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or None))
        self._track = LineTrack()
        self._fast_path: rtp_fast_path.FastPath | None = None
        self._reader: asyncio.Task[None] | None = None
        self._timing = media_timing.from_env(agent_id)
        self._timing_task: asyncio.Task[None] | None = None
        self._receive_buffer: jitter.ReleaseOnArrivalBuffer | None = None
        self._decoding: decoding.DecodeOnRelease | None = None
        if self._timing is not None:
            self._track.timing = self._timing.times
        self._pc.on("connectionstatechange", self._connection_state_changed)
        self._pc.on("track", self._track_received)

    @property
    def state(self) -> str:
        return str(self._pc.connectionState)

    async def accept_offer(self, sdp: str) -> str:
        """Answer the browser's offer; returns the answer SDP with our candidates."""
        # On the fast path aiortc's sender gets a track that never yields: the line
        # sends LineTrack's payloads itself once connected.
        fast = not rtp_fast_path.aiortc_moves_rtp()
        sending = rtp_fast_path.ParkedTrack() if fast else self._track
        transceiver = self._pc.addTransceiver(sending, direction="sendrecv")
        wanted = [_CODEC_MIME[c] for c in self._codecs]
        available = RTCRtpSender.getCapabilities("audio").codecs
        preferred = [c for mime in wanted for c in available if c.mimeType.lower() == mime.lower()]
        transceiver.setCodecPreferences(preferred)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for t in self._pc.getTransceivers():
            if t.kind == "audio":
                self._receive_buffer = jitter.install(t.receiver)
                self._receive_buffer.timed = self._timing is not None
                self._decoding = decoding.DecodeOnRelease(self._receive_buffer,
                                                          self._codec_of)
                if self._timing is not None:
                    self._decoding.record = self._timing.times.record
                if self._leg is not None:
                    self._decoding.deliver = self._heard
                decoding.install(t.receiver, self._decoding)
        if not self._far_end_wideband:
            # aiortc takes no parameters in codec preferences: they go on the codecs the
            # offer and our preferences have in common, from which it writes the answer.
            for codec in transceiver._codecs:
                if codec.mimeType.lower() == "audio/opus":
                    codec.parameters.update(NARROWBAND_OPUS)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        # The negotiated codec is only on aiortc's private ``_codecs``.
        negotiated = transceiver._codecs
        if negotiated:
            self._track.encode_as(negotiated[0].mimeType, self._far_end_wideband)
        if fast:
            if negotiated and self._decoding is not None and self._track.encodes:
                self._fast_path = rtp_fast_path.FastPath(transceiver, self._track,
                                                         self._decoding)
            else:  # not a codec the line encodes: aiortc moves the packets
                transceiver.sender.replaceTrack(self._track)
        if self._timing is not None:
            self._timing_task = asyncio.get_running_loop().create_task(self._dump_timing())
        return str(self._pc.localDescription.sdp)

    def attach(self, leg: MediaLeg | None) -> None:
        """Connect a call's audio to the line (``None`` detaches: nothing either way)."""
        old, self._leg = self._leg, leg
        if old is not None and old is not leg:
            old.listen(None)
            if _relays(old):
                old.relay_to(None, "")
        if self._decoding is not None:
            # Nobody to hear the browser: its packets are not even decoded.
            self._decoding.deliver = None if leg is None else self._heard
            self._decoding.relay = None
            if leg is not None and _relays(leg) and self._fast_path is not None:
                # The same codec both sides: payloads go through as they are.
                leg.relay_to(self._track.relay, self._fast_path.mime_type)
                self._decoding.relay = leg.take_payload
        if leg is not None:
            record = self._timing.times.record if self._timing is not None else None
            leg.listen(self._track.wake, record)
        self._track.follow(leg)

    async def rtp_counters(self) -> RtpCounters | None:
        """The browser leg's RTP figures, as aiortc's stats give them; ``None`` before
        media flows.

        Read from the sender's and receiver's own counters, not through ``getStats``,
        which gathers a coroutine per sender and receiver and the DTLS and ICE
        transports' stats besides: ~7 against ~73 µs of CPU a sample, measured on a
        connected line (small: at 56 calls sampled every 2 s, 0.2 % of a core). The
        figures are the ones
        ``getStats`` reports: inbound-rtp from the receiver's stream statistics (the
        last SSRC's, as its report keeps), outbound-rtp's packet count, remote-inbound-rtp
        as the sender kept it from the browser's last receiver report. aiortc gives
        jitter in RTP timestamp units (the codec's clock) and the round trip in seconds.
        """
        audio = [t for t in self._pc.getTransceivers() if t.kind == "audio"]
        # The negotiated codec (its clock turns jitter into ms) is only on aiortc's
        # private ``_codecs``; before negotiation it is empty.
        if not audio or not audio[0]._codecs:
            return None
        clock = audio[0]._codecs[0].clockRate / 1000  # timestamp units per ms
        receiver, sender = vars(audio[0].receiver), vars(audio[0].sender)
        streams: dict[int, StreamStatistics] = receiver[rtp_fast_path.RECEIVER_STREAMS]
        if not streams:
            return None
        inbound = list(streams.values())[-1]
        remote = [s for s in sender[rtp_fast_path.SENDER_STATS].values()
                  if s.type == "remote-inbound-rtp"]
        peer = remote[0] if remote else None
        rtt = getattr(peer, "roundTripTime", None)
        return RtpCounters(
            received=inbound.packets_received,
            lost=inbound.packets_lost,
            jitter_ms=inbound.jitter / clock,
            sent=sender[rtp_fast_path.SENDER_PACKETS],
            peer_lost=peer.packetsLost if peer is not None else None,
            peer_jitter_ms=peer.jitter / clock if peer is not None else None,
            rtt_ms=rtt * 1000 if rtt is not None else None,
        )

    def detach(self, leg: MediaLeg) -> None:
        if self._leg is leg:
            self.attach(None)

    async def close(self) -> None:
        if self._fast_path is not None:
            await self._fast_path.close()  # sockets back to aioice before they close
        self.attach(None)
        # A sender blocked in recv() must see the track end, not wait for a call.
        self._track.stop()
        self._track.active.set()
        for task in (self._reader, self._timing_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._pc.close()

    # -- internals ----------------------------------------------------------------------

    async def _dump_timing(self) -> None:
        assert self._timing is not None
        while True:
            await asyncio.sleep(media_timing.DUMP_EVERY)
            await asyncio.to_thread(self._timing.dump)

    def _codec_of(self, payload_type: int) -> str | None:
        for t in self._pc.getTransceivers():
            # The negotiated codecs are only on aiortc's private ``_codecs``.
            for codec in t._codecs:
                if codec.payloadType == payload_type:
                    return str(codec.mimeType)
        return None

    def _heard(self, pcm: bytes) -> None:
        leg = self._leg
        if leg is not None:
            leg.push(pcm)

    def _connection_state_changed(self) -> None:
        if self.state == "connected" and self._fast_path is not None:
            self._fast_path.start()  # the SRTP keys and the ICE pair are there now
        self._on_state(self.agent_id, self.state)

    def _track_received(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        aligner = Aligner(SAMPLE_RATE, "mono", SAMPLES_PER_FRAME)
        timing = self._timing.times if self._timing is not None else None
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                if self._leg is None:
                    # Nobody to hear it: skip the resampling (aiortc has decoded already).
                    continue
                if timing is not None:
                    read_at = time.monotonic()
                    # Looked up here: this task starts before the buffer is installed.
                    buffer = self._receive_buffer
                    arrived = (buffer.arrival_of(frame.pts)
                               if buffer is not None and frame.pts is not None else None)
                    if arrived is not None:
                        timing.record("up.decode", read_at - arrived)
                for pcm in aligner.convert(frame):
                    leg = self._leg
                    if leg is not None:
                        leg.push(pcm)
                if timing is not None:
                    timing.record("up.resample", time.monotonic() - read_at)
        except MediaStreamError:
            return
