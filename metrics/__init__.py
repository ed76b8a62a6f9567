"""CX Console data layer: schema, store, ingest, KPI catalogue, targets, churn and CLV."""
