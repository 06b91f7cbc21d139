"""Deployment settings: a TOML file, overridden by ``HEADSET_<SECTION>_<KEY>`` variables.

Defaults run the embedded mode (SQLite file, self-signed certificate, no PBX, the echo
test number). Every value is checked here, once, so a wrong setting stops start-up with
a message naming it (``SettingsError``) instead of failing later inside a worker.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import phonenumbers

BROWSER_CODECS = ("opus", "pcmu", "pcma")
SIP_CODECS = ("pcmu", "pcma", "g722")
# The SIP codecs that carry audio above 4 kHz; with none of them allowed, what a call
# sends the agent is telephone-band and the browser leg's Opus codes no more than that.
WIDEBAND_SIP_CODECS = frozenset({"g722"})
SIP_TRANSPORTS = ("udp", "tcp")
TLS_MODES = ("auto", "on", "off")


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and says what is expected."""


@dataclass(frozen=True)
class HttpSettings:
    host: str = "0.0.0.0"
    port: int = 8443
    # auto: HTTPS with a self-signed certificate unless bound to loopback only.
    tls: str = "auto"
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class SipSettings:
    # host:port of the PBX / registrar / proxy; empty means no PBX (echo test only).
    registrar: str = ""
    transport: str = "udp"
    # SIP domain of the accounts; defaults to the registrar's host.
    domain: str = ""
    # Seconds between re-registrations.
    register_expires: int = 300
    # Seconds without an answer from the registrar before the agent is told it is
    # unreachable (pjsip itself waits 32 s over UDP).
    register_timeout: float = 8.0
    # Seconds an outbound call may ring before the gateway gives up (no answer).
    ring_timeout: float = 60.0
    # Besides the registrar, addresses whose INVITEs may ring agents (a trunk, a second
    # PBX node). INVITEs from anywhere else are refused with 403.
    trusted_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodecSettings:
    browser: tuple[str, ...] = ("opus", "pcmu")
    sip: tuple[str, ...] = ("pcmu", "pcma")


@dataclass(frozen=True)
class IceSettings:
    stun: tuple[str, ...] = ()
    turn: tuple[str, ...] = ()
    turn_username: str = ""
    turn_password: str = ""
    # Addresses the workers' ICE may offer; empty means every non-loopback address.
    host_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerSettings:
    # Address the workers bind SIP and RTP to and announce to the PBX; 0.0.0.0 binds
    # every interface and announces the default one.
    bind: str = "0.0.0.0"
    sip_ports: tuple[int, int] = (25060, 25259)
    rtp_ports: tuple[int, int] = (40000, 49999)
    # Agents placed on one worker; 2 keeps pjsua2's 4-call cap unreachable with a
    # second line per agent (see gateway/placement.py).
    agents_per_worker: int = 2
    # Seconds a worker may take to answer a health ping before it is restarted.
    ping_timeout: float = 5.0


@dataclass(frozen=True)
class Settings:
    data_dir: str = "headset-data"
    database: str = ""  # defaults to <data_dir>/headset.sqlite3
    echo_number: str = "*43"
    language: str = "en"
    # Region (ISO 3166 code: ES, MX, AR, UY, BR, PL...) whose national numbers the CRM
    # reads, and the local area code a PBX leaves out (Brazil's 11 for São Paulo).
    region: str = "ES"
    area_code: str = ""
    # Seconds an online agent with no open tab keeps the line (a reload, a crash of
    # the tab) before going offline and hanging up.
    offline_grace: float = 20.0
    http: HttpSettings = field(default_factory=HttpSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    codecs: CodecSettings = field(default_factory=CodecSettings)
    ice: IceSettings = field(default_factory=IceSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else Path(self.data_dir) / "headset.sqlite3"

    @property
    def sip_domain(self) -> str:
        """The domain of the agents' SIP URIs: ``sip.domain``, else the registrar as
        given (host:port), so URIs handed to others (a REFER's target) are routable."""
        return self.sip.domain or self.sip.registrar


_SECTIONS = {
    "http": HttpSettings,
    "sip": SipSettings,
    "codecs": CodecSettings,
    "ice": IceSettings,
    "workers": WorkerSettings,
}


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = path or env.get("HEADSET_CONFIG")
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"config file {path}: cannot be read ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path}: not valid TOML ({exc})") from exc
    settings = _build(raw, env)
    _validate(settings)
    return settings


def _build(raw: dict[str, Any], env: Mapping[str, str]) -> Settings:
    top: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in _SECTIONS:
            section_cls = _SECTIONS[f.name]
            section_raw = raw.get(f.name, {})
            if not isinstance(section_raw, dict):
                raise SettingsError(f"[{f.name}]: must be a table")
            values: dict[str, Any] = {}
            for sf in fields(section_cls):
                name = f"{f.name}.{sf.name}"
                env_key = f"HEADSET_{f.name}_{sf.name}".upper()
                if env_key in env:
                    values[sf.name] = _coerce(name, env[env_key], sf.default, from_env=True)
                elif sf.name in section_raw:
                    values[sf.name] = _coerce(name, section_raw[sf.name], sf.default)
            unknown = set(section_raw) - {sf.name for sf in fields(section_cls)}
            if unknown:
                raise SettingsError(f"[{f.name}]: unknown setting {sorted(unknown)[0]!r}")
            top[f.name] = section_cls(**values)
        else:
            env_key = f"HEADSET_{f.name}".upper()
            if env_key in env:
                top[f.name] = _coerce(f.name, env[env_key], f.default, from_env=True)
            elif f.name in raw:
                top[f.name] = _coerce(f.name, raw[f.name], f.default)
    unknown = set(raw) - {f.name for f in fields(Settings)}
    if unknown:
        raise SettingsError(f"unknown setting {sorted(unknown)[0]!r}")
    return Settings(**top)


def _coerce(name: str, value: Any, default: Any, from_env: bool = False) -> Any:
    """Turn a TOML or environment value into the type of the default."""
    try:
        if isinstance(default, bool):
            if from_env:
                return str(value).lower() in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
        if isinstance(default, tuple) and len(default) == 2 and isinstance(default[0], int):
            text = str(value) if from_env or isinstance(value, str) else "-".join(map(str, value))
            low, high = (int(part) for part in text.split("-"))
            return (low, high)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: {value!r} is not a valid {_kind(default)}") from exc
    raise SettingsError(f"{name}: unsupported setting type")


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true/false"
    if isinstance(default, int):
        return "whole number"
    if isinstance(default, float):
        return "number"
    if isinstance(default, tuple) and len(default) == 2 and isinstance(default[0], int):
        return "port range like 40000-49999"
    if isinstance(default, tuple):
        return "list"
    return "text"


def _validate(s: Settings) -> None:
    def port(name: str, value: int) -> None:
        if not 1 <= value <= 65535:
            raise SettingsError(f"{name}: {value} is not a port number (1-65535)")

    def address(name: str, value: str) -> None:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise SettingsError(f"{name}: {value!r} is not an IP address") from exc

    port("http.port", s.http.port)
    if s.http.tls not in TLS_MODES:
        raise SettingsError(f"http.tls: must be one of {', '.join(TLS_MODES)}")
    if bool(s.http.cert_file) != bool(s.http.key_file):
        raise SettingsError("http.cert_file and http.key_file: give both or neither")
    if s.sip.registrar:
        host, _, port_text = s.sip.registrar.rpartition(":")
        if not host or not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
            raise SettingsError(f"sip.registrar: {s.sip.registrar!r} must be host:port")
        port("sip.registrar", int(port_text))
        if host.startswith("[") or ":" in host:
            # pjsip runs an IPv4 transport only (sip_bridge/engine.py): say so here
            # rather than let registration time out.
            raise SettingsError(f"sip.registrar: {s.sip.registrar!r}: line workers speak "
                                "SIP over IPv4 only; give an IPv4 address or a host name")
    if s.sip.transport not in SIP_TRANSPORTS:
        raise SettingsError(f"sip.transport: must be one of {', '.join(SIP_TRANSPORTS)}")
    if not 0.5 <= s.sip.register_timeout <= 60:
        raise SettingsError("sip.register_timeout: must be 0.5-60 seconds")
    if not 1 <= s.sip.ring_timeout <= 600:
        raise SettingsError("sip.ring_timeout: must be 1-600 seconds")
    if not 60 <= s.sip.register_expires <= 3600:
        raise SettingsError("sip.register_expires: must be 60-3600 seconds")
    for name, chosen, allowed in (
        ("codecs.browser", s.codecs.browser, BROWSER_CODECS),
        ("codecs.sip", s.codecs.sip, SIP_CODECS),
    ):
        if not chosen:
            raise SettingsError(f"{name}: give at least one codec")
        for codec in chosen:
            if codec not in allowed:
                raise SettingsError(f"{name}: unknown codec {codec!r} (use {', '.join(allowed)})")
    for i, value in enumerate(s.ice.host_addresses):
        address(f"ice.host_addresses[{i}]", value)
    address("workers.bind", s.workers.bind)
    if ipaddress.ip_address(s.workers.bind).version != 4:
        raise SettingsError(f"workers.bind: {s.workers.bind!r}: line workers speak SIP and "
                            "RTP over IPv4 only; give an IPv4 address or 0.0.0.0")
    for name, (low, high) in (("workers.sip_ports", s.workers.sip_ports),
                              ("workers.rtp_ports", s.workers.rtp_ports)):
        port(name, low)
        port(name, high)
        if low > high:
            raise SettingsError(f"{name}: {low}-{high} is an empty range")
    (sip_low, sip_high), (rtp_low, rtp_high) = s.workers.sip_ports, s.workers.rtp_ports
    if sip_low <= rtp_high and rtp_low <= sip_high:
        # A worker binds its SIP port when it starts: one taken by an older worker's RTP
        # would stop it from starting at all.
        raise SettingsError(f"workers.sip_ports: {sip_low}-{sip_high} overlaps "
                            f"workers.rtp_ports {rtp_low}-{rtp_high}; give ranges apart")
    if not 1 <= s.workers.agents_per_worker <= 2:
        raise SettingsError("workers.agents_per_worker: must be 1 or 2 (pjsua2 allows 4 calls)")
    if not 1 <= s.offline_grace <= 600:
        raise SettingsError("offline_grace: must be 1-600 seconds")
    if not s.echo_number:
        raise SettingsError("echo_number: must not be empty")
    if s.language not in ("en", "es", "pt-BR", "pl"):
        raise SettingsError("language: must be one of en, es, pt-BR, pl")
    if s.region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(f"region: {s.region!r} is not a region code like ES, BR or PL")
    if s.area_code and not (s.area_code.isascii() and s.area_code.isdigit()
                            and len(s.area_code) <= 5):
        raise SettingsError(f"area_code: {s.area_code!r} must be 1-5 digits or empty")


def with_overrides(settings: Settings, **sections: Any) -> Settings:
    """Return a copy with whole sections or top-level values replaced (used by tests)."""
    return replace(settings, **sections)
