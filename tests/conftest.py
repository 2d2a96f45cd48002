import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Activation caches of tests go to a temp dir; the converted embedded model stays shared.
    import os

    if "NEURONTEST_CACHE_DIR" not in os.environ:
        from neurontest.engine.paths import cache_root

        shared = cache_root()
        monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nt-cache"))
        models = tmp_path_factory.getbasetemp() / "nt-cache" / "models"
        if not models.exists() and (shared / "models").exists():
            models.parent.mkdir(parents=True, exist_ok=True)
            models.symlink_to(shared / "models")
