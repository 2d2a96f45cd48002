"""The engine: models, corpora and the activations of neurons on them.

Loading models (`models`, the embedded SmolLM2 GGUF, hub names, local folders; `planted`, a tiny
model whose neurons are exact by construction) and corpora (`corpus`, `prep_cache`); turning
texts into token batches (`tokens`, `vocabulary`); mining neuron activations in batches sized to
the device (`activations`, `batching`) into the on-disk cache (`activation_cache`), in this
process or on a pool of Ray actors (`executors`); where a model's weights go, one device or
several GPUs (`placement`); running many
variants of one text cheaply (`prefix_runs`); where caches live and what identifies their inputs
(`paths`, `provenance`), and writing shared files safely (`files`: atomic writes, the
inter-process lock, cleanup after killed writers). `neuron.NeuronRef` names a neuron by its
TransformerLens hook.

May import: `neurontest.errors` only. Nothing here knows about claims, pytest or reports.
"""
