"""Synthetic but realistic data, seeded: the same seed gives the same bytes.

    World(seed, companies=N)     a catalogue of N companies with aliases, popularity
                                 following a Zipf law (a few are in the news all the time)
    world.subscribers(n)         n subscribers with varied interests (yields, never a list)
    world.items(n)               n feed items shaped like the Resource Centre's: place
                                 prefixes, response titles, quoted source lines, markers,
                                 inline translations, escaped HTML, backdated and missing dates
    feed_xml(items)              RSS 2.0 bytes, as the site serves them
    world.feeds(n, per_feed=…)   the items spread over feeds, some in two feeds at once
    write_config(…)              a subscriptions.yaml for the CLI, written line by line

Nothing here is timed: generation happens before any stopwatch starts.
"""

from __future__ import annotations

import html
import itertools
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from bhrdigest.ingest.tagging import places_data
from bhrdigest.ingest.tagging.places import lookup_place
from bhrdigest.ingest.tagging.text import phrase_key
from bhrdigest.ingest.tagging.topics import BIG_ISSUES
from bhrdigest.model import Catalogue, Company, Subscriber

SITE = "https://www.business-humanrights.org"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; data is dated in the week before it

# Companies that are in the news all the time, with the variants the site uses.
_FAMOUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HSBC", ("HSBC Holdings", "Hongkong and Shanghai Banking Corporation")),
    ("Shell", ("Royal Dutch Shell", "Shell plc")),
    ("Apple", ("Apple Inc.",)),
    ("Cellebrite", ("Cellebrite DI",)),
    ("Nestlé", ("Nestle S.A.",)),
    ("ABN AMRO", ("ABN Amro Bank",)),
    ("Jardine Matheson Group", ("Jardine Matheson", "Jardines")),
    ("Mandarin Oriental Hotel Group", ("Mandarin Oriental hotel",)),
    ("Cathay Pacific", ("Cathay Pacific Airways",)),
    ("Standard Chartered", ("StanChart",)),
    ("Glencore", ("Glencore plc",)),
    ("Rio Tinto", ("Rio Tinto Group",)),
    ("BHP", ("BHP Group", "BHP Billiton")),
    ("Vale", ("Vale S.A.",)),
    ("Adidas", ("adidas AG",)),
    ("Nike", ("Nike Inc.",)),
    ("H&M", ("Hennes & Mauritz", "H&M Group")),
    ("Inditex", ("Zara",)),
    ("Amazon", ("Amazon.com",)),
    ("Meta", ("Facebook", "Meta Platforms")),
    ("Alphabet", ("Google",)),
    ("Microsoft", ()),
    ("Samsung Electronics", ("Samsung",)),
    ("Foxconn", ("Hon Hai Precision Industry",)),
    ("TotalEnergies", ("Total Energies",)),
    ("Chevron", ()),
    ("ExxonMobil", ("Exxon",)),
    ("Unilever", ()),
    ("Procter & Gamble", ("P&G",)),
    ("Coca-Cola", ("The Coca-Cola Company",)),
    ("Tesla", ()),
    ("Volkswagen", ("VW",)),
    ("Siemens", ()),
    ("Ericsson", ()),
    ("Huawei", ()),
    ("NSO Group", ()),
    ("Wilmar International", ("Wilmar",)),
    ("Sime Darby", ()),
    ("Barrick Gold", ("Barrick",)),
    ("Acacia Mining", ("African Barrick Gold",)),
)
_SYLLABLES = [
    "ka", "ro", "ven", "tix", "lor", "mar", "del", "sun", "tek", "ora", "vi", "no", "zen", "bra", "qua", "sel", "dor",
    "fen", "gal", "hir", "jun", "kel", "lum", "mir", "nor", "pel", "quin", "ras", "tor", "ul", "vor", "wex", "yar",
    "zol", "ax", "bel", "cor", "dan", "eri", "fal", "gor", "har", "ist", "jor", "kir", "lan", "mon",
]
_SECTORS = (
    "Mining", "Resources", "Energy", "Garments", "Textiles", "Apparel", "Foods", "Agri", "Palm Oil",
    "Logistics", "Shipping", "Bank", "Capital", "Technologies", "Telecom", "Motors", "Steel", "Cement",
    "Construction", "Pharma", "Retail", "Electronics", "Security", "Hotels", "Airways", "Chemicals",
    "Solar", "Hydro Power", "Plantations", "Seafood", "Footwear", "Minerals", "Data Systems", "Cocoa",
)
_LEGAL = ("Ltd", "plc", "Inc.", "S.A.", "AG", "Group", "Holdings", "Corporation", "Co.", "Limited")
_PREFIX_SPELLINGS = {  # how titles write some places (BHRRC abbreviations)
    "United States": "USA", "United Kingdom": "UK", "Democratic Republic of the Congo": "DRC",
    "South Africa": "So. Africa", "South Korea": "S. Korea", "United Arab Emirates": "UAE",
}
_TOPIC_PHRASES = (
    "forced labour", "child labour", "unpaid wages", "union busting", "living wage", "land grabbing",
    "forced evictions", "deforestation", "water contamination", "surveillance", "spyware", "facial recognition",
    "user data", "intimidation of human rights defenders", "attacks on journalists", "workplace safety",
    "heat stress", "migrant workers", "recruitment fees", "indigenous peoples' consent", "toxic waste",
    "oil spill", "emissions", "armed conflict", "security forces", "illegal settlements", "a lawsuit",
    "mandatory due diligence", "a criminal complaint", "an OECD complaint", "modern slavery", "arms exports",
)
_SOURCES = (
    "Reuters", "The Guardian", "Human Rights Watch", "Amnesty International", "Business Standard",
    "Jerusalem Post", "Mongabay", "Al Jazeera", "Bloomberg", "Financial Times", "Clean Clothes Campaign",
    "Global Witness", "Dhaka Tribune", "The Hindu", "Folha de S.Paulo", "Le Monde", "Deutsche Welle",
    "South China Morning Post", "Kyodo News", "Daily Maverick", "The Wire", "Rappler", "Access Now",
)
_SENTENCES = (
    "{company} said it takes the allegations seriously and has opened an internal review.",
    "Workers told reporters that {topic} had become routine at sites supplying {company}.",
    "The report documents {topic} across {n} facilities in {country}.",
    "Civil society groups urged {company} to publish its supplier list.",
    "According to the complaint, {company} failed to act on warnings from {country2}.",
    "Local communities say they were never consulted before the project began.",
    "The government of {country} has not responded to requests for comment.",
    "Shareholders of {company} asked the board to explain its approach.",
    "A spokesperson for {company} denied any wrongdoing and said it complies with local law.",
    "The company exports most of its output to {country2}, the figures show.",
    "The findings were shared with {company} before publication.",
    "Prices paid to suppliers have fallen, while targets have risen, the study found.",
    "{company} and {company2} are among the firms named in the findings.",
    "Officials in {country} said an inquiry would be opened.",
    "Experts warn that {topic} remains widespread in the sector.",
    "The statement did not say when the review would be completed.",
    "Several buyers, including {company2}, said they were looking into the matter.",
    "Sales in {country2} grew by {n} per cent last year.",
)
_JAPANESE = (
    "…{company}は疑惑について調査を開始したと述べた…",
    "…労働者の権利をめぐり、市民団体が説明を求めている…",
    "…現地の住民は事前の協議がなかったと訴えている…",
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_FIRST = ("Alex", "Sam", "Maria", "Yuki", "Amina", "Chen", "Priya", "Lucas", "Fatima", "Jonas", "Aiko", "Omar",
          "Sofia", "Kwame", "Elena", "Rahul", "Grace", "Mateo", "Nadia", "Tom")  # fmt: skip
_LAST = ("Smith", "García", "Tanaka", "Okafor", "Müller", "Khan", "Silva", "Nguyen", "Cohen", "Rossi",
         "Kim", "Haddad", "Dubois", "Mensah", "Ivanova", "Patel")  # fmt: skip
_DOMAINS = ("example.org", "example.com", "example.net", "ngo.example", "invest.example", "news.example")


@dataclass(frozen=True, slots=True)
class Item:
    """One feed item, as the site would serve it."""

    title: str
    link: str
    description_html: str  # escaped once more when written into the XML
    creator: str | None
    published: datetime | None


class World:
    """Companies, places and topics to draw from, with a seeded random generator."""

    def __init__(self, seed: int, *, companies: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.companies = _make_companies(random.Random(seed + 1), companies)
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.companies))]
        self._company_weights = list(itertools.accumulate(weights))
        self.countries = tuple(places_data.COUNTRIES)
        # Where the news is: a few countries carry much of it.
        self._country_weights = list(itertools.accumulate(1.0 / (r + 1) ** 0.7 for r in range(len(self.countries))))
        self.rng.shuffle(countries := list(self.countries))
        self.countries = tuple(countries)
        self._serial = itertools.count(1)

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(companies=self.companies)

    def company(self, rng: random.Random | None = None) -> Company:
        rng = rng or self.rng
        return rng.choices(self.companies, cum_weights=self._company_weights)[0]

    def country(self, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        return rng.choices(self.countries, cum_weights=self._country_weights)[0]

    # --- subscribers ---------------------------------------------------------------

    def subscribers(self, n: int, *, seed: int | None = None, telegram_every: int = 0) -> Iterator[Subscriber]:
        """`n` subscribers, the same for the same seed whatever else was generated."""
        rng = random.Random(self.seed + 7 if seed is None else seed)
        for i in range(n):
            telegram = 700_000_000 + i if telegram_every and i % telegram_every == 0 else None
            yield self._subscriber(rng, i, telegram)

    def _subscriber(self, rng: random.Random, i: int, telegram: int | None) -> Subscriber:
        kind = rng.random()
        companies: list[str] = []
        places: list[str] = []
        topics: list[str] = []
        if kind < 0.25:  # a region watcher
            places = [rng.choice(places_data.BHRRC_REGIONS)]
        elif kind < 0.35:  # a country desk
            places = [self.country(rng) for _ in range(rng.randint(1, 3))]
        elif kind < 0.50:  # an issue specialist
            topics = rng.sample(BIG_ISSUES, rng.randint(1, 2))
        else:  # company watchers: investors, company teams, journalists
            companies = [self.company(rng).name for _ in range(rng.choice((1, 1, 2, 3, 5, 8)))]
            if rng.random() < 0.3:
                places = [rng.choice(places_data.BHRRC_REGIONS)]
            if rng.random() < 0.2:
                topics = [rng.choice(BIG_ISSUES)]
        facets = sum(bool(f) for f in (companies, places, topics))
        languages = rng.choices((("en",), ("en", "ja"), ("es", "en"), ("fr", "en")), weights=(80, 10, 5, 5))[0]
        return Subscriber(
            email=f"reader{i:06d}@{_DOMAINS[i % len(_DOMAINS)]}",
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" if rng.random() < 0.8 else "",
            languages=languages,
            companies=tuple(dict.fromkeys(companies)),
            places=tuple(dict.fromkeys(places)),
            topics=tuple(dict.fromkeys(topics)),
            match_all=facets >= 2 and rng.random() < 0.15,
            telegram=telegram,
        )

    # --- feed items ------------------------------------------------------------------

    def items(self, n: int, *, now: datetime = NOW) -> list[Item]:
        return [self._item(now) for _ in range(n)]

    def _item(self, now: datetime) -> Item:
        rng = self.rng
        serial = next(self._serial)
        company, other = self.company(), self.company()
        country = self.country()
        kind = rng.random()
        if kind < 0.06:
            title = f"{company.name}'s response"
        elif kind < 0.09:
            title = f"{company.name} did not respond"
        else:
            title = self._headline(company, other, country)
        slug = "-".join(phrase_key(title)[:10]) or "item"
        link = f"{SITE}/en/latest-news/{slug}-{serial}/"
        published = now - timedelta(seconds=rng.randint(0, 7 * 86400))
        dice = rng.random()
        if dice < 0.05:
            published -= timedelta(days=rng.randint(30, 400))  # backdated: new to us all the same
        elif dice < 0.08:
            published = None
        source = company.name if kind < 0.06 else rng.choice(_SOURCES)
        author_in_body = rng.random() < 0.2  # the older site's convention
        body = self._description(company, other, country, source if author_in_body else None, published)
        return Item(title, link, body, None if author_in_body else source, published)

    def _headline(self, company: Company, other: Company, country: str) -> str:
        rng = self.rng
        topic = rng.choice(_TOPIC_PHRASES)
        name = rng.choice((company.name, *company.aliases)) if company.aliases else company.name
        text = rng.choice((
            f"{name} accused of {topic} at supplier factories",
            f"Workers at {name} subcontractor protest over {topic}",
            f"NGOs urge {name} and {other.name} to address {topic}",
            f"Court admits case against {name} over {topic}",
            f"Investors press {name} on {topic}",
            f"Report links {name} to {topic}",
        ))  # fmt: skip
        roll = rng.random()
        if roll < 0.47:
            return f"{_PREFIX_SPELLINGS.get(country, country)}: {text}"
        if roll < 0.55:
            second = self.country()
            return f"{_PREFIX_SPELLINGS.get(country, country)} & {second}: {text}"
        return text[0].upper() + text[1:]

    def _description(self, company: Company, other: Company, country: str, author: str | None,
                     published: datetime | None) -> str:
        rng = self.rng
        paragraphs = []
        if author:
            paragraphs.append(f"Author: {author}")
        day = (published or NOW) - timedelta(days=rng.randint(0, 3))
        headline = f"{company.name} faces questions over {rng.choice(_TOPIC_PHRASES)}"
        paragraphs.append(f"<em>“{html.escape(headline)}”</em>, {day.day} {_MONTHS[day.month - 1]} {day.year}")
        for _ in range(rng.randint(1, 2)):
            sentences = [self._sentence(company, other, country) for _ in range(rng.randint(2, 4))]
            paragraphs.append("…" + " ".join(sentences) + "…")
        if rng.random() < 0.35:
            named = [self.company().name for _ in range(rng.randint(1, 3))]
            paragraphs.append(f"[Also referred to {', '.join(dict.fromkeys(named))}]")
        if rng.random() < 0.5:
            paragraphs.append(f'<a href="{SITE}/en/latest-news/source/">Read the full post here</a>')
        if rng.random() < 0.05:
            paragraphs += ["+ 日本語 - Hide", "Author: 東京新聞", rng.choice(_JAPANESE).format(company=company.name)]
        return "".join(f"<p>{p if p.startswith(('<', 'Author')) else _escape_text(p)}</p>" for p in paragraphs)

    def _sentence(self, company: Company, other: Company, country: str) -> str:
        rng = self.rng
        return rng.choice(_SENTENCES).format(
            company=company.name, company2=other.name, country=country, country2=self.country(),
            topic=rng.choice(_TOPIC_PHRASES), n=rng.randint(3, 400),
        )  # fmt: skip

    def feeds(self, components: int, *, per_feed: int = 100, shared: float = 0.1) -> list[bytes]:
        """`components` items over feeds of about `per_feed`; a `shared` part also sits in a second feed."""
        items = self.items(components)
        count = max(1, -(-components // per_feed))
        groups: list[list[Item]] = [items[i::count] for i in range(count)]
        if count > 1:
            for item in self.rng.sample(items, int(len(items) * shared)):
                self.rng.choice(groups).append(item)  # the same component under another topic's feed
        return [feed_xml(group, title=f"Latest news {i}") for i, group in enumerate(groups)]


def _escape_text(text: str) -> str:
    return html.escape(text, quote=False)


def feed_xml(items: Iterable[Item], *, title: str = "Latest news") -> bytes:
    """RSS 2.0 in the site's shape: description is escaped HTML, dc:creator the source."""
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{html.escape(title)} - Business &amp; Human Rights Resource Centre</title>\n"
        f"<link>{SITE}/en/latest-news/</link>\n<description>Latest news</description>\n<language>en</language>\n"
    )
    out = [head]
    for item in items:
        out.append(
            f"<item>\n<title>{html.escape(item.title, quote=False)}</title>\n<link>{item.link}</link>\n"
            f"<description>{html.escape(item.description_html, quote=False)}</description>\n"
        )
        if item.creator:
            out.append(f"<dc:creator>{html.escape(item.creator, quote=False)}</dc:creator>\n")
        if item.published:
            out.append(f"<pubDate>{format_datetime(item.published)}</pubDate>\n")
        out.append(f"<guid>{item.link}</guid>\n</item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


# --- the catalogue ----------------------------------------------------------------------


def _make_companies(rng: random.Random, n: int) -> tuple[Company, ...]:
    taken: set[tuple[str, ...]] = set()
    companies: list[Company] = []

    def free(spelling: str) -> bool:
        key = phrase_key(spelling)
        return bool(key) and key not in taken

    for name, aliases in _FAMOUS[:n]:
        kept = tuple(a for a in aliases if free(a) and a != name)
        taken.update(phrase_key(s) for s in (name, *kept))
        companies.append(Company(name, kept))
    for stem in _stems(rng):
        if len(companies) >= n:
            break
        sector = rng.choice(_SECTORS)
        name = f"{stem} {sector}" + (f" {rng.choice(_LEGAL)}" if rng.random() < 0.3 else "")
        if not free(name):
            continue
        candidates = [stem] if rng.random() < 0.6 else []
        if rng.random() < 0.5:
            candidates.append(f"{stem} {sector} {rng.choice(_LEGAL)}")
        if rng.random() < 0.15:
            candidates.append(f"{stem} {rng.choice(_SECTORS)} Group")  # a former or group name
        if rng.random() < 0.1:
            candidates.append("".join(word[0] for word in f"{stem} {sector}".split()).upper() + "X")
        aliases = []
        taken.add(phrase_key(name))
        for alias in candidates:
            if free(alias) and len(phrase_key(alias)[0]) > 2:
                taken.add(phrase_key(alias))
                aliases.append(alias)
        companies.append(Company(name, tuple(aliases)))
    return tuple(companies)


def _stems(rng: random.Random) -> Iterator[str]:
    """Invented brand names (never a place or a common word), unique, in random order."""
    combos = [a + b for a in _SYLLABLES for b in _SYLLABLES if a != b]
    combos += [a + b + c for a, b, c in itertools.product(_SYLLABLES, repeat=3) if len({a, b, c}) == 3]
    rng.shuffle(combos)
    for combo in combos:
        stem = combo.capitalize()
        if lookup_place(stem) is None:
            yield stem


# --- subscriptions.yaml -------------------------------------------------------------------


def write_config(path: Path, world: World, subscribers: Iterable[Subscriber], feeds: Sequence[Path]) -> int:
    """A subscriptions.yaml for the CLI; strings are JSON-quoted (valid YAML). Returns subscribers written."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "sender:\n"
            '  from: "Business & Human Rights Resource Centre <updates@example.org>"\n'
            '  unsubscribe_url: "https://digest.example.org/u/{token}"\n'
            '  unsubscribe_mailto: "unsubscribe@example.org"\n'
            "  list_id: weekly.bhrdigest.example.org\n"
            "digest:\n  max_items: 40\n  period_days: 7\n"
            "feeds:\n"
        )
        out.writelines(f"  - url: {json.dumps(str(feed))}\n" for feed in feeds)
        out.write("companies:\n")
        for company in world.companies:
            aliases = ", ".join(json.dumps(a, ensure_ascii=False) for a in company.aliases)
            out.write(f"  {json.dumps(company.name, ensure_ascii=False)}: {{aliases: [{aliases}]}}\n")
        out.write("subscribers:\n")
        for s in subscribers:
            out.write(f"  - email: {s.email}\n")
            if s.name:
                out.write(f"    name: {json.dumps(s.name, ensure_ascii=False)}\n")
            out.write(f"    languages: [{', '.join(s.languages)}]\n")
            for key, values in (("companies", s.companies), ("regions", s.places), ("topics", s.topics)):
                if values:
                    out.write(f"    {key}: [{', '.join(json.dumps(v, ensure_ascii=False) for v in values)}]\n")
            if s.match_all:
                out.write("    match: all\n")
            if s.telegram is not None:
                out.write(f"    telegram: {s.telegram}\n")
            count += 1
    return count
