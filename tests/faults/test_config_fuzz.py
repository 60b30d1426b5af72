"""subscriptions.yaml fuzzed (hypothesis) through the CLI: `check`, `fetch`, `send`,
`status`. A broken file means exit 1 and a message naming the file — never a traceback,
never another exit code — and nothing in the outbox.

tests/test_config.py fuzzes `load_config` itself with tree mutations; here the whole
command runs, and the mutations include hostile YAML: alias bombs, Python tags, deep
nesting, NUL bytes, invalid UTF-8, megabyte scalars.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from faultkit import SOAK, Bhr, assert_no_traceback, subscribers_yaml, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMANDS = (("check",), ("fetch",), ("send", "--yes"), ("send", "--dry-run"), ("status",))

_BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9 if i else ['x'] * 9)}]\n" for i in range(9))
HOSTILE = [
    _BOMB,  # a billion laughs, if anything ever expanded it
    "sender: !!python/object/apply:os.system ['touch PWNED']\n",
    "subscribers: !!binary aGVsbG8=\n",
    "subscribers: " + "[" * 5000 + "]" * 5000 + "\n",
    "companies: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "digest: {subject: '" + "ж" * 1_000_000 + "'}\n",
    "sender:\x00\n",
    "\ufeff",
    "\t- tab\n",
    "a: &a [*a]\n",
    "? [complex, key]\n: 1\n",
    "subscribers:\n  - <<: {email: x@example.org}\n",
    "feeds: [file:///etc/passwd, 'javascript:alert(1)', 'http://[::1', '/dev/zero']\n",
    "sender: {from: \"Evil\\r\\nBcc: victim@example.org <a@example.org>\"}\n",
    "subscribers:\n  - email: \"x@example.org\\r\\nBcc: y@example.org\"\n    companies: [Cellebrite]\n",
    "subscribers:\n  - {email: x@example.org, name: \"<script>alert(1)</script>\", companies: [Cellebrite]}\n",
    "subscribers:\n  - {email: x@еxample.org, companies: [Cellebrite]}\n",  # Cyrillic е
]

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["\r\n", "\n- ", ": ", "{", "}", "[", "&x", "*x", "!!str", "%YAML 1.1", "---", "...", "#", "'", '"', "\\", "\t"])
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _text
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                       max_leaves=6)


def base_tree(tmp_path) -> dict:
    # A relative feed path (beside the file, never there): the same text whatever the folder.
    config = write_config(tmp_path, feeds=["missing-feed.xml"], subscribers=subscribers_yaml(2))
    return yaml.safe_load(config.read_text(encoding="utf-8"))


def mutate(data, tree) -> None:
    """Replace, add or delete one value somewhere in the tree."""
    spots = [tree]
    for node in spots:
        spots.extend(child for child in (node.values() if isinstance(node, dict) else node)
                     if isinstance(child, (dict, list)))
    target = data.draw(st.sampled_from(spots))
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    action = data.draw(st.sampled_from(["replace", "add", "delete"]))
    if action == "add" or not keys:
        if isinstance(target, dict):
            target[data.draw(_text)] = data.draw(_values)
        else:
            target.append(data.draw(_values))
        return
    key = data.draw(st.sampled_from(keys))
    if action == "replace":
        target[key] = data.draw(_values)
    else:
        del target[key]


def damaged_yaml(data, tmp_path) -> bytes:
    tree = copy.deepcopy(base_tree(tmp_path))
    for _ in range(data.draw(st.integers(0, 3))):
        mutate(data, tree)
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(lines)))
        lines.insert(at, data.draw(st.sampled_from(HOSTILE) | _text))
    raw = "".join(lines).encode("utf-8")
    if data.draw(st.integers(0, 9)) == 0:  # bytes that are not UTF-8 at all
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    return raw


def assert_clean_outcome(bhr: Bhr, args: tuple[str, ...], result) -> None:
    shown = f"bhrdigest {' '.join(args)} -> {result.exit_code}\n{result.output[-2000:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}")
    assert result.exit_code in (0, 1, 3), shown
    assert "Traceback" not in result.output, shown
    if result.exit_code == 1:
        assert result.output.startswith("error: ") and str(bhr.config) in result.output, shown
        outbox = bhr.folder / "outbox"
        assert not outbox.exists() or not any(outbox.rglob("*.eml")), f"{shown}\noutbox written"
    if args == ("check",) and result.exit_code == 1:
        assert not (bhr.folder / "bhrdigest.db").exists(), f"{shown}\n`check` created the database"


@settings(max_examples=2000 if SOAK else 150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_subscriptions_yaml_gives_exit_1_with_a_located_message_never_a_traceback(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    config = folder / "subscriptions.yaml"
    config.write_bytes(damaged_yaml(data, folder))
    args = data.draw(st.sampled_from(COMMANDS))
    bhr = Bhr(folder, config=config, create_database=args != ("check",))  # check must not create one
    if args == ("send", "--yes"):  # a real run without SMTP_URL writes files only when told where
        args += ("--outbox", str(folder / "outbox"))
    result = bhr.invoke("-q", *args, catch_exceptions=True)
    assert_clean_outcome(bhr, args, result)
    assert not (folder / "PWNED").exists()


@pytest.mark.parametrize("hostile", HOSTILE[:6] + HOSTILE[13:15], ids=lambda h: repr(h[:24]))
def test_hostile_yaml_through_a_real_process_is_refused_without_a_traceback(hostile, tmp_path):
    config = write_config(tmp_path, feeds=[], subscribers=subscribers_yaml(1))
    config.write_text(config.read_text(encoding="utf-8") + hostile, encoding="utf-8")
    bhr = Bhr(tmp_path, config=config, create_database=False)
    ran = bhr.run("check", timeout=60)
    assert_no_traceback(ran)
    assert ran.returncode == 1 and ran.stderr.startswith("error: ") and str(config) in ran.stderr, ran.describe()
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("args", [("fetch",), ("send", "--yes"), ("status",)], ids=" ".join)
def test_a_bad_subscriptions_yaml_creates_no_database(args, tmp_path):
    config = tmp_path / "subscriptions.yaml"
    config.write_text("sender: {from: updates@example.org}\nsubscribers: 5\n", encoding="utf-8")
    bhr = Bhr(tmp_path, config=config, create_database=False)
    result = bhr.invoke("-q", *args)
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "bhrdigest.db").exists()
