"""Claims YAML cannot express, through the `unit` fixture (`neuron` is its other name: same
claims, same messages)."""

from neurontest.engine.units.neuron import NeuronRef

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def test_month_neuron_is_sharper_than_the_context_neuron(neuron):
    plain = neuron("L0N972", fires_on=MONTHS, threshold=4.0).assert_fires_on(f1=">= 0.9")
    context = neuron("L2N273", fires_on=MONTHS, threshold=2.0).check("activation", f1=">= 0.1")
    # The layer-2 neuron needs "On"/"In" before the month: claimed on every month, its recall
    # is far lower (it is silent on most months, which in the corpus do not follow On/In).
    assert context.metrics()["recall"] < plain.metrics()["recall"] - 0.3


def test_digit_neurons_split_the_digits_between_them(neurontest_lab):
    two, nine = NeuronRef(0, 1458), NeuronRef(0, 298)
    batch = neurontest_lab.sample.batch
    strings = neurontest_lab.vocab.strings
    is_two = [[strings[int(t)] == "2" for t in row] for row in batch.tokens.tolist()]
    acts_two = neurontest_lab.activations(two)[batch.mask]
    acts_nine = neurontest_lab.activations(nine)[batch.mask]
    import torch

    on_two = torch.tensor(is_two)[batch.mask]
    # Each fires on its own digit and not on the other's.
    assert acts_two[on_two].mean() > 5.0 > acts_nine[on_two].mean()


def test_the_previous_token_head_through_the_unit_fixture(unit):
    # Any unit form YAML accepts works here: a head by its id, like `id: L16H0` in
    # test_heads_and_latents.yaml (the same claim, the same runner, the same remembered result).
    head = unit("L16H0", description="previous-token head")
    head.assert_claim("attends", to="previous", mass=">= 0.7")
