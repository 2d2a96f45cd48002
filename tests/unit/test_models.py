"""Model loading errors and fingerprints (the real model is covered in test_real_model.py)."""

import pytest

from neurontest.errors import ModelUnavailableError
from neurontest.engine.models.loading import load_model, model_fingerprint
from neurontest.engine.models.planted import planted_model


def test_missing_local_folder_is_one_line_error_naming_the_fix():
    with pytest.raises(ModelUnavailableError) as info:
        load_model("/nonexistent/model-folder")
    message = str(info.value)
    assert "does not exist" in message and "smollm2-135m" in message and "\n" not in message


def test_unknown_dtype_is_rejected():
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model("planted", dtype="float7")


def test_fingerprint_is_stable_and_sensitive_to_weights():
    import copy

    import torch

    model = planted_model().model
    first = model_fingerprint(model)
    assert model_fingerprint(model) == first
    changed = copy.deepcopy(model)
    del changed._neurontest_fingerprint
    with torch.no_grad():
        next(changed.parameters()).mul_(1.01)
    assert model_fingerprint(changed) != first
