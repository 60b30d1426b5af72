"""Amazon SNS messages, verified: SES reports bounces and complaints through an SNS topic.

An SNS message is signed by Amazon (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over
a canonical string of its fields; the key is in an X.509 certificate at SigningCertURL.
Anyone can post JSON that names a certificate, so the certificate is fetched only from
`https://sns.<region>.amazonaws.com/…` (and cached: SNS signs with a few certificates for
months), and a SubscriptionConfirmation's SubscribeURL is visited only after its message
verified, and only on such a host too. The signature proves the message came from SNS,
not from *our* topic: the caller checks TopicArn against the ones configured.

The fetcher is a seam (`Fetch`): production uses httpx; tests pass their own.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Fetch = Callable[[str], Awaitable[bytes]]

_SNS_HOST = re.compile(r"sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_MAX_CERTIFICATE = 16 * 1024
_CACHED_CERTIFICATES = 32


class SnsRefused(Exception):
    """Why an SNS message is not taken (no secret in it: it is logged)."""


def check_sns_url(url: str, field: str) -> str:
    """`url` when it is https on an SNS host of some region, else SnsRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SnsRefused(f"{field} is not a URL") from None
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.hostname or "") or parts.username or port:
        raise SnsRefused(f"{field} is not an https URL on sns.<region>.amazonaws.com: {parts.hostname!r}")
    return url


def canonical_string(message: Mapping[str, object]) -> bytes:
    """What SNS signs: each signed field present, "Name\\nValue\\n", in this order."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SnsRefused(f"unknown SNS message type {str(message.get('Type'))[:40]!r}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise SnsRefused(f"SNS message without {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


async def fetch_with_httpx(url: str) -> bytes:
    """GET `url` (already host-checked) with certificate verification, no redirects, a size cap."""
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            raise SnsRefused(f"cannot fetch {urlsplit(url).hostname}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise SnsRefused(f"{urlsplit(url).hostname} answered {response.status_code}")
    return response.content


class SnsVerifier:
    """Verifies SNS messages and confirms subscriptions; remembers the certificates it fetched."""

    def __init__(self, fetch: Fetch = fetch_with_httpx, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._fetch = fetch
        self._clock = clock
        self._certificates: dict[str, x509.Certificate] = {}

    async def verify(self, message: Mapping[str, object]) -> None:
        """Returns when Amazon signed `message`; raises SnsRefused saying why not."""
        algorithm = _HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise SnsRefused(f"unsupported SignatureVersion {str(message.get('SignatureVersion'))[:8]!r}")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except binascii.Error:
            raise SnsRefused("the Signature is not base64") from None
        certificate = await self._certificate(check_sns_url(str(message.get("SigningCertURL", "")), "SigningCertURL"))
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRefused("the signing certificate's key is not RSA")
        try:
            key.verify(signature, canonical_string(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise SnsRefused("the signature does not verify") from None

    async def confirm(self, message: Mapping[str, object]) -> None:
        """Visit a verified SubscriptionConfirmation's SubscribeURL: SNS then sends us the topic."""
        await self._fetch(check_sns_url(str(message.get("SubscribeURL", "")), "SubscribeURL"))

    async def _certificate(self, url: str) -> x509.Certificate:
        certificate = self._certificates.get(url)
        if certificate is None:
            data = await self._fetch(url)
            if len(data) > _MAX_CERTIFICATE:
                raise SnsRefused("the signing certificate is implausibly large")
            try:
                certificate = x509.load_pem_x509_certificate(data)
            except ValueError:
                raise SnsRefused("SigningCertURL did not give a PEM certificate") from None
            if len(self._certificates) >= _CACHED_CERTIFICATES:
                self._certificates.clear()
            self._certificates[url] = certificate
        now = self._clock()
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SnsRefused("the signing certificate is not valid now")
        return certificate
