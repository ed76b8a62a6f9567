-- source: surveys; kpis: csat; params: date_from, date_to
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
  SUM(CASE WHEN (
    NOT csat IS NULL
  ) THEN 1 ELSE 0 END) AS csat__n,
  SUM(CASE WHEN (
    NOT csat IS NULL
  ) AND (
    csat >= 4
  ) THEN 1 ELSE 0 END) AS csat__x
FROM base
WHERE
  answered_at >= $date_from AND answered_at < $date_to;
