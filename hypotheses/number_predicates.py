"""Python predicates named from test_predicate_forms.yaml (`python: "number_predicates:..."`).

Each is `(ids, position, vocab) -> bool` over one text's scorable token ids.
"""


def first_digit_of_number(ids, position, vocab):
    """The token is a digit and the token before it is not (SmolLM2 writes one digit per token)."""

    def digit(i):
        return 0 <= i < len(ids) and vocab.strings[ids[i]].isdigit() and len(vocab.strings[ids[i]]) == 1

    return digit(position) and not digit(position - 1)
