"""E-mail about each new missed call, to the users who asked for it (profile option).

``MissedCallMailer`` is a small subscriber beside the gateway: every ``POLL_SECONDS`` it
looks for inbound legs that ended unanswered (one indexed query), folds their callers'
rows (crm/missed_calls.py) and, for each row whose newest missed attempt has not been
announced, sends one message per subscriber. Announced attempts are recorded in the
database first (``claim_notice``), so a restart or an overlapping poll never sends twice;
a failed send is logged and not retried (the list in the browser still shows the call).

It waits ``ATTEMPT_GAP`` after a leg ends before looking, because a hunt group may be
about to ring the next agent for the same call. Sending uses ``smtplib`` on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from babel.dates import format_datetime

from crm import clock, missed_call_pages, missed_call_store, phone_numbers
from crm.db import Database
from crm.deployment import Deployment, LiveDeployment
from crm.missed_calls import ATTEMPT_GAP, MissedRow
from crm.secret_key import SecretBox, SecretKeyError

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
SMTP_TIMEOUT = 15.0
Translate = Callable[..., str]


def _plain(text: str) -> str:
    """Text safe for a header: no control characters (a hostile caller name)."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in text).strip()[:120]


def babel_locale(lang: str) -> str:
    return lang.replace("-", "_")


def compose(row: MissedRow, to: str, lang: str, deployment: Deployment,
            translate: Translate) -> EmailMessage:
    """The message announcing ``row``'s newest missed call, in ``lang``."""
    shown = phone_numbers.display(row.key, deployment.region) if row.key else ""
    number = _plain(shown) or translate(lang, "missed.unknown_number")
    when = format_datetime(row.last_at, "medium", tzinfo=row.last_at.tzinfo,
                           locale=babel_locale(lang)) + " UTC"
    message = EmailMessage()
    message["Subject"] = translate(lang, "missed.mail.subject", number=number)
    message["From"] = deployment.smtp_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=deployment.smtp_from.rpartition("@")[2])
    lines = [translate(lang, "missed.mail.intro", number=number, when=when)]
    if row.name:
        lines.append(translate(lang, "missed.mail.name", name=_plain(row.name)))
    lines.append(translate(lang, "missed.mail.count", count=row.count))
    lines.append("")
    lines.append(translate(lang, "missed.mail.footer",
                           company=deployment.company_name or "Headset"))
    message.set_content("\n".join(lines))
    return message


def send(deployment: Deployment, password: str, message: EmailMessage) -> None:
    """Deliver ``message`` through the deployment's SMTP server (blocking)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if deployment.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(deployment.smtp_host, deployment.smtp_port,
                                timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(deployment.smtp_host, deployment.smtp_port, timeout=SMTP_TIMEOUT)
    with smtp:
        if deployment.smtp_security == "starttls":
            smtp.starttls(context=context)
        if deployment.smtp_user:
            smtp.login(deployment.smtp_user, password)
        smtp.send_message(message)


def smtp_password(deployment: Deployment, box: SecretBox) -> str:
    """The SMTP password in clear, for the login only ('' when none is saved).

    Raises ``SecretKeyError`` when it was saved under another secret key.
    """
    if not deployment.smtp_password_encrypted:
        return ""
    return box.decrypt(deployment.smtp_password_encrypted)


def compose_test(to: str, lang: str, deployment: Deployment,
                 translate: Translate) -> EmailMessage:
    """The message the settings page sends to check the SMTP settings."""
    message = EmailMessage()
    company = deployment.company_name or "Headset"
    message["Subject"] = translate(lang, "settings.test.subject", company=company)
    message["From"] = deployment.smtp_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=deployment.smtp_from.rpartition("@")[2])
    message.set_content(translate(lang, "settings.test.body", company=company))
    return message


class MissedCallMailer:
    """Polls for new missed calls and e-mails the subscribers."""

    def __init__(self, db: Database, live: LiveDeployment, box: SecretBox,
                 translate: Translate, since: datetime | None = None) -> None:
        self._db = db
        self._live = live
        self._box = box
        self._translate = translate
        self._watermark = since or clock.utc_now()
        self.sent = 0

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """Check, wait, repeat, until cancelled."""
        while True:
            try:
                await self.check(clock.utc_now())
            except Exception:
                log.exception("missed-call e-mail check failed")
            await asyncio.sleep(interval)

    async def check(self, now: datetime) -> int:
        """Send what is due for calls ended up to ``now - ATTEMPT_GAP``; return how many."""
        until = now - ATTEMPT_GAP
        if until <= self._watermark:
            return 0
        deployment = self._live.current
        legs = await missed_call_store.recently_missed(
            self._db, self._watermark, now - timedelta(days=1))
        legs = [leg for leg in legs if leg.ended_at is not None and leg.ended_at <= until]
        self._watermark = max([self._watermark, *(leg.ended_at for leg in legs
                                                  if leg.ended_at is not None)])
        if not legs or not deployment.smtp_configured:
            return 0
        numbering = missed_call_store.Numbering(deployment.region, deployment.area_code)
        keys = {numbering.key(leg.remote_number) for leg in legs}
        due: list[MissedRow] = []
        for key in sorted(keys):
            row = await missed_call_pages.open_row_of(
                self._db, numbering, key, now=now,
                retention_days=deployment.missed_retention_days)
            if row is not None:
                due.append(row)
        subscribers = await missed_call_store.subscribers(self._db) if due else []
        sent = 0
        for row in due:
            if not subscribers or not await missed_call_store.claim_notice(
                    self._db, row.last_call_id, now):
                continue
            sent += await self._announce(row, deployment, subscribers)
        self.sent += sent
        return sent

    async def _announce(self, row: MissedRow, deployment: Deployment,
                        subscribers: list[tuple[missed_call_store.Subscription, str]]) -> int:
        try:
            password = smtp_password(deployment, self._box)
        except SecretKeyError:
            log.error("missed-call e-mail: the SMTP password cannot be decrypted;"
                      " enter it again on the settings page")
            return 0
        sent = 0
        for subscription, language in subscribers:
            lang = language or deployment.language
            message = compose(row, subscription.email, lang, deployment, self._translate)
            try:
                await asyncio.to_thread(send, deployment, password, message)
                sent += 1
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("missed-call e-mail to user %d failed: %s",
                            subscription.user_id, type(exc).__name__)
        return sent
