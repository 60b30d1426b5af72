"""Fetch each configured feed's bytes, politely and within bounds.

One shared httpx client, bounded per host and in total; conditional GET from the
remembered ETag / Last-Modified; a body cap counted on DECODED bytes; a connect,
read and overall deadline; back-off after failures; Retry-After honoured.
Nothing here parses or stores: the caller persists the returned `FeedState`.

Every per-feed problem becomes a "failed" `FetchResult` with an operator-readable
`error`; `fetch_feeds` only raises for cancellation or a bug in its own set-up.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import mimetypes
import re
import socket
import ssl
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from bhrdigest import __version__
from bhrdigest.errors import FeedError
from bhrdigest.model import FeedState
from bhrdigest.redact import display_url, redact_text

__all__ = ["DEFAULT_USER_AGENT", "FeedState", "FetchResult", "fetch_feeds", "next_backoff", "record_failure"]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"bhrdigest/{__version__} (+https://github.com/bhrdigest; digest and alert bot)"
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = timedelta(hours=24)
_PERMANENT_REDIRECTS = frozenset({301, 308})
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_CHUNK = 64 * 1024
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

Outcome = Literal["ok", "not_modified", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    outcome: Outcome
    state: FeedState  # the new state to persist
    body: bytes | None = None
    content_type: str | None = None
    http_status: int | None = None
    error: str | None = None  # operator-readable
    seconds: float = 0.0


class _Failure(FeedError):
    """One feed failed; carries what the state update needs."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: timedelta | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Got:
    """A successful answer (200-class or 304)."""

    status: int | None
    not_modified: bool = False
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None


def next_backoff(error_count: int, *, base: float = 300, cap: float = 6 * 3600, key: str = "") -> timedelta:
    """Wait before retrying a feed that failed `error_count` times in a row.

    base, 2×base, 4×base… up to cap, shortened by up to 10% so feeds that broke
    together do not retry in lockstep. The jitter comes from a hash of `key` (the
    feed URL) and the count, so it is reproducible and needs no random state.
    """
    n = max(error_count, 1)
    delay = min(cap, base * 2 ** min(n - 1, 40))
    digest = hashlib.sha256(f"{key}\0{n}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=delay * (1 - 0.1 * fraction))


async def fetch_feeds(
    states: Sequence[FeedState],
    *,
    now: datetime,
    user_agent: str = DEFAULT_USER_AGENT,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    max_bytes: int = 10_000_000,
    per_host: int = 2,
    total: int = 16,
    transport: httpx.AsyncBaseTransport | None = None,
    force: bool = False,
) -> list[FetchResult]:
    """Fetch every feed once, concurrently; results in the order of `states`.

    A feed still backing off (`next_check_at` after `now`) is "skipped" unless `force`.
    """
    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
    headers = {"User-Agent": user_agent or DEFAULT_USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    # We follow redirects ourselves: to see each hop (permanent or not) and name loops.
    async with httpx.AsyncClient(
        headers=headers, timeout=timeout, limits=limits, follow_redirects=False, transport=transport
    ) as client:
        run = _Run(
            client=client,
            now=now,
            max_bytes=max_bytes,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=connect_timeout + 2 * read_timeout,
            per_host=per_host,
            total=asyncio.Semaphore(total),
            force=force,
        )
        return list(await asyncio.gather(*(run.fetch_one(state) for state in states)))


@dataclass(slots=True)
class _Run:
    """One fetch run: the shared client, its limits and the clock."""

    client: httpx.AsyncClient
    now: datetime
    max_bytes: int
    connect_timeout: float
    read_timeout: float
    deadline: float
    per_host: int
    total: asyncio.Semaphore
    force: bool
    hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    async def fetch_one(self, state: FeedState) -> FetchResult:
        started = time.monotonic()
        if not self.force and state.next_check_at and state.next_check_at > self.now:
            log.debug("feed %s skipped: backing off until %s", display_url(state.url), state.next_check_at)
            return FetchResult(url=state.url, outcome="skipped", state=state)
        local = not _is_http(state.url)
        try:
            got = await (_read_file(state.url, self.max_bytes) if local else self._fetch_http(state))
        except _Failure as exc:
            result = _failed(
                state, str(exc), self.now, status=exc.status, retry_after=exc.retry_after, back_off=not local
            )
        except Exception as exc:  # one feed's surprise must not stop the others
            log.debug("feed %s: unexpected error", display_url(state.url), exc_info=True)
            result = _failed(state, f"unexpected error: {type(exc).__name__}: {exc}", self.now, back_off=not local)
        else:
            result = _succeeded(state, got)
        result = replace(result, seconds=time.monotonic() - started)
        _log_transition(state, result)
        return result

    async def _fetch_http(self, state: FeedState) -> _Got:
        url = state.fetch_url or state.url
        # Take the host slot before the global one, so feeds queued for a busy host
        # do not sit on global slots that other hosts could use.
        async with self._host_slot(url), self.total:
            try:
                async with asyncio.timeout(self.deadline):
                    return await self._get(url, state)
            except TimeoutError as exc:
                raise _Failure(f"took longer than {self.deadline:g}s in total: the server is too slow") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _Failure(self._describe(exc, url)) from exc

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.hosts:
            self.hosts[host] = asyncio.Semaphore(self.per_host)
        return self.hosts[host]

    async def _get(self, url: str, state: FeedState) -> _Got:
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        request = self.client.build_request("GET", url, headers=headers)
        seen = [str(request.url)]
        permanent: str | None = None  # end of the leading run of permanent hops
        still_permanent = True
        while True:
            response = await self.client.send(request, stream=True)
            try:
                if response.next_request is None:
                    return await self._finish(response, permanent)
                status, request = response.status_code, response.next_request
            finally:
                await response.aclose()
            target = str(request.url)
            still_permanent = still_permanent and status in _PERMANENT_REDIRECTS
            if still_permanent:
                permanent = target
            if target in seen:
                raise _Failure(f"redirect loop: {' -> '.join([*seen, target])}", status=status)
            if len(seen) > MAX_REDIRECTS:
                raise _Failure(f"more than {MAX_REDIRECTS} redirects; last to {target}", status=status)
            seen.append(target)

    async def _finish(self, response: httpx.Response, permanent: str | None) -> _Got:
        status = response.status_code
        etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        if status == 304:
            return _Got(status, not_modified=True, etag=etag, last_modified=last_modified, permanent_url=permanent)
        if not 200 <= status < 300:
            raise _status_failure(response, self.now)
        try:
            body = await _read_capped(response, self.max_bytes)
        except _Failure as exc:
            exc.status = status
            raise
        return _Got(
            status,
            body=body,
            content_type=response.headers.get("Content-Type"),
            etag=etag,
            last_modified=last_modified,
            permanent_url=permanent,
        )

    def _describe(self, exc: Exception, url: str) -> str:
        """Translate an httpx error into what an operator should check."""
        parts = urlsplit(url)
        host = parts.hostname or url
        if isinstance(exc, httpx.ConnectTimeout):
            return f"could not connect to {host} within {self.connect_timeout:g}s: is the site up?"
        if isinstance(exc, httpx.ReadTimeout):
            return f"{host} sent nothing for {self.read_timeout:g}s: the server is too slow"
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out talking to {host}"
        if isinstance(exc, httpx.ConnectError):
            cause = _root_cause(exc)
            if isinstance(cause, socket.gaierror):
                return f"could not resolve host {host}: check the URL and the network's DNS"
            if isinstance(cause, ssl.SSLCertVerificationError):
                return f"TLS certificate of {host} not trusted: {cause.verify_message or cause}"
            if isinstance(cause, ssl.SSLError):
                return f"TLS handshake with {host} failed: {cause.reason or cause}"
            if isinstance(cause, ConnectionRefusedError):
                return f"connection to {host}:{parts.port or _default_port(parts.scheme)} refused: is the site up?"
            return f"could not connect to {host}: {cause}"
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"{host} broke off the connection or the HTTP protocol: {exc}"
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return f"cannot fetch this URL: {exc}"
        return f"HTTP error talking to {host}: {type(exc).__name__}: {exc}"


def _status_failure(response: httpx.Response, now: datetime) -> _Failure:
    status = response.status_code
    said = f"answered {status}"
    if status == 401:
        message = f"{said}: the feed needs a login; only public feeds can be read"
    elif status == 403:
        message = f"{said}: the site may block our user agent; set BHRDIGEST_USER_AGENT"
    elif status in (404, 410):
        message = f"{said}: the feed may have moved or been removed; check its URL in subscriptions.yaml"
    elif status in (429, 503):
        retry_after = _parse_retry_after(response.headers.get("Retry-After"), now)
        if retry_after is not None:
            return _Failure(
                f"{said}: the site asks us to wait; "
                f"retrying after {(now + retry_after).astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                status=status,
                retry_after=retry_after,
            )
        message = f"{said}: the site is overloaded or rate-limiting us; retrying with back-off"
    elif status >= 500:
        message = f"{said}: the site has a server error; retrying with back-off"
    elif 300 <= status < 400 and status != 304:  # a redirect with a Location is followed before here
        message = f"{said}: a redirect without a Location header: the site is misconfigured; check the URL"
    else:
        message = f"{said} {response.reason_phrase}".rstrip() + ": not a feed we can read"
    return _Failure(message, status=status)


def _parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as delay-seconds or an HTTP-date; clamped to [0, 24 h]."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=min(int(value[:12]), MAX_RETRY_AFTER.total_seconds()))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        delay = _http_date_in_utc(when) - now
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Stream the body, decoding it ourselves so no chunk can inflate past the cap."""
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise _too_big(max_bytes)
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw(_CHUNK):
        for piece in decoder.feed(raw):
            size += len(piece)
            if size > max_bytes:
                raise _too_big(max_bytes)
            parts.append(piece)
    decoder.finish()
    return b"".join(parts)


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def finish(self) -> None:
        pass


class _Inflate:
    """gzip or deflate, emitting at most _CHUNK bytes per step.

    httpx's own decoders inflate a whole network chunk at once: 64 KB of gzip can
    become 64 MB in memory before anyone counts it. Bounded steps keep a gzip bomb
    to at most max_bytes + _CHUNK.
    """

    def __init__(self, encoding: str):
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_fallback = not self._gzip  # "deflate" is zlib-wrapped, or raw on some servers
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._z.eof:
            try:
                out = self._z.decompress(data, _CHUNK)
            except zlib.error as exc:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise _Failure(f"the body is not valid {'gzip' if self._gzip else 'deflate'} data: {exc}") from exc
            self._raw_fallback = False
            if out:
                yield out
            data = self._z.unconsumed_tail

    def finish(self) -> None:
        if not self._z.eof:
            raise _Failure("the compressed body was cut short: the connection dropped mid-transfer")


def _decoder(content_encoding: str) -> _Identity | _Inflate:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflate(encoding)
    raise _Failure(f"the server sent Content-Encoding {content_encoding!r}, which we did not ask for")


def _too_big(max_bytes: int) -> _Failure:
    limit = f"{max_bytes / 1_000_000:g} MB" if max_bytes >= 1_000_000 else f"{max_bytes} bytes"
    return _Failure(f"body larger than {limit}: is this really a feed?")


async def _read_file(location: str, max_bytes: int) -> _Got:
    path = _local_path(location)
    body = await asyncio.to_thread(_read_file_sync, path, max_bytes)
    return _Got(None, body=body, content_type=mimetypes.guess_type(path.name)[0])


def _read_file_sync(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as fh:
            body = fh.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise _Failure(f"file {path} does not exist: check the feed's path in subscriptions.yaml") from exc
    except IsADirectoryError as exc:
        raise _Failure(f"{path} is a folder, not a feed file") from exc
    except PermissionError as exc:
        raise _Failure(f"file {path} cannot be read: permission denied") from exc
    except OSError as exc:
        raise _Failure(f"file {path} cannot be read: {exc.strerror or exc}") from exc
    if len(body) > max_bytes:
        raise _too_big(max_bytes)
    return body


def _local_path(location: str) -> Path:
    if location.lower().startswith("file://"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise _Failure(f"file URL {location} names a host; only local files can be read")
        return Path(url2pathname(unquote(parts.path)))
    if _SCHEME.match(location):
        raise _Failure(f"unsupported URL scheme in {location}: use http(s), file:// or a path")
    return Path(location)


def _succeeded(state: FeedState, got: _Got) -> FetchResult:
    if got.not_modified:  # a 304 may omit validators: keep what we had
        etag, last_modified = got.etag or state.etag, got.last_modified or state.last_modified
    else:  # a 200 replaces them, even with none: stale validators would hide changes
        etag, last_modified = got.etag, got.last_modified
    fetch_url = state.fetch_url
    if got.permanent_url is not None:
        fetch_url = None if got.permanent_url == state.url else got.permanent_url
    new = replace(
        state,
        fetch_url=fetch_url,
        etag=etag,
        last_modified=last_modified,
        error_count=0,
        last_error=None,
        next_check_at=None,
        broken_since=None,
    )
    return FetchResult(
        url=state.url,
        outcome="not_modified" if got.not_modified else "ok",
        state=new,
        body=got.body,
        content_type=got.content_type,
        http_status=got.status,
    )


def _failed(
    state: FeedState,
    error: str,
    now: datetime,
    *,
    status: int | None = None,
    retry_after: timedelta | None = None,
    back_off: bool = True,
) -> FetchResult:
    count = state.error_count + 1
    error = redact_text(error)  # it is stored and shown: a URL in it may carry a password
    if retry_after is not None:
        next_check_at: datetime | None = now + retry_after
    elif back_off:
        next_check_at = now + next_backoff(count, key=state.url)
    else:  # a local file costs nothing to retry on the next run
        next_check_at = None
    new = replace(
        state,
        error_count=count,
        last_error=error,
        next_check_at=next_check_at,
        broken_since=state.broken_since or now,
    )
    return FetchResult(url=state.url, outcome="failed", state=new, http_status=status, error=error)


def record_failure(state: FeedState, error: str, *, now: datetime) -> FeedState:
    """The state after a failure found past fetching (the body is not a usable feed).

    Takes the state as it was before the fetch, so its validators are not
    updated: the next run fetches the whole body again instead of a 304.
    """
    result = _failed(state, error, now, back_off=_is_http(state.url))
    _log_transition(state, result)
    return result.state


def _log_transition(old: FeedState, result: FetchResult) -> None:
    """Say loudly when a feed breaks or recovers, quietly otherwise."""
    url = display_url(old.url)
    if result.outcome == "failed":
        if old.error_count == 0:
            log.warning("feed %s broke: %s", url, result.error)
        else:
            log.debug("feed %s still failing (%d times): %s", url, result.state.error_count, result.error)
    elif old.error_count > 0:
        failures = "failure" if old.error_count == 1 else "failures"
        log.warning("feed %s recovered after %d %s", url, old.error_count, failures)
    else:
        log.debug("feed %s %s in %.2fs", url, result.outcome, result.seconds)


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _http_date_in_utc(moment: datetime) -> datetime:
    """HTTP dates are GMT; parsedate_to_datetime leaves one written with -0000 naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _root_cause(exc: BaseException) -> BaseException:
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


