import os

import pytest

# No test may reach a model or data-set hub (there is no network here or in CI): hub clients
# read these when first imported, so they are set before any test module imports them, and
# pytester's child runs inherit them. A hub name then fails at once with neurontest's message.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Activation caches of tests go to a temp dir; the converted embedded model stays shared.
    import os

    if "NEURONTEST_CACHE_DIR" not in os.environ:
        from neurontest.engine.store.paths import cache_root

        shared = cache_root()
        monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nt-cache"))
        models = tmp_path_factory.getbasetemp() / "nt-cache" / "models"
        if not models.exists() and (shared / "models").exists():
            models.parent.mkdir(parents=True, exist_ok=True)
            models.symlink_to(shared / "models")
