"""The SIP leg's offer and answer under direct media (sip_bridge/sdp.py)."""

from __future__ import annotations

import pytest

from sip_bridge import direct_media, sdp
from webrtc import narrowband

PJSUA_SDP = (
    "v=0\r\no=- 3912 3913 IN IP4 192.0.2.7\r\ns=pjmedia\r\nb=AS:84\r\nt=0 0\r\n"
    "a=X-nat:0\r\nm=audio 4000 RTP/AVP 0 8 101\r\nc=IN IP4 127.0.0.1\r\nb=TIAS:64000\r\n"
    "a=rtcp:4001 IN IP4 127.0.0.1\r\na=sendrecv\r\na=rtpmap:0 PCMU/8000\r\n"
)

OFFER = (
    "v=0\r\no=pbx 1 1 IN IP4 10.0.0.1\r\ns=call\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=sendrecv\r\n"
)


def test_an_offer_lists_our_codecs_in_order_with_dtmf() -> None:
    audio = sdp.offer("127.0.0.1", 40002, ("pcma", "pcmu"))
    lines = audio.lines()
    assert lines[0] == "m=audio 40002 RTP/AVP 8 0 101"
    assert "c=IN IP4 127.0.0.1" in lines
    assert "a=rtpmap:101 telephone-event/8000" in lines
    assert lines[-1] == "a=sendrecv"


def test_a_held_offer_is_sendonly() -> None:
    assert sdp.offer("127.0.0.1", 40002, ("pcmu",), held=True).lines()[-1] == "a=sendonly"


def test_our_media_replaces_pjsuas_and_its_session_part_stays() -> None:
    text = sdp.with_audio(PJSUA_SDP, sdp.offer("10.1.1.1", 40010, ("pcmu",)))
    lines = text.split("\r\n")
    assert lines[:4] == ["v=0", "o=- 3912 3913 IN IP4 192.0.2.7", "s=pjmedia", "b=AS:84"]
    assert "m=audio 40010 RTP/AVP 0 101" in lines
    assert "c=IN IP4 127.0.0.1" not in lines and "a=rtcp:4001 IN IP4 127.0.0.1" not in lines
    assert text.endswith("\r\n")
    assert sdp.parse(text) == sdp.RemoteAudio(
        "10.1.1.1", 40010, ((0, sdp.CODECS["pcmu"]),), 101, "sendrecv")


def test_an_offer_is_read_with_session_address_and_dynamic_dtmf() -> None:
    remote = sdp.parse(OFFER)
    assert remote is not None
    assert (remote.address, remote.port, remote.dtmf_payload_type) == ("10.0.0.1", 30000, 96)
    assert [name for _, name in ((pt, c.name) for pt, c in remote.codecs)] == ["pcma", "pcmu"]


def test_the_answer_takes_our_first_preference_in_the_offerers_payload_type() -> None:
    remote = sdp.parse(OFFER)
    assert remote is not None
    audio = sdp.answer(remote, "127.0.0.1", 40004, ("pcmu", "pcma"))
    assert audio is not None
    assert audio.codecs == ((0, sdp.CODECS["pcmu"]),)
    assert audio.dtmf_payload_type == 96
    assert audio.lines()[0] == "m=audio 40004 RTP/AVP 0 96"


def test_an_offer_with_none_of_our_codecs_is_refused_with_port_zero() -> None:
    remote = sdp.parse(OFFER.replace(" 18 8 0 96", " 18 96"))
    assert remote is not None
    assert sdp.answer(remote, "127.0.0.1", 40004, ("pcmu",)) is None
    assert "m=audio 0 RTP/AVP 0" in sdp.with_audio(PJSUA_SDP, None)


def test_hold_directions_are_mirrored() -> None:
    held = sdp.parse(OFFER.replace("a=sendrecv", "a=sendonly"))
    assert held is not None and held.sends and not held.listens
    audio = sdp.answer(held, "127.0.0.1", 40004, ("pcmu",))
    assert audio is not None and audio.direction == "recvonly"
    ours = sdp.answer(sdp.parse(OFFER) or held, "127.0.0.1", 40004, ("pcmu",), held=True)
    assert ours is not None and ours.direction == "sendonly"


def test_media_level_lines_win_over_session_level() -> None:
    text = OFFER.replace("a=sendrecv", "c=IN IP4 10.0.0.9\r\na=inactive")
    remote = sdp.parse("v=0\r\na=sendrecv\r\n" + text.split("v=0\r\n", 1)[1])
    assert remote is not None
    assert (remote.address, remote.direction) == ("10.0.0.9", "inactive")


def test_hostile_or_broken_sdp_reads_as_no_audio() -> None:
    for text in ("", "m=audio x RTP/AVP 0", "m=audio 0 RTP/AVP 0\r\nc=IN IP4 1.2.3.4",
                 "m=audio 99999 RTP/AVP 0\r\nc=IN IP4 1.2.3.4",
                 "m=audio 4000 RTP/AVP 0", "m=video 4000 RTP/AVP 96\r\nc=IN IP4 1.2.3.4",
                 "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::1", "\x00" * 50):
        assert sdp.parse(text) is None, text
    odd = sdp.parse("c=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0 abc\n")
    assert odd is None
    garbled = sdp.parse("c=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0 97\na=rtpmap:97 \n")
    assert garbled is not None and [pt for pt, _ in garbled.codecs] == [0]


def test_direct_media_is_chosen_when_calls_can_be_relayed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(direct_media.ENV, raising=False)
    assert direct_media.chosen(["pcmu", "pcma"], ["pcmu", "opus"])
    # Opus is transcoded straight to G.711 (webrtc/narrowband.py), with libopus.
    assert direct_media.chosen(["pcmu", "pcma"], ["opus", "pcmu"])
    assert not direct_media.chosen(["pcma"], ["pcmu"])  # nothing to relay
    assert not direct_media.chosen(["pcmu", "g722"], ["pcmu"])  # only pjmedia has G.722
    assert not direct_media.chosen(["pcmu", "g722"], ["opus"])
    monkeypatch.setattr(narrowband, "library", lambda: None)
    assert not direct_media.chosen(["pcmu"], ["opus"])  # no libopus: pjmedia transcodes
    monkeypatch.setenv(direct_media.ENV, "direct")
    assert direct_media.chosen(["pcmu"], ["opus"])
    monkeypatch.setenv(direct_media.ENV, "pjmedia")
    assert not direct_media.chosen(["pcmu"], ["pcmu"])


def test_the_far_ends_answer_is_found_in_a_response_only() -> None:
    response = ("SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n"
                "\r\n" + OFFER)
    assert direct_media.is_sdp_response(response)
    assert direct_media.message_body(response) == OFFER
    assert not direct_media.is_sdp_response("INVITE sip:a@b SIP/2.0\r\n"
                                            "Content-Type: application/sdp\r\n\r\n" + OFFER)
    assert not direct_media.is_sdp_response("SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n")
