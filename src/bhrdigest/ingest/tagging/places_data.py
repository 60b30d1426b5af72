"""The place taxonomy: BHRRC's regions, every country, territories, and their spellings.

Data only; `places` builds the look-ups. Aliases are `|`-separated: BHRRC abbreviations
(`So. Africa`, `Dem. Rep. of Congo`), other English names, local-language names
(es, fr, de, pt) and Japanese / Chinese names. An alias written in capitals (`US`, `UK`)
matches free text only when written in capitals there too.
"""

from __future__ import annotations

AF = "Africa"
AM = "Americas"
AP = "Asia & Pacific"
EC = "Europe & Central Asia"
ME = "Middle East & North Africa"
BHRRC_REGIONS = (AF, AM, AP, EC, ME)

EU = "European Union"
ISRAEL_OPT = "Israel & Occupied Palestinian Territories"
MOROCCO_WS = "Morocco / Western Sahara"

REGION_ALIASES: dict[str, str] = {
    AF: "Afrique|África|Afrika|アフリカ|非洲|Sub-Saharan Africa|West Africa|East Africa|Southern Africa|Central Africa",
    AM: "The Americas|Latin America|Latin America & Caribbean|Latin America & the Caribbean|LatAm|"
    "América Latina|Amérique latine|Lateinamerika|North America|South America|Central America|Caribbean|"
    "Amériques|Américas|Amerika|ラテンアメリカ|中南米|南米|北米|拉丁美洲|拉美",
    AP: "Asia-Pacific|Asia Pacific|Asia and the Pacific|APAC|Asia|Pacific|South Asia|Southeast Asia|"
    "South-East Asia|East Asia|Asie|Asien|Asia-Pacífico|Asie-Pacifique|アジア|アジア太平洋|东南アジア|東南アジア|"
    "亚洲|亞洲|亚太|亞太|東南亞|东南亚",
    EC: "Europe|Central Asia|Eastern Europe|Western Europe|Europa|Europe et Asie centrale|Europa y Asia Central|"
    "ヨーロッパ|欧州|欧洲|歐洲|中央アジア|中亚",
    ME: "Middle East & No. Africa|Middle East|North Africa|MENA|Gulf|Gulf States|Moyen-Orient|Medio Oriente|"
    "Oriente Medio|Naher Osten|Nahost|Afrique du Nord|中東|中东|北アフリカ|北非|中東・北アフリカ",
}

# Canonical name -> (regions, aliases). Regions list the BHRRC region first.
COUNTRIES: dict[str, tuple[tuple[str, ...], str]] = {
    # Africa
    "Angola": ((AF,), "アンゴラ|安哥拉"),
    "Benin": ((AF,), "Bénin|ベナン|贝宁"),
    "Botswana": ((AF,), "ボツワナ|博茨瓦纳"),
    "Burkina Faso": ((AF,), "ブルキナファソ|布基纳法索"),
    "Burundi": ((AF,), "ブルンジ|布隆迪"),
    "Cabo Verde": ((AF,), "Cape Verde|Cap-Vert|カーボベルデ|佛得角"),
    "Cameroon": ((AF,), "Cameroun|Camerún|Kamerun|Camarões|カメルーン|喀麦隆"),
    "Central African Republic": ((AF,), "Cent. Afr. Rep.|Central African Rep.|CAR|République centrafricaine|"
                                 "República Centroafricana|中央アフリカ|中央アフリカ共和国"),
    "Chad": ((AF,), "Tchad|Tschad|チャド|乍得"),
    "Comoros": ((AF,), "Comores|コモロ|科摩罗"),
    "Côte d'Ivoire": ((AF,), "Ivory Coast|Cote d'Ivoire|Elfenbeinküste|Costa de Marfil|コートジボワール|科特迪瓦"),
    "Democratic Republic of the Congo": ((AF,), "Dem. Rep. of Congo|Dem. Rep. of the Congo|Democratic Republic of Congo|"
                                         "DR Congo|DRC|D.R.C.|Congo|Congo-Kinshasa|RDC|RD Congo|"
                                         "République démocratique du Congo|República Democrática del Congo|"
                                         "Demokratische Republik Kongo|Kongo|コンゴ民主共和国|コンゴ|刚果民主共和国|刚果（金）|刚果"),
    "Republic of the Congo": ((AF,), "Rep. of Congo|Rep. of the Congo|Republic of Congo|Congo-Brazzaville|"
                              "Congo Brazzaville|Congo Republic|República del Congo|コンゴ共和国|刚果共和国|刚果（布）"),
    "Djibouti": ((AF,), "Djibouti|Dschibuti|Yibuti|ジブチ|吉布提"),
    "Equatorial Guinea": ((AF,), "Eq. Guinea|Guinea Ecuatorial|Guinée équatoriale|Äquatorialguinea|赤道ギニア|赤道几内亚"),
    "Eritrea": ((AF,), "Érythrée|エリトリア|厄立特里亚"),
    "Eswatini": ((AF,), "Swaziland|エスワティニ|スワジランド|斯威士兰"),
    "Ethiopia": ((AF,), "Éthiopie|Etiopía|Äthiopien|Etiópia|エチオピア|埃塞俄比亚"),
    "Gabon": ((AF,), "Gabón|Gabun|ガボン|加蓬"),
    "Gambia": ((AF,), "The Gambia|Gambie|ガンビア|冈比亚"),
    "Ghana": ((AF,), "ガーナ|加纳"),
    "Guinea": ((AF,), "Guinée|ギニア|几内亚"),
    "Guinea-Bissau": ((AF,), "Guinée-Bissau|ギニアビサウ|几内亚比绍"),
    "Kenya": ((AF,), "Kenia|Quênia|ケニア|肯尼亚|肯亞"),
    "Lesotho": ((AF,), "レソト|莱索托"),
    "Liberia": ((AF,), "Libéria|リベリア|利比里亚"),
    "Madagascar": ((AF,), "Madagaskar|マダガスカル|马达加斯加"),
    "Malawi": ((AF,), "マラウイ|马拉维"),
    "Mali": ((AF,), "マリ|马里"),
    "Mauritania": ((AF,), "Mauritanie|Mauretanien|モーリタニア|毛里塔尼亚"),
    "Mauritius": ((AF,), "Maurice|Mauricio|モーリシャス|毛里求斯"),
    "Mozambique": ((AF,), "Moçambique|Mosambik|モザンビーク|莫桑比克"),
    "Namibia": ((AF,), "Namibie|ナミビア|纳米比亚"),
    "Niger": ((AF,), "ニジェール|尼日尔"),
    "Nigeria": ((AF,), "Nigéria|ナイジェリア|尼日利亚|奈及利亞"),
    "Rwanda": ((AF,), "Ruanda|ルワンダ|卢旺达"),
    "São Tomé and Príncipe": ((AF,), "Sao Tome|サントメ・プリンシペ|圣多美和普林西比"),
    "Senegal": ((AF,), "Sénégal|セネガル|塞内加尔"),
    "Seychelles": ((AF,), "Seychellen|セーシェル|塞舌尔"),
    "Sierra Leone": ((AF,), "シエラレオネ|塞拉利昂"),
    "Somalia": ((AF,), "Somalie|ソマリア|索马里"),
    "South Africa": ((AF,), "So. Africa|S. Africa|Sth Africa|Südafrika|Sudáfrica|Afrique du Sud|África do Sul|"
                     "South African Republic|南アフリカ|南ア|南非"),
    "South Sudan": ((AF,), "So. Sudan|S. Sudan|Soudan du Sud|Sudán del Sur|Südsudan|南スーダン|南苏丹"),
    "Sudan": ((AF, ME), "Soudan|Sudán|スーダン|苏丹"),
    "Tanzania": ((AF,), "Tanzanie|Tansania|タンザニア|坦桑尼亚"),
    "Togo": ((AF,), "トーゴ|多哥"),
    "Uganda": ((AF,), "Ouganda|ウガンダ|乌干达"),
    "Zambia": ((AF,), "Zambie|Sambia|ザンビア|赞比亚"),
    "Zimbabwe": ((AF,), "Simbabwe|ジンバブエ|津巴布韦"),
    # Americas
    "Antigua and Barbuda": ((AM,), "Antigua|アンティグア・バーブーダ"),
    "Argentina": ((AM,), "Argentine|Argentinien|アルゼンチン|阿根廷"),
    "Bahamas": ((AM,), "The Bahamas|バハマ|巴哈马"),
    "Barbados": ((AM,), "バルバドス|巴巴多斯"),
    "Belize": ((AM,), "Belice|ベリーズ|伯利兹"),
    "Bolivia": ((AM,), "Bolivie|Bolivien|Bolívia|ボリビア|玻利维亚"),
    "Brazil": ((AM,), "Brasil|Brésil|Brasilien|ブラジル|巴西"),
    "Canada": ((AM,), "Canadá|Kanada|カナダ|加拿大"),
    "Chile": ((AM,), "Chili|チリ|智利"),
    "Colombia": ((AM,), "Colombie|Kolumbien|Colômbia|コロンビア|哥伦比亚|哥倫比亞"),
    "Costa Rica": ((AM,), "コスタリカ|哥斯达黎加"),
    "Cuba": ((AM,), "Kuba|キューバ|古巴"),
    "Dominica": ((AM,), "ドミニカ国|多米尼克"),
    "Dominican Republic": ((AM,), "Dominican Rep.|República Dominicana|République dominicaine|Dominikanische Republik|"
                           "ドミニカ共和国|多米尼加"),
    "Ecuador": ((AM,), "Équateur|Equateur|Equador|エクアドル|厄瓜多尔"),
    "El Salvador": ((AM,), "Salvador|エルサルバドル|萨尔瓦多"),
    "Grenada": ((AM,), "グレナダ|格林纳达"),
    "Guatemala": ((AM,), "グアテマラ|危地马拉"),
    "Guyana": ((AM,), "ガイアナ|圭亚那"),
    "Haiti": ((AM,), "Haïti|Haití|ハイチ|海地"),
    "Honduras": ((AM,), "ホンジュラス|洪都拉斯"),
    "Jamaica": ((AM,), "Jamaïque|Jamaika|ジャマイカ|牙买加"),
    "Mexico": ((AM,), "México|Mexique|Mexiko|メキシコ|墨西哥"),
    "Nicaragua": ((AM,), "ニカラグア|尼加拉瓜"),
    "Panama": ((AM,), "Panamá|パナマ|巴拿马"),
    "Paraguay": ((AM,), "Paraguai|パラグアイ|巴拉圭"),
    "Peru": ((AM,), "Perú|Pérou|ペルー|秘鲁|秘魯"),
    "Saint Kitts and Nevis": ((AM,), "St. Kitts and Nevis|St Kitts & Nevis|セントクリストファー・ネービス"),
    "Saint Lucia": ((AM,), "St. Lucia|Sainte-Lucie|セントルシア"),
    "Saint Vincent and the Grenadines": ((AM,), "St. Vincent and the Grenadines|St Vincent|セントビンセント"),
    "Suriname": ((AM,), "Surinam|スリナム|苏里南"),
    "Trinidad and Tobago": ((AM,), "Trinidad|Trinité-et-Tobago|トリニダード・トバゴ|特立尼达和多巴哥"),
    "Uruguay": ((AM,), "ウルグアイ|乌拉圭"),
    "USA": ((AM,), "US|U.S.|U.S.A.|United States|United States of America|Estados Unidos|EE.UU.|EEUU|EUA|"
            "États-Unis|Etats-Unis|Vereinigte Staaten|アメリカ|アメリカ合衆国|米国|美国|美國"),
    "Venezuela": ((AM,), "ベネズエラ|委内瑞拉"),
    # Asia & Pacific
    "Afghanistan": ((AP,), "Afganistán|Afeganistão|アフガニスタン|阿富汗"),
    "Australia": ((AP,), "Australie|Australien|Austrália|オーストラリア|豪州|澳大利亚|澳大利亞|澳洲"),
    "Bangladesh": ((AP,), "Bangladés|Bangladesch|バングラデシュ|孟加拉国|孟加拉"),
    "Bhutan": ((AP,), "Bhoutan|Bután|ブータン|不丹"),
    "Brunei": ((AP,), "Brunei Darussalam|Brunéi|ブルネイ|文莱"),
    "Cambodia": ((AP,), "Cambodge|Camboya|Kambodscha|Camboja|カンボジア|柬埔寨"),
    "China": ((AP,), "PRC|People's Republic of China|Chine|Volksrepublik China|República Popular China|中国|中國|"
              "中华人民共和国|中華人民共和國|中華人民共和国"),
    "Fiji": ((AP,), "Fidji|Fiyi|Fidschi|フィジー|斐济"),
    "India": ((AP,), "Inde|Indien|Índia|インド|印度"),
    "Indonesia": ((AP,), "Indonésie|Indonesien|Indonésia|West Papua|インドネシア|印度尼西亚|印度尼西亞|印尼"),
    "Japan": ((AP,), "Japon|Japón|Japão|日本"),
    "Kiribati": ((AP,), "キリバス|基里巴斯"),
    "Laos": ((AP,), "Lao PDR|Lao People's Democratic Republic|ラオス|老挝|寮國"),
    "Malaysia": ((AP,), "Malaisie|Malasia|Malásia|マレーシア|马来西亚|馬來西亞"),
    "Maldives": ((AP,), "Maldivas|Malediven|モルディブ|马尔代夫"),
    "Marshall Islands": ((AP,), "マーシャル諸島|马绍尔群岛"),
    "Micronesia": ((AP,), "Federated States of Micronesia|ミクロネシア|密克罗尼西亚"),
    "Mongolia": ((AP,), "Mongolie|Mongolei|モンゴル|蒙古"),
    "Myanmar": ((AP,), "Burma|Birmanie|Birmania|Birma|Mianmar|ミャンマー|ビルマ|缅甸|緬甸"),
    "Nauru": ((AP,), "ナウル|瑙鲁"),
    "Nepal": ((AP,), "Népal|ネパール|尼泊尔"),
    "New Zealand": ((AP,), "Aotearoa|Nouvelle-Zélande|Nueva Zelanda|Neuseeland|ニュージーランド|新西兰|紐西蘭"),
    "North Korea": ((AP,), "N. Korea|DPRK|Democratic People's Republic of Korea|Corée du Nord|Corea del Norte|"
                    "Nordkorea|北朝鮮|朝鲜|北韩"),
    "Pakistan": ((AP,), "Pakistán|Paquistão|パキスタン|巴基斯坦"),
    "Palau": ((AP,), "パラオ|帕劳"),
    "Papua New Guinea": ((AP,), "PNG|Papouasie-Nouvelle-Guinée|Papúa Nueva Guinea|パプアニューギニア|巴布亚新几内亚"),
    "Philippines": ((AP,), "Filipinas|Philippinen|フィリピン|菲律宾|菲律賓"),
    "Samoa": ((AP,), "サモア|萨摩亚"),
    "Singapore": ((AP,), "Singapour|Singapur|Singapura|シンガポール|新加坡"),
    "Solomon Islands": ((AP,), "Îles Salomon|ソロモン諸島|所罗门群岛"),
    "South Korea": ((AP,), "S. Korea|So. Korea|Korea|Republic of Korea|Korea, Republic of|ROK|Corée du Sud|"
                    "Corea del Sur|Südkorea|Coreia do Sul|韓国|韩国|韓國|大韓民国|한국|대한민국"),
    "Sri Lanka": ((AP,), "スリランカ|斯里兰卡"),
    "Taiwan": ((AP,), "Taïwan|Taiwán|台湾|臺灣|台灣"),
    "Thailand": ((AP,), "Thaïlande|Tailandia|Tailândia|タイ|泰国|泰國"),
    "Timor-Leste": ((AP,), "East Timor|Timor Oriental|東ティモール|东帝汶"),
    "Tonga": ((AP,), "トンガ|汤加"),
    "Tuvalu": ((AP,), "ツバル|图瓦卢"),
    "Vanuatu": ((AP,), "バヌアツ|瓦努阿图"),
    "Vietnam": ((AP,), "Viet Nam|Viêt Nam|Vietnã|ベトナム|越南"),
    # Europe & Central Asia
    "Albania": ((EC,), "Albanie|Albanien|アルバニア|阿尔巴尼亚"),
    "Andorra": ((EC,), "Andorre|アンドラ|安道尔"),
    "Armenia": ((EC,), "Arménie|Armenien|アルメニア|亚美尼亚"),
    "Austria": ((EC, EU), "Autriche|Österreich|オーストリア|奥地利"),
    "Azerbaijan": ((EC,), "Azerbaïdjan|Azerbaiyán|Aserbaidschan|アゼルバイジャン|阿塞拜疆"),
    "Belarus": ((EC,), "Biélorussie|Bielorrusia|Weißrussland|ベラルーシ|白俄罗斯"),
    "Belgium": ((EC, EU), "Belgique|België|Bélgica|Belgien|ベルギー|比利时"),
    "Bosnia and Herzegovina": ((EC,), "Bosnia|BiH|Bosnie-Herzégovine|Bosnien und Herzegowina|ボスニア・ヘルツェゴビナ|波黑"),
    "Bulgaria": ((EC, EU), "Bulgarie|Bulgarien|ブルガリア|保加利亚"),
    "Croatia": ((EC, EU), "Croatie|Croacia|Kroatien|Hrvatska|クロアチア|克罗地亚"),
    "Cyprus": ((EC, EU), "Chypre|Chipre|Zypern|キプロス|塞浦路斯"),
    "Czech Republic": ((EC, EU), "Czechia|Czech Rep.|République tchèque|República Checa|Tschechien|チェコ|捷克"),
    "Denmark": ((EC, EU), "Danemark|Dinamarca|Dänemark|デンマーク|丹麦"),
    "Estonia": ((EC, EU), "Estonie|Estland|エストニア|爱沙尼亚"),
    "Finland": ((EC, EU), "Finlande|Finlandia|Finnland|フィンランド|芬兰"),
    "France": ((EC, EU), "Francia|Frankreich|França|フランス|法国|法國"),
    "Georgia": ((EC,), "Géorgie|Georgien|ジョージア|グルジア|格鲁吉亚"),
    "Germany": ((EC, EU), "Deutschland|Allemagne|Alemania|Alemanha|ドイツ|德国|德國"),
    "Greece": ((EC, EU), "Grèce|Grecia|Griechenland|Grécia|ギリシャ|希腊"),
    "Hungary": ((EC, EU), "Hongrie|Hungría|Ungarn|ハンガリー|匈牙利"),
    "Iceland": ((EC,), "Islande|Islandia|アイスランド|冰岛"),
    "Ireland": ((EC, EU), "Irlande|Irlanda|Irland|Republic of Ireland|アイルランド|爱尔兰"),
    "Italy": ((EC, EU), "Italie|Italia|Italien|Itália|イタリア|意大利"),
    "Kazakhstan": ((EC,), "Kazajistán|Kasachstan|カザフスタン|哈萨克斯坦"),
    "Kosovo": ((EC,), "コソボ|科索沃"),
    "Kyrgyzstan": ((EC,), "Kyrgyz Republic|Kirghizistan|Kirguistán|Kirgisistan|キルギス|吉尔吉斯斯坦"),
    "Latvia": ((EC, EU), "Lettonie|Letonia|Lettland|ラトビア|拉脱维亚"),
    "Liechtenstein": ((EC,), "リヒテンシュタイン|列支敦士登"),
    "Lithuania": ((EC, EU), "Lituanie|Lituania|Litauen|リトアニア|立陶宛"),
    "Luxembourg": ((EC, EU), "Luxemburgo|Luxemburg|ルクセンブルク|卢森堡"),
    "Malta": ((EC, EU), "Malte|マルタ|马耳他"),
    "Moldova": ((EC,), "Republic of Moldova|Moldavie|Moldavia|Moldau|モルドバ|摩尔多瓦"),
    "Monaco": ((EC,), "Mónaco|モナコ|摩纳哥"),
    "Montenegro": ((EC,), "Monténégro|モンテネグロ|黑山"),
    "Netherlands": ((EC, EU), "The Netherlands|Holland|Pays-Bas|Países Bajos|Niederlande|Nederland|Países Baixos|"
                    "オランダ|荷兰|荷蘭"),
    "North Macedonia": ((EC,), "Macedonia|N. Macedonia|Macédoine du Nord|Macedonia del Norte|Nordmazedonien|北マケドニア|北马其顿"),
    "Norway": ((EC,), "Norvège|Noruega|Norwegen|Norge|ノルウェー|挪威"),
    "Poland": ((EC, EU), "Pologne|Polonia|Polen|Polska|ポーランド|波兰"),
    "Portugal": ((EC, EU), "ポルトガル|葡萄牙"),
    "Romania": ((EC, EU), "Roumanie|Rumania|Rumänien|Roménia|ルーマニア|罗马尼亚"),
    "Russia": ((EC,), "Russian Federation|Russie|Rusia|Russland|Rússia|ロシア|俄罗斯|俄羅斯|俄国"),
    "San Marino": ((EC,), "Saint-Marin|サンマリノ|圣马力诺"),
    "Serbia": ((EC,), "Serbie|Serbien|セルビア|塞尔维亚"),
    "Slovakia": ((EC, EU), "Slovaquie|Eslovaquia|Slowakei|スロバキア|斯洛伐克"),
    "Slovenia": ((EC, EU), "Slovénie|Eslovenia|Slowenien|スロベニア|斯洛文尼亚"),
    "Spain": ((EC, EU), "España|Espagne|Spanien|Espanha|スペイン|西班牙"),
    "Sweden": ((EC, EU), "Suède|Suecia|Schweden|Suécia|スウェーデン|瑞典"),
    "Switzerland": ((EC,), "Suisse|Suiza|Schweiz|Svizzera|Suíça|スイス|瑞士"),
    "Tajikistan": ((EC,), "Tadjikistan|Tayikistán|Tadschikistan|タジキスタン|塔吉克斯坦"),
    "Turkey": ((EC, ME), "Türkiye|Turkiye|Turquie|Turquía|Türkei|Turquia|トルコ|土耳其"),
    "Turkmenistan": ((EC,), "Turkménistan|Turkmenistán|トルクメニスタン|土库曼斯坦"),
    "Ukraine": ((EC,), "Ucrania|Ucrânia|ウクライナ|乌克兰|烏克蘭"),
    "United Kingdom": ((EC,), "UK|U.K.|Britain|Great Britain|Reino Unido|Royaume-Uni|Vereinigtes Königreich|"
                       "Großbritannien|Grande-Bretagne|Gran Bretaña|イギリス|英国|英國|联合王国"),
    "Uzbekistan": ((EC,), "Ouzbékistan|Uzbekistán|Usbekistan|ウズベキスタン|乌兹别克斯坦"),
    "Vatican City": ((EC,), "Holy See|Vatican|バチカン|梵蒂冈"),
    # Middle East & North Africa
    "Algeria": ((ME,), "Algérie|Argelia|Algerien|Argélia|アルジェリア|阿尔及利亚"),
    "Bahrain": ((ME,), "Bahreïn|Baréin|バーレーン|巴林"),
    "Egypt": ((ME,), "Égypte|Egipto|Ägypten|Egito|エジプト|埃及"),
    "Iran": ((ME, AP), "Islamic Republic of Iran|Irán|Irã|イラン|伊朗"),
    "Iraq": ((ME,), "Irak|Iraque|イラク|伊拉克"),
    "Israel": ((ME, ISRAEL_OPT), "Israël|イスラエル|以色列"),
    "Jordan": ((ME,), "Jordanie|Jordania|Jordanien|ヨルダン|约旦"),
    "Kuwait": ((ME,), "Koweït|クウェート|科威特"),
    "Lebanon": ((ME,), "Liban|Líbano|Libanon|レバノン|黎巴嫩"),
    "Libya": ((ME,), "Libye|Libia|Libyen|Líbia|リビア|利比亚"),
    "Morocco": ((ME, MOROCCO_WS), "Maroc|Marruecos|Marokko|Marrocos|モロッコ|摩洛哥"),
    "Occupied Palestinian Territories": ((ME, ISRAEL_OPT), "OPT|oPt|Occupied Palestinian Territory|Palestine|"
                                         "State of Palestine|Palestinian Territories|Palestinian territory|"
                                         "West Bank|Gaza|Gaza Strip|East Jerusalem|Palestina|"
                                         "Territorios Palestinos Ocupados|Territoires palestiniens occupés|"
                                         "Besetzte palästinensische Gebiete|Palästina|パレスチナ|パレスチナ自治区|"
                                         "ガザ|ヨルダン川西岸|巴勒斯坦|加沙"),
    "Oman": ((ME,), "Omán|オマーン|阿曼"),
    "Qatar": ((ME,), "Katar|Catar|カタール|卡塔尔"),
    "Saudi Arabia": ((ME,), "Saudi|KSA|Kingdom of Saudi Arabia|Arabie saoudite|Arabia Saudita|Saudi-Arabien|"
                     "Arábia Saudita|サウジアラビア|サウジ|沙特阿拉伯|沙特"),
    "Syria": ((ME,), "Syrian Arab Republic|Syrie|Siria|Syrien|Síria|シリア|叙利亚|敘利亞"),
    "Tunisia": ((ME,), "Tunisie|Túnez|Tunesien|Tunísia|チュニジア|突尼斯"),
    "United Arab Emirates": ((ME,), "UAE|U.A.E.|Emirates|Émirats arabes unis|Emiratos Árabes Unidos|"
                             "Vereinigte Arabische Emirate|アラブ首長国連邦|阿联酋|阿拉伯联合酋长国"),
    "Yemen": ((ME,), "Yémen|Jemen|Iémen|イエメン|也门"),
}

# Canonical name -> (containing countries, regions, aliases). A territory's regions are
# its own (French Polynesia is in Asia & Pacific, not in Europe with France).
TERRITORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "Hong Kong": (("China",), (AP,), "Hong Kong SAR|HKSAR|HK|Hongkong|Hong-Kong|香港"),
    "Macau": (("China",), (AP,), "Macao|Macau SAR|マカオ|澳门|澳門"),
    "Xinjiang": (("China",), (AP,), "Xinjiang Uyghur Autonomous Region|XUAR|East Turkestan|新疆|新疆ウイグル自治区"),
    "Western Sahara": ((), (ME, MOROCCO_WS), "Sahara occidental|Sahara Occidental|Westsahara|西サハラ|西撒哈拉"),
    "Greenland": (("Denmark",), (EC,), "Groenland|Groenlandia|Grönland|グリーンランド|格陵兰"),
    "Faroe Islands": (("Denmark",), (EC,), "Faroes|Îles Féroé|フェロー諸島"),
    "Puerto Rico": (("USA",), (AM,), "Porto Rico|プエルトリコ|波多黎各"),
    "US Virgin Islands": (("USA",), (AM,), "U.S. Virgin Islands|United States Virgin Islands"),
    "Guam": (("USA",), (AP,), "グアム|关岛"),
    "Northern Mariana Islands": (("USA",), (AP,), "Northern Marianas|Saipan|北マリアナ諸島"),
    "American Samoa": (("USA",), (AP,), "アメリカ領サモア"),
    "Bermuda": (("United Kingdom",), (AM,), "Bermudes|バミューダ|百慕大"),
    "Cayman Islands": (("United Kingdom",), (AM,), "Caymans|Îles Caïmans|Islas Caimán|ケイマン諸島|开曼群岛"),
    "British Virgin Islands": (("United Kingdom",), (AM,), "BVI|英領バージン諸島|英属维尔京群岛"),
    "Turks and Caicos Islands": (("United Kingdom",), (AM,), "Turks and Caicos"),
    "Anguilla": (("United Kingdom",), (AM,), ""),
    "Montserrat": (("United Kingdom",), (AM,), ""),
    "Falkland Islands": (("United Kingdom",), (AM,), "Falklands"),
    "Gibraltar": (("United Kingdom",), (EC,), "ジブラルタル"),
    "Jersey": (("United Kingdom",), (EC,), ""),
    "Guernsey": (("United Kingdom",), (EC,), ""),
    "Isle of Man": (("United Kingdom",), (EC,), "マン島"),
    "England": (("United Kingdom",), (EC,), "Angleterre|Inglaterra|イングランド|英格兰"),
    "Scotland": (("United Kingdom",), (EC,), "Écosse|Escocia|Schottland|スコットランド|苏格兰"),
    "Wales": (("United Kingdom",), (EC,), "Pays de Galles|Gales|ウェールズ|威尔士"),
    "Northern Ireland": (("United Kingdom",), (EC,), "Irlande du Nord|北アイルランド|北爱尔兰"),
    "Aruba": (("Netherlands",), (AM,), "アルバ"),
    "Curaçao": (("Netherlands",), (AM,), "Curacao|キュラソー"),
    "Sint Maarten": (("Netherlands",), (AM,), ""),
    "French Guiana": (("France",), (AM,), "Guyane|Guyane française|フランス領ギアナ"),
    "Guadeloupe": (("France",), (AM,), ""),
    "Martinique": (("France",), (AM,), ""),
    "Réunion": (("France",), (AF,), "La Réunion|Reunion"),
    "Mayotte": (("France",), (AF,), ""),
    "New Caledonia": (("France",), (AP,), "Nouvelle-Calédonie|Kanaky|ニューカレドニア|新喀里多尼亚"),
    "French Polynesia": (("France",), (AP,), "Polynésie française|Tahiti|フランス領ポリネシア|法属波利尼西亚"),
    "Wallis and Futuna": (("France",), (AP,), ""),
    "Cook Islands": (("New Zealand",), (AP,), "クック諸島"),
    "Niue": (("New Zealand",), (AP,), ""),
    "Saint Helena": (("United Kingdom",), (AF,), "St Helena"),
}

# Places that stand for their members: a component naming one is about each member.
# Name -> (regions, members, aliases).
COMPOSITES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    ISRAEL_OPT: ((ME,), ("Israel", "Occupied Palestinian Territories"),
                 "Israel and the Occupied Palestinian Territories|Israel & OPT|Israel/OPT|Israel-OPT|"
                 "Israel & Occupied Palestinian Territory|"
                 "Israel/Palestine|Israel-Palestine|Israel & Palestine|イスラエル・パレスチナ"),
    MOROCCO_WS: ((ME,), ("Morocco", "Western Sahara"), "Morocco and Western Sahara|Morocco & Western Sahara"),
}

# Groupings that contain countries without standing for them (an EU directive is not
# news about each member state), listed in their members' regions above.
GROUPINGS: dict[str, tuple[tuple[str, ...], str]] = {
    EU: ((EC,), "EU|E.U.|UE|Union européenne|Unión Europea|Europäische Union|União Europeia|欧州連合|欧盟|歐盟"),
}

# Spellings accepted where a place is expected (config, title prefixes, categories) but
# too ambiguous in running text: "Jordan" the person, "Georgia" the US state, タイ in タイトル.
LOOKUP_ONLY = frozenset({
    "Georgia", "Jordan", "Gulf", "CAR", "PNG", "HK", "oPt", "UE", "Emirates", "Antigua", "Salvador", "Kongo",
    "Macedonia", "Korea", "Holland", "Chili", "Maurice", "Gales", "Reunion", "Réunion",
    "タイ", "マリ", "アルバ", "ジョージア", "南ア", "刚果", "蒙古", "马里", "多哥", "加纳", "黑山", "海地",
    "阿曼", "巴林", "苏丹",
})

# Phrases read only in running text: longer names that contain a country's name but are
# elsewhere (New Mexico), or that name no place at all (None).
TEXT_ONLY: dict[str, str | None] = {
    "New Mexico": "USA", "New Jersey": "USA", "New England": "USA", "Jersey City": "USA",
    "New South Wales": "Australia", "Niger Delta": "Nigeria", "Inner Mongolia": "China", "内蒙古": "China",
    "New Guinea": None, "Guinea pig": None, "Guinea pigs": None, "South China Sea": None,
    "South China Morning Post": None, "Indian Ocean": None, "Turkey Point": None,
    "ニューギニア": None, "インド洋": None, "インドア": None, "アルバイト": None, "タイトル": None, "タイム": None, "タイプ": None,
}
