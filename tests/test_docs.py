"""The documentation site builds warning-free, and the README's and the pages' links lead somewhere."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def relative_links(markdown_file):
    with open(markdown_file, encoding='utf-8') as f:
        return [t for t in LINK.findall(f.read()) if '://' not in t]


def test_the_site_builds_warning_free_with_the_api_reference(tmp_path):
    site = tmp_path / 'site'
    proc = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(site)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'WARNING' not in proc.stderr, proc.stderr[-3000:]
    api = (site / 'api' / 'model' / 'index.html').read_text(encoding='utf-8')
    # the reference is generated from the docstrings: methods, their parameters, no raw Sphinx roles
    for name in ('from_folder', 'train_or_resume', 'predict', 'n_tiles', 'struct_floor'):
        assert name in api, name
    assert not re.search(r':(class|meth|func|mod|attr):', api)
    docs = os.path.join(ROOT, 'docs')
    pages = [os.path.relpath(os.path.join(d, f), docs) for d, _, fs in os.walk(docs) for f in fs if f.endswith('.md')]
    unbuilt = [p for p in pages if not (site / ('' if p == 'index.md' else p[:-3]) / 'index.html').exists()]
    assert len(pages) >= 10 and not unbuilt, unbuilt  # every page is in the site


@pytest.mark.parametrize('markdown_file', ['README.md', 'CONTRIBUTING.md', 'benchmarks/README.md'])
def test_relative_links_of_the_markdown_files_exist(markdown_file):
    base = os.path.dirname(os.path.join(ROOT, markdown_file))
    links = relative_links(os.path.join(ROOT, markdown_file))
    missing = [t for t in links if not os.path.exists(os.path.join(base, t))]
    assert not missing, missing
    if markdown_file == 'README.md':  # the README points at every page of the manual
        assert {'docs/getting-started.md', 'docs/cli.md', 'docs/napari.md', 'docs/api/model.md'} <= set(links)
