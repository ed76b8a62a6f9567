"""`make run`'s server: `streamlit run dashboard/app.py ARGS`, the first page's modules imported first.

Streamlit imports a page's modules during its first run, so the first visitor after a start
waited for polars, scipy, the catalogue and the rest (~1 s of a 2-core machine's cold first
visit; benchmarks/overview_browser.py). Imported here, before the server answers, they are
ready when someone arrives. The app itself is unchanged: `streamlit run dashboard/app.py`
still works.

    python -m dashboard.serve --server.address 127.0.0.1 --server.port 8501
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")

# What the router and the default page (the Overview) import, and the libraries Streamlit
# itself imports lazily on that page (pandas for its tables).
FIRST_PAGE = (
    "pandas",
    "dashboard.auth",
    "dashboard.downloads",
    "dashboard.figures.kpi",
    "dashboard.filters",
    "dashboard.i18n",
    "dashboard.kpi_cards",
    "dashboard.numbers",
    "dashboard.store_access",
    "dashboard.url_state",
    "metrics.kpi_query",
    "metrics.periods",
    "metrics.targets",
)

# st.cache_data decorators run at import; before the server exists Streamlit logs "No runtime
# found" for each, although the caches are created at their first call, inside the runtime.
_CACHE_LOG = "streamlit.runtime.caching.cache_data_api"


def preload() -> None:
    """Import FIRST_PAGE, without the cache decorators' warnings."""
    log = logging.getLogger(_CACHE_LOG)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        for name in FIRST_PAGE:
            importlib.import_module(name)
    finally:
        log.setLevel(level)


def main() -> None:
    from streamlit.web import cli

    preload()
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
