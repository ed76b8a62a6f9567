-- source: surveys; kpis: churn_by_satisfaction; params: date_from, date_to
WITH base AS (
  SELECT
    s.response_id,
    s.answered_at,
    s.nps,
    s.csat,
    s.ces,
    s.customer_segment AS segment,
    s.customer_tier AS tier,
    s.customer_region AS region,
    s.customer_age_band AS age_band,
    s.customer_churned_at AS churned_at,
    CASE s.csat
      WHEN 1
      THEN 'very dissatisfied'
      WHEN 2
      THEN 'fairly dissatisfied'
      WHEN 3
      THEN 'neutral'
      WHEN 4
      THEN 'fairly satisfied'
      WHEN 5
      THEN 'very satisfied'
    END AS satisfaction_band,
    CAST(s.answered_at AS DATE) + INTERVAL '90' DAY <= (
      SELECT
        CAST(MAX(answered_at) AS DATE)
      FROM surveys
    ) AS followed_90d
  FROM surveys AS s
)
SELECT
  satisfaction_band,
  SUM(CASE WHEN (
    NOT csat IS NULL AND followed_90d
  ) THEN 1 ELSE 0 END) AS churn_by_satisfaction__n,
  SUM(
    CASE
      WHEN (
        NOT csat IS NULL AND followed_90d
      )
      AND (
        churned_at >= CAST(answered_at AS DATE)
        AND churned_at <= CAST(answered_at AS DATE) + INTERVAL '90' DAY
      )
      THEN 1
      ELSE 0
    END
  ) AS churn_by_satisfaction__x
FROM base
WHERE
  answered_at >= $date_from AND answered_at < $date_to
GROUP BY
  satisfaction_band
ORDER BY
  1;
