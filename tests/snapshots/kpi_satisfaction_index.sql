-- source: surveys; kpis: satisfaction_index; params: date_from, date_to
WITH base AS (
  SELECT
    s.response_id,
    s.answered_at,
    s.nps,
    s.csat,
    s.ces
  FROM surveys AS s
)
SELECT
  COUNT(CASE WHEN (
    NOT csat IS NULL
  ) THEN (
    csat - 1
  ) * 25.0 END) AS satisfaction_index__n,
  AVG(CASE WHEN (
    NOT csat IS NULL
  ) THEN (
    csat - 1
  ) * 25.0 END) AS satisfaction_index__mean,
  STDDEV_SAMP(CASE WHEN (
    NOT csat IS NULL
  ) THEN (
    csat - 1
  ) * 25.0 END) AS satisfaction_index__sd
FROM base
WHERE
  answered_at >= $date_from AND answered_at < $date_to;
