"""Measurements: the seed notebook's experiments on a model, done right and returning data.

Activations on hand-written texts (`readout`), top corpus examples (`top_examples`), neuron
ablation with log-prob differences (`ablation`), noise on token embeddings (`noise`), iterative
simplification (`simplify`), direct logit attribution W_out @ W_U (`attribution`), prompt
optimisation (`optimize`), neurons matched across checkpoints (`matching`), and the metrics that
score a predicate against real firing (`metrics`). Each is a function usable in a notebook.

May import: `neurontest.engine`, `neurontest.errors`.
"""
