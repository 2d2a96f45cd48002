"""Corpora, their token windows and the caches of their preparation; texts to token batches; token
strings."""
