"""Kamailio as the lab's registrar and proxy (a stand-in for the customer's PBX).

Behaviour of the generated configuration, domain 127.0.0.1:

- Requests from SIP scanners' user agents → dropped, no reply, before anything else:
  the product's own edge snippet, deploy/kamailio/scanners.cfg, included as shipped.
- OPTIONS to the proxy itself (no user) → 200: the readiness probe.
- REGISTER: always challenged (401); right password → 200 and saved in memory
  (usrloc db_mode 0); wrong password or unknown user → 403.
- INVITE whose From user is one of `users` → proxy-auth challenge (407) like a PBX;
  callers that are not users (a trunk, SIPp) are not challenged.
- INVITE to a number in `routes` → relayed to that "127.0.0.1:PORT".
- INVITE to a user: registered → relayed to its contact; not registered → 480.
- OPTIONS to a user or a route → relayed like an INVITE (as a PBX relays them), unchallenged.
- Anything else → 404.
- Record-Route on every dialog, so ACK/BYE/re-INVITE/CANCEL go through the proxy both
  ways. SIPp's built-in scenarios ignore Record-Route and send in-dialog requests to the
  proxy's own URI with the user's name: those are found with a location lookup.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

from tests.lab.peer import LabPeer
from tests.lab.ports import HOST, free_udp_port

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
EDGE_SCANNERS = Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "scanners.cfg"
_SAFE = re.compile(r"^[A-Za-z0-9_.+-]+$")
_TARGET = re.compile(r"^127\.0\.0\.1:\d{1,5}$")

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
log_prefix="{{$mt $rm $ci}} "
children=2
auto_aliases=no
# An alias without the port would make every loopback contact "myself".
alias={host}:{port}
dns=no
rev_dns=no
use_dns_cache=no
# A child that gets SIGTERM while holding a shared-memory lock can block shutdown for
# good (seen here about 1 stop in 15); after this many seconds the main process
# SIGKILLs its children instead of waiting the default 60.
exit_timeout=1

loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "htable.so"

include_file "{scanners}"

modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 1)
modparam("htable", "htable", "users=>size=4;")
modparam("htable", "htable", "routes=>size=4;")
# Keep ringing long enough for no-answer tests; they end with CANCEL, not a timer.
modparam("tm", "fr_inv_timer", 120000)

event_route[htable:mod-init] {{
{fill}
}}

request_route {{
    route(HEADSET_SCANNERS);
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("OPTIONS") && uri==myself && $rU==$null) {{
        sl_send_reply("200", "Lab Kamailio");
        exit;
    }}
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) route(RELAY);
        exit;
    }}
    # Absorb retransmissions of requests already being handled.
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}
    remove_hf("Route");
    if (is_method("REGISTER")) {{
        route(REGISTRAR);
        exit;
    }}
    if (is_method("INVITE")) {{
        route(AUTH);
        record_route();
        route(ROUTING);
        exit;
    }}
    if (is_method("OPTIONS")) {{
        route(ROUTING);
        exit;
    }}
    if (is_method("ACK")) exit;
    sl_send_reply("405", "Method Not Allowed");
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        if (is_method("INVITE")) record_route();
        route(RELAY);
        exit;
    }}
    # SIPp's built-in UAC ignores Record-Route: its ACK/BYE arrive at our URI
    # with the callee's name, so find the callee the way the INVITE did.
    if (uri==myself && $rU!=$null && lookup("location")) {{
        route(RELAY);
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) route(RELAY);
        exit;
    }}
    sl_send_reply("404", "Not here");
}}

route[REGISTRAR] {{
    if (!is_present_hf("Authorization")) {{
        www_challenge("$td", "0");
        exit;
    }}
    if ($sht(users=>$au) == $null) {{
        sl_send_reply("403", "Unknown User");
        exit;
    }}
    if (!pv_www_authenticate("$td", "$sht(users=>$au)", "0")) {{
        if ($rc == -2 || $rc == -3) {{
            sl_send_reply("403", "Wrong Password");
            exit;
        }}
        www_challenge("$td", "0");
        exit;
    }}
    if ($au != $tU) {{
        sl_send_reply("403", "Auth User Mismatch");
        exit;
    }}
    consume_credentials();
    if (!save("location")) sl_reply_error();
}}

route[AUTH] {{
    # Only our own users are challenged; everyone else is a trunk.
    if ($sht(users=>$fU) == $null) return;
    if (!is_present_hf("Proxy-Authorization")) {{
        proxy_challenge("$fd", "0");
        exit;
    }}
    if ($sht(users=>$au) == $null) {{
        sl_send_reply("403", "Unknown User");
        exit;
    }}
    if (!pv_proxy_authenticate("$fd", "$sht(users=>$au)", "0")) {{
        if ($rc == -2 || $rc == -3) {{
            sl_send_reply("403", "Wrong Password");
            exit;
        }}
        proxy_challenge("$fd", "0");
        exit;
    }}
    if ($au != $fU) {{
        sl_send_reply("403", "Auth User Mismatch");
        exit;
    }}
    consume_credentials();
}}

route[ROUTING] {{
    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    if ($sht(routes=>$rU) != $null) {{
        $ru = "sip:" + $rU + "@" + $sht(routes=>$rU);
        route(RELAY);
        exit;
    }}
    if ($sht(users=>$rU) != $null) {{
        if (!lookup("location")) {{
            sl_send_reply("480", "Temporarily Unavailable");
            exit;
        }}
        route(RELAY);
        exit;
    }}
    sl_send_reply("404", "Not Found");
}}

route[RELAY] {{
    if (!t_relay()) sl_reply_error();
    exit;
}}
"""


def render_config(host: str, port: int, users: dict[str, str], routes: dict[str, str]) -> str:
    """The kamailio.cfg text; names and passwords must be plain tokens (no quoting games)."""
    lines: list[str] = []
    for table, entries in (("users", users), ("routes", routes)):
        for key, value in entries.items():
            if not _SAFE.match(key) or not (_SAFE.match(value) or _TARGET.match(value)):
                raise ValueError(f"unsafe {table} entry for the config: {key!r}")
            if table == "routes" and not _TARGET.match(value):
                raise ValueError(f"route target must be 127.0.0.1:PORT, got {value!r}")
            lines.append(f'    $sht({table}=>{key}) = "{value}";')
    return _CONFIG.format(host=host, port=port, fill="\n".join(lines) or "    return;",
                          scanners=EDGE_SCANNERS)


def sip_options(host: str, port: int, timeout: float = 0.2) -> int | None:
    """Send one OPTIONS over UDP; the status code of the answer, or None on silence."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(timeout)
        lport = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        msg = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{HOST}:{lport}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@{HOST}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(msg.encode(), (host, port))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return None
        match = re.match(rb"SIP/2\.0 (\d{3})", data)
        return int(match.group(1)) if match else None


class Kamailio(LabPeer):
    """A Kamailio child process on a free 127.0.0.1 UDP port; see the module docstring."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        routes: dict[str, str] | None = None,
        port: int | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.host = HOST
        self.port = port or free_udp_port()
        self.users = dict(users or {})
        self.routes = dict(routes or {})
        self._start_timeout = start_timeout
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def hostport(self) -> str:
        """ "127.0.0.1:PORT": the registrar setting for a phone, the domain in its URIs."""
        return f"{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        """The proxy's own SIP URI, e.g. for a registrar setting."""
        return f"sip:{self.host}:{self.port}"


    def start(self) -> None:
        """Write the config, start kamailio, and return once it answers OPTIONS."""
        self._dir = tempfile.TemporaryDirectory(prefix="lab-kamailio-")
        work = Path(self._dir.name)
        cfg = work / "kamailio.cfg"
        cfg.write_text(render_config(self.host, self.port, self.users, self.routes))
        self._log_path = work / "kamailio.log"
        cmd = [
            KAMAILIO, "-DD", "-E", "-f", str(cfg),
            "-l", f"udp:{self.host}:{self.port}",
            "-P", str(work / "kamailio.pid"), "-Y", str(work), "-w", str(work),
            "-m", "32", "-M", "4", "-n", "2",
        ]  # fmt: skip
        with open(self._log_path, "wb") as log:
            # Its own process group, so stop() can reach the forked workers too.
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log_text = self.log_text()
                self.stop()
                raise RuntimeError(f"kamailio exited at start:\n{log_text}")
            if sip_options(self.host, self.port, timeout=0.05) == 200:
                return
        log_text = self.log_text()
        self.stop()
        raise TimeoutError(f"kamailio did not answer OPTIONS:\n{log_text}")

    def log_text(self) -> str:
        """Everything kamailio logged so far (stderr logging, one line per event)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM the main process (it stops its workers); SIGKILL the group if stuck.

        Killing only the main process would orphan the workers, which ignore SIGTERM
        from anyone but it; the group (id = the PID we started) holds only them.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=3)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftover workers, if any
            proc.wait(timeout=5)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
