"""The cost of display strings (byte pieces merged into characters) against per-token decoding,
on 5,400 tokens of the embedded corpus plus split characters (docs/benchmarks.md).

    python benchmarks/display_tokens_note.py
"""
import statistics
import time

from transformers import AutoTokenizer

from neurontest.engine.models import loading as models
from neurontest.engine.data.corpus import load_corpus
from neurontest.engine.data.tokens import display_tokens

tokenizer = AutoTokenizer.from_pretrained(models._embedded_gguf_dir(), gguf_file=models._EMBEDDED_GGUF)
text = " café – 月曜日 🙂 naïve" * 40 + " ".join(load_corpus(None).texts)[:30000]
ids = tokenizer(text, add_special_tokens=False)["input_ids"][:5400]


def median_ms(work) -> float:
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return 1000 * statistics.median(runs)


print(f"{len(ids)} tokens, median of 7 runs")
print(f"per-token decode: {median_ms(lambda: [tokenizer.decode([i]) for i in ids]):.1f} ms")
print(f"display_tokens:   {median_ms(lambda: display_tokens(tokenizer, ids)):.1f} ms")
