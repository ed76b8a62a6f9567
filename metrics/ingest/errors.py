"""The whole-file error ingest raises before anything is written."""

from __future__ import annotations


class IngestError(Exception):
    """A whole-file problem: the message names the file, the column and what was expected.

    When it is raised nothing has been written to the store, not even an ingest_batches row.
    """
