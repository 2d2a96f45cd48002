"""The engine: models, corpora, units and their activations, in five rooms.

- `models`: loading models as TransformerLens bridges (`loading`: the embedded SmolLM2 GGUF, hub
  names, local folders), the planted model whose neurons are exact by construction (`planted`),
  where weights go (`placement`), and fitting a small SAE (`sae_fit`).
- `data`: corpora and their token windows (`corpus`, `prep_cache`), texts to padded token
  batches (`tokens`), each token id's string (`vocabulary`).
- `units`: what a claim can be about, named in TransformerLens' hook vocabulary: the `Unit`
  protocol (`protocol`), neurons, heads, SAE latents, directions, and hook names (`hooks`).
- `run`: forward passes: mining columns in batches sized to the device (`activations`,
  `batching`) into the on-disk cache (`activation_cache`), in this process or on Ray actors
  (`executors`); attention mass and layer scans read in the same pass; many variants of one text
  cheaply (`prefix_runs`).
- `store`: where caches live (`paths`) and writing shared files safely (`files`: atomic writes,
  the inter-process lock, cleanup after killed writers).

Two modules serve every room: `progress` (events reported upward without importing upward) and
`provenance` (cheap stamps of the code, model files and corpus files a result depends on).

Inside, rooms import downward only: run and provenance > models > units, data > store > progress
(pyproject's import-linter contracts).

May import: `neurontest.errors` only. Nothing here knows about claims, pytest or reports.
"""
