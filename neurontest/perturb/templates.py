"""Template strings such as "We met in [[{month}]] {year}": the `{slot}` names they use.

Kept free of Hypothesis: validating a `sufficient` claim's templates happens at collection, and
a run that selects no perturbation claim should not pay for importing Hypothesis.
"""

from __future__ import annotations

import string


def template_slots(template: str) -> list[str]:
    """The `{slot}` names of a template, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]
