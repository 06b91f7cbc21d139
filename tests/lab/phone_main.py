"""A pjsua2 soft phone in its own process, driven by JSON lines (see tests/lab/phone.py).

Commands arrive on stdin as {"id": N, "cmd": NAME, ...}; each gets one reply
{"id": N, "ok": true, "result": {...}} or {"id": N, "ok": false, "error": "..."}.
Unprompted events ({"event": NAME, ...}) report registration, incoming calls and call
states.

Threading follows what works for pjsua2 here: this (main) thread owns the Endpoint
with threadCnt=0 and alternates between queued commands and libHandleEvents(10), so
every SIP callback runs on it. A reader thread only moves stdin lines into a queue.
The media port callbacks run on pjmedia's clock thread and only touch deques.
"""

from __future__ import annotations

import argparse
import collections
import gc
import itertools
import json
import os
import queue
import sys
import threading
import time
from typing import IO, Any

import numpy as np
import pjsua2 as pj

from tests.lab.tone import tone_present, tone_samples

RATE = 16000
FRAME_SAMPLES = 320  # 20 ms at 16 kHz
FRAME_BYTES = FRAME_SAMPLES * 2

_STATES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}


class Out:
    """JSON lines to the parent on a private copy of stdout.

    The real fd 1 is pointed at stderr, so anything pjsip or a C library prints can never
    corrupt the protocol stream.
    """

    def __init__(self) -> None:
        fd = os.dup(1)
        os.dup2(2, 1)
        self._stream: IO[str] = os.fdopen(fd, "w", buffering=1)
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(msg) + "\n")
            self._stream.flush()


class TonePort(pj.AudioMediaPort):
    """Plays a looped sine into the bridge and keeps the last second it receives."""

    def __init__(self) -> None:
        super().__init__()
        self._frames: list[pj.ByteVector] = []
        self._next = 0
        self.received: collections.deque[bytes] = collections.deque(maxlen=RATE // FRAME_SAMPLES)
        # Every frame of the last two minutes with its arrival time, for ``tone_gaps``
        # (is a tone heard without a break while the browser moves between pages?).
        self.timeline: collections.deque[tuple[float, bytes]] = collections.deque(
            maxlen=120 * RATE // FRAME_SAMPLES)
        # Latency probe (bench/latency.py): when the first frame of a new tone left for
        # the bridge, and when a 1 kHz onset arrived from it after ``listen``.
        self.tone_out_at: float | None = None
        self._tone_on = False
        self._stamped: list[pj.ByteVector] | None = None
        self.tone_in_at: float | None = None
        self._listening = False
        self._prev_in = np.zeros(0)
        self.set_tone(0)

    def set_tone(self, freq: float) -> None:
        # One second holds a whole number of periods for integer Hz, so the loop is seamless.
        # Built here, not in the clock callback, where every microsecond holds the GIL.
        samples = tone_samples(freq, 1.0, RATE, 0.3) if freq else np.zeros(RATE, np.int16)
        data = samples.tobytes()
        frames = [
            pj.ByteVector(data[i : i + FRAME_BYTES]) for i in range(0, len(data), FRAME_BYTES)
        ]
        self.tone_out_at = None
        self._tone_on = bool(freq)
        self._next = 0
        self._frames = frames  # the clock thread stamps the first frame it takes from it

    def listen(self) -> None:
        self.tone_in_at = None
        self._prev_in = np.zeros(0)
        self._listening = True

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        frames = self._frames
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = frames[self._next % len(frames)]
        frame.size = FRAME_BYTES
        self._next += 1
        if frames is not self._stamped:
            self._stamped = frames
            if self._tone_on:
                self.tone_out_at = time.monotonic()

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            data = bytes(frame.buf)
            self.received.append(data)
            self.timeline.append((time.monotonic(), data))
            if self._listening:
                self._find_onset(time.monotonic(), np.frombuffer(data, np.int16) / 32768)

    def _find_onset(self, now: float, x: np.ndarray) -> None:
        """Sample j of a frame that arrived at ``now`` counts as sounding at now + j/RATE
        (as bench/peers.py's listener reads it); onset = a 3-period 1 kHz window at 40 %
        of a 0.24 full-scale tone."""
        both = np.concatenate((self._prev_in, x))
        self._prev_in = x
        window = 3 * RATE // 1000
        z = both * np.exp(-2j * np.pi * 1000 * np.arange(len(both)) / RATE)
        cs = np.concatenate(([0j], np.cumsum(z)))
        amps = 2 * np.abs(cs[window:] - cs[:-window]) / window
        hits = np.nonzero(amps >= 0.4 * 8000 / 32768)[0]
        if len(hits):
            sample = int(hits[0]) + round(window * 0.6) - (len(both) - len(x))
            self.tone_in_at = now + sample / RATE
            self._listening = False

    def tone_gaps(self, freq: float, since: float, until: float) -> dict[str, Any]:
        """The longest stretch between ``since`` and ``until`` (time.monotonic, which is
        the same clock in every process of the machine) in which no 20 ms frame held the
        tone at ``freq``."""
        frames = [(t, data) for t, data in list(self.timeline) if since <= t <= until]
        heard = [t for t, data in frames
                 if tone_present(np.frombuffer(data, np.int16), RATE, freq, tolerance_hz=60)]
        edges = [since, *heard, until]
        longest = max(b - a for a, b in itertools.pairwise(edges))
        return {"frames": len(frames), "heard": len(heard), "longest_gap_ms": longest * 1000}

    def hears(self, freq: float, min_ratio: float = 0.5) -> bool:
        chunks = list(self.received)
        if len(chunks) < self.received.maxlen // 2:  # type: ignore[operator]
            return False
        return tone_present(np.frombuffer(b"".join(chunks), np.int16), RATE, freq,
                            min_ratio=min_ratio)


class PhoneCall(pj.Call):
    def __init__(self, phone: PhoneEngine, acc: pj.Account, number: int, call_id: int) -> None:
        super().__init__(acc, call_id)
        self.phone = phone
        self.number = number

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        state = _STATES.get(ci.state, str(ci.state))
        self.phone.out.send(
            {
                "event": "call_state",
                "call": self.number,
                "state": state,
                "code": ci.lastStatusCode,
                "reason": ci.lastReason,
            }
        )
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Deleting a Call inside its own callback is unsafe; the loop drops it later.
            self.phone.finished.append(self)

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        # Accept the REFER with a call object of our own, so the new call is tracked
        # (state events, tone, hearing) like any other.
        self.phone.out.send({"event": "transfer_request", "call": self.number,
                             "to": prm.dstUri})
        new = PhoneCall(self.phone, self.phone.account, self.phone._new_number(),
                        pj.PJSUA_INVALID_ID)
        self.phone.calls[new.number] = new
        prm.newCall = new

    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        # An INVITE with Replaces (attended transfer) took this call over: track the new
        # call with a call object of our own, so it gets the tone and is heard.
        new = PhoneCall(self.phone, self.phone.account, self.phone._new_number(), prm.newCallId)
        self.phone.calls[new.number] = new
        prm.newCall = new
        self.phone.out.send({"event": "replaced", "call": self.number, "by": new.number})

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.phone.dtmf.append(prm.digit)
        self.phone.out.send({"event": "dtmf", "call": self.number, "digit": prm.digit})

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for media in ci.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO:
                # The far end putting us on hold shows as REMOTE_HOLD (it sent sendonly).
                held = media.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
                self.phone.out.send({"event": "media_status", "call": self.number,
                                     "remote_hold": held})
        for idx, media in enumerate(ci.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                    pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                audio = self.getAudioMedia(idx)
                self.phone.port.received.clear()
                audio.startTransmit(self.phone.port)
                self.phone.port.startTransmit(audio)
                self.phone.out.send({"event": "media", "call": self.number, "active": True})


class PhoneAccount(pj.Account):
    def __init__(self, phone: PhoneEngine) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.phone.registered = prm.code // 100 == 2 and prm.expiration > 0
        self.phone.out.send(
            {"event": "reg", "code": prm.code, "reason": prm.reason, "expiration": prm.expiration}
        )

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.phone.incoming(self, prm.callId)


class PhoneEngine:
    """Owns the Endpoint, the account and the calls; everything runs on one thread."""

    def __init__(self, out: Out, auto_answer: bool, media_port: int, log_level: int) -> None:
        self.out = out
        self.auto_answer = auto_answer
        self.media_port = media_port
        self.commands: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.finished: list[PhoneCall] = []
        self.dtmf: list[str] = []
        self.calls: dict[int, PhoneCall] = {}
        self.account: PhoneAccount | None = None
        self.registered = False
        self._numbers = 0
        self.running = True

        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.logConfig.level = log_level
        cfg.logConfig.consoleLevel = log_level
        self.ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = 0  # the kernel picks a free port: no race with other lab peers
        tcfg.boundAddress = "127.0.0.1"
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.sip_port = self.ep.transportGetInfo(tid).localName.split(":")[-1]
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()  # the null device is the conference clock
        self._prefer_g711()
        self.port = TonePort()
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
        self.port.createPort("lab-tone", fmt)

    def _prefer_g711(self) -> None:
        # SIPp's scenarios and the product's SIP side speak G.711; keep the lab on it too.
        for codec in self.ep.codecEnum2():
            cid = codec.codecId
            prio = 255 if cid.startswith("PCMU") else 254 if cid.startswith("PCMA") else 0
            self.ep.codecSetPriority(cid, prio)

    def _new_number(self) -> int:
        self._numbers += 1
        return self._numbers

    # --- events -------------------------------------------------------------------

    def incoming(self, acc: pj.Account, call_id: int) -> None:
        call = PhoneCall(self, acc, self._new_number(), call_id)
        self.calls[call.number] = call
        ci = call.getInfo()
        self.out.send({"event": "incoming", "call": call.number, "from": ci.remoteUri})
        prm = pj.CallOpParam()
        prm.statusCode = 200 if self.auto_answer else 180
        call.answer(prm)

    # --- commands -----------------------------------------------------------------

    def cmd_register(self, user: str, password: str, registrar: str, expires: int = 300) -> dict:
        if self.account is not None:
            raise RuntimeError("already registered; one account per phone")
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{user}@{registrar}"
        acfg.regConfig.registrarUri = f"sip:{registrar}"
        acfg.regConfig.timeoutSec = expires
        acfg.regConfig.retryIntervalSec = 0  # report a failure once instead of retrying
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
        acfg.natConfig.sipOutboundUse = 0
        acfg.natConfig.contactRewriteUse = 0
        acfg.mediaConfig.transportConfig.port = self.media_port
        acfg.mediaConfig.transportConfig.portRange = 8
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        self.account = PhoneAccount(self)
        self.account.create(acfg)
        return {"sip_port": self.sip_port}

    def cmd_call(self, uri: str) -> dict:
        if self.account is None:
            raise RuntimeError("register first")
        call = PhoneCall(self, self.account, self._new_number(), pj.PJSUA_INVALID_ID)
        self.calls[call.number] = call
        call.makeCall(uri, pj.CallOpParam(True))
        return {"call": call.number}

    def _call(self, number: int | None) -> PhoneCall:
        if number is None:
            live = [n for n, c in self.calls.items() if c not in self.finished]
            if not live:
                raise RuntimeError("no live call")
            number = max(live)
        return self.calls[number]

    def cmd_answer(self, call: int | None = None, code: int = 200) -> dict:
        prm = pj.CallOpParam()
        prm.statusCode = code
        self._call(call).answer(prm)
        return {}

    def cmd_hangup(self, call: int | None = None, code: int = 0) -> dict:
        prm = pj.CallOpParam()
        prm.statusCode = code  # 0: pjsua picks (BYE, CANCEL or 603 as the state needs)
        self._call(call).hangup(prm)
        return {}

    def cmd_tone(self, freq: float) -> dict:
        self.port.set_tone(freq)
        return {}

    def cmd_listen(self) -> dict:
        self.port.listen()
        return {}

    def cmd_probe(self) -> dict:
        return {"tone_out_at": self.port.tone_out_at, "tone_in_at": self.port.tone_in_at}

    def cmd_tone_gaps(self, freq: float, since: float, until: float) -> dict:
        return self.port.tone_gaps(freq, since, until)

    def cmd_hears(self, freq: float, min_ratio: float = 0.5) -> dict:
        return {"heard": self.port.hears(freq, min_ratio)}

    def cmd_dtmf(self) -> dict:
        return {"digits": "".join(self.dtmf)}

    def cmd_status(self) -> dict:
        live = [n for n, c in self.calls.items() if c not in self.finished]
        return {"calls": live, "sip_port": self.sip_port}

    def cmd_quit(self) -> dict:
        self.running = False
        return {}

    # --- loop ---------------------------------------------------------------------

    def run(self) -> None:
        self.out.send({"event": "ready", "sip_port": self.sip_port})
        while self.running:
            self._drain_commands()
            self.ep.libHandleEvents(10)
            self._drop_finished()
        self._shutdown()

    def _drain_commands(self) -> None:
        while True:
            try:
                msg = self.commands.get_nowait()
            except queue.Empty:
                return
            if msg is None:  # stdin closed: the parent is gone
                self.running = False
                return
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        args = {k: v for k, v in msg.items() if k not in ("id", "cmd")}
        handler = getattr(self, f"cmd_{msg.get('cmd')}", None)
        try:
            if handler is None:
                raise ValueError(f"unknown command {msg.get('cmd')!r}")
            result = handler(**args)
            self.out.send({"id": msg.get("id"), "ok": True, "result": result})
        except Exception as exc:  # every failure goes back to the parent
            # Only the text crosses; the traceback would keep pjsua2 objects alive.
            self.out.send(
                {"id": msg.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"}
            )

    def _drop_finished(self) -> None:
        while self.finished:
            call = self.finished.pop()
            self.calls.pop(call.number, None)
            del call

    def _shutdown(self) -> None:
        self.ep.hangupAllCalls()
        for _ in range(50):  # let BYEs go out and DISCONNECTED arrive
            if not self.calls or all(c in self.finished for c in self.calls.values()):
                break
            self.ep.libHandleEvents(10)
        self.finished.clear()
        self.calls.clear()
        if self.account is not None:
            # Unregister and wait for the answer here, so libDestroy need not linger on
            # the network (it otherwise waits about a second for pending transactions).
            if self.registered:
                self.account.setRegistration(False)
                for _ in range(200):
                    if not self.registered:
                        break
                    self.ep.libHandleEvents(10)
            self.account.shutdown()
            self.account = None
        self.port = None  # type: ignore[assignment]
        gc.collect()  # pjsua2 objects must die on this thread, before libDestroy
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.out.send({"event": "bye"})


def _read_stdin(commands: queue.Queue[dict[str, Any] | None], out: Out) -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            commands.put(json.loads(line))
        except json.JSONDecodeError as exc:
            out.send({"event": "error", "error": f"bad JSON: {exc}"})
    commands.put(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ring-only", action="store_true", help="answer 180, never 200")
    parser.add_argument("--media-port", type=int, default=0)
    parser.add_argument("--tone", type=float, default=0.0)
    parser.add_argument("--log-level", type=int, default=3)
    args = parser.parse_args()
    out = Out()
    engine = PhoneEngine(out, not args.ring_only, args.media_port, args.log_level)
    engine.port.set_tone(args.tone)
    threading.Thread(target=_read_stdin, args=(engine.commands, out), daemon=True).start()
    engine.run()


if __name__ == "__main__":
    main()
