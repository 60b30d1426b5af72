"""Entities, hostile HTML and plain text: what a subscriber reads must be clean and safe."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bhrdigest.ingest.text import (
    html_to_text,
    sanitise_html,
    split_blocks,
    unescape_all,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SEC &amp; Nasdaq", "SEC & Nasdaq"),
        ("records&amp;amp;nbsp;… the groups", "records … the groups"),
        ("a &amp;amp;amp; b", "a & b"),
        ("vendor&#8217;s &#x201C;tools&#x201D;", "vendor’s “tools”"),
        ("non\u00a0breaking\u202fspaces", "non breaking spaces"),
        ("line one\r\nline two\n\n\tthree", "line one line two three"),
        ("zero\u200bwidth\ufeff and \x00NUL", "zerowidth and NUL"),
        ("日本語　全角スペース", "日本語　全角スペース"),  # the ideographic space is text, not padding
    ],
)
def test_unescape_all_decodes_every_layer_onto_one_line(raw, expected):
    assert unescape_all(raw) == expected


def test_hostile_html_loses_scripts_handlers_and_dangerous_links():
    hostile = (
        '<p onclick="x()">Hi<script>document.cookie</script><img src=x onerror=alert(1)></p>'
        '<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(2)">b</a>'
        '<a href="&#106;avascript:alert(3)">c</a><a href="data:text/html,<script>alert(4)</script>">d</a>'
        '<a href="vbscript:msgbox(1)">e</a><svg onload=alert(5)><text>svg</text></svg>'
        "<iframe src=https://evil.example></iframe><style>p{display:none}</style>"
        '<form action="https://evil.example"><input name=q></form><p style="color:red">ok</p>'
    )
    safe = sanitise_html(hostile).lower()
    for forbidden in ("<script", "onerror", "onclick", "onload", "javascript:", "data:", "vbscript:",
                      "<svg", "<iframe", "<style", "<img", "<form", "<input", "style=", "document.cookie"):  # fmt: skip
        assert forbidden not in safe, forbidden
    assert "ok" in safe and "hi" in safe


def test_safe_markup_survives_and_links_get_rel():
    safe = sanitise_html(
        '<p><em>a</em> <strong>b</strong> <i>c</i> <b>d</b><br><a href="https://example.org/x" title="t">e</a>'
        '<a href="mailto:press@example.org">f</a></p><ul><li>g</li></ul><ol><li>h</li></ol><blockquote>i</blockquote>'
    )
    assert "<em>a</em>" in safe and "<strong>b</strong>" in safe and "<i>c</i>" in safe and "<b>d</b>" in safe
    assert '<a href="https://example.org/x" rel="noopener noreferrer nofollow">e</a>' in safe
    assert 'href="mailto:press@example.org"' in safe
    assert "<ul><li>g</li></ul>" in safe and "<ol><li>h</li></ol>" in safe and "<blockquote>i</blockquote>" in safe
    assert "title=" not in safe


def test_relative_links_resolve_against_the_page_or_are_dropped():
    markup = '<p><a href="/en/latest-news/x/">x</a></p>'
    resolved = sanitise_html(markup, base_url="https://www.business-humanrights.org/en/latest-news/y/")
    assert 'href="https://www.business-humanrights.org/en/latest-news/x/"' in resolved
    assert "href" not in sanitise_html(markup)


def test_over_escaped_entities_in_html_render_as_the_character():
    safe = sanitise_html("<p>records&amp;amp;nbsp;… &amp;amp;amp; more&amp;hellip;</p>")
    assert "&amp;nbsp;" not in safe and "nbsp" not in safe
    assert html_to_text(safe) == "records … & more…"


def test_markup_escaped_once_too_often_is_read_as_markup():
    assert html_to_text("&lt;p&gt;First&lt;/p&gt;&lt;p&gt;Second&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;") == (
        "First\n\nSecond"
    )


def test_html_to_text_separates_paragraphs_with_blank_lines():
    text = html_to_text(
        "<p>One &amp; <em>two</em></p><p>Three<br>four</p><div>Five</div><div>Six</div>"
        "<ul><li>seven</li><li>eight</li></ul><h2>Nine</h2><table><tr><td>ten</td><td>eleven</td></tr></table>"
    )
    assert text == "One & two\n\nThree\nfour\n\nFive\n\nSix\n\n- seven\n- eight\n\nNine\n\nten eleven"


def test_html_to_text_drops_script_and_style_content():
    assert html_to_text("<p>Visible</p><script>var secret = 1;</script><style>.x{}</style>") == "Visible"


def test_blocks_keep_inline_markup_open_across_line_breaks():
    blocks = split_blocks("<p><em>first<br>second</em></p>")
    assert [b.html for b in blocks] == ["<em>first</em>", "<em>second</em>"]
    assert [b.soft for b in blocks] == [True, False]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60), st.integers(0, 3))
def test_text_escaped_up_to_four_times_reads_back_unchanged(text, extra_escapes):
    expected = unescape_all(text)
    escaped = html.escape(expected, quote=False)
    for _ in range(extra_escapes):
        escaped = html.escape(escaped, quote=False)
    assert html_to_text(f"<p>{escaped}</p>") == expected


@given(st.lists(st.sampled_from([
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<a href="javascript:alert(1)">x</a>',
    '<a href="data:text/html,x">y</a>', "&lt;script&gt;", "&amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;",
    "<p>", "</p>", "<b>", "text", "&amp;amp;nbsp;", "<svg/onload=alert(1)>", '<a href="https://ok.example/">ok</a>',
]), max_size=12))  # fmt: skip
def test_no_combination_of_hostile_fragments_gets_through(fragments):
    safe = sanitise_html("".join(fragments)).lower()
    assert "<script" not in safe and "onerror" not in safe and "onload" not in safe
    assert "javascript:" not in safe and "data:" not in safe
