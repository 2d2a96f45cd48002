"""--neurontest-executor / --neurontest-ray-address / --neurontest-device reach the session, and
bad values are usage errors naming the fix (no Ray import at configure time)."""

from __future__ import annotations

import importlib.util

import pytest


def test_executor_options_reach_the_session_and_bad_values_are_usage_errors(pytester):
    pytester.makeini("[pytest]\nneurontest_executor = local\n")
    pytester.makepyfile("""
        import os
        from neurontest.plugin import session_key

        def test_executor(request):
            state = request.config.stash[session_key]
            assert (state.executor_name, state.ray_address) == ("local", None)
            assert state.mining_executor() is None  # local: labs mine in this process
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--neurontest-report", "none").assert_outcomes(passed=1)
    for args, message in [
        (["--neurontest-executor", "dask"], "*--neurontest-executor 'dask' is unknown: use local or ray*"),
        (["--neurontest-ray-address", "auto"], "*--neurontest-ray-address needs --neurontest-executor ray*"),
        (["--neurontest-device", "gpu"], "*is not a device: use cpu, cuda, cuda:N, mps*"),
    ]:
        result = pytester.runpytest("-p", "no:cacheprovider", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed")
def test_ray_executor_without_ray_says_how_to_install_it(pytester):
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-executor", "ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # fnmatch reads [ray] as a character class: escape the bracket.
    result.stderr.fnmatch_lines(["*pip install 'neurontest[[]ray]'*"])
