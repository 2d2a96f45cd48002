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
