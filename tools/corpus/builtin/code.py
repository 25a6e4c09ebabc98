"""Document builders for code, data formats, and arithmetic in the built-in corpus."""

from __future__ import annotations

from tools.corpus.builtin import lexicon
from tools.corpus.builtin.inflect import capitalise, identifier, number_words, plural
from tools.corpus.builtin.render import Renderer

_LANGUAGE_OF = (
    ("SELECT", "SQL"),
    ("$ ", "a shell"),
    ("const ", "JavaScript"),
    ("<ul>", "HTML"),
    ('{\n  "', "JSON"),
    ("name,", "CSV"),
    ("| ", "Markdown"),
    ("# config", "YAML"),
)


def _set_code_context(r: Renderer) -> None:
    """Choose one topic category and derive every ``<<$...>>`` value the code templates use."""
    cat = r.pick(lexicon.code_templates().topics)
    words = r.sample(lexicon.categories()[cat], r.rng.randint(3, 6))
    thing = cat.replace("_", " ")
    nums = [r.rng.randint(1, 100) for _ in range(r.rng.randint(3, 7))]
    a, b = r.rng.randint(1, 999), r.rng.randint(1, 999)
    rows = r.sample(lexicon.countries(), r.rng.randint(2, 5))
    people = [r.render("{full},{age},{city},{profession}") for _ in range(r.rng.randint(2, 5))]
    r.ctx.update(
        {
            "$thing": thing,
            "$things": plural(thing),
            "$thing_id": identifier(thing),
            "$things_id": identifier(plural(thing)),
            "$class_name": "".join(p.capitalize() for p in identifier(thing).split("_")),
            "$list": "[" + ", ".join(f'"{w}"' for w in words) + "]",
            "$set": ", ".join(f'"{w.lower()}"' for w in words),
            "$count": str(len(words)),
            "$first": words[0],
            "$second": words[1],
            "$nums": "[" + ", ".join(map(str, nums)) + "]",
            "$total": str(sum(nums)),
            "$a": str(a),
            "$b": str(b),
            "$sum": str(a + b),
            "$port": str(r.pick((8000, 8080, 5432, 6379, 3000, 443))),
            "$price_dict": ", ".join(f'"{w}": {r.rng.randint(1, 2000) / 100}' for w in words),
            "$capitals": "\n".join(f'    "{c.name}": "{c.capital}",' for c in rows),
            "$table": "\n".join(f"| {c.name} | {c.capital} | {c.language} |" for c in rows),
            "$csv": "\n".join(people),
        }
    )


def code(r: Renderer) -> str:
    """A code or data snippet on one topic, optionally fenced and introduced by a sentence."""
    _set_code_context(r)
    body = r.code(r.pick(lexicon.code_templates().snippets))
    lang = next((name for prefix, name in _LANGUAGE_OF if body.startswith(prefix)), "Python")
    r.ctx["$lang_code"] = lang
    if r.chance(0.5):
        fence = lang.split()[-1].lower() if lang != "Python" else "python"
        body = f"```{fence}\n{body}\n```"
    parts = []
    if r.chance(0.6):
        parts.append(r.sentence(r.pick(lexicon.code_templates().intros)))
    parts.append(body)
    if r.chance(0.3):
        parts.append(r.sentence(r.pick(lexicon.code_templates().outros)))
    return "\n".join(parts)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _arith_line(r: Renderer) -> str:
    """One arithmetic fact in digits, symbols, or words — always correct."""
    d = r.rng.randint
    kind = r.rng.randrange(12)
    a, b = d(1, 20), d(1, 20)
    if kind == 0:
        return f"{a} + {b} = {a + b}"
    if kind == 1:
        return f"{a + b} {r.pick(('-', '−'))} {b} = {a}"
    if kind == 2:
        return f"{a} {r.pick(('×', '*', 'x'))} {b} = {a * b}"
    if kind == 3:
        return f"{a * b} {r.pick(('÷', '/'))} {b} = {a}"
    if kind == 4:
        return f"{capitalise(number_words(a))} plus {number_words(b)} equals {number_words(a + b)}."
    if kind == 5:
        return f"What is {a} times {b}? Answer: {a * b}."
    if kind == 6:
        k = d(2, 5)
        return f"({a} + {b}) × {k} = {(a + b) * k}"
    if kind == 7:
        return f"{a}^2 = {a * a}" if r.chance(0.5) else f"{a}² = {a * a}"
    if kind == 8:
        sign = ">" if a > b else "<" if a < b else "="
        return f"{a} {sign} {b}"
    if kind == 9:
        p, base = r.pick((10, 20, 25, 50, 15, 5)), r.pick((40, 60, 80, 100, 200, 300))
        return f"{p}% of {base} is {_fmt(p * base / 100)}."
    if kind == 10:
        x, y = d(1, 99) / 10, d(1, 99) / 100
        return f"{_fmt(x)} + {_fmt(y)} = {_fmt(round(x + y, 2))}"
    return f"x + {b} = {a + b}, so x = {a}."


def _word_problem(r: Renderer) -> str:
    """A word problem about the document's character, with a correct answer."""
    a, b = r.rng.randint(10, 20), r.rng.randint(2, 9)
    speed = r.pick((30, 40, 50, 60, 80, 100))
    r.ctx.update(
        {
            "$qa": str(a),
            "$qb": str(b),
            "$qsum": str(a + b),
            "$qdiff": str(a - b),
            "$qprod": str(a * b),
            "$qspeed": str(speed),
            "$qdist": str(speed * b),
            "$qthing": r.pick(lexicon.categories()[r.pick(("fruit", "toy", "stationery", "dessert"))]),
        }
    )
    return r.sentence(r.pick(lexicon.code_templates().word_problems))


def arithmetic(r: Renderer) -> str:
    """A worksheet of arithmetic facts and a word problem."""
    head = r.sentence(r.pick(("Worksheet {n}: arithmetic", "Maths homework", "Exercise {n1}.{n1}", "Sums")))
    lines = [_arith_line(r) for _ in range(r.rng.randint(3, 9))]
    if r.chance(0.7):
        lines.insert(r.rng.randint(0, len(lines)), _word_problem(r))
    return head + "\n" + "\n".join(lines)
