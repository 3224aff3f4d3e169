"""MkDocs hook: the docstrings' Sphinx roles (``:class:`~c2gan_tf.Config```) shown as plain code in the site."""

import re

_ROLE = r':(?:py:)?(?:class|meth|func|mod|attr|data|obj|exc):'
ROLE_BEFORE_CODE = re.compile(_ROLE + r'(<code>)~?')  # a role in a description: :class:<code>~X</code>
ROLE_IN_CODE = re.compile(_ROLE + r'`~?([^`<]*)`')  # a role in a type, which is code already


def on_page_content(html, **kwargs):
    """Drop each role (and the leading ``~`` of a short name), keeping the name as inline code."""
    return ROLE_IN_CODE.sub(r'\1', ROLE_BEFORE_CODE.sub(r'\1', html))
