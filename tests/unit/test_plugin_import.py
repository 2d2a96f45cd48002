"""The plugin loads in every pytest run of an environment with neurontest: it must cost nothing."""

import subprocess
import sys


def test_importing_the_plugin_loads_no_heavy_modules():
    code = ("import sys, neurontest.plugin; heavy = [m for m in ('torch', 'transformers', "
            "'transformer_lens', 'datasets', 'hypothesis', 'jinja2', 'yaml') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
