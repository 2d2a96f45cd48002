"""What a claim says a neuron responds to: predicates over the tokens of a text.

One form family per module: `tokens` (decided per vocabulary entry), `logic` (and/or/not),
`context` (look-back, look-ahead, exact sequences), `spans` (runs, bracketed spans, whole
words), `python` (a function written by the researcher), and `parse` (the YAML form). Every
form composes with every other; masks are whole-batch torch ops.
"""

from neurontest.claims.predicates.context import Context, Near, Sequence
from neurontest.claims.predicates.core import Predicate, TokenPredicate
from neurontest.claims.predicates.logic import Both, Either, Not
from neurontest.claims.predicates.parse import PREDICATE_KEYS, predicate_from_dict
from neurontest.claims.predicates.python import PythonPredicate
from neurontest.claims.predicates.spans import InRun, Inside, Word
from neurontest.claims.predicates.tokens import AllOf, AnyOf, NotToken, TokenRegex, TokenSet

# Re-exported: predicates are decided per vocabulary entry.
from neurontest.engine.data.vocabulary import Vocabulary, vocabulary

__all__ = [
    "AllOf", "AnyOf", "Both", "Context", "Either", "InRun", "Inside", "Near", "Not", "NotToken",
    "PREDICATE_KEYS", "Predicate", "PythonPredicate", "Sequence", "TokenPredicate", "TokenRegex",
    "TokenSet", "Vocabulary", "Word", "predicate_from_dict", "vocabulary",
]
