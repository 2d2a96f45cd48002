"""Template strings such as "We met on {day} [[{month}]]": their `{slot}` names, and the
templated counterfactual pairs of the causal claim kinds.

    templates: ["We met on {day} [[{month}]]", "The shop opened on {day} [[{month}]]"]
    slots:
      day: [3, 12, 21]                                   # the same value in both texts
      month: {clean: [March, June], corrupt: [Friday, Monday]}   # by index: March / Friday

A template gives both texts of a pair: a slot with a list puts one value into both, a slot with
`clean:`/`corrupt:` lists puts the clean value at some index into the clean text and the
corrupt value at the same index into the corrupt one, so the author says which word stands
against which (matched in length and form). `[[marks]]` name the positions patched.
Values are stripped, as in `sufficient`: the template's own spaces separate the words.

Kept free of Hypothesis: collection validates these options, and a run that selects no claim
that draws should not pay for importing it (`neurontest.claims.draws` draws the pairs).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Annotated, Any, Mapping, Sequence

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from neurontest.claims.marked import strip_marks
from neurontest.claims.options import MAX_TEXTS, Texts, claim_phrase

MAX_SLOT_VALUES = 10_000
MAX_VALUE_CHARS = 200
DEFAULT_DRAWS = 20
_NAME = re.compile(r"^\w+$")


def template_slots(template: str) -> list[str]:
    """The `{slot}` names of a template, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with each `{slot}` replaced by its value (`{{`, `}}`: literal braces)."""
    return template.format(**values)


# -- the `slots:` option ------------------------------------------------------------------------
class PairedSlot(BaseModel):
    """A slot whose clean and corrupt texts take different values: the same index of each list."""

    model_config = ConfigDict(frozen=True)

    clean: tuple[str, ...]
    corrupt: tuple[str, ...]


def _values(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise ValueError(f"{where}is a list of values (a list even for one)")
    if not raw:
        raise ValueError(f"{where}is an empty list; give at least one value")
    if len(raw) > MAX_SLOT_VALUES:
        raise ValueError(f"{where}takes at most {MAX_SLOT_VALUES} values")
    out = []
    for number, value in enumerate(raw, 1):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{where}item {number} ({value!r}) is a word or a number")
        text = str(value).strip()
        if not text:
            raise ValueError(f"{where}item {number} is blank; give a word")
        if len(text) > MAX_VALUE_CHARS:
            raise ValueError(f"{where}item {number} has more than {MAX_VALUE_CHARS} characters")
        if "[[" in text or "]]" in text:
            raise ValueError(f"{where}item {number} ({text!r}) holds a [[mark]]; mark the "
                             "template instead, e.g. [[{month}]]")
        out.append(text)
    return tuple(out)


def parse_slot(value: Any) -> tuple[str, ...] | PairedSlot:
    """A list (one value for both texts) or {clean: [...], corrupt: [...]} (paired by index)."""
    if isinstance(value, dict):
        if set(value) != {"clean", "corrupt"}:
            raise ValueError(f"takes `clean:` and `corrupt:` lists (the clean text's values and the "
                             f"corrupt text's, paired by index), got keys {sorted(map(str, value))}")
        clean, corrupt = _values(value["clean"], "its `clean:` "), _values(value["corrupt"], "its `corrupt:` ")
        if len(clean) != len(corrupt):
            raise ValueError(f"has {len(clean)} `clean:` values and {len(corrupt)} `corrupt:`; the "
                             "value at each index of `clean:` stands against the one at the same "
                             "index of `corrupt:`, so give both lists the same length")
        return PairedSlot(clean=clean, corrupt=corrupt)
    if isinstance(value, list):
        return _values(value, "")
    raise ValueError("is a list of values (the same in both texts) or {clean: [...], corrupt: [...]} "
                     "(the clean and the corrupt text's values, paired by index)")


_VALUES_SCHEMA: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": MAX_SLOT_VALUES,
                                  "items": {"type": ["string", "number"]}}
Slots = Annotated[
    dict[str, Annotated[Any, AfterValidator(parse_slot), WithJsonSchema({
        "description": "values for both texts, or {clean:, corrupt:} lists paired by index",
        "oneOf": [_VALUES_SCHEMA, {"type": "object", "required": ["clean", "corrupt"],
                                   "additionalProperties": False,
                                   "properties": {"clean": _VALUES_SCHEMA,
                                                  "corrupt": _VALUES_SCHEMA}}]})]],
    Field(min_length=1, max_length=256)]
PairTemplates = Texts
Draws = Annotated[int, Field(ge=1, le=MAX_TEXTS)]

TEMPLATES_HELP = ("texts with {slots} and [[marks]] (the positions patched); Hypothesis draws "
                  "counterfactual pairs from them")
SLOTS_HELP = ("each template slot's values: a list (the same value in both texts) or "
              "{clean: [...], corrupt: [...]} (paired by index)")
DRAWS_HELP = f"with `templates:`: pairs drawn (default {DEFAULT_DRAWS}; duplicates are dropped)"
SEED_HELP = "with `templates:`: the Hypothesis seed the pairs are drawn from (default 0)"


def check_pair_source(options: Any, kind: str, *, texts: bool = False) -> None:
    """One of `pairs:` and `templates:` (and `texts:` where `texts` is allowed), and templates
    whose slots are defined, marked and able to make two different texts; ValueError: one line
    naming the option and the fix."""
    given = [k for k in (("texts",) if texts else ()) + ("pairs", "templates")
             if getattr(options, k) is not None]
    forms = " or ".join(f"`{k}:`" for k in (("texts",) if texts else ()) + ("pairs", "templates"))
    if len(given) != 1:
        which = "one of them" if not given else f"not both {' and '.join(f'`{k}:`' for k in given)}"
        raise ValueError(f"{claim_phrase(kind)} needs {forms} ({which})")
    if options.templates is None:
        if options.slots is not None:
            raise ValueError("`slots:` fill `templates:`; add templates such as 'We met on {day} "
                             "[[{month}]]', or drop `slots:`")
        extra = sorted({"draws", "seed"} & options.model_fields_set)
        if extra:
            raise ValueError(f"{' and '.join(f'`{k}:`' for k in extra)} "
                             f"{'is' if len(extra) == 1 else 'are'} for `templates:` (the pairs "
                             f"drawn); with `{given[0]}:` drop {'it' if len(extra) == 1 else 'them'}")
        return
    check_templates(options.templates, options.slots or {})


def check_templates(templates: Sequence[str], slots: Mapping[str, Any]) -> None:
    """Each template well formed, marked, with its slots defined and a clean/corrupt slot; each
    slot used. ValueError: one line naming the template or slot and the fix."""
    used: set[str] = set()
    for number, template in enumerate(templates, 1):
        where = f"`templates:` item {number} ({template!r})"
        try:
            fields = list(string.Formatter().parse(template))
        except ValueError:
            raise ValueError(f"{where} has an unmatched {{ or }}; write {{{{ or }}}} for a literal "
                             "brace") from None
        names = []
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if not _NAME.match(name) or spec or conversion:
                raise ValueError(f"{where}: {{{name}{'!' + conversion if conversion else ''}"
                                 f"{':' + spec if spec else ''}}} is not a slot; name slots like {{month}}")
            names.append(name)
        missing = [n for n in dict.fromkeys(names) if n not in slots]
        if missing:
            raise ValueError(f"{where} uses {', '.join(f'{{{n}}}' for n in missing)}, which `slots:` "
                             f"does not define; add e.g. `{missing[0]}: [...]` to `slots:`")
        _, marks = strip_marks(template)
        if not marks:
            raise ValueError(f"{where} has no [[mark]]; mark the token(s) patched, e.g. "
                             f"[[{{{names[0]}}}]]" if names else f"{where} has no [[mark]]; mark "
                             "the token(s) patched")
        if not any(isinstance(slots[n], PairedSlot) for n in names):
            raise ValueError(f"{where} uses no slot with `clean:` and `corrupt:` values, so its clean "
                             "and corrupt texts are the same; give one of its slots e.g. "
                             "{clean: [March], corrupt: [Friday]}")
        used.update(names)
    unused = [n for n in slots if n not in used]
    if unused:
        raise ValueError(f"`slots:` defines {', '.join(f'{{{n}}}' for n in unused)}, which no "
                         "template uses; use it in a template or drop it")


# -- a templated pair ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FilledPair:
    """A template with each slot's clean and corrupt value: `(slot, clean, corrupt)` in the
    order the template first uses them."""

    template: str
    values: tuple[tuple[str, str, str], ...]

    @property
    def clean(self) -> str:
        return fill(self.template, {name: c for name, c, _ in self.values})

    @property
    def corrupt(self) -> str:
        return fill(self.template, {name: x for name, _, x in self.values})

    @property
    def texts(self) -> tuple[str, str]:
        return self.clean, self.corrupt

    def describe(self) -> str:
        """`{month} 'March' / 'Friday', {day} '3'`: the slot values, as a person reads them."""
        return ", ".join(f"{{{n}}} {c!r}" if c == x else f"{{{n}}} {c!r} / {x!r}"
                         for n, c, x in self.values)

    def __repr__(self) -> str:  # Hypothesis prints drawn values by their repr
        return f"FilledPair({self.clean!r} / {self.corrupt!r})"


def slot_token_counts(tokenizer: Any, pair: FilledPair) -> list[tuple[str, str, int, str, int]]:
    """For each slot whose clean and corrupt values differ: (slot, clean value, its tokens in the
    clean text, corrupt value, its tokens in the corrupt text), counting the tokens that overlap
    the value's first occurrence (a BPE token carries the space before a word)."""
    out = []
    for name, clean, corrupt in pair.values:
        if clean == corrupt:
            continue
        counts = [_tokens_of_slot(tokenizer, pair, name, side) for side in (0, 1)]
        if None not in counts:
            out.append((name, clean, counts[0], corrupt, counts[1]))  # type: ignore[arg-type]
    return out


_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a template


def _tokens_of_slot(tokenizer: Any, pair: FilledPair, slot: str, side: int) -> int | None:
    values = {n: _OPEN + v + _CLOSE if n == slot else v
              for n, v in ((n, (c, x)[side]) for n, c, x in pair.values)}
    text, _ = strip_marks(fill(pair.template, values))
    start = text.find(_OPEN)
    end = text.find(_CLOSE) - 1
    if start < 0 or end < start:
        return None
    plain = text.replace(_OPEN, "").replace(_CLOSE, "")
    encoding = tokenizer(plain, add_special_tokens=False, return_offsets_mapping=True)
    return sum(1 for s, e in encoding["offset_mapping"] if s < end and e > start)
