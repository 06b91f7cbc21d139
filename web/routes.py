"""URL map of the web pages, and the static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.views import admin_dispositions as admin_dispositions_views
from web.views import admin_queues as admin_queue_views
from web.views import (
    admin_settings,
    admin_sip,
    admin_sms,
    admin_users,
    agent_state,
    callerid_api,
    contacts,
    login,
    missed,
    pages,
    pause_codes,
    profile,
    supervision,
)
from web.views import agent_state_report as agent_state_report_views
from web.views import calendar as calendar_views
from web.views import call_window as call_window_views
from web.views import callbacks as callback_views
from web.views import contact_export as contact_export_views
from web.views import contact_import as contact_import_views
from web.views import history as history_views
from web.views import tickets as ticket_views

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", pages.home, name="home")
    app.router.add_get("/login", login.login_form, name="login")
    app.router.add_post("/login", login.login_submit)
    app.router.add_post("/logout", login.logout, name="logout")
    app.router.add_get("/profile", profile.profile_page, name="profile")
    app.router.add_post("/profile/language", profile.language_submit)
    app.router.add_post("/profile/dialer", profile.dialer_submit)
    app.router.add_post("/profile/missed-email", profile.missed_email_submit)
    app.router.add_get("/profile/password", profile.password_form, name="password")
    app.router.add_post("/profile/password", profile.password_submit)
    app.router.add_get("/api/calls/unfinished", call_window_views.unfinished,
                       name="calls_unfinished")
    app.router.add_get(r"/api/calls/{call_id:[0-9a-zA-Z-]+}", call_window_views.workspace,
                       name="call_workspace")
    app.router.add_put(r"/api/calls/{call_id:[0-9a-zA-Z-]+}/notes", call_window_views.put_notes)
    app.router.add_put(r"/api/calls/{call_id:[0-9a-zA-Z-]+}/tags", call_window_views.put_tags)
    app.router.add_put(r"/api/calls/{call_id:[0-9a-zA-Z-]+}/contact",
                       call_window_views.put_contact)
    app.router.add_post(r"/api/calls/{call_id:[0-9a-zA-Z-]+}/finish", call_window_views.finish)
    app.router.add_get("/i18n/calls.json", call_window_views.window_messages,
                       name="call_window_messages")
    app.router.add_get("/admin/dispositions", admin_dispositions_views.page,
                       name="admin_dispositions")
    app.router.add_post("/admin/dispositions/policy", admin_dispositions_views.policy_submit)
    app.router.add_post("/admin/dispositions/new", admin_dispositions_views.disposition_submit)
    app.router.add_post(r"/admin/dispositions/{disposition_id:\d+}/active",
                        admin_dispositions_views.disposition_active_submit)
    app.router.add_post("/admin/dispositions/categories",
                        admin_dispositions_views.category_submit)
    app.router.add_post(r"/admin/dispositions/categories/{category_id:\d+}/active",
                        admin_dispositions_views.category_active_submit)
    app.router.add_post("/admin/dispositions/forms", admin_dispositions_views.form_submit)
    app.router.add_post(r"/admin/dispositions/forms/{form_id:\d+}/fields",
                        admin_dispositions_views.field_submit)
    app.router.add_post(r"/admin/dispositions/forms/{form_id:\d+}/fields/{field_id:\d+}/remove",
                        admin_dispositions_views.field_remove_submit)
    app.router.add_post(r"/admin/dispositions/auto-open/{user_id:\d+}",
                        admin_dispositions_views.auto_open_submit)
    app.router.add_get("/admin/users", admin_users.user_list, name="admin_users")
    app.router.add_get("/admin/users/new", admin_users.new_form, name="admin_user_new")
    app.router.add_post("/admin/users/new", admin_users.new_submit)
    app.router.add_get(r"/admin/users/{user_id:\d+}", admin_users.edit_form,
                       name="admin_user_edit")
    app.router.add_post(r"/admin/users/{user_id:\d+}", admin_users.edit_submit)
    app.router.add_post(r"/admin/users/{user_id:\d+}/status", admin_users.status_submit)
    app.router.add_post(r"/admin/users/{user_id:\d+}/password", admin_users.password_submit)
    app.router.add_post(r"/admin/users/{user_id:\d+}/sip", admin_sip.sip_submit)
    app.router.add_get(r"/admin/users/{user_id:\d+}/sip/remove", admin_sip.remove_form,
                       name="admin_sip_remove")
    app.router.add_post(r"/admin/users/{user_id:\d+}/sip/remove", admin_sip.remove_submit)
    app.router.add_get("/admin/settings", admin_settings.settings_page, name="admin_settings")
    app.router.add_post("/admin/settings", admin_settings.settings_submit)
    app.router.add_post("/admin/settings/test-mail", admin_settings.test_mail_submit)
    app.router.add_get("/admin/sms", admin_sms.sms_page, name="admin_sms")
    app.router.add_post("/admin/sms", admin_sms.sms_submit)
    app.router.add_get("/missed", missed.missed_list, name="missed")
    app.router.add_post("/missed/action", missed.action_submit)
    app.router.add_get("/missed/stats", missed.stats_page, name="missed_stats")
    app.router.add_get("/api/missed/count", missed.count_api, name="missed_count")
    app.router.add_get("/contacts", contacts.contact_list, name="contacts")
    app.router.add_get("/contacts/new", contacts.new_form, name="contact_new")
    app.router.add_post("/contacts/new", contacts.new_submit)
    app.router.add_get("/contacts/companies", contacts.company_suggestions,
                       name="company_suggestions")
    app.router.add_get("/contacts/export", contact_export_views.export_contacts,
                       name="contact_export")
    contact_import_views.setup_imports(app)
    app.router.add_get("/contacts/import", contact_import_views.upload_form,
                       name="contact_import")
    app.router.add_post("/contacts/import", contact_import_views.upload_submit)
    app.router.add_get("/contacts/import/{job_id}", contact_import_views.job_page)
    app.router.add_post("/contacts/import/{job_id}", contact_import_views.job_submit)
    app.router.add_get("/contacts/import/{job_id}/progress", contact_import_views.job_progress)
    app.router.add_get("/contacts/import/{job_id}/errors.csv", contact_import_views.job_errors)
    app.router.add_get(r"/contacts/{contact_id:\d+}", contacts.contact_page, name="contact")
    app.router.add_post(r"/contacts/{contact_id:\d+}", contacts.edit_submit)
    app.router.add_post(r"/contacts/{contact_id:\d+}/phones", contacts.add_phone_submit)
    app.router.add_get(r"/contacts/{contact_id:\d+}/delete", contacts.delete_form,
                       name="contact_delete")
    app.router.add_post(r"/contacts/{contact_id:\d+}/delete", contacts.delete_submit)
    app.router.add_get("/agents", supervision.agents_board, name="agents_board")
    app.router.add_get("/reports/agent-states", agent_state_report_views.report_page,
                       name="report_agent_states")
    app.router.add_get("/reports/agent-states.csv", agent_state_report_views.report_csv,
                       name="report_agent_states_csv")
    app.router.add_get("/admin", supervision.admin_hub, name="admin_hub")
    app.router.add_get("/api/agent/state", agent_state.get_state, name="agent_state")
    app.router.add_post("/api/agent/state", agent_state.change_state)
    app.router.add_get("/admin/queues", admin_queue_views.list_page, name="admin_queues")
    app.router.add_post("/admin/queues/new", admin_queue_views.queue_new_submit)
    app.router.add_get(r"/admin/queues/{queue_id:\d+}", admin_queue_views.queue_page)
    app.router.add_post(r"/admin/queues/{queue_id:\d+}", admin_queue_views.queue_submit)
    app.router.add_post(r"/admin/queues/{queue_id:\d+}/archive",
                        admin_queue_views.queue_archive_submit)
    app.router.add_post("/admin/campaigns/new", admin_queue_views.campaign_new_submit)
    app.router.add_get(r"/admin/campaigns/{campaign_id:\d+}", admin_queue_views.campaign_page)
    app.router.add_post(r"/admin/campaigns/{campaign_id:\d+}", admin_queue_views.campaign_submit)
    app.router.add_post(r"/admin/campaigns/{campaign_id:\d+}/archive",
                        admin_queue_views.campaign_archive_submit)
    app.router.add_get("/admin/pause-codes", pause_codes.code_list, name="admin_pause_codes")
    app.router.add_post("/admin/pause-codes", pause_codes.new_submit)
    app.router.add_post(r"/admin/pause-codes/{pause_id:\d+}", pause_codes.edit_submit)
    app.router.add_get("/api/callerid", callerid_api.callerid_lookup, name="callerid")
    app.router.add_get("/history", history_views.history_page, name="history")
    app.router.add_get("/history/recent", history_views.recent_page, name="history_recent")
    app.router.add_get("/history/export.csv", history_views.export_csv, name="history_export")
    app.router.add_get(r"/history/contact/{contact_id:\d{1,18}}", history_views.contact_calls,
                       name="history_contact")
    app.router.add_get("/tickets", ticket_views.ticket_list, name="tickets")
    app.router.add_get("/tickets/new", ticket_views.new_form, name="ticket_new")
    app.router.add_post("/tickets/new", ticket_views.new_submit)
    app.router.add_get(r"/tickets/{ticket_id:\d{1,18}}", ticket_views.ticket_page,
                       name="ticket")
    app.router.add_post(r"/tickets/{ticket_id:\d{1,18}}", ticket_views.edit_submit)
    app.router.add_post(r"/tickets/{ticket_id:\d{1,18}}/actions", ticket_views.action_submit)
    app.router.add_post(r"/tickets/{ticket_id:\d{1,18}}/actions/{action_id:\d{1,18}}",
                        ticket_views.action_state_submit)
    app.router.add_get("/callbacks", callback_views.panel, name="callbacks")
    app.router.add_get("/callbacks/new", callback_views.new_form, name="callback_new")
    app.router.add_post("/callbacks/new", callback_views.new_submit)
    app.router.add_post(r"/callbacks/{callback_id:\d{1,18}}/action",
                        callback_views.action_submit)
    app.router.add_get("/calendar", calendar_views.calendar_page, name="calendar")
    app.router.add_get("/calendar.ics", calendar_views.calendar_ics, name="calendar_ics")
    app.router.add_get("/i18n/softphone.json", pages.softphone_messages,
                       name="softphone_messages")
    app.router.add_static("/static", STATIC_DIR, name="static")
