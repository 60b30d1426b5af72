"""Hostile content end to end: a feed full of script, event handlers, javascript:/data:
links, CR/LF and look-alike letters, a megabyte title, and hostile names in the YAML and
in bot commands — through `fetch`, `send` over SMTP, `alert` and the worker's bot.

Every email that arrives is parsed (email + html.parser) and every Telegram message is
parsed the way Telegram parses HTML: nothing executable survives, no header is injected,
the hostile text is still shown — as text.
"""

from __future__ import annotations

import email
import email.policy
import signal
from html.parser import HTMLParser

from botapi import TOKEN, FakeBotAPI, parse_html
from faultkit import (
    SECRET,
    Bhr,
    assert_no_traceback,
    finish,
    news_item,
    rss,
    wait_for,
    write_config,
)
from feedserver import FeedServer, Route
from sink import Sink

SCRIPT = "<script>alert(1)</script>"
HOSTILE_ITEMS = [
    news_item(
        "script-title",
        f"Cellebrite {SCRIPT.replace('<', '&lt;').replace('>', '&gt;')} responds",
        "<![CDATA[<p>Cellebrite said <script>alert(document.cookie)</script> nothing."
        "<img src=x onerror=alert(2)> <svg onload=alert(3)></svg><iframe src=https://evil.example></iframe>"
        '<a href="javascript:alert(4)">js link</a> <a href=" jav&#x09;ascript:alert(5)">tab js</a>'
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==">data link</a>'
        '<a href="https://ok.example/" onclick="alert(7)" style="background:url(javascript:alert(8))">ok</a>'
        '<form action="https://evil.example/"><input name=p></form><object data=x></object>'
        '<meta http-equiv=refresh content="0;url=javascript:alert(9)"><style>*{x:expression(alert(10))}</style>'
        "</p>]]>",
    ),
    {
        "title": "Cellebrite\r\nBcc: victim@example.org\r\nX-Injected: yes",
        "link": "javascript:alert(11)",
        "description": "CR/LF in a title and a javascript: link",
    },
    news_item("lookalike", "Сеllеbritе (Cyrillic letters) and Cellebrite", "look-alike letters"),
    news_item("huge", "Cellebrite " + "A" * 1_000_000, "a megabyte title"),
]
SUBSCRIBERS = """
  - email: alex@example.org
    name: "<script>alert('name')</script> Alex"
    companies: [Cellebrite]
    telegram: 4242
  - email: sam@example.org
    name: 'Sam" <attacker@example.org>, "Eve'
    companies: [Cellebrite]
  - email: kim@example.org
    name: "Кim Аdmin"
    companies: [Cellebrite]
"""
EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
                    "list-unsubscribe-post", "mime-version", "content-type", "auto-submitted", "content-language",
                    "reply-to"}
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "data"}
EXECUTABLE_TAGS = {"script", "iframe", "object", "embed", "form", "input", "svg", "math", "base", "frame", "applet"}


class ExecutableFinder(HTMLParser):
    """Everything in an HTML document that a browser or mail client could run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in EXECUTABLE_TAGS:
            self.found.append(f"<{tag}>")
        if tag == "meta" and any(n == "http-equiv" and (v or "").lower() == "refresh" for n, v in attrs):
            self.found.append("<meta refresh>")
        for name, value in attrs:
            value = "".join((value or "").split()).lower()  # browsers ignore whitespace in a scheme
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            if name in URL_ATTRIBUTES and value.startswith(UNSAFE_SCHEMES):
                self.found.append(f"<{tag} {name}={value[:30]}>")
            if name == "style" and ("expression(" in value or "javascript:" in value):
                self.found.append(f"<{tag} style={value[:30]}>")

    def handle_data(self, data):
        self.text.append(data)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def executable_parts(html: str) -> tuple[list[str], str]:
    finder = ExecutableFinder()
    finder.feed(html)
    finder.close()
    style_blocks = [block.split("</style>")[0] for block in html.lower().split("<style")[1:]]
    finder.found += [f"<style>{b[:30]}" for b in style_blocks if "expression(" in b or "javascript:" in b]
    return finder.found, "".join(finder.text)


def test_hostile_feed_and_names_reach_the_inbox_as_harmless_text_with_no_header_injected(tmp_path):
    with FeedServer() as feeds, Sink(keep_content=True) as sink:
        url = feeds.route("/feed.xml", Route(body=rss(HOSTILE_ITEMS)))
        config = write_config(tmp_path, feeds=[url], subscribers=SUBSCRIBERS)
        bhr = Bhr(tmp_path, config=config)
        fetched = bhr.run("-q", "fetch")
        sent = bhr.run("-q", "send", "--yes", env={"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET})
        deliveries = list(sink.deliveries)
    assert fetched.returncode == 0, fetched.describe()
    assert sent.returncode == 0, sent.describe()
    assert_no_traceback(sent)
    assert sorted(d.rcpt for d in deliveries) == ["alex@example.org", "kim@example.org", "sam@example.org"]
    for delivery in deliveries:
        message = email.message_from_bytes(delivery.content, policy=email.policy.default)
        names = {name.lower() for name in message}
        assert names <= EXPECTED_HEADERS, f"unexpected headers {names - EXPECTED_HEADERS}"
        assert all(len(message.get_all(name)) == 1 for name in names), "a header given twice"
        recipients = message["To"].addresses
        assert [a.addr_spec for a in recipients] == [delivery.rcpt], f"To: {message['To']}"
        assert "victim@example.org" not in str(message["To"]) + str(message["Subject"])
        html = message.get_body(("html",)).get_content()
        found, text = executable_parts(html)
        assert not found, f"{delivery.rcpt}: executable content survived: {found}"
        assert "<script>alert(document.cookie)</script>" not in html
        assert "Cellebrite alert(1) responds" in text  # a title is plain text: its tags are dropped
        plain_lines = message.get_body(("plain",)).get_content().splitlines()
        assert not [line for line in plain_lines if line.startswith(("Bcc:", "X-Injected:"))]  # CR/LF became spaces
        assert len(delivery.content) < 150_000  # the megabyte title was cut down
    alex = next(d for d in deliveries if d.rcpt == "alex@example.org")
    alex_html = email.message_from_bytes(alex.content, policy=email.policy.default).get_body(("html",)).get_content()
    assert "<script>alert('name')</script>" in executable_parts(alex_html)[1]  # the YAML name, as text


def test_hostile_feed_reaches_telegram_as_valid_harmless_messages(tmp_path):
    with FeedServer() as feeds, FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        url = feeds.route("/feed.xml", Route(body=rss([news_item("first", "Nothing yet")])),
                          Route(body=rss([news_item("first", "Nothing yet"), *HOSTILE_ITEMS])))
        config = write_config(tmp_path, feeds=[url], subscribers=SUBSCRIBERS)
        bhr = Bhr(tmp_path, config=config, env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.url})
        bhr.run("-q", "fetch")  # the backfill: no alerts
        fetched = bhr.run("-q", "fetch")
        alerted = bhr.run("-q", "alert")
        messages, refusals = list(api.messages), list(api.refusals)
    assert fetched.returncode == 0 and alerted.returncode == 0, fetched.describe() + alerted.describe()
    assert messages and not refusals, refusals
    shown = "\n".join(m.text for m in messages)
    assert "Cellebrite alert(1) responds" in shown and "Bcc: victim@example.org" in shown  # all as text
    for message in messages:
        assert not any(link.lower().replace("\t", "").strip().startswith(UNSAFE_SCHEMES) for link in message.links)
        assert "Bcc: victim@example.org\n" not in message.text


HOSTILE_COMMANDS = [
    f"/track {SCRIPT}",
    "/track <a href=\"javascript:alert(1)\">Cellebrite</a>",
    "/track Cellebrite\r\n/stop",
    "/track Сеllеbritе",  # Cyrillic look-alikes of Cellebrite
    "/track " + "A" * 100_000,
    "/untrack <b>unclosed",
    "/start@bhr_test_bot <i>",
    "<script>",
]


def test_hostile_bot_commands_get_valid_escaped_replies_and_track_only_catalogue_companies(tmp_path):
    with FeedServer() as feeds, FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        url = feeds.route("/feed.xml", Route(body=rss([news_item("first", "Nothing yet")])))
        config = write_config(tmp_path, feeds=[url], subscribers=SUBSCRIBERS)
        bhr = Bhr(tmp_path, config=config, env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.url})
        chat = 777
        for command in [*HOSTILE_COMMANDS, "/list"]:
            api.add_update(chat, command)
        worker = bhr.start("worker", "--interval", "60")
        # A chat's replies to one poll come joined in as few messages as fit (telegram/bot.py).
        wait_for(lambda: "This chat tracks" in "\n".join(api.texts(chat)) or worker.poll() is not None, 60,
                 "a reply to every command, /list last")
        worker.send_signal(signal.SIGTERM)
        stopped = finish(worker)
        replies, refusals = [m for m in api.messages if m.chat_id == chat], list(api.refusals)
    assert stopped.returncode == 0, stopped.describe()
    assert_no_traceback(stopped)
    assert not refusals, refusals  # every reply was valid Telegram HTML
    assert replies
    for reply in replies:
        parsed = parse_html(reply.html)
        assert set(parsed.tags) <= {"b", "i", "code", "a", "pre", "u", "s", "blockquote"}, parsed.tags
        assert all(link.startswith(("https://", "http://", "tg://")) for link in parsed.links), parsed.links
        assert len(reply.text) <= 4096
    joined = "\n".join(reply.text for reply in replies)
    assert SCRIPT in joined  # echoed back as text, not as markup
    assert "Only" not in joined and joined.count("\n\n") >= len(HOSTILE_COMMANDS)  # every command answered
    listed = joined[joined.rindex("This chat tracks"):]
    assert "Сеllеbritе" not in listed  # a look-alike is never tracked as a company of its own
