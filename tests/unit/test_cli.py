import asyncio
import io
from pathlib import Path

import pytest

from crm import sip_accounts, users
from crm.db import open_database
from crm.secret_key import load_or_create_key
from gateway.cli import main


def test_user_add_and_sip_set_read_passwords_from_stdin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEADSET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "maria", "--role", "agent", "--language", "es",
                 "--dialer"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("sip-secret-1001\n"))
    assert main(["sip", "set", "maria", "--extension", "1001"]) == 0
    out = capsys.readouterr().out
    assert "maria" in out and "sip-secret-1001" not in out

    async def check() -> None:
        db = await open_database(tmp_path / "headset.sqlite3")
        try:
            user = await users.get_by_username(db, "maria")
            assert user is not None and user.dialer_enabled and user.language == "es"
            creds = await sip_accounts.get_credentials(db, load_or_create_key(tmp_path),
                                                       user.id)
            assert creds is not None and creds.password == "sip-secret-1001"
        finally:
            await db.close()

    asyncio.run(check())


def test_unknown_user_and_bad_settings_fail_clearly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEADSET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("whatever-password\n"))
    assert main(["sip", "set", "nobody", "--extension", "1001"]) == 1
    assert "nobody" in capsys.readouterr().err
    monkeypatch.setenv("HEADSET_HTTP_PORT", "http")
    assert main(["serve"]) == 2
    assert "http.port" in capsys.readouterr().err
