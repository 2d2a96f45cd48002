"""Pieces of hypothesis files on the planted model, shared by the integration tests."""

# The planted corpus, whole (no sampling), cut into 16-token windows.
PLANTED_CORPUS = """\
corpus: planted
corpus_tokens: null
window: 16
"""
HEADER = "model: planted\n" + PLANTED_CORPUS + "neurons:\n"
# Every token L0N3 (the planted month neuron) fires on, as a YAML flow list.
MONTHS = ("[January, February, March, April, May, June, July, August, September, October, "
          "November, December]")
# The month neuron, claimed (truly) to fire on every month, at tau 1; its claims follow.
MONTH_NEURON = f"""\
  - id: L0N3
    description: fires on month names
    fires_on: {{tokens: {MONTHS}}}
    threshold: 1.0
    claims:
"""
# True claims of the month neuron on hand-written texts: examples, noise, simplification.
MONTH_TEXT_CLAIMS = """\
      - kind: examples
        fires: ["we met in [[March]] 2020"]
        silent: ["the cat sat on the mat"]
      - kind: noise
        text: "we met in [[March]]"
      - kind: simplify
        text: "the cat sat in the park in [[March]]"
"""
