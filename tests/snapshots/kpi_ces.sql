-- source: surveys; kpis: ces; params: date_from, date_to
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
    NOT ces IS NULL
  ) THEN ces END) AS ces__n,
  AVG(CASE WHEN (
    NOT ces IS NULL
  ) THEN ces END) AS ces__mean,
  STDDEV_SAMP(CASE WHEN (
    NOT ces IS NULL
  ) THEN ces END) AS ces__sd
FROM base
WHERE
  answered_at >= $date_from AND answered_at < $date_to;
