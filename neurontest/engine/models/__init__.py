"""Models as TransformerLens bridges: the embedded default, hub names, local folders, the planted
model, where weights go, and fitting a small SAE."""
