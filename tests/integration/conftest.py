# In-process pytester runs restore sys.modules afterwards; torch does not survive being imported
# a second time in one process (it segfaults). Import the heavy stack once, out here, so every
# child run finds it already loaded (and the planted model's build cache stays shared).
import torch  # noqa: F401
import transformer_lens.model_bridge  # noqa: F401
import transformers  # noqa: F401

import neurontest.claims  # noqa: F401
import neurontest.plugin.collect  # noqa: F401
import neurontest.engine.data.corpus  # noqa: F401
import neurontest.lab  # noqa: F401
import neurontest.engine.models.planted  # noqa: F401
# Vocabularies memoise word pools across runs; a pool made in one child run must still be an
# instance of the `WordPool` class the next run sees, so the perturbation modules load once too.
import neurontest.perturb.sources  # noqa: F401
import neurontest.perturb.strategies  # noqa: F401
