"""Text corpora for finding dataset exemplars and training SAEs: the built-in generated corpus, real
text shipped by a registry package, local files, Hugging Face datasets and mixtures of these, all
behind one `Corpus` interface and one `load_corpus(spec)` entry point.

Specs understood by `load_corpus`:
    * ``builtin`` or ``builtin:seed=N[,min_tokens=M]``: varied English generated offline;
    * ``brown``: the Brown Corpus (500 samples of real edited American English, 15 genres,
      1.33M SmolLM2 tokens), fetched once with npm into ``$AUTOINTERP_HOME/corpora/brown/``;
    * ``mix:SPEC[=WEIGHT],SPEC[=WEIGHT][;seed=N]``: documents of several corpora interleaved
      deterministically by character share (``tools.corpus.mix``), e.g. ``mix:builtin=0.3,brown=0.7``;
    * a file path: ``.jsonl``/``.json`` as JSON records with a text field, anything else as text
      (a file named like a packaged corpus is read as a file when written as a path: ``./brown``);
    * ``hf:NAME[:CONFIG][:SPLIT][:COLUMN]``: a streamed Hugging Face dataset (optional extra).

`DEFAULT_TRAINING_CORPUS` is the spec SAE training uses when given none: real text mixed with the
built-in corpus (whose stories, dialogue, recipes, code and arithmetic the real text lacks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from store.errors import InputError
from store.settings import get_settings
from tools.corpus.base import Corpus
from tools.corpus.brown import BROWN
from tools.corpus.builtin.generator import GENERATOR_VERSION, generate
from tools.corpus.files import JsonlCorpus, TextFileCorpus, check_file
from tools.corpus.hf import HF_PREFIX, HFDatasetCorpus
from tools.corpus.mix import MIX_PREFIX, MixedCorpus, parse_mix_spec
from tools.corpus.packaged import PackagedCorpus, PackagedText
from tools.files import FileAccess

__all__ = [
    "BUILTIN_MIN_TOKENS",
    "DEFAULT_TRAINING_CORPUS",
    "PACKAGED",
    "BuiltinCorpus",
    "Corpus",
    "HFDatasetCorpus",
    "JsonlCorpus",
    "MixedCorpus",
    "PackagedCorpus",
    "TextFileCorpus",
    "load_corpus",
]

BUILTIN_MIN_TOKENS = 200_000
"""Default size of the built-in corpus, in (SmolLM2) tokens."""

PACKAGED: dict[str, PackagedText] = {BROWN.name: BROWN}
"""Real-text corpora shipped by registry packages, by spec name."""

DEFAULT_TRAINING_CORPUS = "mix:(builtin:min_tokens=700000)=0.3,brown=0.7"
"""The corpus SAE training reads when given none: 70% of the characters real text (all of the Brown
Corpus, 1.33M SmolLM2 tokens) and 30% built-in text (its code, arithmetic, dialogue and lists: 0.75M
tokens), 2.07M tokens in all. The built-in part is sized so that the Brown Corpus runs out first (a
mix ends when any part does). The exemplar cache's default stays ``builtin``."""

_JSON_SUFFIXES = frozenset({".jsonl", ".json"})
_BUILTIN_OPTIONS = ("seed", "min_tokens")


class BuiltinCorpus(Corpus):
    """The offline corpus: reproducible, varied English (stories, dialogue, news, recipes,
    letters, quizzes, arithmetic, code ...) generated from `seed` until about `min_tokens`
    tokens. The same seed gives byte-identical documents in every process."""

    def __init__(self, seed: int = 0, min_tokens: int = BUILTIN_MIN_TOKENS) -> None:
        """Check the arguments; nothing is generated until `texts()` is iterated."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"builtin corpus seed must be a non-negative integer, got {seed!r}")
        if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or min_tokens <= 0:
            raise InputError(f"builtin corpus min_tokens must be a positive integer, got {min_tokens!r}")
        self.seed = seed
        self.min_tokens = min_tokens
        options = [f"seed={seed}"] if seed else []
        if min_tokens != BUILTIN_MIN_TOKENS:
            options.append(f"min_tokens={min_tokens}")
        self.spec = "builtin" + (":" + ",".join(options) if options else "")

    def texts(self) -> Iterator[str]:
        """Generate the documents (fast: well under a second for the default size)."""
        return generate(self.seed, self.min_tokens)

    def digest(self) -> str:
        """sha256 of the seed, size and generator version (the text is a function of these)."""
        key = f"builtin|seed={self.seed}|min_tokens={self.min_tokens}|version={GENERATOR_VERSION}"
        return hashlib.sha256(key.encode()).hexdigest()


def _parse_builtin(spec: str, seed: int) -> BuiltinCorpus:
    """Build a `BuiltinCorpus` from ``builtin`` or ``builtin:key=value[,key=value]``."""
    values = {"seed": seed, "min_tokens": BUILTIN_MIN_TOKENS}
    _, _, options = spec.partition(":")
    for option in filter(None, (o.strip() for o in options.split(","))):
        key, eq, raw = (p.strip() for p in option.partition("="))
        if key not in _BUILTIN_OPTIONS:
            raise InputError(
                f"unknown builtin corpus option {key!r} in {spec!r} (known: {', '.join(_BUILTIN_OPTIONS)})"
            )
        try:
            if not eq:
                raise ValueError
            values[key] = int(raw.replace("_", ""))
        except ValueError:
            raise InputError(f"builtin corpus option {key!r} needs an integer value in {spec!r}") from None
    return BuiltinCorpus(seed=values["seed"], min_tokens=values["min_tokens"])


def _load_mix(spec: str, seed: int, text_field: str, files: FileAccess | None, home: Path | None) -> MixedCorpus:
    """Build a `MixedCorpus` from ``mix:...``, loading each part with `load_corpus`."""
    parts, mix_seed = parse_mix_spec(spec)
    seed = seed if mix_seed is None else mix_seed
    loaded: list[tuple[Corpus, float | None]] = []
    for number, part in enumerate(parts, 1):
        try:
            corpus = load_corpus(part.spec, seed=seed, text_field=text_field, files=files, home=home)
        except InputError as exc:
            hint = " (a part with options goes in parentheses: mix:(builtin:seed=3)=0.5,brown=0.5)"
            raise InputError(f"{exc} [part {number} of {spec}]{hint if ':' in part.spec else ''}") from None
        loaded.append((corpus, part.weight))
    return MixedCorpus(loaded, seed=seed)


def load_corpus(
    spec: str,
    *,
    seed: int = 0,
    text_field: str = "text",
    files: FileAccess | None = None,
    home: Path | None = None,
) -> Corpus:
    """Open the corpus named by `spec`, validating it before returning.

    `seed` applies to ``builtin`` (``builtin:seed=N`` overrides it) and to ``mix:`` (``;seed=N``
    overrides it; the parts get it too); `text_field` names the text field of JSON Lines files; a
    file is read through `files` (a tool's access policy; None: any regular file, for the local
    user's own commands). A packaged corpus (``brown``) lives in `home` (None: the settings' cache
    home), fetched there on first use. Raises `InputError` with a one-line message for a missing
    file, a directory, a file that is not UTF-8 (with the byte offset), an empty file, a malformed
    JSON Lines record (with its line number), an unknown builtin option, an unusable ``hf:`` or
    ``mix:`` spec, a packaged corpus that is absent and cannot be fetched (naming the fix), or
    (`FileAccessError`) a file the policy does not allow.
    """
    spec = spec.strip()
    if not spec:
        raise InputError(
            "empty corpus spec (use 'builtin', 'brown', 'mix:SPEC,SPEC', a file path, "
            "or 'hf:NAME[:CONFIG][:SPLIT][:COLUMN]')"
        )
    if spec == "builtin" or spec.startswith("builtin:"):
        return _parse_builtin(spec, seed)
    if spec in PACKAGED:
        return PackagedCorpus(PACKAGED[spec], home if home is not None else get_settings().ensure_home())
    if spec.startswith(MIX_PREFIX):
        return _load_mix(spec, seed, text_field, files, home)
    if spec.startswith(HF_PREFIX):
        return HFDatasetCorpus(spec)
    if files is not None:
        path = files.resolve(spec, "corpus file")
    else:
        path = Path(spec).expanduser()
        check_file(path)
    if path.suffix.lower() in _JSON_SUFFIXES:
        return JsonlCorpus(path, field=text_field, files=files)
    return TextFileCorpus(path, files=files)
