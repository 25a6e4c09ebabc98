"""Code and data-format templates for the built-in corpus (Python, JavaScript, SQL, shell, JSON,
YAML, CSV, Markdown tables, a Python REPL session).

Pure data. Slots are ``<<key>>`` (braces are code syntax here); the ``<<$...>>`` values are set
by `tools.corpus_code.code` from one chosen category, so each snippet has one coherent topic.
"""

from __future__ import annotations

CODE_TEMPLATES: tuple[str, ...] = (
    '''def count_<<$things_id>>(<<$things_id>>: list[str]) -> int:
    """Return how many <<$things>> are in the list."""
    return len(<<$things_id>>)


<<$things_id>> = <<$list>>
print(count_<<$things_id>>(<<$things_id>>))  # prints <<$count>>''',
    '''class <<$class_name>>:
    """A <<$thing>> with a name and an age in years."""

    def __init__(self, name: str, age: int) -> None:
        self.name = name
        self.age = age

    def describe(self) -> str:
        return f"{self.name} is a {self.age}-year-old <<$thing>>"


item = <<$class_name>>("<<pet>>", <<n>>)
print(item.describe())''',
    """prices = {<<$price_dict>>}
total = sum(prices.values())
print(f"Total: {total:.2f}")""",
    """for <<$thing_id>> in <<$list>>:
    if <<$thing_id>>.startswith("<<letter:low>>"):
        print(<<$thing_id>>.upper())
    elif len(<<$thing_id>>) > <<n>>:
        print(<<$thing_id>>, "is a long word")
    else:
        print(<<$thing_id>>)""",
    """<<$things_id>> = <<$list>>
short = [w for w in <<$things_id>> if len(w) <= <<n>>]
print(sorted(short))""",
    """import json

try:
    with open("<<$things_id>>.json", encoding="utf-8") as f:
        data = json.load(f)
except FileNotFoundError:
    print("No <<$things>> found, starting fresh.")
    data = []""",
    """capitals = {
<<$capitals>>
}
for country, capital in capitals.items():
    print(f"The capital of {country} is {capital}.")""",
    '''def average(numbers: list[float]) -> float:
    """Return the arithmetic mean of a non-empty list."""
    return sum(numbers) / len(numbers)


scores = <<$nums>>
print(sum(scores))  # <<$total>>''',
    """count = <<n>>
while count > 0:
    print(count)
    count -= 1
print("Lift off!")""",
    """for i in range(1, <<n2>>):
    if i % 15 == 0:
        print("FizzBuzz")
    elif i % 3 == 0:
        print("Fizz")
    elif i % 5 == 0:
        print("Buzz")
    else:
        print(i)""",
    """SELECT name, colour, price
FROM <<$things_id>>
WHERE price < <<n2>>
ORDER BY name ASC
LIMIT <<n>>;""",
    """$ mkdir <<$things_id>>
$ cd <<$things_id>>
$ echo "<<$thing>>" > notes.txt
$ cat notes.txt
<<$thing>>
$ ls -la""",
    """{
  "name": "<<$full>>",
  "age": <<age>>,
  "city": "<<$city>>",
  "hobbies": ["<<hobby>>", "<<hobby>>"],
  "email": "<<email>>",
  "active": true
}""",
    """name,age,city,profession
<<$csv>>""",
    """| Country | Capital | Language |
|---------|---------|----------|
<<$table>>""",
    """>>> <<$things_id>> = <<$list>>
>>> len(<<$things_id>>)
<<$count>>
>>> <<$things_id>>[0]
'<<$first>>'
>>> "<<$first>>" in <<$things_id>>
True""",
    """from dataclasses import dataclass


@dataclass
class <<$class_name>>:
    name: str
    colour: str = "<<colour>>"
    weight_kg: float = <<dec>>""",
    """def add(a: int, b: int) -> int:
    return a + b


def test_add() -> None:
    assert add(<<$a>>, <<$b>>) == <<$sum>>""",
    """# config for the <<$city>> <<building>>
name: <<$thing_id>>-service
version: <<version>>
debug: false
port: <<$port>>
owners:
  - <<email>>
  - <<email>>""",
    """const <<$things_id>> = <<$list>>;
<<$things_id>>.forEach((item, i) => {
  console.log(`${i + 1}. ${item}`);
});""",
    '''def is_<<$thing_id>>(word: str) -> bool:
    """Return True if `word` names a <<$thing>>."""
    return word.lower() in {<<$set>>}


assert is_<<$thing_id>>("<<$First>>")
assert not is_<<$thing_id>>("<<word>>")''',
    """# TODO(<<$name:low>>): handle the empty case
def first_<<$thing_id>>(items):
    return items[0] if items else None  # returns None for []""",
    """<ul>
  <li><<$First>></li>
  <li><<$Second>></li>
</ul>""",
    """import re

EMAIL = re.compile(r"[\\w.]+@[\\w.]+")
print(EMAIL.findall("Contact <<email>> or <<email>>."))""",
)

CODE_INTROS: tuple[str, ...] = (
    "Here is a short example in {$lang_code}:",
    "The following snippet shows how to work with a list of {$things}.",
    "Example ({$lang_code}):",
    "Try running this:",
    "Output of the script:",
    "The bug is in the line below.",
    "Save this as {$things_id}.py and run it.",
    "Coming from {programming_language}? This is how it looks in {$lang_code}:",
)

CODE_OUTROS: tuple[str, ...] = (
    "Note that the list is not modified.",
    "This runs in O(n) time.",
    "If the file does not exist, an empty list is used instead.",
    "You can change the values to experiment.",
    "Don't forget to commit your changes with git.",
    "See {url} for more examples.",
    "I rewrote this in {programming_language} last week, but the Python version is simpler.",
    "Why not use {programming_language} for this? Mostly habit.",
)
