"""Sphinx configuration: the guides (the Markdown pages of this folder, read with MyST) and an
API reference generated from the package's docstrings (autosummary, recursive: a new or moved
module appears without editing any list). Build: ``./run.sh test-docs`` (warnings are errors).
"""

from __future__ import annotations

import os
import tempfile

# Importing the package imports Airflow, which writes a default configuration into its home:
# keep that out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-provider-sms-docs-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import airflow_provider_sms

project = "airflow-provider-sms"
author = "airflow-provider-sms maintainers"
copyright = "2026, the airflow-provider-sms maintainers"
release = airflow_provider_sms.__version__
version = release

root_doc = "contents"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

# API reference
autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # Document each object once, in the module that defines it, not where it is re-exported.
    "ignore-module-all": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"

# Guides: "hook.md#pacing-and-retries" links need heading anchors.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "alabaster"
html_title = f"airflow-provider-sms {release}"
html_static_path: list[str] = []
