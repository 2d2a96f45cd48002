"""Units: what a claim can be about (neurons, heads, SAE latents, directions), each named by its
TransformerLens hook, behind one protocol."""
