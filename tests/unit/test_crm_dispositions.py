"""crm.dispositions and crm.call_notes: what a call's disposition, notes and tags may be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import call_notes, dispositions
from crm.dispositions import (
    Disposition,
    FieldDef,
    FieldType,
    InvalidSubmission,
    Kind,
    Scenario,
    WrapUp,
)
from crm.errors import InvalidValue

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIELDS = (
    FieldDef("amount", "Amount", FieldType.NUMBER, required=True),
    FieldDef("product", "Product", FieldType.CHOICE, required=True, choices=("Gold", "Silver")),
    FieldDef("due", "Due date", FieldType.DATE),
    FieldDef("remark", "Remark", FieldType.TEXT),
)
SALE = Disposition(1, "Sale", 10, "Sold", Kind.SUCCESS, form_id=5)
NO_INTEREST = Disposition(2, "Not interested", 11, "Lost", Kind.FAILURE,
                          scenarios=frozenset({Scenario.MANUAL}))


def submit(**changes: object) -> dispositions.Submission:
    args: dict[str, object] = {"disposition_id": None, "wrap_up": None, "callback_at": None,
                               "values": {}, "required": False}
    args.update(changes)
    return dispositions.check_submission(offered=[SALE, NO_INTEREST], forms={5: FIELDS},
                                         now=NOW, **args)  # type: ignore[arg-type]


def test_complete_form_is_accepted_and_normalised() -> None:
    got = submit(disposition_id=1, values={"amount": "1,50", "product": "gold",
                                           "due": "2026-04-01", "remark": "  ok  "})
    assert got.disposition_id == 1
    assert got.values == {"amount": "1.5", "product": "Gold", "due": "2026-04-01",
                          "remark": "ok"}


def test_every_missing_or_wrong_field_is_named_at_once() -> None:
    with pytest.raises(InvalidSubmission) as caught:
        submit(disposition_id="1", values={"amount": "12abc", "due": "01/04/2026",
                                           "remark": "x" * 1001})
    assert caught.value.errors == {
        "amount": ("calls.error.not_a_number", {"label": "Amount"}),
        "product": ("calls.error.required", {"label": "Product"}),
        "due": ("calls.error.not_a_date", {"label": "Due date"}),
        "remark": ("calls.error.text_too_long", {"label": "Remark", "max": 1000}),
    }


@pytest.mark.parametrize("value", [True, None, [], {}, float("nan"), float("inf"), "1e999",
                                   "9" * 16, "NaN"])
def test_odd_numbers_are_refused(value: object) -> None:
    spec = FieldDef("n", "N", FieldType.NUMBER)
    with pytest.raises(InvalidValue):
        dispositions.clean_value(spec, value)


def test_choice_must_be_one_of_the_options() -> None:
    with pytest.raises(InvalidSubmission) as caught:
        submit(disposition_id=1, values={"amount": 3, "product": "Bronze"})
    assert caught.value.errors["product"][0] == "calls.error.not_a_choice"


def test_disposition_required_by_the_campaign() -> None:
    assert submit() == dispositions.Submission()
    with pytest.raises(InvalidSubmission) as caught:
        submit(required=True)
    assert caught.value.errors == {"_disposition": ("calls.error.disposition_required", {})}


def test_unknown_or_not_offered_disposition() -> None:
    for wrong in (99, "x", True, "<script>"):
        with pytest.raises(InvalidSubmission) as caught:
            submit(disposition_id=wrong)
        assert caught.value.errors["_disposition"][0] == "calls.error.unknown_disposition"


def test_wrap_up_shortcuts() -> None:
    assert submit(wrap_up="voicemail", required=True).wrap_up is WrapUp.VOICEMAIL
    assert submit(wrap_up="wrong_number").wrap_up is WrapUp.WRONG_NUMBER
    callback = submit(wrap_up="callback", callback_at="2026-03-02T15:30")
    assert callback.callback_at == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    # The browser's local time, 3 h west of UTC (Buenos Aires), is stored in UTC.
    assert dispositions.parse_callback_at("2026-03-02T15:30", NOW, -180) == datetime(
        2026, 3, 2, 18, 30, tzinfo=UTC)
    for bad, key in (("2026-03-01T09:00", "calls.error.callback_in_past"),
                     ("2030-01-01T09:00", "calls.error.callback_too_far"),
                     ("tomorrow", "calls.error.callback_at"), (None, "calls.error.callback_at")):
        with pytest.raises(InvalidSubmission) as caught:
            submit(wrap_up="callback", callback_at=bad)
        assert caught.value.errors == {"_callback_at": (key, {})}
    with pytest.raises(InvalidSubmission):
        submit(wrap_up="voicemail", disposition_id=1)
    with pytest.raises(InvalidSubmission):
        submit(wrap_up="hang_up_on_them")


def test_offered_by_scenario_and_campaign() -> None:
    campaign_only = Disposition(3, "Promo", 10, "Sold", Kind.SUCCESS, campaign_id=7)
    retired = Disposition(4, "Old", 10, "Sold", Kind.SUCCESS, active=False)
    every = [SALE, NO_INTEREST, campaign_only, retired]
    assert dispositions.offered(every, Scenario.INBOUND, None) == [SALE]
    assert dispositions.offered(every, Scenario.MANUAL, 7) == [SALE, NO_INTEREST, campaign_only]
    assert dispositions.scenario_of("inbound") is Scenario.INBOUND
    assert dispositions.scenario_of("outbound") is Scenario.MANUAL


def test_field_definitions() -> None:
    spec = dispositions.clean_field(" Número do pedido ", "number", True, [], ["numero_do_pedido"])
    assert spec == FieldDef("numero_do_pedido_2", "Número do pedido", FieldType.NUMBER, True)
    choice = dispositions.clean_field("Plan", "choice", False, ["Gold", "gold", "", "Silver"])
    assert choice.choices == ("Gold", "Silver")
    for label, type_, key in (("", "text", "calls.error.empty_name"),
                              ("Plan", "colour", "calls.error.invalid_field_type"),
                              ("Plan", "choice", "calls.error.no_choices")):
        with pytest.raises(InvalidValue) as caught:
            dispositions.clean_field(label, type_, False, [])
        assert caught.value.key == key
    assert dispositions.field_name("<script>") == "script"
    assert dispositions.field_name("!!!") == "field"


@given(st.dictionaries(st.sampled_from(["amount", "product", "due", "remark", "other"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                 st.text(max_size=30), st.lists(st.integers(), max_size=2))))
def test_values_are_either_clean_or_refused_with_field_errors(values: dict[str, object]) -> None:
    try:
        cleaned = dispositions.clean_values(FIELDS, values)
    except InvalidSubmission as exc:
        assert exc.errors and set(exc.errors) <= {f.name for f in FIELDS}
        assert all(key.startswith("calls.error.") for key, _ in exc.errors.values())
        return
    assert set(cleaned) <= {"amount", "product", "due", "remark"}
    assert {"amount", "product"} <= set(cleaned)
    assert cleaned["product"] in ("Gold", "Silver")
    assert all(isinstance(v, str) for v in cleaned.values())
    # Cleaning is idempotent: what is stored is accepted again unchanged.
    assert dispositions.clean_values(FIELDS, cleaned) == cleaned


# -- notes and tags ------------------------------------------------------------------------

def test_note_text() -> None:
    assert call_notes.clean_note("a\r\nb\rc\td") == "a\nb\nc\td"
    assert call_notes.clean_note("") == ""
    assert call_notes.clean_note("=cmd|' /C calc'!A0 <script>") == "=cmd|' /C calc'!A0 <script>"
    for bad, key in (("x" * 20_001, "calls.error.note_too_long"),
                     ("a\x00b", "calls.error.note_invalid"), (5, "calls.error.note_invalid")):
        with pytest.raises(InvalidValue) as caught:
            call_notes.clean_note(bad)
        assert caught.value.key == key


def test_revisions_only_move_forward() -> None:
    assert call_notes.accepts(None, 1)
    assert call_notes.accepts(5, 6)
    assert not call_notes.accepts(6, 6)
    assert not call_notes.accepts(6, 5)
    for bad in (0, -1, 2**53, True, "7", 1.5):
        with pytest.raises(InvalidValue):
            call_notes.parse_revision(bad)
    assert call_notes.parse_revision(1_767_000_000_000) == 1_767_000_000_000


def test_tags() -> None:
    assert call_notes.clean_tags([" VIP ", "vip", "", "Queja"]) == ("VIP", "Queja")
    for bad in ("VIP", [1], ["x" * 41], [f"t{i}" for i in range(21)]):
        with pytest.raises(InvalidValue):
            call_notes.clean_tags(bad)


@given(st.text(max_size=200))
def test_any_text_note_is_kept_or_refused_cleanly(text: str) -> None:
    try:
        kept = call_notes.clean_note(text)
    except InvalidValue as exc:
        assert exc.key == "calls.error.note_invalid"
        return
    assert "\r" not in kept and call_notes.clean_note(kept) == kept


def test_submission_time_is_not_naive() -> None:
    later = dispositions.parse_callback_at("2026-03-03T08:00", NOW + timedelta(0))
    assert later.tzinfo is UTC
