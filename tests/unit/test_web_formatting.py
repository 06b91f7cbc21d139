"""web.formatting: dates, numbers, durations and phone links per locale."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2
import pytest

from web import formatting

AT = datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)
NNBSP = "\u202f"  # CLDR puts a narrow no-break space before AM/PM and in Polish groups


@pytest.mark.parametrize(("lang", "datetime_text", "date_text", "number_text"), [
    ("en", f"3/5/26, 2:07{NNBSP}PM", "Mar 5, 2026", "1,234,567.5"),
    ("es", "5/3/26, 14:07", "5 mar 2026", "1.234.567,5"),
    ("pt-BR", "05/03/2026 14:07", "5 de mar. de 2026", "1.234.567,5"),
    ("pl", "5.03.2026, 14:07", "5 mar 2026", "1\u00a0234\u00a0567,5"),
])
def test_each_language_writes_its_own_way(lang: str, datetime_text: str, date_text: str,
                                          number_text: str) -> None:
    assert formatting.format_datetime(AT, lang) == datetime_text
    assert formatting.format_date(AT, lang) == date_text
    assert formatting.format_number(1234567.5, lang) == number_text


def test_instants_are_shown_in_the_zone() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    assert formatting.format_time(AT, "es", madrid) == "15:07"
    late = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert formatting.format_date(late, "es", madrid) == "6 mar 2026"
    assert formatting.deployment_zone() is UTC
    assert formatting.deployment_zone("Europe/Warsaw") == ZoneInfo("Europe/Warsaw")


@pytest.mark.parametrize(("seconds", "text"), [
    (None, ""), (0, "0:00"), (42.4, "0:42"), (59.6, "1:00"), (725, "12:05"),
    (3723, "1:02:03"), (-3, "0:00"),
])
def test_durations(seconds: float | None, text: str) -> None:
    assert formatting.format_duration(seconds) == text


def test_csv_delimiter_follows_the_decimal_mark() -> None:
    assert [formatting.csv_delimiter(lang) for lang in ("en", "es", "pt-BR", "pl", "xx")] == [
        ",", ";", ";", ";", ","]


@pytest.mark.parametrize(("value", "region", "html"), [
    ("+34911234567", "ES",
     '<a class="tel" href="tel:+34911234567" data-dial="+34911234567">911 23 45 67</a>'),
    ("+34911234567", "PL",
     '<a class="tel" href="tel:+34911234567" data-dial="+34911234567">+34 911 23 45 67</a>'),
    ("+5511987654321", "BR",
     '<a class="tel" href="tel:+5511987654321" data-dial="+5511987654321">(11) 98765-4321</a>'),
    ("1002", "ES", '<a class="tel" href="tel:1002" data-dial="1002">1002</a>'),
    ("anonymous", "ES", "anonymous"),
    ('<script>alert("x")</script>', "ES", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"),
    ("+34\"><img>", "ES", "+34&#34;&gt;&lt;img&gt;"),
])
def test_phone_links(value: str, region: str, html: str) -> None:
    assert str(formatting.phone_link(value, region)) == html


def test_filters_read_the_page_context() -> None:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    formatting.install(env)
    page = env.from_string(
        "{{ at|datetime }} | {{ at|date }} | {{ at|time }} | {{ n|number }} | "
        "{{ s|duration }} | {{ p|phone }} | {{ p|phone_text }} | {{ p is dialable }}")
    text = page.render(at=AT, n=1234.5, s=65, p="+48221234567", lang="pl",
                       time_zone=ZoneInfo("Europe/Warsaw"), phone_region="PL")
    assert text == ('5.03.2026, 15:07 | 5 mar 2026 | 15:07 | 1\u00a0234,5 | 1:05 | '
                    '<a class="tel" href="tel:+48221234567" data-dial="+48221234567">'
                    '22 123 45 67</a> | 22 123 45 67 | True')
