"""The hypothesis file format: YAML (or a dict from Python) in, claims out.

`spec` parses and validates a hypothesis file into neurons and their claims, with one-line errors
naming the file and line; `kinds` maps every claim kind's YAML name to its class; `schema` builds
the published JSON Schema (`hypothesis.schema.json`) from the claim kinds' declared options.

May import: `neurontest.perturb`, `neurontest.claims` and everything below them.
"""
