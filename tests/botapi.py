"""A small Telegram Bot API server of our own, on loopback, for tests.

The real python-telegram-bot client reaches it through `TELEGRAM_API_URL`
(`{url}/bot<token>/<method>`). It checks what Telegram checks on `sendMessage` —
HTML parse mode with only Telegram's tags, balanced, only its entities, a text of
1–4096 UTF-16 units after parsing — enforces the flood limits with 429 and
`parameters.retry_after`, answers 403 for a chat that blocked the bot, and serves
scripted `getUpdates` (long polling) to drive the bot's commands.

The rate limits read `clock`, which a test may drive by hand so that no test waits.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
MAX_TEXT = 4096

# tag -> (required attribute, allowed attributes)
ALLOWED_TAGS: dict[str, tuple[str | None, frozenset[str]]] = {
    **{t: (None, frozenset()) for t in ("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "pre")},
    "tg-spoiler": (None, frozenset()),
    "span": ("class", frozenset({"class"})),
    "a": ("href", frozenset({"href"})),
    "tg-emoji": ("emoji-id", frozenset({"emoji-id"})),
    "code": (None, frozenset({"class"})),
    "blockquote": (None, frozenset({"expandable"})),
}
LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")

_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9-]*(?:\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'|[^\s\"'<>=`]+))?)*)\s*>"
)
_ATTR = re.compile(r"([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=`]+)))?")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityError(ValueError):
    """The text would make Telegram answer 'can't parse entities'."""


@dataclass(frozen=True)
class ParsedHTML:
    text: str  # what the user sees
    links: tuple[str, ...]  # hrefs, decoded
    tags: tuple[str, ...]  # every start tag, in order


def parse_html(source: str) -> ParsedHTML:
    """Parse a text the way Telegram's HTML parse mode does, or raise EntityError."""
    out: list[str] = []
    links: list[str] = []
    tags: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "<":
            match = _TAG.match(source, pos)
            if not match:
                raise EntityError(f"Unsupported start tag at byte offset {_offset(source, pos)}")
            _tag(match, stack, links, tags, _offset(source, pos))
            pos = match.end()
        elif char == "&":
            decoded, pos = _entity(source, pos)
            out.append(decoded)
        elif char == ">":
            raise EntityError(f"Unexpected > at byte offset {_offset(source, pos)}")
        else:
            out.append(char)
            pos += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return ParsedHTML("".join(out), tuple(links), tuple(tags))


def _offset(source: str, pos: int) -> int:
    return len(source[:pos].encode())


def _tag(match: re.Match[str], stack: list[str], links: list[str], tags: list[str], offset: int) -> None:
    closing, name, attr_text = match.group(1), match.group(2), match.group(3)
    if name not in ALLOWED_TAGS:
        raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
    if closing:
        if attr_text.strip() or not stack or stack[-1] != name:
            raise EntityError(f'Unexpected end tag "{name}" at byte offset {offset}')
        stack.pop()
        return
    required, allowed = ALLOWED_TAGS[name]
    attrs = {}
    for attr in _ATTR.finditer(attr_text):
        key = attr.group(1)
        raw = next((g for g in attr.groups()[1:] if g is not None), "")
        if key not in allowed:
            raise EntityError(f'Unsupported attribute "{key}" of tag "{name}" at byte offset {offset}')
        attrs[key] = _decode(raw)
    if required and required not in attrs:
        raise EntityError(f'Tag "{name}" must have attribute "{required}" at byte offset {offset}')
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "a":
        href = attrs["href"].strip()
        if not href.lower().startswith(LINK_SCHEMES):
            raise EntityError(f"Wrong URL {href!r} at byte offset {offset}")
        links.append(href)
    tags.append(name)
    stack.append(name)


def _entity(source: str, pos: int) -> tuple[str, int]:
    match = _ENTITY.match(source, pos)
    if not match:
        raise EntityError(f"Character entity expected at byte offset {_offset(source, pos)}")
    named, decimal, hexa = match.groups()
    if named:
        return _NAMED[named], match.end()
    code = int(decimal) if decimal else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise EntityError(f"Invalid character entity at byte offset {_offset(source, pos)}")
    return chr(code), match.end()


def _decode(value: str) -> str:
    out, pos = [], 0
    while pos < len(value):
        if value[pos] == "&":
            decoded, pos = _entity(value, pos)
            out.append(decoded)
        else:
            out.append(value[pos])
            pos += 1
    return "".join(out)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class SentMessage:
    message_id: int
    chat_id: int
    html: str
    text: str
    links: tuple[str, ...]
    disable_preview: bool
    at: float = 0.0  # when the API accepted it, by the server's clock


class _Refusal(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


@dataclass
class _Limits:
    per_chat_interval: float = 1.0
    global_per_second: int = 30
    group_per_minute: int = 20
    window: float = 1.0
    group_window: float = 60.0
    last_by_chat: dict[int, float] = field(default_factory=dict)
    recent: deque[float] = field(default_factory=deque)
    group_recent: dict[int, deque[float]] = field(default_factory=dict)

    def admit(self, chat_id: int, now: float) -> None:
        """Raise a 429 _Refusal when this send would break a limit; else count it."""
        waits = []
        last = self.last_by_chat.get(chat_id)
        if last is not None and now - last < self.per_chat_interval:
            waits.append(last + self.per_chat_interval - now)
        _trim(self.recent, now - self.window)
        if len(self.recent) >= self.global_per_second:
            waits.append(self.recent[0] + self.window - now)
        group = self.group_recent.setdefault(chat_id, deque()) if chat_id < 0 else None
        if group is not None:
            _trim(group, now - self.group_window)
            if len(group) >= self.group_per_minute:
                waits.append(group[0] + self.group_window - now)
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise _Refusal(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
        self.last_by_chat[chat_id] = now
        self.recent.append(now)
        if group is not None:
            group.append(now)


def _trim(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


class ManualClock:
    """A clock a test moves by hand: rate limits without waiting."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeBotAPI:
    """`with FakeBotAPI() as api:` — a Bot API on 127.0.0.1; `api.url` is TELEGRAM_API_URL."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        per_chat_interval: float = 1.0,
        global_per_second: int = 30,
        group_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        username: str = "bhr_test_bot",
        latency: float = 0.0,
    ):
        self.token = token
        self.latency = latency  # seconds before a sendMessage is answered: a Bot API far away
        self.username = username
        self.clock = clock
        self.limits = _Limits(per_chat_interval, global_per_second, group_per_minute)
        self.blocked: set[int] = set()
        # (chat, user) -> "creator" | "administrator" for getChatMember; anyone else is a "member"
        self.member_status: dict[tuple[int, int], str] = {}
        self.messages: list[SentMessage] = []
        self.refusals: list[tuple[str, int | None, int, str]] = []  # method, chat, status, description
        self.calls: list[str] = []
        self._scripted: dict[int, deque[_Refusal]] = {}
        self._updates: list[dict] = []
        self._next_update = 1
        self._next_message = 1
        self._lock = threading.Condition()
        self._hold_after: int | None = None
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a sendMessage is held
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # A status (e.g. 502): every request gets a proxy's HTML error page quoting its URL.
        self.error_page: int | None = None

    # --- lifecycle ---
    def __enter__(self) -> FakeBotAPI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting ---
    def fail_next(self, chat_id: int, status: int, description: str, *, retry_after: int | None = None) -> None:
        """The next sendMessage to `chat_id` gets this error instead of delivery."""
        with self._lock:
            self._scripted.setdefault(chat_id, deque()).append(_Refusal(status, description, retry_after))

    def add_update(
        self, chat_id: int, text: str, *, chat_type: str | None = None, user_id: int | None = None,
        anonymous_admin: bool = False, language_code: str | None = None,
    ) -> int:
        """User `user_id` (default: the chat's own id) writes `text` to the bot in `chat_id`;
        `anonymous_admin`: a group administrator writes as the group; `language_code`: the
        user's Telegram app language. Returns the update id."""
        with self._lock:
            update_id = self._next_update
            self._next_update += 1
            chat_type = chat_type or ("private" if chat_id > 0 else "group")
            message = {
                "message_id": 10_000 + update_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": chat_type, "first_name": "Tester"},
                "from": {"id": user_id or abs(chat_id), "is_bot": False, "first_name": "Tester"},
                "text": text,
            }
            if anonymous_admin:  # what Telegram sends: the group itself as sender, a placeholder bot as from
                message["from"] = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                                   "username": "GroupAnonymousBot"}
                message["sender_chat"] = {"id": chat_id, "type": chat_type, "title": "A group"}
            elif language_code:  # what Telegram says of the user's app language
                message["from"]["language_code"] = language_code
            if text.startswith("/"):
                command = text.split()[0] if text.split() else text
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]
            self._updates.append({"update_id": update_id, "message": message})
            self._lock.notify_all()
            return update_id

    def hold_after(self, delivered: int) -> None:
        """Once `delivered` messages went through, hold the next sendMessage (it is
        recorded as delivered, but not answered) until `release()`."""
        with self._lock:
            self._hold_after = delivered
            self._released.clear()

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    def texts(self, chat_id: int) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages if m.chat_id == chat_id]

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    # --- methods ---
    def call(self, method: str, params: dict) -> object:
        self.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise _Refusal(404, "Not Found: method not found")
        return handler(params)

    def _m_getMe(self, params: dict) -> dict:
        return {
            "id": int(self.token.split(":")[0]),
            "is_bot": True,
            "first_name": "BHR test bot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_deleteWebhook(self, params: dict) -> bool:
        return True

    def _m_setMyCommands(self, params: dict) -> bool:
        commands = json.loads(params.get("commands", "[]"))
        if not isinstance(commands, list) or not all("command" in c and "description" in c for c in commands):
            raise _Refusal(400, "Bad Request: can't parse bot commands")
        self.commands = commands
        return True

    def _m_sendMessage(self, params: dict) -> dict:
        chat_id = _int(params.get("chat_id"), "chat_id")
        text = params.get("text") or ""
        if params.get("parse_mode") != "HTML":
            raise _Refusal(400, "Bad Request: this fake Bot API expects parse_mode HTML")
        try:
            parsed = parse_html(text)
        except EntityError as exc:
            raise _Refusal(400, f"Bad Request: can't parse entities: {exc}") from exc
        if not parsed.text.strip():
            raise _Refusal(400, "Bad Request: message text is empty")
        if utf16_length(parsed.text) > MAX_TEXT:
            raise _Refusal(400, "Bad Request: message is too long")
        with self._lock:
            scripted = self._scripted.get(chat_id)
            if scripted:
                raise scripted.popleft()
            if chat_id in self.blocked:
                raise _Refusal(403, "Forbidden: bot was blocked by the user")
            now = self.clock()
            self.limits.admit(chat_id, now)
            preview = json.loads(params.get("link_preview_options", "{}") or "{}")
            sent = SentMessage(
                self._next_message, chat_id, text, parsed.text, parsed.links, bool(preview.get("is_disabled")), now
            )
            self._next_message += 1
            self.messages.append(sent)
            hold = self._hold_after is not None and len(self.messages) > self._hold_after
        if hold:
            self.holding.set()
            self._released.wait(timeout=30)
            self.holding.clear()
        if self.latency:
            time.sleep(self.latency)
        chat_type = "private" if chat_id > 0 else "group"
        return {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "text": parsed.text,
        }

    def _m_getChatMember(self, params: dict) -> dict:
        chat_id, user_id = _int(params.get("chat_id"), "chat_id"), _int(params.get("user_id"), "user_id")
        status = self.member_status.get((chat_id, user_id), "member")
        member: dict = {"status": status, "user": {"id": user_id, "is_bot": False, "first_name": "Tester"}}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            rights = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                      "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
                      "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories")
            member |= dict.fromkeys(rights, False)
        return member

    def _m_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 30)
        with self._lock:
            # Like Telegram: asking from `offset` confirms (forgets) every earlier update.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            limit = int(params.get("limit") or 100)
            return list(self._updates[:limit])


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise _Refusal(400, f"Bad Request: {name} is invalid") from exc


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBotAPI
    protocol_version = "HTTP/1.1"
    # An answer goes out in two writes (headers, then body): with Nagle's algorithm and the
    # client's delayed ACK the body can wait 40 ms, which no real Bot API adds.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # the stdlib names it `format`
        pass

    def handle(self) -> None:
        # A client killed between two requests on a kept-alive connection: that is the test.
        with contextlib.suppress(ConnectionResetError):
            super().handle()

    def do_GET(self) -> None:
        self._answer(dict(parse_qsl(urlsplit(self.path).query)))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        kind = self.headers.get("Content-Type", "")
        params = json.loads(body) if kind.startswith("application/json") and body else dict(parse_qsl(body))
        self._answer({k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()})

    def _answer(self, params: dict) -> None:
        if self.fake.error_page is not None:
            return self._send_page(self.fake.error_page)
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != f"bot{self.fake.token}":
            return self._send(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = parts[1]
        try:
            result = self.fake.call(method, params)
        except _Refusal as refusal:
            chat = params.get("chat_id")
            self.fake.refusals.append((method, int(chat) if chat else None, refusal.status, refusal.description))
            payload: dict = {"ok": False, "error_code": refusal.status, "description": refusal.description}
            if refusal.retry_after is not None:
                payload["parameters"] = {"retry_after": refusal.retry_after}
            return self._send(refusal.status, payload)
        self._send(200, {"ok": True, "result": result})

    def _send_page(self, status: int) -> None:
        page = f"<html><body><h1>{status} Bad Gateway</h1><p>upstream failed for POST {self.path}</p></body></html>"
        self._send(status, page.encode(), "text/html")

    def _send(self, status: int, payload: dict | bytes, kind: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client died while we held its request: that is the test


# --- stored components, as a fetch would leave them -----------------------------------


def store_component(
    engine,
    key: str,
    *,
    companies: tuple[str, ...] = (),
    first_seen_at,
    alertable: bool = True,
    title: str | None = None,
    url: str | None = None,
    kind: str = "article",
    author: str | None = "Example Monitor",
    excerpt: str = "…an excerpt of the source…",
    countries: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
) -> str:
    """Insert one component and its tags the way the store's fetch path does."""
    import sqlalchemy as sa

    from bhrdigest.store.schema import component_tags, components

    row = {
        "key": key,
        "url": url or f"https://www.business-humanrights.org/en/latest-news/{key}/",
        "title": title if title is not None else f"Component {key}",
        "language": "en",
        "author": author,
        "excerpt_html": "",
        "excerpt_text": excerpt,
        "kind": kind,
        "content_hash": key,
        "first_seen_at": first_seen_at,
        "updated_at": first_seen_at,
        "alertable": alertable,
    }
    tags = [("company", companies), ("country", countries), ("region", regions)]
    with engine.begin() as conn:
        conn.execute(sa.insert(components).values(row))
        for facet, names in tags:
            for position, name in enumerate(names):
                conn.execute(sa.insert(component_tags).values(key=key, facet=facet, name=name, position=position))
    return key


@contextlib.contextmanager
def database(kind: str, tmp_path) -> Iterator:
    """An upgraded store: a SQLite file, or a fresh schema of the PostgreSQL at
    BHRDIGEST_TEST_DATABASE_URL (skipped when unset), dropped afterwards."""
    import uuid

    import pytest
    import sqlalchemy as sa

    from bhrdigest.store.db import connect

    if kind == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'store.db'}", create=True)
        yield engine
        engine.dispose()
        return
    url = os.environ.get("BHRDIGEST_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need BHRDIGEST_TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    schema = f"alerts_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    engine = connect(f"{url}{separator}options=-csearch_path%3D{schema}", create=True)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
