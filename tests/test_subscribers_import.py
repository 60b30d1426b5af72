"""Subscribers in the database beside subscriptions.yaml: `subscribers import`, `export`, the
merged list, and `send`/`preview`/the web pages seeing both; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.model import Catalogue, Company, Subscriber
from bhrdigest.store import subscribers as store
from bhrdigest.store.roster import load_roster, write_roster

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = Path(__file__).parent / "fixtures" / "imports"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
YAML_SUBSCRIBERS = """
  - email: alex@example.org
    name: Alex
    companies: [Cellebrite]
"""


def write_config(folder: Path, subscribers: str = YAML_SUBSCRIBERS) -> Path:
    path = folder / "subscriptions.yaml"
    path.write_text(f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  list_id: weekly.bhrdigest.example.org
feeds:
  - url: {ROOT / "samples" / "latest-news-en.xml"}
companies:
  Cellebrite: {{}}
  Nasdaq: {{}}
  Sun Corporation: {{}}
subscribers:{subscribers}""", encoding="utf-8")
    return path


@pytest.fixture
def cli(database_url, tmp_path):
    env = {"BHRDIGEST_CONFIG": str(write_config(tmp_path)), "DATABASE_URL": database_url, "SMTP_URL": "",
           "BHRDIGEST_OUTBOX": str(tmp_path / "outbox"), "BHRDIGEST_SECRET": "", "TELEGRAM_BOT_TOKEN": "",
           "DYNO": ""}

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    invoke.tmp = tmp_path
    assert invoke("db", "upgrade").exit_code == 0  # a database is never created silently
    return invoke


def listed(cli) -> dict[str, dict]:
    result = cli("subscribers", "--json")
    assert result.exit_code == 0, result.output
    return {line["email"]: line for line in map(json.loads, result.output.splitlines())}


# --- import: the report, the guard, idempotence ----------------------------------------


def test_dry_run_reports_new_invalid_with_line_and_suggestion_and_writes_nothing(cli):
    result = cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "new: 2" in out and "invalid: 4" in out
    assert "line 4: cy@example.org: unknown company 'Celebrite': did you mean 'Cellebrite'?" in out
    assert "line 5: dee@example.org: match must be 'any' or 'all', not 'sometimes'" in out
    assert "line 6: eve@example.org: unknown place 'Atlantis'" in out
    assert "line 7: fay@example.org: 'xx' is not a known language code" in out
    assert "dry run: nothing written" in out
    assert set(listed(cli)) == {"alex@example.org"}


def test_import_asks_first_and_a_no_writes_nothing(cli):
    refused = cli("subscribers", "import", str(IMPORTS / "ours.csv"), input="n\n")
    assert refused.exit_code == 1 and "Write 2 new and 0 updated subscribers to the database?" in refused.output
    assert "not imported; nothing was changed" in refused.output and "Aborted" not in refused.output
    assert set(listed(cli)) == {"alex@example.org"}


def test_import_with_no_answer_at_all_says_to_run_it_in_a_terminal_or_pass_yes(cli):
    refused = cli("subscribers", "import", str(IMPORTS / "ours.csv"), input="")  # a script, stdin closed
    assert refused.exit_code == 1, refused.output
    assert "nobody said yes" in refused.output and "--yes" in refused.output and "Aborted" not in refused.output
    assert set(listed(cli)) == {"alex@example.org"}


def test_import_writes_valid_rows_exits_3_for_invalid_ones_and_a_rerun_changes_nothing(cli):
    first = cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    assert first.exit_code == 3, first.output  # partly done: the invalid rows are named above
    assert "imported: 2 new, 0 updated" in first.output
    people = listed(cli)
    assert people["ana@example.org"]["source"] == "import"
    assert people["ana@example.org"]["companies"] == ["Cellebrite", "Nasdaq"]
    assert people["ana@example.org"]["languages"] == ["en", "es"]
    assert people["ben@example.org"]["match"] == "all"
    assert people["ben@example.org"]["places"] == ["Americas"]
    again = cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    assert "new: 0" in again.output and "unchanged: 2" in again.output
    assert "nothing to change" in again.output
    assert listed(cli) == people


def test_a_changed_row_is_reported_as_updated_with_its_fields_and_keeps_its_id(cli, tmp_path, database_url):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    changed = tmp_path / "changed.csv"
    changed.write_text("email,companies\nANA@example.org,Nasdaq\n", encoding="utf-8")
    result = cli("subscribers", "import", str(changed), "--yes")
    assert result.exit_code == 0, result.output
    assert "updated: 1" in result.output and "ana@example.org: companies" in result.output
    ana = listed(cli)["ana@example.org"]
    assert ana["companies"] == ["Nasdaq"]
    assert ana["name"] == "Ana" and ana["languages"] == ["en", "es"]  # columns the file lacks are kept


def test_mailchimp_audience_export_is_understood(cli):
    result = cli("subscribers", "import", str(IMPORTS / "mailchimp_audience.csv"), "--yes")
    assert result.exit_code == 3, result.output
    out = result.output
    assert "8 rows" in out and "new: 4" in out
    assert "line 3" not in out.split("invalid")[1].split("duplicates")[0]  # María is fine
    assert "line 6: no-interest@example.com: follows nothing" in out
    assert "line 7: bad-address@: email 'bad-address@' must look like name@domain" in out
    assert "line 8: maria.lopez@example.net: same address as line 3" in out
    assert "line 2: alex@example.org: in subscriptions.yaml, which wins" in out
    assert "columns ignored: Address, Phone Number, MEMBER_RATING" in out
    assert "VIP (2 rows)" in out and "Newsletter (1 row)" in out
    people = listed(cli)
    maria = people["maria.lopez@example.net"]
    assert (maria["name"], maria["languages"], maria["companies"], maria["places"]) == (
        "María López", ["es"], ["Cellebrite"], ["Americas"])
    assert people["jun@example.jp"]["topics"] == ["Technology & human rights"]
    assert people["chris@example.com"]["languages"] == ["en"]  # "English"
    assert people["fleur@example.org"]["languages"] == ["fr-CA"]  # Mailchimp's fr_CA
    assert people["alex@example.org"]["source"] == "yaml" and people["alex@example.org"]["conflict"] is None


def test_the_unsubscribed_export_of_mailchimp_subscribes_nobody(cli):
    result = cli("subscribers", "import", str(IMPORTS / "mailchimp_unsubscribed.csv"), "--yes")
    assert "unsubscribed or cleaned in the exported list (left out): 1" in result.output
    assert "gone@example.org" not in listed(cli)


def test_an_unsubscribed_address_stays_unsubscribed_when_imported(cli):
    cli("unsubscribe", "ana@example.org")
    result = cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    assert "unsubscribed earlier, will stay unsubscribed: 1" in result.output
    assert listed(cli)["ana@example.org"]["status"] == "unsubscribed"


@pytest.mark.parametrize(("content", "message"), [
    (b"name,companies\nAna,Nasdaq\n", "no email column among name, companies"),
    (b"", "the file is empty"),
    ("email,name\nana@example.org,Jos\xe9\n".encode("latin-1"), "not UTF-8 text"),
])
def test_a_file_that_cannot_be_imported_is_named_without_a_traceback(cli, tmp_path, content, message):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    result = cli("subscribers", "import", str(bad))
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_a_name_that_would_inject_an_email_header_is_refused(cli, tmp_path):
    sneaky = tmp_path / "sneaky.csv"
    sneaky.write_text('email,name,companies\nana@example.org,"Ana\r\nBcc: x@evil.example",Nasdaq\n'
                      "ben@example.org,=?utf-8?b?PHhAZXZpbD4=?=,Nasdaq\n", encoding="utf-8")
    result = cli("subscribers", "import", str(sneaky), "--yes")
    assert "line 2: ana@example.org: the name contains a line break" in result.output
    assert "line 4: ben@example.org: the name contains an RFC 2047 encoded word" in result.output
    assert set(listed(cli)) == {"alex@example.org"}


def test_a_semicolon_separated_spreadsheet_export_is_read(cli, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("E-mail;Name;Companies;Regions;Countries\nzoe@example.org;Zoë;Cellebrite|Nasdaq;Africa;Brazil\n",
                     encoding="utf-8-sig")
    assert cli("subscribers", "import", str(sheet), "--yes").exit_code == 0
    zoe = listed(cli)["zoe@example.org"]
    assert (zoe["name"], zoe["companies"], zoe["places"]) == ("Zoë", ["Cellebrite", "Nasdaq"], ["Africa", "Brazil"])


# --- one address, one subscriber: the merge ---------------------------------------------


def test_an_address_in_yaml_and_database_is_the_yamls_and_the_list_shows_the_conflict(cli, tmp_path):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    write_config(tmp_path, YAML_SUBSCRIBERS + "  - email: Ana@example.org\n    companies: [Sun Corporation]\n")
    ana = listed(cli)["ana@example.org"]
    assert ana["source"] == "yaml" and ana["companies"] == ["Sun Corporation"]
    assert ana["conflict"] == "also in the database (import); subscriptions.yaml wins"
    text = cli("subscribers").output
    assert "1 in both the YAML and the database (the YAML wins)" in text
    assert sum(1 for line in text.splitlines() if line.startswith("ana@example.org")) == 1


def test_send_and_preview_reach_database_subscribers(cli):
    assert cli("fetch").exit_code == 0
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    preview = cli("preview", "ana@example.org", "--text")
    assert preview.exit_code == 0, preview.output
    assert "Cellebrite" in preview.output
    sent = cli("send", "--yes", "--outbox", str(cli.tmp / "outbox"))
    assert sent.exit_code == 0, sent.output
    recipients = {line.split(":", 1)[1].strip() for eml in (cli.tmp / "outbox").rglob("*.eml")
                  for line in eml.read_text(encoding="utf-8").splitlines() if line.startswith("To:")}
    assert recipients == {"Alex <alex@example.org>", "Ana <ana@example.org>"}  # Ben follows nothing new


def test_status_counts_yaml_and_database_subscribers_once_each(cli):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    assert json.loads(cli("status", "--json").output)["subscribers"] == 3  # alex (YAML), ana and ben


def test_preview_of_an_address_listed_nowhere_says_so(cli):
    result = cli("preview", "nobody@example.org")
    assert result.exit_code == 1 and "neither in" in result.output and "nor imported" in result.output


def test_preview_of_an_unsubscribed_subscriber_says_when_and_how(cli):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    cli("unsubscribe", "ana@example.org")
    result = cli("preview", "ana@example.org")
    assert result.exit_code == 0 and "ana@example.org unsubscribed on " in result.output
    assert "(by staff): no digest is made for them" in result.output  # as `send --only` says it


# --- export -------------------------------------------------------------------------------


def test_export_carries_everyone_with_source_and_suppression_and_reimports_unchanged(cli, tmp_path):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    cli("unsubscribe", "ben@example.org")
    out = tmp_path / "everyone.csv"
    result = cli("subscribers", "export", "-o", str(out))
    assert result.exit_code == 0 and "3 subscribers" in result.output
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    assert (rows["alex@example.org"]["source"], rows["ana@example.org"]["source"]) == ("yaml", "import")
    assert rows["ben@example.org"]["status"] == "unsubscribed"
    assert rows["ben@example.org"]["unsubscribe_reason"] == "staff"
    assert rows["ana@example.org"]["companies"] == "Cellebrite; Nasdaq"
    again = cli("subscribers", "import", str(out), "--yes")
    assert "new: 0" in again.output and "unchanged: 2" in again.output and "nothing to change" in again.output
    as_json = json.loads(cli("subscribers", "export", "--format", "json").output)
    assert [p["email"] for p in as_json] == ["alex@example.org", "ana@example.org", "ben@example.org"]


def test_export_to_a_json_file_writes_json_unless_told_otherwise(cli, tmp_path):
    cli("subscribers", "import", str(IMPORTS / "ours.csv"), "--yes")
    assert cli("subscribers", "export", "-o", str(tmp_path / "everyone.json")).exit_code == 0
    assert cli("subscribers", "export", "--format", "csv", "-o", str(tmp_path / "odd.json")).exit_code == 0
    people = json.loads((tmp_path / "everyone.json").read_text(encoding="utf-8"))
    assert {"alex@example.org", "ana@example.org"} <= {p["email"] for p in people}
    assert (tmp_path / "odd.json").read_text(encoding="utf-8").startswith("email,name,")


# --- the store ------------------------------------------------------------------------------


def test_writing_the_same_subscribers_twice_keeps_one_row_each(engine):
    ana = Subscriber("ana@example.org", "Ana", companies=("Nasdaq",))
    assert write_roster(engine, new=[ana], changed=[], source="import", now=NOW) == 1
    assert write_roster(engine, new=[ana], changed=[], source="import", now=NOW) == 0
    [stored] = load_roster(engine)
    assert stored.subscriber == ana and stored.source == "import" and stored.created_at == NOW


def test_database_subscribers_follow_only_what_the_catalogue_still_has(engine):
    write_roster(engine, new=[Subscriber("ana@example.org", companies=("Nasdaq", "Gone Corp"))], changed=[],
                 source="import", now=NOW)
    catalogue = Catalogue(companies=(Company("Nasdaq"),))
    [ana] = store.effective_subscribers(engine, [], catalogue)
    assert ana.companies == ("Nasdaq",)


def test_web_preferences_and_suppressions_apply_to_database_subscribers(engine):
    write_roster(engine, new=[Subscriber("ana@example.org", companies=("Nasdaq",)),
                              Subscriber("ben@example.org", companies=("Nasdaq",))],
                 changed=[], source="import", now=NOW)
    catalogue = Catalogue(companies=(Company("Nasdaq"), Company("Cellebrite")))
    store.save_preferences(engine, "ana@example.org", companies=["Cellebrite"], places=None, topics=None,
                           languages=None, now=NOW)
    store.suppress(engine, "ben@example.org", "one-click", now=NOW)
    assert [(s.email, s.companies) for s in store.effective_subscribers(engine, [], catalogue)] == [
        ("ana@example.org", ("Cellebrite",))]


def test_the_web_pages_find_an_imported_subscriber(engine, tmp_path):
    from bhrdigest.config.preferences import Choices

    config = load_config(write_config(tmp_path))
    in_yaml = {s.email: s for s in config.subscribers}
    choices = Choices(config.catalogue)
    assert store.find_subscriber(engine, in_yaml, choices, "ana@example.org") is None
    write_roster(engine, new=[Subscriber("ana@example.org", companies=("Nasdaq",))], changed=[],
                 source="import", now=NOW)
    found = store.find_subscriber(engine, in_yaml, choices, "ANA@example.org")
    assert found is not None and found.companies == ("Nasdaq",)
    assert store.find_subscriber(engine, in_yaml, choices, "alex@example.org") == in_yaml["alex@example.org"]
