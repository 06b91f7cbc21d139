"""The ``headset`` command.

    headset serve [--config FILE]              run the server (first run: admin printed)
    headset user add NAME [--role R] [...]     create a user; password from stdin
    headset sip set NAME --extension E [...]   set a user's SIP account; password from stdin
    headset contacts import FILE [--map C=T] [--on-duplicate skip|update|create]
                                             import contacts from a CSV file

Passwords are read from standard input (one line), never from arguments, which other
users of the machine can see in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path

from aiohttp import web as aioweb

from certs.selfsigned import ensure_certificate, local_ipv4_addresses, ssl_context
from crm import sip_accounts, users
from crm.db import open_database
from crm.errors import CrmError
from crm.secret_key import load_or_create_key
from gateway import contacts_cli
from gateway.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="TOML settings file (default: $HEADSET_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("serve", help="run the server")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True)
    add = user.add_parser("add", help="create a user (password read from stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in users.Role], default="agent")
    add.add_argument("--display-name", default="")
    add.add_argument("--language", default="", choices=["", "en", "es", "pt-BR", "pl"])
    add.add_argument("--dialer", action="store_true", help="show the dialer to this user")

    sip = commands.add_parser("sip", help="manage SIP accounts").add_subparsers(
        dest="action", required=True)
    sip_set = sip.add_parser("set", help="set a user's SIP account (password from stdin)")
    sip_set.add_argument("username")
    sip_set.add_argument("--extension", required=True)
    sip_set.add_argument("--auth-user", default="")
    sip_set.add_argument("--display-name", default="")

    contacts_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"headset: setting error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return serve(settings)
        if args.command == "user":
            return asyncio.run(_add_user(settings, args))
        if args.command == "contacts":
            return contacts_cli.main(settings, args)
        return asyncio.run(_set_sip(settings, args))
    except CrmError as exc:
        print(f"headset: {exc}", file=sys.stderr)
        return 1


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


async def _add_user(settings: Settings, args: argparse.Namespace) -> int:
    db = await open_database(settings.database_path)
    try:
        user = await users.create_user(
            db, args.username, _read_password(), role=args.role,
            display_name=args.display_name, language=args.language,
            dialer_enabled=args.dialer,
        )
    finally:
        await db.close()
    print(f"created {user.role} {user.username} (id {user.id})")
    return 0


async def _set_sip(settings: Settings, args: argparse.Namespace) -> int:
    db = await open_database(settings.database_path)
    try:
        user = await users.get_by_username(db, args.username)
        if user is None:
            print(f"headset: no user {args.username!r}", file=sys.stderr)
            return 1
        box = load_or_create_key(settings.data_dir)
        account = await sip_accounts.set_account(
            db, box, user.id, extension=args.extension, auth_user=args.auth_user,
            display_name=args.display_name, password=_read_password(),
        )
    finally:
        await db.close()
    print(f"SIP account {account.extension} set for {user.username}")
    return 0


async def _first_admin(settings: Settings) -> str | None:
    db = await open_database(settings.database_path)
    try:
        return await users.ensure_first_admin(db)
    finally:
        await db.close()


def _use_tls(settings: Settings) -> bool:
    if settings.http.tls != "auto":
        return settings.http.tls == "on"
    try:
        return not ipaddress.ip_address(settings.http.host).is_loopback
    except ValueError:
        return settings.http.host != "localhost"


def serve(settings: Settings) -> int:
    from gateway.app import create_app

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    password = asyncio.run(_first_admin(settings))
    scheme = "https" if _use_tls(settings) else "http"
    ssl = None
    if scheme == "https":
        cert, key = (settings.http.cert_file, settings.http.key_file)
        if not cert:
            cert_path, key_path = ensure_certificate(settings.data_dir)
            cert, key = str(cert_path), str(key_path)
        ssl = ssl_context(cert, key)
    host = settings.http.host
    port = settings.http.port
    # Agents on the LAN need an address they can type, not "0.0.0.0".
    shown = ["localhost", *local_ipv4_addresses()] if host in ("0.0.0.0", "::") else [host]
    print("Headset is starting on " + ", ".join(f"{scheme}://{h}:{port}/" for h in shown),
          flush=True)
    if password:
        print("First run: an administrator was created.", flush=True)
        print(f"  user: {users.FIRST_ADMIN_USERNAME}", flush=True)
        print(f"  password: {password}   (shown once: change it after logging in)",
              flush=True)
    aioweb.run_app(create_app(settings), host=host, port=settings.http.port,
                   ssl_context=ssl, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
