-- source: surveys; kpis: nps; params: date_from, date_to
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
    NOT nps IS NULL
  ) THEN 1 ELSE 0 END) AS nps__n,
  SUM(CASE WHEN (
    NOT nps IS NULL
  ) AND nps >= 9 THEN 1 ELSE 0 END) AS nps__p,
  SUM(CASE WHEN (
    NOT nps IS NULL
  ) AND nps <= 6 THEN 1 ELSE 0 END) AS nps__d
FROM base
WHERE
  answered_at >= $date_from AND answered_at < $date_to;
