"""The planted model's vocabulary and the deterministic sentences of its corpus (`corpus: planted`).

Words live here, below the model, so the corpus loader needs no model to write planted sentences;
neurontest.engine.models.planted builds its tokenizer and weights from the same lists.
"""

from __future__ import annotations

import random

SPECIALS = ["<bos>", "<pad>", "<unk>", "<eos>"]  # ids 0..3
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DIGITS = [str(d) for d in range(10)] + ["1999", "2000", "2019", "2020", "2021", "2024"]
NEUTRAL = ["the", "a", "we", "they", "she", "he", "it", "met", "saw", "went", "came", "sat",
           "was", "is", "very", "in", "on", "at", "of", "to", "and", "cat", "dog", "mat",
           "city", "river", "house", "park", "movie", "food", "day", "morning", "red", "blue",
           "green", "big", "small", "rain"]
PUNCT = [",", "."]
NEGATION, TARGET = "not", "good"
PROMOTED = "2020"
WORDS = SPECIALS + MONTHS + DIGITS + NEUTRAL + PUNCT + [NEGATION, TARGET]


def planted_corpus_texts(n: int = 200, seed: int = 0) -> list[str]:
    """`n` deterministic sentences over the vocabulary: dates, numbers, filler, and "good" with
    and without an earlier "not"."""
    rng = random.Random(seed)
    nouns = ["cat", "dog", "city", "river", "house", "park", "movie", "food", "day", "morning"]
    subjects = ["we", "they", "she", "he"]

    def filler(lo: int, hi: int) -> str:
        return " ".join(rng.choice(NEUTRAL) for _ in range(rng.randint(lo, hi)))

    def clause() -> str:
        kind = rng.randrange(5)
        if kind == 0:
            year = f" {rng.choice(DIGITS)}" if rng.random() < 0.6 else ""
            return f"{rng.choice(subjects)} {rng.choice(['met', 'went', 'came'])} in {rng.choice(MONTHS)}{year}"
        if kind == 1:
            return f"on {rng.randint(1, 9)} {rng.choice(MONTHS)} the {rng.choice(nouns)} {filler(0, 3)}"
        if kind == 2:
            return f"the {rng.choice(DIGITS)} {rng.choice(nouns)} {filler(1, 4)}"
        if kind == 3:
            negated = rng.random() < 0.5
            middle = f"{filler(0, 3)} " if rng.random() < 0.5 else ""
            word = f"{NEGATION} {middle}" if negated else middle
            return f"the {rng.choice(nouns)} was {word}very {TARGET}".replace("  ", " ")
        return filler(3, 8)

    texts = []
    for _ in range(n):
        parts = [clause() for _ in range(rng.randint(1, 3))]
        texts.append(" , ".join(parts) + " .")
    return texts
