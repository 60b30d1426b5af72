"""Topics: BHRRC's six big issues, older fine-grained issues under them, and YAML topics.

A topic is found when one of its keywords occurs in a text: word-bounded, any case,
accents folded, a final `s`/`ies` plural accepted (`lawsuit` finds `lawsuits`). A
fine-grained topic brings its big issue (Child labour -> Labour rights). Topics from
subscriptions.yaml add new topics, or extend a built-in one's keywords when named alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from bhrdigest.ingest.tagging.text import PhraseIndex, phrase_key, words

LABOUR = "Labour rights"
RESOURCES = "Natural resources & just transition"
TECH = "Technology & human rights"
CIVIC = "Civic freedoms & human rights defenders"
LEGAL = "Corporate legal accountability"
CONFLICT = "Conflict & security"
BIG_ISSUES = (LABOUR, RESOURCES, TECH, CIVIC, LEGAL, CONFLICT)


def _kw(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split("|") if k.strip())


BUILTIN_TOPICS: dict[str, tuple[str, ...]] = {
    LABOUR: _kw(
        "labour rights|labor rights|workers' rights|worker rights|workers|labour|labor|working conditions|"
        "garment workers|factory workers|supply chain workers|trade union|union busting|workers' strike|"
        "labour strike|general strike|went on strike|wage|wages|"
        "overtime|dismissed workers|layoffs|sweatshop|derechos laborales|trabajadores|condiciones laborales|"
        "droits du travail|travailleurs|conditions de travail|Arbeitsrechte|Arbeitnehmer|Arbeitsbedingungen|"
        "労働|労働者|劳工|工人"
    ),
    RESOURCES: _kw(
        "natural resources|just transition|mining|mines|miners|extractive|extractives|oil and gas|oil company|"
        "oil spill|fossil fuel|coal|gas field|oil pipeline|gas pipeline|renewable energy|solar|wind farm|"
        "wind power|hydropower|"
        "dam|transition minerals|cobalt|lithium|nickel|copper|gold mine|palm oil|deforestation|"
        "agribusiness|plantation|illegal logging|environmental damage|environmental destruction|"
        "environmental impact|pollution|toxic waste|water contamination|"
        "minería|recursos naturales|transición justa|exploitation minière|ressources naturelles|"
        "transition juste|Bergbau|Rohstoffe|gerechter Übergang|鉱山|採掘|矿山|采矿"
    ),
    TECH: _kw(
        "technology|tech companies|tech company|tech firms|tech giants|digital rights|surveillance|spyware|"
        "phone hacking|hacking|facial recognition|artificial intelligence|AI|algorithm|algorithmic|"
        "social media|online platforms|content moderation|user data|data requests|personal data|privacy|"
        "data protection|encryption|VPN|internet shutdown|app store|cybersecurity|tecnología|vigilancia|"
        "technologie|surveillance numérique|Technologie|Überwachung|監視|テクノロジー|监控|科技"
    ),
    CIVIC: _kw(
        "civic freedoms|civic space|human rights defenders|human rights defender|HRDs|activist|activists|"
        "protest|protests|protesters|demonstrators|crackdown|freedom of expression|freedom of speech|"
        "free speech|freedom of assembly|freedom of association|press freedom|journalist|journalists|"
        "censorship|national security law|fundamental freedoms|civil liberties|civil and political rights|"
        "democracy|pro-democracy|harassment of|intimidation|defensores de derechos humanos|libertades cívicas|"
        "défenseurs des droits humains|libertés civiques|Menschenrechtsverteidiger|Zivilgesellschaft|"
        "人権活動家|国家安全維持法|国家安全法|国安法|活动人士"
    ),
    LEGAL: _kw(
        "corporate legal accountability|legal accountability|corporate accountability|lawsuit|lawsuits|"
        "litigation|sued|sues|court|courts|tribunal|class action|legal action|legal case|judgment|verdict|"
        "prosecution|prosecutors|criminal complaint|complaint filed|OECD complaint|National Contact Point|"
        "mandatory due diligence|due diligence law|due diligence legislation|binding treaty|remedy|"
        "compensation|liability|demanda|juicio|plainte|procès|devoir de vigilance|Klage|Gericht|"
        "Lieferkettengesetz|Sorgfaltspflicht|訴訟|裁判|诉讼|法院"
    ),
    CONFLICT: _kw(
        "conflict|armed conflict|war|military|army|armed forces|junta|coup|occupation|occupied|"
        "security forces|private security|security guards|weapons|arms trade|arms exports|arms embargo|"
        "genocide|war crimes|crimes against humanity|ceasefire|invasion|airstrike|bombing|militia|"
        "conflict-affected|high-risk areas|illegal settlements|Israeli settlements|"
        "guerra|conflicto armado|conflit armé|guerre|Krieg|bewaffneter Konflikt|紛争|戦争|軍事|冲突|战争|军方"
    ),
    # Older fine-grained issues, each under one big issue (TOPIC_PARENTS).
    "Forced labour & modern slavery": _kw(
        "forced labour|forced labor|modern slavery|slavery|slave labour|human trafficking|trafficking|"
        "bonded labour|debt bondage|trabajo forzoso|esclavitud moderna|travail forcé|esclavage moderne|"
        "Zwangsarbeit|moderne Sklaverei|強制労働|强迫劳动"
    ),
    "Child labour": _kw(
        "child labour|child labor|child workers|trabajo infantil|travail des enfants|Kinderarbeit|児童労働|童工"
    ),
    "Living wage": _kw(
        "living wage|minimum wage|wage theft|unpaid wages|poverty wages|salario digno|salario mínimo|"
        "salaire vital|salaire minimum|existenzsichernder Lohn|Mindestlohn|最低賃金|生活賃金|最低工资"
    ),
    "Freedom of association": _kw(
        "freedom of association|trade union|trade unions|union busting|collective bargaining|unionise|"
        "unionize|union leader|sindicato|libertad sindical|syndicat|liberté syndicale|Gewerkschaft|労働組合|工会"
    ),
    "Health & safety": _kw(
        "occupational safety|health and safety|workplace safety|factory fire|building collapse|"
        "workplace deaths|worker deaths|heat stress|seguridad laboral|santé et sécurité|Arbeitsschutz|労働安全"
    ),
    "Migrant workers": _kw(
        "migrant workers|migrant worker|migrant labour|kafala|recruitment fees|trabajadores migrantes|"
        "travailleurs migrants|Wanderarbeiter|移住労働者|外国人労働者|技能実習|农民工"
    ),
    "Land rights": _kw(
        "land rights|land grab|land grabbing|land dispute|forced eviction|forced evictions|eviction|evictions|"
        "displacement|derechos territoriales|despojo de tierras|droits fonciers|accaparement des terres|"
        "Landrechte|Landraub|土地収奪|土地权"
    ),
    "Indigenous peoples": _kw(
        "indigenous|indigenous peoples|free prior and informed consent|FPIC|traditional owners|"
        "pueblos indígenas|peuples autochtones|autochtones|indigene Völker|先住民|原住民"
    ),
    "Climate change": _kw(
        "climate change|climate crisis|climate|emissions|greenhouse gas|carbon|net zero|global warming|"
        "cambio climático|changement climatique|Klimawandel|気候変動|气候变化"
    ),
    "Privacy": _kw(
        "privacy|data protection|personal data|user data|data requests|GDPR|privacidad|vie privée|"
        "Datenschutz|プライバシー|个人数据|隐私"
    ),
    "Surveillance": _kw(
        "surveillance|spyware|phone hacking|facial recognition|Pegasus|forensic tools|mass surveillance|"
        "vigilancia|Überwachung|監視|监控"
    ),
    "Freedom of expression": _kw(
        "freedom of expression|freedom of speech|free speech|censorship|press freedom|libertad de expresión|"
        "liberté d'expression|Meinungsfreiheit|Pressefreiheit|表現の自由|言论自由|言論自由"
    ),
    "Human rights defenders": _kw(
        "human rights defenders|human rights defender|HRDs|environmental defenders|land defenders|"
        "defensores de derechos humanos|défenseurs des droits humains|Menschenrechtsverteidiger|人権擁護者"
    ),
    "SLAPPs": _kw(
        "SLAPP|SLAPPs|strategic lawsuit against public participation|strategic lawsuits|judicial harassment"
    ),
    "Mandatory due diligence": _kw(
        "mandatory due diligence|mandatory human rights due diligence|mHRDD|due diligence law|"
        "due diligence directive|CSDDD|CS3D|supply chain law|duty of vigilance|devoir de vigilance|"
        "Lieferkettengesetz|debida diligencia obligatoria"
    ),
}

TOPIC_PARENTS: dict[str, str] = {
    "Forced labour & modern slavery": LABOUR,
    "Child labour": LABOUR,
    "Living wage": LABOUR,
    "Freedom of association": LABOUR,
    "Health & safety": LABOUR,
    "Migrant workers": LABOUR,
    "Land rights": RESOURCES,
    "Indigenous peoples": RESOURCES,
    "Climate change": RESOURCES,
    "Privacy": TECH,
    "Surveillance": TECH,
    "Freedom of expression": CIVIC,
    "Human rights defenders": CIVIC,
    "SLAPPs": CIVIC,
    "Mandatory due diligence": LEGAL,
}

# Other names people use for a topic: accepted in configuration and feed categories.
TOPIC_ALIASES: dict[str, str] = {
    "Labor rights": LABOUR, "Labour": LABOUR, "Labor": LABOUR, "Workers' rights": LABOUR,
    "Natural resources": RESOURCES, "Just transition": RESOURCES, "Environment": RESOURCES,
    "Tech & human rights": TECH, "Technology": TECH, "Digital rights": TECH,
    "Civic freedoms": CIVIC, "Civic space": CIVIC,
    "Legal accountability": LEGAL, "Corporate accountability": LEGAL, "Access to remedy": LEGAL,
    "Conflict": CONFLICT, "Conflict and security": CONFLICT,
    "Forced labour": "Forced labour & modern slavery", "Forced labor": "Forced labour & modern slavery",
    "Modern slavery": "Forced labour & modern slavery", "Child labor": "Child labour",
    "Living wages": "Living wage", "Wages": "Living wage", "Trade unions": "Freedom of association",
    "Occupational health & safety": "Health & safety", "Migrant labour": "Migrant workers",
    "Indigenous people": "Indigenous peoples", "Climate": "Climate change",
    "Free speech": "Freedom of expression", "HRDs": "Human rights defenders", "SLAPP": "SLAPPs",
    "Mandatory human rights due diligence": "Mandatory due diligence", "mHRDD": "Mandatory due diligence",
}

_NONE: Mapping[str, Sequence[str]] = MappingProxyType({})  # no YAML topics
_BUILTIN_KEYS: dict[tuple[str, ...], str] = {
    **{phrase_key(alias): topic for alias, topic in TOPIC_ALIASES.items()},
    **{phrase_key(topic): topic for topic in BUILTIN_TOPICS},
}


def lookup_topic(name: str, extra: Mapping[str, Sequence[str]] = _NONE) -> str | None:
    """The canonical topic this name means (any case, `&` = `and`), built-in or from `extra`."""
    key = phrase_key(name)
    if not key:
        return None
    if key in _BUILTIN_KEYS:
        return _BUILTIN_KEYS[key]
    return next((topic.strip() for topic in extra if phrase_key(topic) == key), None)


def all_topic_names(extra: Mapping[str, Sequence[str]] = _NONE) -> list[str]:
    """Canonical names of every topic: built-in ones, then new ones from `extra`."""
    names = dict.fromkeys(BUILTIN_TOPICS)
    names.update(dict.fromkeys(lookup_topic(t, extra) or t.strip() for t in extra))
    return list(names)


class TopicIndex:
    """Keyword index of every topic, built-in and `extra` (name -> keywords)."""

    def __init__(self, extra: Mapping[str, Sequence[str]] = _NONE) -> None:
        self._extra = dict(extra)
        self._phrases: PhraseIndex[str] = PhraseIndex()
        keywords: dict[str, list[str]] = {t: [t, *kws] for t, kws in BUILTIN_TOPICS.items()}
        for name, kws in extra.items():
            topic = lookup_topic(name, extra) or name.strip()
            keywords.setdefault(topic, [topic]).extend(kws)
        for topic, kws in keywords.items():
            for keyword in kws:
                for variant in _variants(words(keyword)):
                    self._phrases.add(variant, topic)

    def find(self, text: str) -> tuple[str, ...]:
        """Topics whose keywords occur in `text`, each followed by its big issue."""
        return self.find_in_words(words(text))

    def find_in_words(self, text_words: Sequence[str]) -> tuple[str, ...]:
        """`find` for text already split by `text.words` / `text.cased_words_of` (its folded words)."""
        found: list[str] = []
        for _, _, topics in self._phrases.scan(text_words):
            found += topics
        return self.expand(found)

    def lookup(self, name: str) -> str | None:
        """The canonical topic `name` means, built-in or from this index's extra topics."""
        return lookup_topic(name, self._extra)

    @staticmethod
    def expand(topics: Iterable[str]) -> tuple[str, ...]:
        """`topics` deduplicated, each followed by its big issue."""
        out: dict[str, None] = {}
        for topic in topics:
            out[topic] = None
            if topic in TOPIC_PARENTS:
                out[TOPIC_PARENTS[topic]] = None
        return tuple(out)


def _variants(phrase: list[str]) -> list[list[str]]:
    """The phrase and its plural: the last word + s, or y -> ies (Latin letters only)."""
    if not phrase:
        return []
    last = phrase[-1]
    if not last.isascii() or not last.isalpha() or len(last) < 3 or last.endswith("s"):
        return [phrase]
    plural = last[:-1] + "ies" if last.endswith("y") and last[-2] not in "aeiou" else last + "s"
    return [phrase, [*phrase[:-1], plural]]
