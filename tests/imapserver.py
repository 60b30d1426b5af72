"""A real IMAP server on loopback for the bounce tests: Debian's dovecot, in a folder of its own.

Skips (with the reason) where dovecot is not installed or cannot start as this user; `.ci/run`
installs dovecot-imapd. The mailbox user is `bounces` with password PASSWORD (not a word: redaction
masks a registered password everywhere in the process).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "imap-pw-7c41e9"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path, port: int) -> str:
    me = pwd.getpwuid(os.getuid())
    # As root, mail is kept as `nobody` (dovecot refuses root); otherwise as this user.
    mail_user = "nobody" if os.getuid() == 0 else me.pw_name
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {"dovenull" if os.getuid() == 0 else me.pw_name}
default_internal_user = {"dovecot" if os.getuid() == 0 else me.pw_name}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={pwd.getpwnam(mail_user).pw_gid} home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextlib.contextmanager
def dovecot_server() -> Iterator[str]:
    """Start dovecot; yield the mailbox URL (imap+plain://bounces:PASSWORD@127.0.0.1:PORT/INBOX)."""
    if not Path(DOVECOT).exists():
        pytest.skip("the IMAP tests need dovecot (Debian: apt-get install dovecot-imapd)")
    # Not pytest's tmp_path: dovecot's own users must reach the files, and that folder is 0700.
    with tempfile.TemporaryDirectory(prefix="bhrdigest-dovecot-") as name:
        yield from _serve(Path(name))


def _serve(folder: Path) -> Iterator[str]:
    port = _free_port()
    for sub in ("run", "state", "home"):
        (folder / sub).mkdir(exist_ok=True)
    folder.chmod(0o755)
    if os.getuid() == 0:
        shutil.chown(folder / "home", "nobody")
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    conf = folder / "dovecot.conf"
    conf.write_text(_config(folder, port))
    # Not captured through pipes: the daemon's children would hold them open for ever.
    with open(folder / "start.log", "w") as log:
        started = subprocess.run([DOVECOT, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, timeout=30)
    if started.returncode != 0:
        pytest.skip(f"dovecot did not start: {(folder / 'start.log').read_text().strip()[:300]}")
    try:
        _wait_for(port)
        yield f"imap+plain://{USER}:{PASSWORD}@127.0.0.1:{port}/INBOX"
    finally:
        subprocess.run(["doveadm", "-c", str(conf), "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def append(url_port: int, messages: list[bytes]) -> None:
    imap = imaplib.IMAP4("127.0.0.1", url_port)
    imap.login(USER, PASSWORD)
    for data in messages:
        imap.append("INBOX", None, None, data)
    imap.logout()


def subjects(url_port: int) -> list[str]:
    imap = imaplib.IMAP4("127.0.0.1", url_port)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    _, data = imap.search(None, "ALL")
    found = []
    for number in (data[0] or b"").split():
        _, fetched = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found.append(fetched[0][1].decode().strip())
    imap.logout()
    return found
