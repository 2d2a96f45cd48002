"""The plugin loads in every pytest run of an environment with neurontest: it must cost nothing."""

import subprocess
import sys


def test_importing_the_plugin_loads_no_heavy_modules():
    code = ("import sys, neurontest.plugin; heavy = [m for m in ('torch', 'transformers', "
            "'transformer_lens', 'datasets', 'hypothesis', 'jinja2', 'yaml') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_parsing_perturbation_claims_does_not_import_hypothesis():
    # Collection validates `sufficient` templates; a run that then selects no perturbation claim
    # (say `-k activation`) should not pay ~1 s for importing Hypothesis.
    code = ("import sys; from pathlib import Path; from neurontest.format.spec import parse_hypotheses; "
            "parse_hypotheses({'neurons': [{'id': 'L0N972', 'fires_on': {'tokens': ['March']}, "
            "'claims': [{'kind': 'sufficient', 'templates': ['in [[{month}]] {year}'], "
            "'slots': {'year': ['2020']}}]}]}, Path('x.yaml')); "
            "print('hypothesis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parsing_templated_causal_claims_does_not_import_hypothesis():
    # `patching`/`mediation` templates are validated at parse time; Hypothesis draws the pairs
    # only when the claim is checked against the model or run.
    code = ("import sys; from pathlib import Path; from neurontest.format.spec import parse_hypotheses; "
            "parse_hypotheses({'neurons': [{'id': 'L0N3', 'claims': [{'kind': 'patching', "
            "'templates': ['we met in [[{month}]]'], 'slots': {'month': {'clean': ['March'], "
            "'corrupt': ['the']}}, 'target': '2020', 'recovered': '>= 0.15'}, {'kind': 'mediation', "
            "'templates': ['on {day} [[{month}]]'], 'slots': {'day': [3], 'month': {'clean': ['May'], "
            "'corrupt': ['a']}}, 'through': ['L1N5'], 'mediated_share': '>= 0.5'}]}]}, Path('x.yaml')); "
            "print('hypothesis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
