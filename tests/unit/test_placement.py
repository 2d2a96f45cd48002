"""--neurontest-device: one device, or a model split over several GPUs (argument handling only;
the split forms have not run on multi-GPU hardware here)."""

from __future__ import annotations

import pytest

from neurontest.engine.models.placement import Placement, parse_placement


@pytest.mark.parametrize("spec, kwargs, gpus", [
    (None, {"device": "cpu"}, 0),
    ("cpu", {"device": "cpu"}, 0),
    ("cuda", {"device": "cuda"}, 1),
    ("CUDA:3", {"device": "cuda:3"}, 1),
    ("mps", {"device": "mps"}, 0),
    ("cuda:0,cuda:1", {"n_devices": 2}, 2),
    ("cuda:0, cuda:1, cuda:2", {"n_devices": 3}, 3),
])
def test_single_devices_and_leading_gpu_lists(spec, kwargs, gpus):
    placement = parse_placement(spec)
    assert placement.boot_kwargs() == kwargs
    assert placement.gpus_per_replica() == gpus
    assert placement.split == (gpus > 1)


def test_a_gpu_list_not_starting_at_zero_gets_a_memory_budget_on_those_gpus_only(monkeypatch):
    import neurontest.engine.models.placement as placement_module

    monkeypatch.setattr(placement_module, "_free_memory", lambda gpus: {i: 10 * i for i in gpus})
    assert parse_placement("cuda:2,cuda:5").boot_kwargs() == {
        "device_map": "balanced", "max_memory": {2: 20, 5: 50}}


def test_auto_splits_over_every_visible_gpu_but_cannot_size_a_ray_actor():
    placement = parse_placement("auto")
    assert placement.boot_kwargs() == {"device_map": "auto"}
    assert placement.split and placement.uses_cuda
    with pytest.raises(ValueError, match="name the GPUs one replica spans"):
        placement.gpus_per_replica()


def test_inside_a_ray_actor_gpus_are_renumbered_from_zero():
    assert parse_placement("cuda:4,cuda:5").for_replica() == Placement("cuda:0,cuda:1", gpus=(0, 1))
    assert parse_placement("cuda:3").for_replica().boot_kwargs() == {"device": "cuda"}
    assert parse_placement("cpu").for_replica().boot_kwargs() == {"device": "cpu"}


@pytest.mark.parametrize("spec", ["gpu", "cuda:0,cpu", "cuda:1,cuda:1", "cuda:x", "tpu:0"])
def test_anything_else_is_a_one_line_error_naming_the_forms(spec):
    with pytest.raises(ValueError, match="cpu, cuda, cuda:N, mps, .*cuda:0,cuda:1.* or auto|twice"):
        parse_placement(spec)


def test_load_model_passes_the_split_to_transformer_bridge(monkeypatch):
    """The boot call gets n_devices / device_map instead of device (mocked: no GPUs here)."""
    from transformer_lens.model_bridge import TransformerBridge

    from neurontest.engine.models import loading as models

    seen = {}

    class Stop(Exception):
        pass

    def boot(source, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(TransformerBridge, "boot_transformers", staticmethod(boot))
    with pytest.raises(Stop):
        models.load_model("EleutherAI/pythia-70m", device="cuda:0,cuda:1")
    assert seen["n_devices"] == 2 and "device" not in seen
