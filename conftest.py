"""Runs the example notebooks (collected by nbmake) at their tiny size; the kernels inherit this variable. Under
pytest-xdist (``--dist loadfile``, see pytest.ini) each test file runs on one worker, and the notebooks all on one, in
their order: each reads what the one before wrote (patches, then a model)."""
import os

import pytest

os.environ.setdefault('C2GAN_EXAMPLES', 'tiny')


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class NotebooksTogether(LoadFileScheduling):
        def _split_scope(self, nodeid):
            scope = super()._split_scope(nodeid)
            return 'examples' if scope.startswith('examples/') else scope

    return NotebooksTogether(config, log)
