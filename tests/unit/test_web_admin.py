"""HTTP tests of user administration (admin pages) and the user's own profile page."""

from __future__ import annotations

import re

import pytest

from crm import sip_accounts, users
from crm.secret_key import SecretBox
from crm.users import User
from tests.support.web_client import (
    HOSTILE,
    HTML,
    Client,
    app_db,
    csrf_in,
    csrf_token,
    get_user,
    login,
    post_form,
)
from web import sessions
from web.webkeys import SECRET_BOX

SIP_SECRET = "sip-Secret-9f3c1e"


def _box(client: Client) -> SecretBox:
    return client.app[SECRET_BOX]


def _details(user: User, **changes: str) -> dict[str, str]:
    form = {"display_name": user.display_name, "role": user.role.value,
            "language": user.language}
    if user.dialer_enabled:
        form["dialer_enabled"] = "1"
    if user.dialer_user_toggle_allowed:
        form["dialer_user_toggle_allowed"] = "1"
    form.update(changes)
    return {k: v for k, v in form.items() if v != "-"}


async def _set_sip(client: Client, user: User, **fields: str) -> tuple[int, str, str]:
    form = {"sip_extension": "2001", "sip_auth_user": "", "sip_display_name": "",
            "sip_caller_ids": "", "sip_password": ""}
    form.update({f"sip_{k}": v for k, v in fields.items()})
    return await post_form(client, f"/admin/users/{user.id}/sip", form)


async def _admin_paths(client: Client) -> tuple[list[str], list[str]]:
    agent = await get_user(client, "agent")
    base = f"/admin/users/{agent.id}"
    gets = ["/admin/users", "/admin/users/new", base, f"{base}/sip/remove"]
    posts = ["/admin/users/new", base, f"{base}/status", f"{base}/password", f"{base}/sip",
             f"{base}/sip/remove"]
    return gets, posts


async def test_admin_creates_user_with_sip_account_who_can_then_log_in(client: Client) -> None:
    await login(client, "root")
    status, _, location = await post_form(client, "/admin/users/new", {
        "username": "Maria.Silva", "display_name": "Maria Silva", "role": "agent",
        "language": "pt-BR", "password": "initial password", "password_confirm":
        "initial password", "dialer_enabled": "1"})
    assert status == 303
    maria = await get_user(client, "maria.silva")
    assert location == f"/admin/users/{maria.id}?done=created"
    assert maria.display_name == "Maria Silva" and maria.language == "pt-BR"
    assert maria.dialer_enabled and not maria.dialer_user_toggle_allowed
    page = await (await client.get(location, headers=HTML)).text()
    assert "User created" in page

    status, _, location = await _set_sip(
        client, maria, extension="2001", auth_user="u2001", display_name="Maria",
        caller_ids="+55 11 99999-0000\n\n+48 22 123 45 67\n", password=SIP_SECRET)
    assert status == 303 and location.endswith("?done=sip")
    account = await sip_accounts.get_account(app_db(client), maria.id)
    assert account is not None and account.extension == "2001"
    assert account.caller_ids == ("+5511999990000", "+48221234567")
    creds = await sip_accounts.get_credentials(app_db(client), _box(client), maria.id)
    assert creds is not None and creds.password == SIP_SECRET and creds.auth_user == "u2001"

    listing = await (await client.get("/admin/users", headers=HTML)).text()
    assert "Maria Silva" in listing and "2001" in listing

    client.session.cookie_jar.clear()
    assert (await login(client, "Maria.Silva", "initial password")).status == 303
    home = await (await client.get("/", headers=HTML)).text()
    assert 'lang="pt-BR"' in home and 'id="softphone-slot"' in home


async def test_agent_gets_403_on_every_admin_route(client: Client) -> None:
    gets, posts = await _admin_paths(client)
    await login(client, "agent")
    token = await csrf_token(client)
    for path in gets:
        assert (await client.get(path, headers=HTML)).status == 403, path
        assert (await client.get(path)).status == 403, path
    for path in posts:
        resp = await client.post(path, headers=HTML, data={
            "csrf_token": token, "role": "admin", "active": "0", "sip_extension": "3000",
            "sip_password": "x", "new_password": "x" * 12, "new_password_confirm": "x" * 12,
            "username": "intruder", "password": "x" * 12, "password_confirm": "x" * 12})
        assert resp.status == 403, path
    agent = await get_user(client, "agent")
    assert agent.role is users.Role.AGENT and agent.active
    assert await users.get_by_username(app_db(client), "intruder") is None
    assert await sip_accounts.get_account(app_db(client), agent.id) is None


async def test_supervisor_sees_the_list_read_only(client: Client) -> None:
    gets, posts = await _admin_paths(client)
    await login(client, "sup")
    listing = await client.get("/admin/users", headers=HTML)
    text = await listing.text()
    assert listing.status == 200 and "Agent Smith" in text
    assert "/admin/users/new" not in text and re.search(r'href="/admin/users/\d', text) is None
    for path in gets[1:]:
        assert (await client.get(path, headers=HTML)).status == 403, path
    token = await csrf_token(client)
    for path in posts:
        assert (await client.post(path, data={"csrf_token": token})).status == 403, path


async def test_admin_posts_need_csrf(client: Client) -> None:
    _, posts = await _admin_paths(client)
    await login(client, "root")
    for path in posts:
        assert (await client.post(path, data={"active": "0"})).status == 403, path
    assert (await get_user(client, "agent")).active


async def test_sip_password_never_rendered(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    await _set_sip(client, agent, password=SIP_SECRET)
    # Errors on the SIP form re-render it: the typed password must not come back either.
    _, text, _ = await _set_sip(client, agent, extension="abc", password=SIP_SECRET + "2")
    assert "2 to 15 digits" in text and SIP_SECRET not in text
    root = await get_user(client, "root")
    pages = ["/", "/admin/users", "/admin/users/new", f"/admin/users/{agent.id}",
             f"/admin/users/{agent.id}/sip/remove", f"/admin/users/{root.id}", "/profile",
             "/profile/password", "/i18n/softphone.json"]
    for path in pages:
        for headers in (HTML, {}):
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, path
            assert SIP_SECRET not in await resp.text(), path
    await login(client, "agent")
    for path in ("/", "/profile", "/i18n/softphone.json"):
        assert SIP_SECRET not in await (await client.get(path, headers=HTML)).text()
    creds = await sip_accounts.get_credentials(app_db(client), _box(client), agent.id)
    assert creds is not None and creds.password == SIP_SECRET


async def test_sip_password_not_logged(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    await login(client, "root")
    agent = await get_user(client, "agent")
    await _set_sip(client, agent, password=SIP_SECRET)
    await _set_sip(client, agent, extension="12345678901234567890", password=SIP_SECRET)
    assert SIP_SECRET not in caplog.text


async def test_edit_without_password_keeps_it(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    await _set_sip(client, agent, password=SIP_SECRET)
    page = await (await client.get(f"/admin/users/{agent.id}", headers=HTML)).text()
    assert "Password stored" in page and "Leave empty to keep it" in page
    status, _, _ = await _set_sip(client, agent, extension="2002", display_name="Agent S")
    assert status == 303
    creds = await sip_accounts.get_credentials(app_db(client), _box(client), agent.id)
    assert creds is not None and creds.password == SIP_SECRET and creds.extension == "2002"
    await _set_sip(client, agent, extension="2002", password="rotated-secret")
    creds = await sip_accounts.get_credentials(app_db(client), _box(client), agent.id)
    assert creds is not None and creds.password == "rotated-secret"


async def test_new_sip_account_needs_password(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    status, text, _ = await _set_sip(client, agent)
    assert status == 400 and "Enter the SIP password" in text
    assert await sip_accounts.get_account(app_db(client), agent.id) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"extension": "12ab"}, "2 to 15 digits"),
    ({"extension": "1" * 16}, "2 to 15 digits"),
    ({"extension": ""}, "2 to 15 digits"),
    ({"auth_user": "has space"}, "authentication user"),
    ({"display_name": 'say "hi"'}, "no quotation marks"),
    ({"caller_ids": "+34 600 000 000\n=cmd|calc"}, "=cmd|calc is not a phone number"),
])
async def test_sip_validation_changes_nothing(client: Client, fields: dict[str, str],
                                              message: str) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    await _set_sip(client, agent, extension="2001", display_name="Before",
                   password=SIP_SECRET)
    before = await sip_accounts.get_account(app_db(client), agent.id)
    status, text, _ = await _set_sip(client, agent, **{"password": "new-secret", **fields})
    assert status == 400 and message in text
    assert 'aria-invalid="true"' in text and "-error" in text
    assert await sip_accounts.get_account(app_db(client), agent.id) == before
    creds = await sip_accounts.get_credentials(app_db(client), _box(client), agent.id)
    assert creds is not None and creds.password == SIP_SECRET


async def test_extension_taken(client: Client) -> None:
    await login(client, "root")
    agent, sup = await get_user(client, "agent"), await get_user(client, "sup")
    await _set_sip(client, agent, extension="2001", password=SIP_SECRET)
    status, text, _ = await _set_sip(client, sup, extension="2001", password="x-secret")
    assert status == 400 and "Extension 2001 already belongs to another user" in text
    assert await sip_accounts.get_account(app_db(client), sup.id) is None


async def test_create_user_validation(client: Client) -> None:
    await login(client, "root")
    count = len(await users.list_users(app_db(client)))
    base = {"username": "new.agent", "display_name": "", "role": "agent", "language": "",
            "password": "long enough pw", "password_confirm": "long enough pw"}
    cases = [
        ({"username": "AGENT"}, "The username AGENT is already taken", "username"),
        ({"username": "bad name"}, "Usernames are 1 to 64", "username"),
        ({"password": "short", "password_confirm": "short"}, "too short", "password"),
        ({"password_confirm": "something else"}, "are different", "password_confirm"),
        ({"role": "superuser"}, "Choose one of the roles", "role"),
        ({"language": "de"}, "Choose one of the languages", "language"),
        ({"display_name": "x" * 101}, "at most 100 characters", "display_name"),
    ]
    for changes, message, field in cases:
        status, text, _ = await post_form(client, "/admin/users/new", {**base, **changes})
        assert status == 400 and message in text, changes
        # The message is bound to its field, and linked from the summary.
        assert f'id="{field}-error"' in text and f'href="#{field}"' in text, changes
        assert re.search(rf'<(input|select) id="{field}"[^>]*'
                         rf'aria-describedby="[^"]*\b{field}-error"[^>]*aria-invalid="true"',
                         text), changes
        assert "long enough pw" not in text  # passwords are never echoed back
    assert len(await users.list_users(app_db(client))) == count


async def test_several_errors_at_once_in_users_language(client: Client) -> None:
    root = await get_user(client, "root")
    await users.update_user(app_db(client), root.id, language="es")
    await login(client, "root")
    status, text, _ = await post_form(client, "/admin/users/new", {
        "username": "bad name", "role": "agent", "language": "", "password": "short",
        "password_confirm": "short"})
    assert status == 400 and 'lang="es"' in text
    assert "sin espacios" in text and "demasiado corta" in text


async def test_hostile_strings_escaped(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    status, _, _ = await post_form(client, f"/admin/users/{agent.id}",
                               _details(agent, display_name=HOSTILE))
    assert status == 303
    status, text, _ = await _set_sip(client, agent, extension=HOSTILE, auth_user=HOSTILE,
                                     caller_ids=HOSTILE, password="x")
    assert status == 400
    for body in (text, *[await (await client.get(p, headers=HTML)).text()
                         for p in ("/admin/users", f"/admin/users/{agent.id}")]):
        assert HOSTILE not in body and "<script>alert" not in body
        assert "&lt;script&gt;" in body


async def test_edit_details(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    status, _, location = await post_form(client, f"/admin/users/{agent.id}", _details(
        agent, display_name="Agent J. Smith", role="supervisor", language="pl",
        dialer_enabled="1", dialer_user_toggle_allowed="1"))
    assert status == 303 and location.endswith("?done=saved")
    after = await get_user(client, "agent")
    assert (after.display_name, after.role, after.language) == (
        "Agent J. Smith", users.Role.SUPERVISOR, "pl")
    assert after.dialer_enabled and after.dialer_user_toggle_allowed
    # An unticked checkbox is not sent: it means off.
    await post_form(client, f"/admin/users/{agent.id}", _details(
        after, dialer_enabled="-", dialer_user_toggle_allowed="-"))
    after = await get_user(client, "agent")
    assert not after.dialer_enabled and not after.dialer_user_toggle_allowed
    status, text, _ = await post_form(client, f"/admin/users/{agent.id}",
                                  _details(after, display_name="  ", role="nope"))
    assert status == 400 and "Enter a name" in text and "Choose one of the roles" in text
    assert await get_user(client, "agent") == after
    assert (await client.get("/admin/users/999", headers=HTML)).status == 404
    assert (await client.get("/admin/users/99999999999999999999", headers=HTML)).status == 404


async def test_deactivation_revokes_sessions_and_blocks_login(client: Client) -> None:
    await login(client, "agent")
    agent_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[
        sessions.COOKIE_NAME].value
    client.session.cookie_jar.clear()
    await login(client, "root")
    agent = await get_user(client, "agent")
    status, _, location = await post_form(client, f"/admin/users/{agent.id}/status",
                                      {"active": "0"})
    assert status == 303 and location.endswith("?done=deactivated")
    assert not (await get_user(client, "agent")).active
    rows = await app_db(client).fetchall(
        "SELECT 1 FROM web_sessions WHERE user_id = ? AND revoked_at IS NULL", (agent.id,))
    assert rows == []
    listing = await (await client.get("/admin/users", headers=HTML)).text()
    assert "Deactivated" in listing

    client.session.cookie_jar.clear()
    stale = await client.get("/", headers={**HTML, "Cookie":
                                           f"{sessions.COOKIE_NAME}={agent_cookie}"},
                             allow_redirects=False)
    assert stale.status == 303 and stale.headers["Location"].startswith("/login")
    resp = await login(client, "agent")
    assert resp.status == 200 and "Wrong username or password" in await resp.text()

    await login(client, "root")
    status, _, location = await post_form(client, f"/admin/users/{agent.id}/status",
                                      {"active": "1"})
    assert status == 303 and location.endswith("?done=reactivated")
    client.session.cookie_jar.clear()
    assert (await login(client, "agent")).status == 303


async def test_last_admin_protection(client: Client) -> None:
    await login(client, "root")
    root = await get_user(client, "root")
    status, text, _ = await post_form(client, f"/admin/users/{root.id}",
                                  _details(root, role="agent"))
    assert status == 400 and "last active administrator" in text
    status, text, _ = await post_form(client, f"/admin/users/{root.id}/status", {"active": "0"})
    assert status == 400 and "cannot deactivate your own account" in text
    assert await get_user(client, "root") == root

    # With a second admin, demoting oneself works, and the admin pages close behind.
    sup = await get_user(client, "sup")
    await post_form(client, f"/admin/users/{sup.id}", _details(sup, role="admin"))
    status, _, location = await post_form(client, f"/admin/users/{root.id}",
                                      _details(root, role="agent"))
    assert status == 303 and location == "/"
    assert (await client.get("/admin/users", headers=HTML)).status == 403
    # ... and the remaining admin cannot demote themselves either.
    await login(client, "sup")
    sup = await get_user(client, "sup")
    status, text, _ = await post_form(client, f"/admin/users/{sup.id}",
                                  _details(sup, role="supervisor"))
    assert status == 400 and "last active administrator" in text
    assert (await get_user(client, "sup")).role is users.Role.ADMIN


async def test_reset_password(client: Client) -> None:
    await login(client, "agent")
    old_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[
        sessions.COOKIE_NAME].value
    client.session.cookie_jar.clear()
    await login(client, "root")
    agent, root = await get_user(client, "agent"), await get_user(client, "root")
    path = f"/admin/users/{agent.id}/password"
    status, text, _ = await post_form(client, path, {"new_password": "short",
                                                 "new_password_confirm": "short"})
    assert status == 400 and "too short" in text
    status, text, _ = await post_form(client, path, {"new_password": "a new password",
                                                 "new_password_confirm": "a new passw0rd"})
    assert status == 400 and "are different" in text
    status, _, location = await post_form(client, path, {"new_password": "a new password",
                                                     "new_password_confirm": "a new password"})
    assert status == 303 and location.endswith("?done=password")
    status, text, _ = await post_form(client, f"/admin/users/{root.id}/password", {
        "new_password": "a new password", "new_password_confirm": "a new password"})
    assert status == 400 and "use Change password" in text
    client.session.cookie_jar.clear()
    stale = await client.get("/", headers={"Cookie": f"{sessions.COOKIE_NAME}={old_cookie}"})
    assert stale.status == 401
    assert (await login(client, "agent")).status == 200  # the old password is gone
    assert (await login(client, "agent", "a new password")).status == 303


async def test_remove_sip_account_with_confirmation(client: Client) -> None:
    await login(client, "root")
    agent = await get_user(client, "agent")
    await _set_sip(client, agent, extension="2001", password=SIP_SECRET)
    page = await client.get(f"/admin/users/{agent.id}/sip/remove", headers=HTML)
    text = await page.text()
    assert page.status == 200 and "Remove extension 2001 from Agent Smith?" in text
    assert await sip_accounts.get_account(app_db(client), agent.id) is not None
    status, _, location = await post_form(client, f"/admin/users/{agent.id}/sip/remove", {})
    assert status == 303 and location.endswith("?done=sip_removed")
    assert await sip_accounts.get_credentials(app_db(client), _box(client), agent.id) is None
    gone = await client.get(f"/admin/users/{agent.id}/sip/remove", headers=HTML,
                            allow_redirects=False)
    assert gone.status == 303


async def test_dialer_toggle_allowed(client: Client) -> None:
    agent = await get_user(client, "agent")
    await users.update_user(app_db(client), agent.id, dialer_user_toggle_allowed=True)
    await login(client, "agent")
    page = await (await client.get("/profile", headers=HTML)).text()
    assert "Switch softphone on" in page and 'id="softphone-slot"' not in page
    status, _, location = await post_form(client, "/profile/dialer", {"enabled": "1"})
    assert status == 303 and location == "/profile?done=dialer_on"
    page = await (await client.get(location, headers=HTML)).text()
    assert "Switch softphone off" in page and 'id="softphone-slot"' in page
    assert (await get_user(client, "agent")).dialer_enabled
    await post_form(client, "/profile/dialer", {"enabled": "0"})
    assert not (await get_user(client, "agent")).dialer_enabled


async def test_dialer_toggle_forbidden(client: Client) -> None:
    agent = await get_user(client, "agent")
    await users.update_user(app_db(client), agent.id, dialer_enabled=True)
    await login(client, "agent")
    page = await (await client.get("/profile", headers=HTML)).text()
    assert "administrator manages this setting" in page and "/profile/dialer" not in page
    status, _, _ = await post_form(client, "/profile/dialer", {"enabled": "0"})
    assert status == 403
    assert (await get_user(client, "agent")).dialer_enabled


async def test_language_choice_sets_html_lang(client: Client) -> None:
    await login(client, "agent")
    headers = {**HTML, "Accept-Language": "es-ES,es;q=0.9"}
    page = await (await client.get("/profile", headers=headers)).text()
    assert 'lang="es"' in page
    token = csrf_in(page)
    resp = await client.post("/profile/language", headers=headers,
                             data={"csrf_token": token, "language": "pl"})
    text = await resp.text()  # followed the redirect to /profile
    assert resp.status == 200 and '<html lang="pl">' in text and "Język zapisany" in text
    assert '<option value="pl" selected>' in text
    resp = await client.post("/profile/language", headers=headers,
                             data={"csrf_token": token, "language": ""})
    assert '<html lang="es">' in await resp.text()  # back to the browser's
    resp = await client.post("/profile/language", headers=headers,
                             data={"csrf_token": token, "language": "klingon"})
    assert resp.status == 400 and "Elige uno de los idiomas" in await resp.text()
    assert (await get_user(client, "agent")).language == ""
    assert (await client.post("/profile/language", data={"language": "pl"})).status == 403


async def test_profile_needs_login(client: Client) -> None:
    resp = await client.get("/profile", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
