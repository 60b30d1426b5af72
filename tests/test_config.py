"""subscriptions.yaml -> Config, and every problem named by file, line and field."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from textwrap import dedent, indent

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bhrdigest.config.load import Config, FeedSource, load_config
from bhrdigest.errors import ConfigError, Problem
from bhrdigest.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "config"
ROOT_CONFIG = Path(__file__).parents[1] / "subscriptions.yaml"

BASE = """\
sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{token}"
feeds:
  - url: samples/latest-news-en.xml
companies:
  HSBC:
    aliases: [HSBC Holdings]
  Mandarin Oriental Hotel Group:
    aliases: [Mandarin Oriental hotel]
  Cellebrite: {}
topics:
  Surveillance exports:
    keywords: [spyware, phone hacking]
regions:
  Greater China: [China, Hong Kong]
subscribers:
  - email: alex@example.org
    companies: [HSBC]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_in(tmp_path: Path, text: str) -> list[Problem]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def only_problem(tmp_path: Path, text: str) -> Problem:
    problems = problems_in(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].file == str(tmp_path / "subscriptions.yaml")
    return problems[0]


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `fragment`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return hits[occurrence - 1]


def with_subscriber(entry: str) -> str:
    """BASE with one more subscriber (subscribers[1]) after alex@example.org."""
    return BASE + indent(dedent(entry), "  ")


# --- what loads -----------------------------------------------------------------


def test_root_subscriptions_yaml_loads_cleanly():
    config = load_config(ROOT_CONFIG)

    by_email = {s.email: s for s in config.subscribers}
    assert len(by_email) == 5
    esg = by_email["esg-desk@example.org"]
    assert esg.companies == ("HSBC", "Standard Chartered", "Jardine Matheson Group",
                             "Mandarin Oriental Hotel Group", "Cathay Pacific")
    assert by_email["sakura.tanaka@example.org"].languages == ("ja", "en")
    assert by_email["sakura.tanaka@example.org"].name == "田中 さくら"
    assert by_email["alex@example.org"].telegram == 123456789
    assert by_email["priya@example.org"].match_all
    assert config.feeds[0] == FeedSource(str(ROOT_CONFIG.parent / "samples" / "latest-news-en.xml"))
    assert len(config.feeds) == 3
    assert "Cellebrite" in {c.name for c in config.catalogue.companies}


def test_valid_config_is_canonicalised_and_frozen():
    config = load_config(FIXTURES / "valid.yaml")

    assert isinstance(config, Config)
    assert config.path == (FIXTURES / "valid.yaml").absolute()
    assert config.sender.from_addr == "Resource Centre <updates@example.org>"
    assert config.sender.unsubscribe_mailto == "unsubscribe@example.org"
    assert config.sender.list_id == "weekly.bhrdigest.example.org"
    assert (config.digest.subject, config.digest.max_items, config.digest.period_days) == ("Weekly update", 40, 7)
    assert config.worker_interval_minutes == 15
    assert [f.url for f in config.feeds] == [
        "https://www.business-humanrights.org/en/feeds/latest-news/3/?&language=en",
        str(FIXTURES.parent / "samples" / "latest-news-en.xml"),
        str(FIXTURES / "samples" / "seed-story-en.xml"),
    ]
    alex, sakura, norway = config.subscribers
    assert alex.email == "alex@example.org"
    assert alex.companies == ("HSBC", "Mandarin Oriental Hotel Group", "3M")  # aliases -> names, no repeats
    assert alex.languages == ("en", "ja", "pt-BR")
    assert alex.topics[0] == "Surveillance exports"
    assert alex.telegram == -1001234567890
    assert sakura.languages == ("ja",)  # a single string is a one-item list
    assert sakura.places[0] == "Greater China" and sakura.match_all
    assert norway.languages == ("no",)  # YAML 1.1 would have read `no` as false
    assert config.catalogue.regions["Greater China"][0] == "China"
    assert config.catalogue.topics["Surveillance exports"] == ("spyware", "phone hacking")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sender = None  # type: ignore[misc]


def test_config_path_prefers_option_then_environment():
    settings = Settings.from_env({"BHRDIGEST_CONFIG": "/etc/bhrdigest/subs.yaml"})
    assert settings.override(config="given.yaml").config_path == Path("given.yaml")
    assert settings.override(config=None).config_path == Path("/etc/bhrdigest/subs.yaml")
    assert Settings.from_env({}).config_path == Path("subscriptions.yaml")


# --- the file itself ------------------------------------------------------------------


def test_missing_file_is_named_with_how_to_point_elsewhere(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "nope.yaml")
    assert "BHRDIGEST_CONFIG" in problem.message


def test_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "subscriptions.yaml"
    path.write_bytes(b"sender:\n  from: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_yaml_syntax_error_names_its_line():
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad_syntax.yaml")
    (problem,) = info.value.problems
    assert problem.field == "(syntax)"
    assert problem.line in (5, 6)  # the unclosed `[HSBC` or where the parser noticed it
    assert "YAML syntax error" in problem.message


def test_top_level_must_be_a_mapping(tmp_path):
    problem = only_problem(tmp_path, "- just\n- a list\n")
    assert (problem.line, problem.field) == (1, "(document)")


def test_unsafe_yaml_tag_is_refused_not_built(tmp_path):
    text = BASE.replace('"Resource Centre <updates@example.org>"', "!!python/object/apply:os.system [echo hi]")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (2, "sender.from")
    assert "unsupported YAML tag" in problem.message


# --- keys -------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_near_miss(tmp_path):
    text = BASE + "subscriber:\n  - email: sam@example.org\n"
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "subscriber:"), "subscriber")
    assert "did you mean 'subscribers'?" in problem.message


def test_unknown_subscriber_key_suggests_the_near_miss(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        langauges: [en]
        topics: [Labour rights]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "langauges"), "subscribers[1].langauges")
    assert "did you mean 'languages'?" in problem.message


def test_duplicate_yaml_key_is_reported_with_the_first_line(tmp_path):
    text = BASE.replace("  Cellebrite: {}\n", "  Cellebrite: {}\n  cellebrite: {}\n")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "cellebrite:"), "companies.cellebrite")
    assert f"line {line_of(text, 'Cellebrite:')}" in problem.message


# --- types ------------------------------------------------------------------------


def test_text_where_a_list_of_subscribers_is_expected(tmp_path):
    text = BASE.split("subscribers:")[0] + "subscribers: alex@example.org\n"
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "subscribers:"), "subscribers")
    assert "expected a list" in problem.message


def test_mapping_where_a_company_name_is_expected(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        companies: [{HSBC: yes}]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "{HSBC"), "subscribers[1].companies[0]")
    assert "expected text, got a mapping" in problem.message


def test_text_where_a_whole_number_is_expected(tmp_path):
    text = BASE + "digest:\n  max_items: many\n"
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "max_items"), "digest.max_items")
    assert "whole number" in problem.message


# --- subscribers ----------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "alex", "alex@", "@example.org", "alex example@example.org", "alex@exa mple.org",
    "<alex@example.org>", "a@b@example.org", "alex..smith@example.org", "alex@-example.org",
    "alex@example..org", "x" * 65 + "@example.org", "alex@" + "d" * 250 + ".org",
])
def test_bad_email_address_is_named(tmp_path, address):
    text = with_subscriber(f"""\
      - email: {yaml.safe_dump(address).splitlines()[0]}
        companies: [HSBC]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "email:", 2), "subscribers[1].email")


def test_email_with_line_break_is_refused(tmp_path):
    text = with_subscriber('  - email: "sam@example.org\\r\\nBcc: all@example.net"\n    companies: [HSBC]\n')
    problem = only_problem(tmp_path, text)
    assert problem.field == "subscribers[1].email"


def test_dotless_domain_and_unicode_local_part_are_accepted(tmp_path):
    config = load_config(write(tmp_path, with_subscriber("""\
      - email: ops@localhost
        companies: [HSBC]
      - email: 田中@example.org
        companies: [HSBC]
    """)))
    assert [s.email for s in config.subscribers][1:] == ["ops@localhost", "田中@example.org"]


def test_duplicate_subscriber_email_is_case_insensitive_and_names_the_first(tmp_path):
    text = with_subscriber("""\
      - email: Alex@EXAMPLE.org
        companies: [Cellebrite]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "Alex@EXAMPLE"), "subscribers[1].email")
    assert f"subscribers[0].email (line {line_of(text, 'alex@example.org')})" in problem.message


def test_unknown_company_suggests_the_nearest_known_one(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        companies: [Cellebrite, HSCB]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "HSCB"), "subscribers[1].companies")
    assert "unknown company 'HSCB'" in problem.message
    assert "did you mean 'HSBC'?" in problem.message


def test_unknown_company_near_an_alias_names_the_company_it_stands_for(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        companies: Mandarin Oriental hotels
    """)
    problem = only_problem(tmp_path, text)
    assert "did you mean 'Mandarin Oriental Hotel Group'?" in problem.message


def test_company_alias_colliding_with_another_company_names_both(tmp_path):
    text = BASE.replace("  Cellebrite: {}\n", "  Cellebrite:\n    aliases: [Cellebrite DI, hsbc HOLDINGS.]\n")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "HOLDINGS"), "companies.Cellebrite.aliases")
    assert f"'HSBC' (line {line_of(text, '[HSBC Holdings]')})" in problem.message


def test_unknown_region_suggests_the_nearest_place(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        regions: [Asia & Pasific]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "Asia & Pasific"), "subscribers[1].regions")
    assert "did you mean 'Asia & Pacific'?" in problem.message


def test_unknown_country_suggests_the_nearest_place(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        countries: [Isreal]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "Isreal"), "subscribers[1].countries")
    assert "did you mean 'Israel'?" in problem.message


def test_extra_region_with_an_unknown_country_is_named(tmp_path):
    text = BASE.replace("[China, Hong Kong]", "[China, Hong Kongg]")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "Greater China:"), "regions.Greater China")
    assert "did you mean 'Hong Kong'?" in problem.message


def test_unknown_topic_suggests_the_nearest_topic(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        topics: [Surveillance export]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "Surveillance export]"), "subscribers[1].topics")
    assert "did you mean 'Surveillance exports'?" in problem.message


def test_new_topic_without_keywords_could_never_match(tmp_path):
    text = BASE.replace("    keywords: [spyware, phone hacking]\n", "")
    problem = only_problem(tmp_path, text)
    assert problem.line == line_of(text, "Surveillance exports:")
    assert problem.field == "topics.Surveillance exports.keywords"
    assert "can never match" in problem.message


def test_match_must_be_any_or_all(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        topics: [Labour rights]
        match: every
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "match:"), "subscribers[1].match")
    assert "'any' or 'all'" in problem.message


def test_language_must_be_a_language_code(tmp_path):
    text = with_subscriber("""\
      - email: sam@example.org
        topics: [Labour rights]
        languages: [en, English]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "English"), "subscribers[1].languages")
    assert "'English' is not a language code" in problem.message


@pytest.mark.parametrize(("code", "meant"), [("jp", "ja"), ("cn", "zh-hans"), ("kr", "ko"), ("gr", "el"),
                                             ("fre", "fr")])
def test_an_unknown_language_code_is_refused_with_what_was_meant(tmp_path, code, meant):
    text = with_subscriber(f"""\
      - email: sam@example.org
        topics: [Labour rights]
        languages: [{code}, en]
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, f"[{code}, en]"), "subscribers[1].languages")
    assert f"{code!r} is not a known language code; did you mean {meant!r}?" in problem.message


@pytest.mark.parametrize("code", ["ja", "zh-hant", "my", "pt-BR", "uk", "fil", "es-419", "zh-CN", "zh-TW", "zh-HK"])
def test_the_sites_languages_and_others_babel_knows_are_accepted(tmp_path, code):
    text = with_subscriber(f"""\
      - email: sam@example.org
        topics: [Labour rights]
        languages: [{code}]
    """)
    sam = load_config(write(tmp_path, text)).subscribers[1]
    assert sam.languages[0].lower() == code.lower()


def test_check_files_names_a_feed_file_that_does_not_exist(tmp_path):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "latest-news-en.xml").write_text("<rss/>")
    text = BASE.replace("  - url: samples/latest-news-en.xml\n",
                        "  - url: samples/latest-news-en.xml\n  - samples/latest-news-jp.xml\n")
    path = write(tmp_path, text)
    load_config(path)  # other commands leave a missing file to fetch, as one feed's failure
    with pytest.raises(ConfigError) as info:
        load_config(path, check_files=True)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), line_of(text, "latest-news-jp"), "feeds[1].url")
    assert f"no such file {tmp_path / 'samples' / 'latest-news-jp.xml'}" in problem.message


@pytest.mark.parametrize("chat_id", ['"@alex"', "true", "12.5", "[1]", "0"])
def test_telegram_must_be_a_numeric_chat_id(tmp_path, chat_id):
    text = with_subscriber(f"""\
      - email: sam@example.org
        topics: [Labour rights]
        telegram: {chat_id}
    """)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "telegram:"), "subscribers[1].telegram")


def test_subscriber_following_nothing_is_reported(tmp_path):
    text = with_subscriber("  - email: sam@example.org\n    name: Sam\n")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "sam@example.org"), "subscribers[1]")
    assert "follows nothing" in problem.message


@pytest.mark.parametrize("fragment", ['name: "Sam\\r\\nBcc: all@example.net"', 'name: "Sam\\u2028X"'])
def test_line_break_in_a_name_is_refused(tmp_path, fragment):
    text = with_subscriber(f"  - email: sam@example.org\n    {fragment}\n    companies: [HSBC]\n")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "name:"), "subscribers[1].name")
    assert "line break" in problem.message


@pytest.mark.parametrize(
    "name", ["=?utf-8?b?RXZlIDxldmVAZXZpbC5leGFtcGxlPg==?=", "Sam =?ISO-8859-1?Q?Eve_<eve@evil.example>?="]
)
def test_an_encoded_word_in_a_name_is_refused_so_it_cannot_decode_into_another_address(tmp_path, name):
    # "=?utf-8?b?…?=" decodes to "Eve <eve@evil.example>": a second address in the To: header.
    text = with_subscriber(f'  - email: sam@example.org\n    name: "{name}"\n    companies: [HSBC]\n')
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "name:"), "subscribers[1].name")
    assert "RFC 2047 encoded word" in problem.message


def test_an_encoded_word_in_the_sender_name_is_refused(tmp_path):
    text = BASE.replace('from: "', 'from: "=?utf-8?q?Eve?= ', 1)
    assert text != BASE
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "from:"), "sender.from")


def test_line_break_in_the_subject_is_refused(tmp_path):
    text = BASE + 'digest:\n  subject: "Weekly\\nBcc: all@example.net"\n'
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (line_of(text, "subject:"), "digest.subject")


# --- sender and feeds ---------------------------------------------------------------------


def test_sender_from_must_be_one_address(tmp_path):
    text = BASE.replace('"Resource Centre <updates@example.org>"', '"Resource Centre updates at example.org"')
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (2, "sender.from")


def test_sender_is_required(tmp_path):
    text = BASE.split("feeds:")[1]
    problem = only_problem(tmp_path, "feeds:" + text)
    assert problem.field == "sender"
    assert "missing" in problem.message


@pytest.mark.parametrize(("url", "expected"), [
    ("http://digest.example.org/u/{token}", "https"),
    ("https://digest.example.org/u/", "{token}"),
    ("javascript:alert(1)//{token}", "https"),
    ("https://digest.example.org/u/{token}/{x}", "braces"),
])
def test_unsubscribe_url_must_be_https_with_a_token(tmp_path, url, expected):
    text = BASE.replace("https://digest.example.org/u/{token}", url)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (3, "sender.unsubscribe_url")
    assert expected in problem.message


def test_plain_http_unsubscribe_url_is_allowed_on_localhost(tmp_path):
    text = BASE.replace("https://digest.example.org/u/{token}", "http://127.0.0.1:8000/u/{token}")
    assert load_config(write(tmp_path, text)).sender.unsubscribe_url == "http://127.0.0.1:8000/u/{token}"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "javascript:alert(1)"])
def test_feed_with_another_scheme_is_refused(tmp_path, url):
    text = BASE.replace("samples/latest-news-en.xml", url)
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (5, "feeds[0].url")
    assert "not allowed" in problem.message


def test_duplicate_feed_is_named_even_when_written_differently(tmp_path):
    text = BASE.replace("feeds:\n", "feeds:\n  - ./samples/../samples/latest-news-en.xml\n")
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.field) == (6, "feeds[1].url")
    assert "feeds[0].url (line 5)" in problem.message


# --- all together -------------------------------------------------------------------------


def test_every_problem_is_reported_together_not_just_the_first():
    path = FIXTURES / "all_problems.yaml"
    text = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = {(p.line, p.field) for p in info.value.problems}

    assert found >= {
        (line_of(text, "from:"), "sender.from"),
        (line_of(text, "unsubscribe_url:"), "sender.unsubscribe_url"),
        (line_of(text, "subject:"), "digest.subject"),
        (line_of(text, "ftp://"), "feeds[0].url"),
        (line_of(text, "./samples"), "feeds[2].url"),
        (line_of(text, "[HSBC Holdings]", 2), "companies.HSBC Bank.aliases"),
        (line_of(text, "subscriber:"), "subscriber"),
        (line_of(text, "langauges"), "subscribers[0].langauges"),
        (line_of(text, "HSCB"), "subscribers[0].companies"),
        (line_of(text, "Asia & Pasific"), "subscribers[0].regions"),
        (line_of(text, "Labour rigths"), "subscribers[0].topics"),
        (line_of(text, "match:"), "subscribers[0].match"),
        (line_of(text, "telegram:"), "subscribers[0].telegram"),
        (line_of(text, "ALEX@"), "subscribers[1].email"),
        (line_of(text, "Second line"), "subscribers[1].name"),
        (line_of(text, "bad address"), "subscribers[2].email"),
    }
    assert all(p.file == str(path) for p in info.value.problems)
    message = str(info.value)  # what `bhrdigest check` prints: one located line per problem
    assert f"{path}:{line_of(text, 'HSCB')}: subscribers[0].companies: unknown company 'HSCB'" in message
    assert len(message.splitlines()) == len(info.value.problems)


# --- never anything but a Config or a ConfigError ------------------------------------------

VALID = yaml.safe_load((FIXTURES / "valid.yaml").read_text(encoding="utf-8"))
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20) | st.sampled_from(
    ["a\r\nb", "Asia & Pacific", "HSBC", "x@example.org", "{token}", "file:///x", "日本語", "no", "~", "- [", "&a *a"])
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | _text
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=8)


def _containers(tree, path=()):
    yield path
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, child in children:
        if isinstance(child, (dict, list)):
            yield from _containers(child, (*path, key))


def _mutate(data, tree):
    """Replace, add or delete one value somewhere in the tree."""
    paths = list(_containers(tree))
    target_path = data.draw(st.sampled_from(paths))
    target = tree
    for key in target_path:
        target = target[key]
    action = data.draw(st.sampled_from(["replace", "add", "delete"]))
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_give_a_config_or_a_config_error(tmp_path, data):
    tree = copy.deepcopy(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(data, tree)
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    if data.draw(st.booleans()):  # raw text damage too: syntax errors, odd characters
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(_text) + text[at:]
    path = write(tmp_path, text)
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, Problem) and p.field for p in exc.problems)
    else:
        assert isinstance(config, Config)
