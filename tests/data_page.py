"""Loading on the Data page in AppTests: Ingest, then "Load anyway" when the page asks."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def ingest_on_page(at: AppTest) -> bool:
    """Click Ingest; when the batch would reject more than the accepted share (1 %; issue 10
    item 4) the page shows the reasons and asks, and this confirms. True when it asked.

    The example exports reject some rows on purpose, so page tests that load them go
    through the confirmation once the reject-share gate is in ingest_file.
    """
    at.button(key="data_ingest").click().run()
    anyway = [b for b in at.button if b.key == "data_load_anyway"]
    if anyway:
        anyway[0].click().run()
    return bool(anyway)
