"""Alert texts: escaped, Telegram-valid HTML, split only between alerts."""

from __future__ import annotations

import pytest
from botapi import EntityError, parse_html, utf16_length
from hypothesis import given, settings
from hypothesis import strategies as st

from bhrdigest.model import Alert, Kind
from bhrdigest.telegram.format import (
    MAX_MESSAGE,
    format_alerts,
    render_alert,
    safe_href,
    shorten,
)


def make_alert(key: str = "k1", **fields) -> Alert:
    values = {
        "kind": Kind.ARTICLE,
        "title": "Israel: Cellebrite says it stopped sales",
        "url": "https://www.business-humanrights.org/en/latest-news/cellebrite/",
        "companies": ("Cellebrite",),
        "places": ("Israel", "Middle East & North Africa"),
        "source": "Haaretz",
        "excerpt": "…the company said it had stopped selling to the police [of Hong Kong]…",
    }
    values.update(fields)
    return Alert(key=key, **values)


def telegram_view(text: str):
    """What Telegram would show, or EntityError when it would answer 400."""
    parsed = parse_html(text)
    assert utf16_length(parsed.text) <= MAX_MESSAGE
    return parsed


def test_response_alert_shows_kind_title_places_source_excerpt_and_matched_company():
    alert = make_alert(kind=Kind.COMPANY_RESPONSE, title="Cellebrite's response", companies=("Cellebrite",))

    [message] = format_alerts([alert])
    seen = telegram_view(message.text)

    assert "Company response" in seen.text
    assert "Cellebrite's response" in seen.text
    assert "Israel, Middle East & North Africa" in seen.text
    assert "Source: Haaretz" in seen.text
    assert "stopped selling to the police [of Hong Kong]" in seen.text
    assert seen.text.splitlines()[0].endswith("Cellebrite")
    assert seen.links == ("https://www.business-humanrights.org/en/latest-news/cellebrite/",)
    assert message.keys == ("k1",)


def test_non_response_is_labelled_as_such():
    [message] = format_alerts([make_alert(kind=Kind.COMPANY_NON_RESPONSE, title="Sun Corporation did not respond")])

    assert "Company did not respond" in telegram_view(message.text).text


def test_hostile_title_is_shown_as_text_and_never_becomes_markup():
    title = '<script>alert("x")</script> AT&T <b>bold</b> 1 < 2 &amp; </a>'
    [message] = format_alerts([make_alert(title=title, source="<i>Evil & Co</i>", places=("<Nowhere>",))])

    seen = telegram_view(message.text)

    assert title in seen.text  # shown literally, every character
    assert "<i>Evil & Co</i>" in seen.text
    assert "<Nowhere>" in seen.text
    assert "script" not in seen.tags


def test_javascript_link_is_not_linked():
    alert = make_alert(title="Click me", url="javascript:alert(document.cookie)")

    [message] = format_alerts([alert])
    seen = telegram_view(message.text)

    assert seen.links == ()
    assert "Click me" in seen.text
    assert "javascript" not in message.text


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", " JAVASCRIPT:alert(1)", "data:text/html,<b>x</b>", "vbscript:x", "//evil.example", "http://"],
)
def test_only_plain_http_links_are_linked(url):
    assert safe_href(url) is None


def test_quotes_in_a_link_cannot_break_out_of_the_attribute():
    url = 'https://example.org/a"><b>x</b>?q=1&r=2'

    [message] = format_alerts([make_alert(url=url)])

    assert telegram_view(message.text).links == (url,)


def test_five_thousand_character_excerpt_is_cut_short_at_a_word():
    excerpt = ("Workers said the factory & its suppliers <withheld> wages. " * 90)[:5000]

    [message] = format_alerts([make_alert(excerpt=excerpt)])
    seen = telegram_view(message.text)

    assert len(message.text) < 1000
    shown = seen.text.splitlines()[-1]
    assert shown.endswith("…")
    assert excerpt.startswith(shown[:-1])


def test_title_of_ampersands_still_fits_one_message_after_escaping():
    alert = make_alert(title="&" * 5000, excerpt="<" * 5000, source="&" * 5000, url="https://x.org/" + '"' * 5000)

    [message] = format_alerts([alert])

    assert utf16_length(message.text) <= MAX_MESSAGE
    telegram_view(message.text)


def test_forty_alerts_for_one_chat_become_few_messages_each_alert_once_in_order():
    alerts = [make_alert(f"k{i:02}", title=f"Item {i} & more", excerpt="x " * 200) for i in range(40)]

    messages = format_alerts(alerts)

    assert len(messages) in range(2, 10)
    assert [k for m in messages for k in m.keys] == [a.key for a in alerts]
    for message in messages:
        seen = telegram_view(message.text)
        assert len(seen.links) == len(message.keys)
        assert message.disable_preview
    assert "40 new items" in messages[0].text


def test_one_alert_keeps_its_link_preview():
    [message] = format_alerts([make_alert()])

    assert not message.disable_preview


def test_shorten_cuts_at_a_word_and_marks_the_cut():
    assert shorten("one two three four", 12) == "one two…"
    assert shorten("  spaced \n\t out  ", 50) == "spaced out"


def test_the_fake_bot_api_parser_rejects_what_telegram_rejects():
    # The checks the other tests rely on must be able to fail.
    for bad in (
        "<script>x</script>",
        "a < b",
        "AT&T",
        "<b>open",
        "<b><i>x</b></i>",
        '<a href="javascript:x">x</a>',
        "&nbsp;",
    ):
        with pytest.raises(EntityError):
            parse_html(bad)
    assert parse_html("<b>a</b> &lt;&amp;&gt;&quot;&#39;&#x1F600;").text == "a <&>\"'😀"


names = st.text(min_size=0, max_size=300)


@settings(max_examples=150, deadline=None)
@given(
    titles=st.lists(names, min_size=1, max_size=25),
    excerpt=st.text(max_size=3000),
    url=st.one_of(st.just("https://example.org/x?a=1&b=2"), st.text(max_size=200)),
    extra=st.lists(names, max_size=8),
)
def test_any_feed_text_gives_valid_messages_that_carry_every_alert_once(titles, excerpt, url, extra):
    kinds = list(Kind)
    alerts = [
        make_alert(
            f"k{i}",
            kind=kinds[i % 3],
            title=t,
            url=url,
            excerpt=excerpt,
            places=tuple(extra),
            companies=tuple(extra) or ("X",),
            source=t,
        )
        for i, t in enumerate(titles)
    ]

    messages = format_alerts(alerts)

    assert [k for m in messages for k in m.keys] == [a.key for a in alerts]
    for message in messages:
        telegram_view(message.text)


def test_render_alert_respects_a_small_budget_by_dropping_the_excerpt_first():
    alert = make_alert(excerpt="word " * 100)

    full = render_alert(alert)
    small = render_alert(alert, limit=len(full) - 10)

    assert "word" in full and "word" not in small
    assert "<a href=" in small
