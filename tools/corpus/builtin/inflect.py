"""English text helpers for the built-in corpus: plurals, articles, verb forms, numbers, casing,
and ASCII identifiers."""

from __future__ import annotations

import re
import unicodedata

from tools.corpus.builtin.lexicon import irregular_plurals, uncountable

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("zero", "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_SMALL_WORDS = frozenset(
    ("a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "with", "from")
)
_AN_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "once", "ewe", "ukulele", "utensil")
_AN_SILENT_H = ("hour", "honest", "honour", "heir")


def plural(noun: str) -> str:
    """Return the plural of a noun (or noun phrase, inflecting its last word)."""
    if noun in uncountable():
        return noun
    irregular = irregular_plurals()
    if noun in irregular:
        return irregular[noun]
    head, sep, last = noun.rpartition(" ")
    if sep:
        return head + " " + plural(last)
    if last in irregular:
        return irregular[last]
    lower = last.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return last + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return last[:-1] + "ies"
    return last + "s"


def article(phrase: str) -> str:
    """Return `phrase` preceded by "a", "an", or "some" (for uncountable nouns)."""
    if phrase in uncountable():
        return "some " + phrase
    lower = phrase.lower()
    if lower.startswith(_AN_SILENT_H):
        return "an " + phrase
    if lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(_AN_EXCEPTIONS):
        return "an " + phrase
    first = phrase.split(" ")[0].split("-")[0]
    if len(first) > 1 and first.isupper():  # an acronym is read letter by letter: "an MRI", "a USB"
        return ("an " if first[0] in "AEFHILMNORSX" else "a ") + phrase
    if phrase.startswith("X-"):
        return "an " + phrase
    return "a " + phrase


def third_person(verb: str) -> str:
    """Return the third-person singular present form of a base verb."""
    special = {"have": "has", "be": "is", "do": "does", "go": "goes"}
    if verb in special:
        return special[verb]
    if verb.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def number_words(n: int) -> str:
    """Spell out an integer in English words ("forty-two", "one thousand and five")."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" and " + number_words(rest) if rest else "")
    for size, name in ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            top, rest = divmod(n, size)
            joiner = " and " if 0 < rest < 100 else " "
            return number_words(top) + " " + name + (joiner + number_words(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """Spell out an ordinal ("first", "twenty-third", "one hundredth")."""
    words = number_words(n)
    stem, sep, last = words.rpartition("-") if "-" in words.split()[-1] else words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return stem + sep + last


def ordinal_suffix(n: int) -> str:
    """Return a numeric ordinal: 1st, 2nd, 3rd, 4th, 11th, 22nd."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def roman(n: int) -> str:
    """Return `n` (1..3999) as a Roman numeral."""
    table = (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    )
    out = []
    for value, letters in table:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def capitalise(text: str) -> str:
    """Upper-case the first letter of `text`, skipping leading quotes, brackets and spaces."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
        if ch.isdigit():
            return text
    return text


def title_case(text: str) -> str:
    """Headline-style title case: capitalise words except short function words (not the first)."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        if i > 0 and word.lower() in _SMALL_WORDS:
            out.append(word.lower())
        else:
            out.append(capitalise(word))
    return " ".join(out)


def ascii_fold(text: str) -> str:
    """Strip accents and drop anything outside ASCII letters, digits, '.', '-' and '_'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._-]+", "", folded.replace(" ", "-"))


def identifier(text: str) -> str:
    """Turn a word or phrase into a snake_case Python identifier."""
    ident = re.sub(r"[^a-z0-9]+", "_", ascii_fold(text.replace(" ", "_")).lower()).strip("_")
    return ident if ident and not ident[0].isdigit() else "x_" + ident
