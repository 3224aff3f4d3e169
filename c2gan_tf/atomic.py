"""Writes that a crash cannot leave half done: new content goes to a temporary path beside the target, then is
renamed into place."""

import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write ``path``'s new content to, a file or a folder.

    When the block succeeds, the content replaces ``path`` by renames within ``path``'s folder (an existing folder
    too); when it fails, or the process dies, ``path`` stays as it was. The temporary path has ``path``'s own name
    (inside a hidden folder beside it), so writers that check suffixes (``.weights.h5``, ``.npz``) accept it.
    """
    path = os.path.abspath(os.fspath(path))
    tmpdir = tempfile.mkdtemp(prefix='.tmp-', dir=os.path.dirname(path))
    tmp = os.path.join(tmpdir, os.path.basename(path))
    try:
        yield tmp
        if os.path.isdir(tmp) and os.path.isdir(path):  # a folder that is not empty cannot be renamed over
            os.replace(path, os.path.join(tmpdir, '.previous-' + os.path.basename(path)))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_json_atomic(data, path):
    """Write JSON to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
