"""The plugin end to end, in child pytest runs, on the planted model and corpus."""

from __future__ import annotations

import textwrap

import pytest

from .planted_yaml import HEADER, MONTH_NEURON, MONTH_TEXT_CLAIMS

MONTH_TRUE = MONTH_NEURON + """\
      - kind: activation
        f1: ">= 0.99"
        precision: ">= 0.99"
      - kind: top_examples
        k: 10
        share: ">= 1.0"
""" + MONTH_TEXT_CLAIMS


def write(pytester: pytest.Pytester, name: str, body: str) -> None:
    pytester.makefile(".yaml", **{name: HEADER + textwrap.dedent(body)})


def test_true_claims_on_planted_model_pass(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", MONTH_TRUE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(passed=5)


def test_collect_only_lists_readable_ids(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", MONTH_TRUE)
    result = pytester.runpytest("--collect-only", "-q", "--neurontest-report", "none")
    result.stdout.fnmatch_lines(["test_months.yaml::L0N3::activation",
                                 "test_months.yaml::L0N3::noise"])


def test_k_selects_claim_kind(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", MONTH_TRUE)
    result = pytester.runpytest("-k", "activation or noise", "--neurontest-report", "none")
    result.assert_outcomes(passed=2)


def test_false_claim_fails_with_measured_metric(pytester: pytest.Pytester) -> None:
    write(pytester, "test_wrong", """\
      - id: L0N3
        description: claimed (wrongly) to fire on digits
        fires_on: {regex: '^\\d+$'}
        threshold: 1.0
        claims:
          - kind: activation
            f1: ">= 0.5"
    """)
    result = pytester.runpytest("--neurontest-report", "none")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "L0N3 (blocks.0.mlp.hook_post[3]) activation claim failed" in output
    assert "FAIL f1 = 0 (expected >= 0.5; 95% CI 0 to 0.0218; chance 0.0664, lift 0x; p = 1)" in output
    assert "of the 142 positions where it fires, 0.0% are what the claim names" in output
    assert "*December[7.86]*" in output  # the worst false positive, with its activation


def test_strict_xfail_for_false_claim(pytester: pytest.Pytester) -> None:
    write(pytester, "test_wrong", """\
      - id: L0N3
        fires_on: {tokens: [cat, dog]}
        threshold: 1.0
        claims:
          - kind: activation
            precision: ">= 0.5"
            xfail: months, not animals
    """)
    result = pytester.runpytest("--neurontest-report", "none")
    result.assert_outcomes(xfailed=1)


@pytest.mark.parametrize("body, message", [
    ("  - id: L0N3\n    claims: [{kind: activation, f1: '>= 0.5'}\n", "not valid YAML"),
    ("  - id: L0N3\n    fires_on: {tokens: [March]}\n    claims: [{kind: activaton, f1: '>= 0.5'}]\n",
     "did you mean 'activation'"),
    ("  - id: L0N3\n    fires_on: {tokens: [March]}\n    claims: [{kind: activation, f1: '>= 0.5', precison: '>= 1'}]\n",
     "did you mean 'precision'"),
    ("  - id: L0N99\n    fires_on: {tokens: [March]}\n    claims: [{kind: activation, f1: '>= 0.5'}]\n",
     "neuron 99 is out of range"),
    ("  - id: L0N3\n    fires_on: {tokens: [Marchember]}\n    claims: [{kind: activation, f1: '>= 0.5'}]\n",
     "'Marchember' is not a single token"),
    ("  - id: L0N3\n    fires_on: {regex: '^zzz$'}\n    claims: [{kind: activation, f1: '>= 0.5'}]\n",
     "matches no token"),
    ("  - id: L0N3\n    claims: [{kind: examples, fires: []}]\n", "`fires:` of an 'examples' claim is a non-empty list"),
    ("  - id: L0N3\n    fiers_on: {tokens: [March]}\n    claims: [{kind: examples, fires: ['[[March]]']}]\n",
     "did you mean 'fires_on'"),
])
def test_malformed_file_is_one_clear_collection_error(pytester: pytest.Pytester, body: str,
                                                      message: str) -> None:
    write(pytester, "test_bad", body)
    write(pytester, "test_months", MONTH_TRUE)
    result = pytester.runpytest("--neurontest-report", "none")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines([f"*test_bad.yaml*{message}*"])


def test_unloadable_model_errors_only_its_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_nomodel="model: /nonexistent/model-folder\nneurons:\n"
                      "  - id: L0N3\n    claims: [{kind: examples, silent: ['hi']}]\n")
    write(pytester, "test_months", MONTH_TRUE)
    result = pytester.runpytest("--neurontest-report", "none")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*test_nomodel.yaml*model folder*does not exist*"])


def test_python_hypothesis_file_with_neuron_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_py_claims="""
        import pytest

        def test_months(neuron):
            n = neuron("L0N3", fires_on=["March", "April", "May"], threshold=1.0)
            result = n.assert_examples(fires=["in [[May]] we met"], silent=["the dog"])
            assert result.metrics()["share"] == 1.0

        def test_wrong(neuron):
            n = neuron("L0N3", fires_on={"regex": "^cat$"}, threshold=1.0)
            with pytest.raises(AssertionError, match="precision = 0"):
                n.assert_fires_on(precision=">= 0.5")
    """)
    result = pytester.runpytest("--neurontest-model", "planted", "--neurontest-corpus", "planted",
                                "--neurontest-report", "none")
    result.assert_outcomes(passed=2)


def test_a_missing_corpus_file_is_one_line_not_a_traceback(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months="model: planted\ncorpus: no_such_corpus.txt\nneurons:\n"
                      + textwrap.dedent(MONTH_TRUE))
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert "no_such_corpus.txt" in output
    assert "Traceback" not in output and "site-packages" not in output and ".py:" not in output


def test_a_claim_level_python_predicate_beside_its_file_loads(pytester: pytest.Pytester) -> None:
    # The claim's own `fires_on` is parsed once with the file's folder (it was rebuilt without
    # it, so a module beside the YAML could not be found when the claim was built).
    folder = pytester.mkdir("hyp")
    (folder / "month_predicates.py").write_text(textwrap.dedent("""
        MONTHS = {"January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"}


        def is_month(ids, position, vocab):
            return vocab.strings[ids[position]].strip() in MONTHS
    """))
    (folder / "test_months.yaml").write_text(HEADER + textwrap.dedent("""\
      - id: L0N3
        fires_on: {tokens: [cat]}
        threshold: 1.0
        claims:
          - kind: activation
            fires_on: {python: "month_predicates:is_month"}
            f1: ">= 0.99"
    """))
    # A child process whose sys.path has the project folder, not hyp/: only the file's own
    # folder finds the module.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--neurontest-report", "none",
                                           "hyp/test_months.yaml")
    result.assert_outcomes(passed=1)


def test_a_units_fires_on_is_checked_even_when_no_claim_reads_it(pytester: pytest.Pytester) -> None:
    write(pytester, "test_months", """\
      - id: L0N3
        fires_on: {tokens: [Marchember]}
        claims:
          - kind: examples
            fires: ["we met in [[March]] 2020"]
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_months.yaml:6: L0N3 fires_on: 'Marchember' is not a single token*"])


def test_units_is_another_name_for_neurons(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_months=HEADER.replace("neurons:", "units:") + textwrap.dedent(MONTH_TRUE))
    pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none").assert_outcomes(passed=5)
