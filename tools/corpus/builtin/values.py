"""Slot generators of the built-in corpus: numbers, dates, times, prices, measurements, URLs,
email addresses, phone numbers, names and other formatted values.

Each generator takes the document's `Renderer` (for its random stream and setting) and returns a
string, or a tuple of word forms for gradable adjectives.
"""

from __future__ import annotations

import datetime
import functools
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from tools.corpus.builtin import lexicon
from tools.corpus.builtin.inflect import (
    ascii_fold,
    capitalise,
    identifier,
    number_words,
    ordinal_suffix,
    ordinal_words,
    plural,
    roman,
)

Value = str | tuple[str, ...]
"""A slot value: a word, or the forms of a verb or adjective (picked by modifiers)."""

T = TypeVar("T")


class Renderer(Protocol):
    """What a slot generator uses of the document's renderer (``render.Renderer`` provides it; a
    protocol here keeps imports one way: ``render`` imports the generators, not the reverse)."""

    rng: random.Random

    def pick(self, seq: Sequence[T]) -> T:
        """One random element of ``seq``."""
        ...

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        ...

    def first_name(self, gender: str) -> str:
        """A first name of the given gender ("m" or "f")."""
        ...

    def value(self, key: str) -> Value:
        """The value of a slot key (a category word, a generated value, a cast member)."""
        ...


def _month(number: int) -> str:
    return lexicon.categories()["month"][number - 1]


def _weekday(number: int) -> str:
    return lexicon.categories()["weekday"][number]


def _price(r: Renderer) -> str:
    whole = r.pick((1, 2, 3, 4, 5, 7, 9, 12, 15, 20, 25, 40, 99, 120, 250))
    cents = r.pick((0, 0, 50, 99, 25, 75, 49, 95, 10))
    amount = f"{whole}.{cents:02d}" if cents else str(whole)
    style = r.rng.randrange(8)
    if style == 0:
        return f"${amount}"
    if style == 1:
        return f"£{amount}"
    if style == 2:
        return f"€{amount}"
    if style == 3:
        return f"{amount} €"
    if style == 4:
        return f"¥{whole * 100:,}"
    if style == 5:
        return f"₹{whole * 10}"
    if style == 6:
        money = str(r.value("$money"))
        return f"{whole} {plural(money) if whole != 1 else money}"
    return f"{number_words(whole)} {'pounds' if whole > 1 else 'pound'}"


def _money_big(r: Renderer) -> str:
    n = r.pick((1.2, 2, 3.5, 4.5, 12, 15, 40, 75, 120, 300, 650))
    unit = r.pick(("million", "billion", "million", "thousand"))
    sym = r.pick(("$", "£", "€"))
    if r.chance(0.3):
        return f"{n:g} {unit} {plural(str(r.value('$money')))}"
    return f"{sym}{n:g} {unit}"


def _date(r: Renderer) -> datetime.date:
    year = r.rng.randint(1950, 2030)
    return datetime.date(year, r.rng.randint(1, 12), r.rng.randint(1, 28))


def _date_text(r: Renderer) -> str:
    d = _date(r)
    month = _month(d.month)
    style = r.rng.randrange(7)
    if style == 0:
        return f"{d.day} {month} {d.year}"
    if style == 1:
        return f"{month} {d.day}, {d.year}"
    if style == 2:
        return d.isoformat()
    if style == 3:
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    if style == 4:
        return f"{_weekday(d.weekday())} {d.day} {month}"
    if style == 5:
        return f"the {ordinal_suffix(d.day)} of {month}"
    return f"{_weekday(d.weekday())}, {month} {d.day}"


def _date_long(r: Renderer) -> str:
    d = _date(r)
    return f"{d.day} {_month(d.month)} {d.year - r.rng.randint(0, 60)}"


def _clock(r: Renderer) -> str:
    h, m = r.rng.randint(0, 23), r.pick((0, 5, 10, 15, 20, 30, 40, 45, 50, 55))
    style = r.rng.randrange(4)
    if style == 0:
        return f"{h:02d}:{m:02d}"
    h12 = h % 12 or 12
    suffix = "am" if h < 12 else "pm"
    if style == 1:
        return f"{h12}:{m:02d} {suffix}"
    if style == 2:
        return f"{h12}.{m:02d}{suffix}"
    return f"{h12}:{m:02d} {suffix.upper()[0]}.M."


def _spoken_time(r: Renderer) -> str:
    h = r.rng.randint(1, 12)
    form = r.rng.randrange(6)
    word = number_words(h)
    nxt = number_words(h % 12 + 1)
    return (
        f"{word} o'clock",
        f"half past {word}",
        f"quarter past {word}",
        f"quarter to {nxt}",
        f"{number_words(r.pick((5, 10, 20, 25)))} past {word}",
        r.pick(("noon", "midnight", "midday")),
    )[form]


def _url(r: Renderer) -> str:
    word = ascii_fold(str(r.pick(lexicon.categories()[r.pick(("animal", "fruit", "colour", "tool"))])))
    word = word.lower()
    site = word + r.pick(("", "hub", "-shop", "world", "daily", "lab", "zone"))
    tld = r.pick(lexicon.words("web_domains"))
    path = r.pick(("", "/about", "/blog/" + word, f"/news/{r.rng.randint(2000, 2030)}", "/faq"))
    query = r.pick(("", "", f"?id={r.rng.randint(1, 9999)}", f"?q={word}&page={r.rng.randint(1, 9)}"))
    scheme = r.pick(("https://", "https://www.", "http://", "www."))
    return f"{scheme}{site}.{tld}{path}{query}"


def _email(r: Renderer) -> str:
    first = ascii_fold(str(r.value("$name") if r.chance(0.4) else r.value("name"))).lower()
    sur = ascii_fold(str(r.pick(lexicon.words("surnames")))).lower()
    user = r.pick((f"{first}.{sur}", f"{first}{r.rng.randint(1, 99)}", f"{first[:1]}{sur}", first))
    domain = ascii_fold(str(r.pick(lexicon.categories()["colour"]))).lower() + r.pick(("mail", "post", "box"))
    return f"{user}@{domain}.{r.pick(lexicon.words('web_domains'))}"


def _phone(r: Renderer) -> str:
    d = r.rng.randint
    return r.pick(
        (
            f"+44 20 7946 0{d(100, 999)}",
            f"(555) 0{d(10, 99)}-{d(1000, 9999)}",
            f"+1-202-555-0{d(100, 199)}",
            f"0{d(1000, 9999)} {d(100000, 999999)}",
            f"+33 1 {d(10, 99)} {d(10, 99)} {d(10, 99)} {d(10, 99)}",
            f"555-{d(1000, 9999)}",
        )
    )


def _measure(r: Renderer) -> str:
    d = r.rng.randint
    return r.pick(
        (
            f"{d(2, 40)} km",
            f"{d(1, 9)}.{d(1, 9)} kg",
            f"{d(100, 900)} g",
            f"{d(2, 9)} litres",
            f"{d(10, 99)} cm",
            f"{d(2, 30)} miles",
            f"{d(3, 9)} feet",
            f"{d(100, 750)} ml",
            f"{d(1, 5)}.{d(1, 9)} m",
            f"{d(2, 11)} inches",
            f"{d(20, 70)} mph",
            f"{d(30, 130)} km/h",
            f"{number_words(d(2, 12))} metres",
            f"{d(2, 9)} tonnes",
        )
    )


def _temp(r: Renderer) -> str:
    style = r.rng.randrange(4)
    if style == 0:
        return f"{r.rng.randint(-10, 38)}°C"
    if style == 1:
        return f"{r.rng.randint(20, 100)}°F"
    if style == 2:
        return f"{r.rng.randint(-5, 35)} °C"
    return f"{number_words(r.rng.randint(2, 35))} degrees"


def _pct(r: Renderer) -> str:
    n = r.rng.randint(2, 98)
    return r.pick((f"{n}%", f"{n}.{r.rng.randint(1, 9)}%", f"{n} per cent", f"{number_words(n)} percent"))


def _big(r: Renderer) -> str:
    n = r.rng.randint(1_000, 2_000_000)
    if n >= 1_000_000:
        return r.pick((f"{n:,}", f"{n / 1e6:.1f} million", str(n)))
    return r.pick((f"{n:,}", f"{n:,}", f"{n // 1000} thousand", str(n)))


def _year(r: Renderer) -> str:
    if r.chance(0.05):
        return r.pick(("1066", "1492", "1789", "AD 79", "44 BC", "1215", "1603"))
    return str(r.rng.randint(1850, 2030))


def _duration(r: Renderer) -> str:
    d = r.rng.randint
    return r.pick(
        (
            f"{d(2, 9)} hours",
            f"{d(10, 55)} minutes",
            f"{number_words(d(2, 5))} and a half hours",
            f"{d(2, 14)} days",
            f"{d(1, 3)}h {d(5, 55)}m",
            "half an hour",
            "a quarter of an hour",
            f"{number_words(d(2, 6))} weeks",
        )
    )


def _street(r: Renderer) -> str:
    return f"{r.pick(lexicon.words('street_words'))} {r.pick(lexicon.words('street_types'))}"


def _address(r: Renderer) -> str:
    return f"{r.rng.randint(1, 240)} {_street(r)}, {r.value('$city')}"


def _team(r: Renderer) -> str:
    city = r.pick(r.pick(lexicon.countries()).cities)
    return f"{city} {r.pick(lexicon.words('team_suffixes'))}"


_FIRST_NAMES: tuple[lexicon.WordList, ...] = ("female_names", "male_names", "neutral_names")


def _full(r: Renderer) -> str:
    first = r.pick(lexicon.words(r.pick(_FIRST_NAMES)))
    return f"{first} {r.pick(lexicon.words('surnames'))}"


def _city(r: Renderer) -> str:
    return r.pick(r.pick(lexicon.countries()).cities)


def _score(r: Renderer) -> str:
    return f"{r.rng.randint(0, 5)}{r.pick(('–', '-', ' – '))}{r.rng.randint(0, 4)}"


def _fraction(r: Renderer) -> str:
    return r.pick(("1/2", "3/4", "1/3", "2/3", "1/4", "½", "¾", "two thirds", "a quarter", "half"))


def _version(r: Renderer) -> str:
    d = r.rng.randint
    return r.pick((f"v{d(0, 5)}.{d(0, 20)}.{d(0, 9)}", f"{d(1, 4)}.{d(0, 12)}", f"version {d(1, 9)}.0"))


def _race_time(r: Renderer) -> str:
    d = r.rng.randint
    return r.pick(
        (
            f"{d(9, 59)}.{d(10, 99)} seconds",
            f"{d(1, 4)}:{d(0, 59):02d}.{d(0, 9)}",
            f"2:{d(2, 59):02d}:{d(0, 59):02d}",
        )
    )


def _gradable(r: Renderer) -> tuple[str, ...]:
    return r.pick(lexicon.gradable())


def _word(r: Renderer) -> str:
    return r.pick(lexicon.categories()[r.pick(_noun_categories())])


@functools.cache
def _noun_categories() -> tuple[str, ...]:
    """Categories a ``{word}`` slot draws from: all but the adjectives and the (proper-noun) planets."""
    excluded = lexicon.adjective_categories() | {"planet"}
    return tuple(k for k in lexicon.categories() if k not in excluded)


GENERATORS: dict[str, Callable[[Renderer], Value]] = {
    "name": lambda r: r.first_name(r.pick("mf")),
    "first_f": lambda r: r.pick(lexicon.words("female_names")),
    "first_m": lambda r: r.pick(lexicon.words("male_names")),
    "sur": lambda r: r.pick(lexicon.words("surnames")),
    "full": _full,
    "pet": lambda r: r.pick(lexicon.words("pet_names")),
    "city": _city,
    "country": lambda r: r.pick(lexicon.countries()).name,
    "nat": lambda r: r.pick(lexicon.countries()).adjective,
    "lang": lambda r: r.pick(lexicon.languages()),
    "river": lambda r: r.pick(lexicon.words("rivers")),
    "mountain": lambda r: r.pick(lexicon.words("mountains")),
    "company": lambda r: f"{r.pick(lexicon.words('company_words'))} {r.pick(lexicon.words('company_types'))}",
    "team": _team,
    "paper": lambda r: f"the {r.value('$city')} {r.pick(lexicon.words('newspaper_types'))}",
    "street": _street,
    "addr": _address,
    "word": _word,
    "adj": lambda r: r.pick(lexicon.words("condition_adjectives")),
    "adv": lambda r: r.pick(lexicon.words("adverbs")),
    "conn": lambda r: r.pick(lexicon.words("connectives")),
    "gr": _gradable,
    "n": lambda r: str(r.rng.randint(2, 12)),
    "n1": lambda r: str(r.rng.randint(1, 9)),
    "n2": lambda r: str(r.rng.randint(10, 99)),
    "n3": lambda r: str(r.rng.randint(100, 999)),
    "big": _big,
    "nw": lambda r: number_words(r.rng.randint(2, 12)),
    "nw2": lambda r: number_words(r.rng.randint(13, 99)),
    "ord": lambda r: ordinal_words(r.rng.randint(1, 12)),
    "ordn": lambda r: ordinal_suffix(r.rng.randint(1, 31)),
    "dec": lambda r: f"{r.rng.randint(0, 99)}.{r.rng.randint(1, 99)}",
    "age": lambda r: str(r.rng.randint(3, 95)),
    "year": _year,
    "decade": lambda r: r.pick((f"the {r.rng.randint(185, 202)}0s", "the sixties", "the nineties")),
    "date": _date_text,
    "date_long": _date_long,
    "clock": _clock,
    "time": _spoken_time,
    "price": _price,
    "money_big": _money_big,
    "pct": _pct,
    "measure": _measure,
    "temp": _temp,
    "url": _url,
    "email": _email,
    "phone": _phone,
    "score": _score,
    "roman": lambda r: roman(r.rng.randint(1, 30)),
    "version": _version,
    "duration": _duration,
    "fraction": _fraction,
    "letter": lambda r: r.pick("ABCDEFGH"),
    "order": lambda r: f"#{r.pick('ABCDEFKLMQRTXZ')}{r.pick('ABCDEFKLMQRTXZ')}-{r.rng.randint(10000, 99999)}",
    "handle": lambda r: f"@{ascii_fold(str(r.value('name'))).lower()}_{r.rng.randint(1, 999)}",
    "hashtag": lambda r: "#" + "".join(capitalise(identifier(str(_word(r))).replace("_", "")) for _ in "ab"),
    "minute": lambda r: ordinal_suffix(r.rng.randint(1, 90)),
    "racetime": _race_time,
    "race": lambda r: r.pick(("100 metres", "400 metres", "1500 metres", "5,000 metres", "marathon", "half marathon")),
    "oven": lambda r: r.pick(("180°C (160°C fan)", "200°C / 400°F / gas mark 6", "350°F", "gas mark 4", "220 °C")),
    "initial": lambda r: r.pick("ABCDEFGHJKLMNPRSTW") + ".",
}
"""Slot keys computed by functions rather than drawn from a word list."""
