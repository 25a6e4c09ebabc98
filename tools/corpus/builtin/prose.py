"""Document builders for prose genres of the built-in corpus.

Each builder takes a `Renderer` (one document's random stream, cast and setting) and returns the
document's text: a paragraph of 3-12 sentences on one topic, sometimes with a heading, a list,
or speaker turns.
"""

from __future__ import annotations

from tools.corpus.builtin import lexicon
from tools.corpus.builtin.inflect import capitalise, plural, title_case
from tools.corpus.builtin.render import Renderer


def _sentences(r: Renderer, templates: tuple[str, ...], low: int, high: int) -> list[str]:
    """Render `low`..`high` distinct templates as sentences."""
    return [r.sentence(x) for x in r.sample(templates, r.rng.randint(low, high))]


def _heading(r: Renderer, text: str) -> str:
    """Format a heading in one of several styles (plain, markdown, upper case, underlined)."""
    style = r.rng.randrange(5)
    if style == 0:
        return "# " + text
    if style == 1:
        return text.upper()
    if style == 2:
        return text + "\n" + "=" * len(text)
    if style == 3:
        return "## " + text
    return text


def _split_pair(r: Renderer, pair: str) -> tuple[str, str]:
    """Render both halves of a ``"question||answer"`` template."""
    if r.used is not None:
        r.used.add(pair)
    first, second = pair.split("||")
    return capitalise(r.render(first)), capitalise(r.render(second))


def say(r: Renderer, line: str, speaker: str) -> str:
    """Attribute a spoken line to `speaker` in one of several narrative styles."""
    asking = line.endswith("?")
    body = line[:-1] + "," if line.endswith(".") else line
    verb = "asked" if asking else r.pick(("said", "said", "replied", str(r.render("{v_speech:past}"))))
    style = r.rng.randrange(5)
    if style == 0:
        text = f'"{body}" {verb} {speaker}.'
    elif style == 1:
        text = f'{speaker} {verb}, "{line}"'
    elif style == 2:
        text = f'"{body}" {speaker} {verb} {r.render("{adv}")}.'
    elif style == 3:
        text = f'"{line}"'
    else:
        text = f"\u2014 {line}"
    return r.quote(text)


def story(r: Renderer) -> str:
    """A short story about one character in one place, with pronoun reference and some speech."""
    t = lexicon.narrative()
    lines = [r.sentence(r.pick(t.story_openers))]
    lines += _sentences(r, t.story_middle, 2, 8)
    if r.chance(0.5):
        question, answer = _split_pair(r, r.pick(t.dialogue_pairs))
        at = r.rng.randint(1, len(lines))
        lines[at:at] = [say(r, question, str(r.value("$name"))), say(r, answer, str(r.value("$friend")))]
    if r.chance(0.6):
        lines.append(r.sentence(r.pick(t.story_endings)))
    text = " ".join(lines)
    if r.chance(0.35):
        text = _heading(r, title_case(r.render(r.pick(t.story_titles)))) + "\n\n" + text
    return text


def dialogue(r: Renderer) -> str:
    """A conversation with speaker turns, as a script or as quoted narrative."""
    t = lexicon.narrative()
    names = [str(r.value("$name")), str(r.value("$friend"))]
    turns: list[tuple[int, str]] = []
    for pair in r.sample(t.dialogue_pairs, r.rng.randint(2, 5)):
        first, second = _split_pair(r, pair)
        turns += [(0, first), (1, second)]
    style = r.rng.randrange(3)
    out: list[str] = []
    if style == 2:
        out.append(r.sentence("{Time_of_day} in {$city}. {$name} and {$friend} are in the {room}."))
    for i, (who, line) in enumerate(turns):
        if style == 0:
            out.append(say(r, line, names[who]))
        else:
            speaker = names[who].upper() if style == 2 else names[who]
            out.append(f"{speaker}: {r.quote(line)}")
        if style != 0 and i % 3 == 2 and r.chance(0.4):
            out.append(r.sentence(r.pick(t.stage_directions)))
    return (" " if style == 0 else "\n").join(out)


def diary(r: Renderer) -> str:
    """A first-person diary entry mixing past, present and future tense."""
    t = lexicon.narrative()
    head = r.sentence(r.pick(t.diary_headers))
    return head + "\n" + " ".join(_sentences(r, t.diary_lines, 3, 9))


def opinion(r: Renderer) -> str:
    """An opinion piece: comparatives, conditionals, negation and rhetorical questions."""
    t = lexicon.narrative()
    body = " ".join(_sentences(r, t.opinion_lines, 3, 9))
    if r.chance(0.5):
        return _heading(r, r.sentence(r.pick(t.essay_titles))) + "\n\n" + body
    return body


def biography(r: Renderer) -> str:
    """An encyclopedia-style biography, sometimes with wiki-style section headings."""
    t = lexicon.narrative()
    lines = [r.sentence(t.biography_lines[0])]
    lines += _sentences(r, t.biography_lines[1:], 2, 8)
    if r.chance(0.4) and len(lines) > 3:
        section = r.pick(t.wiki_sections)
        return " ".join(lines[:2]) + f"\n\n== {section} ==\n\n" + " ".join(lines[2:])
    return " ".join(lines)


def news(r: Renderer) -> str:
    """A news report: headline, dateline, reported speech, figures and dates."""
    g = lexicon.genres()
    headline = title_case(r.render(r.pick(g.news_headlines)))
    if r.chance(0.2):
        headline = "BREAKING: " + headline.upper()
    dateline = f"{str(r.value('$city')).upper()}, {r.render('{month} {n1}')} \u2014 "
    body = _sentences(r, g.news_lines, 3, 9)
    return headline + "\n\n" + dateline + " ".join(body)


def recipe(r: Renderer) -> str:
    """A recipe: title, ingredient list with quantities, numbered method, a tip."""
    g = lexicon.genres()
    title = capitalise(r.render(r.pick(g.recipe_titles)))
    qty = ("{n3} g", "{n} tbsp", "{fraction} cup", "{n}", "a pinch of", "{n2} ml", "{n} tsp", "1 kg")
    items = [f"{r.render(r.pick(qty))} {x}" for x in r.sample(lexicon.categories()["ingredient"], r.rng.randint(3, 6))]
    items.append(f"{r.render('{n}')} {plural(str(r.value('$vegetable')))}")
    bullet = r.pick(("- ", "* ", "\u2022 "))
    steps = _sentences(r, g.recipe_steps, 3, 7)
    numbered = [f"{i}. {s}" for i, s in enumerate(steps, 1)]
    out = [_heading(r, title), "", "Ingredients:"] + [bullet + i for i in items]
    out += ["", r.pick(("Method:", "Instructions:", "Steps:")), *numbered]
    if r.chance(0.6):
        out += ["", r.sentence(r.pick(g.recipe_tips))]
    return "\n".join(out)


def howto(r: Renderer) -> str:
    """Imperative instructions with numbered steps, warnings and conditionals."""
    g = lexicon.genres()
    title = capitalise(r.render(r.pick(g.howto_titles)))
    steps = _sentences(r, g.howto_steps, 3, 8)
    if r.chance(0.5):
        return _heading(r, title) + "\n" + "\n".join(f"{i}) {s}" for i, s in enumerate(steps, 1))
    return title + ". " + " ".join(steps)


def letter(r: Renderer) -> str:
    """A letter or an email with headers, greeting, body and sign-off."""
    g = lexicon.genres()
    out: list[str] = []
    if r.chance(0.5):
        out += [
            f"From: {r.render('{email}')}",
            f"To: {r.render('{email}')}",
            f"Subject: {r.sentence(r.pick(g.email_subjects))}",
            "",
        ]
    elif r.chance(0.5):
        out += [r.render("{addr}"), r.render("{date}"), ""]
    out.append(r.render(r.pick(g.letter_openings)))
    out.append(" ".join(_sentences(r, g.letter_lines, 3, 8)))
    out += [r.render(r.pick(g.letter_closings)), str(r.value("$name"))]
    if r.chance(0.3):
        out.append(r.sentence("P.S. Don't forget to feed the {$animal}!"))
    return "\n".join(out)


def faq(r: Renderer) -> str:
    """Questions and answers in one of several Q/A formats."""
    fmt = r.pick((("Q: ", "A: "), ("Question: ", "Answer: "), ("**Q.** ", "**A.** "), ("- ", "  ")))
    head = r.pick(("Frequently Asked Questions", "FAQ", "Visitor information: {$city} {$building}"))
    out = [_heading(r, r.sentence(head))]
    for pair in r.sample(lexicon.genres().faq_pairs, r.rng.randint(3, 6)):
        question, answer = _split_pair(r, pair)
        out += [fmt[0] + r.quote(question), fmt[1] + r.quote(answer)]
    return "\n".join(out)


def encyclopedia(r: Renderer) -> str:
    """An encyclopedia entry about a country (true facts) or about an animal."""
    g = lexicon.genres()
    if r.chance(0.75):
        head = str(r.value("$country"))
        body = [r.sentence(g.country_facts[0]), *_sentences(r, g.country_facts[1:], 2, 7)]
    else:
        head = capitalise(str(r.value("$animal")))
        body = _sentences(r, g.animal_facts, 3, 6)
    return _heading(r, capitalise(head)) + "\n" + " ".join(body)


def weather(r: Renderer) -> str:
    """A weather forecast with temperatures, wind speeds, times and percentages."""
    head = r.sentence(r.pick(("Forecast for {$city}, {date}", "Weather: {$city}", "{Weekday}'s weather")))
    return head + "\n" + "\n".join(_sentences(r, lexicon.genres().weather_lines, 3, 7))


def sports(r: Renderer) -> str:
    """A match report with teams, scores, ordinals and quotes."""
    head = r.render("{$team} {score} {team}")
    return head + "\n" + " ".join(_sentences(r, lexicon.genres().sports_lines, 3, 8))


def notices(r: Renderer) -> str:
    """Classified ads and notices: capitalised labels, prices, phone numbers, emails."""
    return "\n\n".join(_sentences(r, lexicon.genres().notices, 3, 6))


def listing(r: Renderer) -> str:
    """A list article: numbered or bulleted members of one category with short comments."""
    g = lexicon.genres()
    cat = r.pick(tuple(g.glossary))
    r.ctx["$cat_pl"] = g.glossary[cat].label
    title = capitalise(r.render(r.pick(g.list_titles)))
    members = r.sample(lexicon.categories()[cat], r.rng.randint(3, 8))
    numbered = r.chance(0.5)
    out = [_heading(r, title)]
    for i, word in enumerate(members, 1):
        mark = f"{i}. " if numbered else r.pick(("- ", "* ", "\u2022 "))
        comment = r.render(r.pick(g.list_comments)) if r.chance(0.7) else ""
        out.append(mark + capitalise(word) + (f" \u2014 {comment}" if comment else ""))
    return "\n".join(out)


def glossary(r: Renderer) -> str:
    """Dictionary-style definitions of members of one category."""
    g = lexicon.genres()
    cat = r.pick(tuple(g.glossary))
    out = [_heading(r, "Glossary: " + title_case(g.glossary[cat].label))]
    for word in r.sample(lexicon.categories()[cat], r.rng.randint(2, 4)):
        r.ctx["$word"] = word
        r.ctx["$gloss"] = g.glossary[cat].gloss
        out.append(" ".join(_sentences(r, g.definition_lines, 1, 3)))
    return "\n".join(out)


def quiz(r: Renderer) -> str:
    """A quiz with true answers: capitals, languages, plurals, and "which of these is a ..."."""
    cats = lexicon.categories()
    g = lexicon.genres()
    out = [r.sentence(r.pick(g.quiz_intros))]
    asked: set[str] = set()
    for _ in range(r.rng.randint(3, 7)):
        kind = r.rng.randrange(5)
        c = r.pick(lexicon.countries())
        if kind == 0:
            q, a = f"What is the capital of {c.name}?", c.capital
        elif kind == 1:
            q, a = f"Which language is mainly spoken in {c.name}?", c.language
        elif kind == 2:
            word = r.pick(cats[r.pick(("animal", "fruit", "tool", "body_part", "vehicle"))])
            q, a = f"What is the plural of '{word}'?", plural(word)
        elif kind == 3:
            q, a = f"On which continent is {c.name}?", c.continent
        else:
            cat, other, other2 = r.sample(tuple(g.glossary), 3)
            right = r.pick(cats[cat])
            options = [right, r.pick(cats[other]), r.pick(cats[other2])]
            r.rng.shuffle(options)
            letters = "abc"
            q = f"Which of these is {g.glossary[cat].gloss}? " + " ".join(
                f"({letters[j]}) {o}" for j, o in enumerate(options)
            )
            a = f"({letters[options.index(right)]}) {right}"
        if q in asked:
            continue
        asked.add(q)
        out.append(f"{len(asked)}. {capitalise(q)}")
        out.append(f"   Answer: {a}")
    return "\n".join(out)


def schedule(r: Renderer) -> str:
    """A day planner or a timetable with sorted 24-hour times."""
    start = r.rng.randint(6, 10)
    times = sorted(r.sample(range(start * 60, 21 * 60, 15), r.rng.randint(3, 8)))
    sep = r.pick((" \u2013 ", " - ", "  ", ": "))
    lines = [r.sentence(r.pick(("{Weekday}", "Schedule for {date}", "To do ({weekday})")))]
    for minutes in times:
        item = r.sentence(r.pick(lexicon.genres().schedule_items))
        lines.append(f"{minutes // 60:02d}:{minutes % 60:02d}{sep}{item}")
    return "\n".join(lines)


def receipt(r: Renderer) -> str:
    """A shop receipt whose total is the correct sum of its lines."""
    sym = r.pick(("£", "$", "€"))
    lines = [r.render("{company}"), r.render("{addr}"), r.render("{date}  {clock}"), ""]
    total = 0
    cat = r.pick(("fruit", "vegetable", "dessert", "stationery", "household", "drink"))
    for item in r.sample(lexicon.categories()[cat], r.rng.randint(2, 6)):
        qty, cents = r.rng.randint(1, 4), r.rng.randint(30, 999)
        total += qty * cents
        lines.append(f"{qty} x {item} @ {sym}{cents / 100:.2f}  {sym}{qty * cents / 100:.2f}")
    lines += [f"TOTAL  {sym}{total / 100:.2f}", r.pick(("Paid by card", "Cash", "Contactless"))]
    lines.append(r.pick(("Thank you for shopping with us!", "Please keep your receipt.", "See you soon :)")))
    return "\n".join(lines)


def science(r: Renderer) -> str:
    """School science notes: elements, planets, units, experiments, true general facts."""
    g = lexicon.genres()
    return r.sentence(r.pick(g.science_titles)) + "\n" + " ".join(_sentences(r, g.science_lines, 3, 8))


def music(r: Renderer) -> str:
    """A concert or album review."""
    g = lexicon.genres()
    head = title_case(r.render(r.pick(g.music_titles)))
    return head + "\n\n" + " ".join(_sentences(r, g.music_lines, 3, 7))


def announcement(r: Renderer) -> str:
    """Station and airport announcements."""
    return "\n".join(_sentences(r, lexicon.genres().announcements, 3, 6))
