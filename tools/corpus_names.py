"""Named entities for the built-in corpus: people, countries, cities, and invented organisations.

Pure data. Country facts (capital, main language, continent, currency) are real so that quiz and
encyclopedia documents stay truthful; everything else (companies, teams, newspapers) is invented.
"""

from __future__ import annotations

from typing import NamedTuple


def _w(text: str) -> tuple[str, ...]:
    """Split a comma-separated list into a tuple of stripped, non-empty words."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


FEMALE_NAMES: tuple[str, ...] = _w(
    "Emma, Olivia, Sophie, Charlotte, Grace, Lucy, Hannah, Chloe, Amelia, Isabella, Maria, Sofia,"
    "Lucía, Carmen, Elena, Ana, Giulia, Francesca, Chiara, Anneliese, Greta, Ingrid, Astrid, Freya,"
    "Sigrid, Aoife, Siobhan, Niamh, Priya, Ananya, Aisha, Fatima, Leila, Yasmin, Zainab, Amara,"
    "Chidinma, Ngozi, Adaeze, Wanjiru, Akosua, Nia, Zoë, Mei, Lin, Xiu, Yuki, Haruka, Sakura,"
    "Ji-woo, Min-ji, Linh, Mai, Anong, Siti, Olga, Natasha, Irina, Katarzyna, Agnieszka, Zsófia,"
    "Eva, Marta, Beatriz, Camila, Valentina, Ximena, Rosa, Keiko, Tamar, Noa, Ayesha, Esra, Elif,"
    "Dilnoza, Aroha, Kiri, Maeve, Isla, Ruby, Hazel, Margaret, Dorothy, Evelyn, Harriet, Matilda,"
    "Clara, Léa, Camille, Chloé, Imani, Thandiwe, Nadia, Farah, Mira, Ilse, Paloma, Renata"
)
"""Female first names from many languages and regions."""

MALE_NAMES: tuple[str, ...] = _w(
    "James, Oliver, Jack, Harry, George, William, Thomas, Daniel, Samuel, Henry, Lucas, Mateo,"
    "Diego, Javier, Carlos, Pablo, Luis, José, Marco, Luca, Giovanni, Matteo, Lorenzo, Hans,"
    "Lukas, Felix, Jonas, Björn, Lars, Erik, Søren, Mikkel, Seán, Ciarán, Liam, Arjun, Rohan,"
    "Vikram, Ravi, Omar, Ahmed, Yusuf, Karim, Tariq, Hassan, Kwame, Kofi, Chinedu, Emeka, Tunde,"
    "Sipho, Thabo, Jabari, Wei, Jun, Hao, Chen, Hiroshi, Kenji, Takeshi, Haruto, Min-jun, Seo-jun,"
    "Minh, Quang, Somchai, Budi, Ivan, Dmitri, Sergei, Piotr, Tomasz, Jakub, Bence, André, Tiago,"
    "Rafael, Santiago, Emilio, Ezra, Noah, Eitan, Mehmet, Emre, Farhan, Tane, Rawiri, Arthur,"
    "Albert, Frank, Walter, Hugo, Théo, Louis, Antoine, Malik, Idris, Nikolai, Anders, Pedro"
)
"""Male first names from many languages and regions."""

NEUTRAL_NAMES: tuple[str, ...] = _w(
    "Alex, Sam, Jordan, Robin, Charlie, Kai, Riley, Avery, Quinn, Sasha, Morgan, Taylor, Jamie,"
    "Rowan, Noor, Ari, Eden, Jules, Remy, Sky"
)
"""Names used for characters of either gender."""

SURNAMES: tuple[str, ...] = _w(
    "Smith, Jones, Brown, Taylor, Wilson, Evans, Walker, Wright, Robinson, Thompson, Hughes, Clarke,"
    "Patel, Shah, Khan, Ahmed, Ali, Hussain, Singh, Kaur, Sharma, Gupta, Nguyen, Tran, Pham, Le,"
    "Kim, Lee, Park, Choi, Wang, Li, Zhang, Liu, Chen, Yang, Huang, Tanaka, Suzuki, Sato,"
    "Watanabe, Yamamoto, Nakamura, García, Rodríguez, Martínez, López, González, Hernández, Pérez,"
    "Sánchez, Romero, Torres, Silva, Santos, Oliveira, Costa, Pereira, Ferreira, Rossi, Russo,"
    "Ferrari, Esposito, Bianchi, Romano, Colombo, Müller, Schmidt, Schneider, Fischer, Weber,"
    "Wagner, Becker, Hoffmann, Dubois, Martin, Bernard, Moreau, Laurent, Lefebvre, Fontaine, Nowak,"
    "Kowalski, Wiśniewski, Novák, Horváth, Nagy, Ivanov, Petrov, Smirnov, Kuznetsov, Popescu,"
    "Jensen, Nielsen, Hansen, Andersson, Johansson, Lindqvist, Virtanen, Korhonen, O'Brien,"
    "O'Connor, Murphy, Kelly, Byrne, MacDonald, Campbell, Stewart, Okafor, Adeyemi, Mensah, Owusu,"
    "Kamau, Otieno, Mwangi, Dlamini, Nkosi, Haddad, Mansour, Yilmaz, Kaya, Demir, Cohen, Levi,"
    "Friedman, Rahman, Begum, Chowdhury, Reyes, Cruz, Bautista, Jackson, Harris, Lewis, Young,"
    "King, Baker, Hill, Green, Adams, Nelson, Carter, Mitchell, Rivera, Flores, Van der Berg,"
    "De Vries, Janssen, Papadopoulos, Georgiou, Kovač, Horvat, Tamm, Sepp, Jónsdóttir"
)
"""Family names from many languages and regions."""

PET_NAMES: tuple[str, ...] = _w(
    "Biscuit, Pepper, Luna, Max, Bella, Coco, Milo, Rex, Whiskers, Shadow, Ginger, Ziggy, Pickles,"
    "Mochi, Bruno, Daisy, Nala, Oscar, Toffee, Pip, Socks, Bramble, Pudding, Captain, Noodle"
)
"""Names for pets."""


class Country(NamedTuple):
    """Real facts about one country, used to keep encyclopedia and quiz text truthful."""

    name: str
    adjective: str
    language: str
    capital: str
    continent: str
    currency: str
    cities: tuple[str, ...]


def _countries(text: str) -> tuple[Country, ...]:
    """Parse lines of "name | adjective | language | capital | continent | currency | cities"."""
    out: list[Country] = []
    for line in text.strip().splitlines():
        name, adj, lang, capital, continent, currency, cities = (p.strip() for p in line.split("|"))
        out.append(Country(name, adj, lang, capital, continent, currency, _w(cities)))
    return tuple(out)


COUNTRIES: tuple[Country, ...] = _countries(
    """
France | French | French | Paris | Europe | euro | Paris, Lyon, Marseille, Bordeaux, Toulouse, Nice
Germany | German | German | Berlin | Europe | euro | Berlin, Hamburg, Munich, Cologne, Leipzig
Spain | Spanish | Spanish | Madrid | Europe | euro | Madrid, Barcelona, Seville, Valencia, Bilbao
Italy | Italian | Italian | Rome | Europe | euro | Rome, Milan, Naples, Florence, Venice, Turin
Portugal | Portuguese | Portuguese | Lisbon | Europe | euro | Lisbon, Porto, Coimbra
Ireland | Irish | English | Dublin | Europe | euro | Dublin, Cork, Galway
Norway | Norwegian | Norwegian | Oslo | Europe | krone | Oslo, Bergen, Tromsø
Sweden | Swedish | Swedish | Stockholm | Europe | krona | Stockholm, Gothenburg, Malmö
Finland | Finnish | Finnish | Helsinki | Europe | euro | Helsinki, Tampere, Turku
Denmark | Danish | Danish | Copenhagen | Europe | krone | Copenhagen, Aarhus, Odense
Poland | Polish | Polish | Warsaw | Europe | złoty | Warsaw, Kraków, Gdańsk, Wrocław
Greece | Greek | Greek | Athens | Europe | euro | Athens, Thessaloniki, Heraklion
Turkey | Turkish | Turkish | Ankara | Asia | lira | Istanbul, Ankara, Izmir
Egypt | Egyptian | Arabic | Cairo | Africa | pound | Cairo, Alexandria, Luxor
Morocco | Moroccan | Arabic | Rabat | Africa | dirham | Rabat, Marrakesh, Casablanca, Fez
Kenya | Kenyan | Swahili | Nairobi | Africa | shilling | Nairobi, Mombasa, Kisumu
Nigeria | Nigerian | English | Abuja | Africa | naira | Lagos, Abuja, Ibadan, Kano
Ghana | Ghanaian | English | Accra | Africa | cedi | Accra, Kumasi, Tamale
Ethiopia | Ethiopian | Amharic | Addis Ababa | Africa | birr | Addis Ababa, Gondar
South Africa | South African | Zulu | Pretoria | Africa | rand | Cape Town, Johannesburg, Durban
India | Indian | Hindi | New Delhi | Asia | rupee | Mumbai, New Delhi, Kolkata, Chennai, Jaipur
Pakistan | Pakistani | Urdu | Islamabad | Asia | rupee | Karachi, Lahore, Islamabad
Bangladesh | Bangladeshi | Bengali | Dhaka | Asia | taka | Dhaka, Chittagong, Sylhet
China | Chinese | Mandarin | Beijing | Asia | yuan | Beijing, Shanghai, Chengdu, Guangzhou, Xi'an
Japan | Japanese | Japanese | Tokyo | Asia | yen | Tokyo, Osaka, Kyoto, Sapporo, Nagoya
South Korea | South Korean | Korean | Seoul | Asia | won | Seoul, Busan, Incheon
Vietnam | Vietnamese | Vietnamese | Hanoi | Asia | dong | Hanoi, Ho Chi Minh City, Da Nang
Thailand | Thai | Thai | Bangkok | Asia | baht | Bangkok, Chiang Mai, Phuket
Indonesia | Indonesian | Indonesian | Jakarta | Asia | rupiah | Jakarta, Yogyakarta, Surabaya
Malaysia | Malaysian | Malay | Kuala Lumpur | Asia | ringgit | Kuala Lumpur, Malacca, Ipoh
the Philippines | Filipino | Filipino | Manila | Asia | peso | Manila, Cebu, Davao
Australia | Australian | English | Canberra | Oceania | dollar | Sydney, Melbourne, Perth, Brisbane
New Zealand | New Zealand | English | Wellington | Oceania | dollar | Auckland, Wellington
Canada | Canadian | English | Ottawa | North America | dollar | Toronto, Montreal, Vancouver
the United States | American | English | Washington | North America | dollar | New York, Boston, Seattle
Mexico | Mexican | Spanish | Mexico City | North America | peso | Mexico City, Guadalajara, Oaxaca
Cuba | Cuban | Spanish | Havana | North America | peso | Havana, Santiago de Cuba
Jamaica | Jamaican | English | Kingston | North America | dollar | Kingston, Montego Bay
Brazil | Brazilian | Portuguese | Brasília | South America | real | São Paulo, Rio de Janeiro, Salvador
Argentina | Argentinian | Spanish | Buenos Aires | South America | peso | Buenos Aires, Córdoba, Mendoza
Chile | Chilean | Spanish | Santiago | South America | peso | Santiago, Valparaíso
Peru | Peruvian | Spanish | Lima | South America | sol | Lima, Cusco, Arequipa
Colombia | Colombian | Spanish | Bogotá | South America | peso | Bogotá, Medellín, Cartagena
Uruguay | Uruguayan | Spanish | Montevideo | South America | peso | Montevideo, Salto
Ecuador | Ecuadorian | Spanish | Quito | South America | dollar | Quito, Guayaquil
Iceland | Icelandic | Icelandic | Reykjavík | Europe | króna | Reykjavík, Akureyri
Austria | Austrian | German | Vienna | Europe | euro | Vienna, Salzburg, Graz
Switzerland | Swiss | German | Bern | Europe | franc | Zürich, Geneva, Bern, Basel
Belgium | Belgian | Dutch | Brussels | Europe | euro | Brussels, Antwerp, Ghent
the Netherlands | Dutch | Dutch | Amsterdam | Europe | euro | Amsterdam, Rotterdam, Utrecht
Hungary | Hungarian | Hungarian | Budapest | Europe | forint | Budapest, Debrecen
Czechia | Czech | Czech | Prague | Europe | koruna | Prague, Brno
Romania | Romanian | Romanian | Bucharest | Europe | leu | Bucharest, Cluj-Napoca
Ukraine | Ukrainian | Ukrainian | Kyiv | Europe | hryvnia | Kyiv, Lviv, Odesa
Croatia | Croatian | Croatian | Zagreb | Europe | euro | Zagreb, Split, Dubrovnik
Estonia | Estonian | Estonian | Tallinn | Europe | euro | Tallinn, Tartu
Scotland | Scottish | English | Edinburgh | Europe | pound | Edinburgh, Glasgow, Aberdeen
England | English | English | London | Europe | pound | London, Manchester, Bristol, York, Leeds
Wales | Welsh | Welsh | Cardiff | Europe | pound | Cardiff, Swansea
Russia | Russian | Russian | Moscow | Europe | rouble | Moscow, Saint Petersburg, Kazan
Iran | Iranian | Persian | Tehran | Asia | rial | Tehran, Isfahan, Shiraz
Nepal | Nepali | Nepali | Kathmandu | Asia | rupee | Kathmandu, Pokhara
Mongolia | Mongolian | Mongolian | Ulaanbaatar | Asia | tögrög | Ulaanbaatar
Singapore | Singaporean | English | Singapore | Asia | dollar | Singapore
Tanzania | Tanzanian | Swahili | Dodoma | Africa | shilling | Dar es Salaam, Arusha
Uganda | Ugandan | English | Kampala | Africa | shilling | Kampala, Entebbe
Senegal | Senegalese | French | Dakar | Africa | franc | Dakar, Saint-Louis
Tunisia | Tunisian | Arabic | Tunis | Africa | dinar | Tunis, Sfax
"""
)
"""Countries with real capitals, main languages, continents, currencies and major cities."""

LANGUAGES: tuple[str, ...] = tuple(sorted({c.language for c in COUNTRIES})) + _w(
    "Cantonese, Yoruba, Hebrew, Tagalog, Catalan, Basque, Latin, Sanskrit, Esperanto, Quechua"
)
"""Language names."""

RIVERS: tuple[str, ...] = _w(
    "the Nile, the Amazon, the Danube, the Thames, the Yangtze, the Mississippi, the Ganges,"
    "the Rhine, the Volga, the Mekong, the Seine, the Zambezi, the Tagus, the Shannon, the Niger"
)
"""Famous rivers (with their article)."""

MOUNTAINS: tuple[str, ...] = _w(
    "Everest, Kilimanjaro, Mont Blanc, Mount Fuji, Denali, Aconcagua, Ben Nevis, Mount Kenya,"
    "Mount Etna, Table Mountain, Snowdon, K2, Olympus, Matterhorn"
)
"""Famous mountains."""

STREET_WORDS: tuple[str, ...] = _w(
    "Oak, Mill, Church, Station, High, Park, Victoria, Castle, Orchard, Bridge, Meadow, King,"
    "Queen, Chapel, Willow, Harbour, Market, Elm, Cedar, Rose, Maple, Garden, Hill, Lake"
)
"""First words of invented street names."""

STREET_TYPES: tuple[str, ...] = _w("Street, Road, Lane, Avenue, Close, Drive, Way, Square, Terrace, Row")
"""Street suffixes."""

COMPANY_WORDS: tuple[str, ...] = _w(
    "Northwind, Bluebird, Apex, Greenleaf, Silverline, Ironbridge, Maple, Sunrise, Harbour, Orchid,"
    "Summit, Riverside, Pioneer, Redwood, Lighthouse, Copperfield, Starling, Evergreen, Kestrel,"
    "Acorn, Horizon, Falcon, Meridian, Juniper"
)
"""First words of invented company names."""

COMPANY_TYPES: tuple[str, ...] = _w(
    "Ltd, Inc., Group, Foods, Motors, Bank, Labs, Media, Press, Energy, Airlines, Software,"
    "Logistics, Pharmaceuticals, Books, Insurance, & Sons, Co."
)
"""Second words of invented company names."""

TEAM_SUFFIXES: tuple[str, ...] = _w(
    "United, City, Rovers, Wanderers, Athletic, Rangers, Lions, Tigers, Hawks, Eagles, Stars,Dragons, Falcons, Sharks"
)
"""Suffixes of invented sports team names (prefixed by a city)."""

NEWSPAPER_TYPES: tuple[str, ...] = _w(
    "Herald, Gazette, Times, Chronicle, Post, Observer, Courier, Tribune, Echo, Evening News"
)
"""Suffixes of invented newspaper names (prefixed by a city)."""

WEB_DOMAINS: tuple[str, ...] = _w("com, org, net, co.uk, io, de, fr, es, edu, info, dev")
"""Top-level domains for invented URLs and email addresses."""
