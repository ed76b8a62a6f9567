-- source: surveys; kpis: nps, churn_by_satisfaction; params: date_from, date_to, f0_0, f0_1
WITH base AS (
  SELECT
    s.response_id,
    s.answered_at,
    s.nps,
    s.csat,
    s.ces,
    c.channel,
    c.issue_type,
    c.team,
    cu.segment,
    cu.tier,
    cu.region,
    cu.age_band,
    cu.churned_at,
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
  LEFT JOIN contacts AS c
    ON c.contact_id = s.contact_id
  LEFT JOIN customers AS cu
    ON cu.customer_id = COALESCE(s.customer_id, c.customer_id)
)
SELECT
  channel,
  satisfaction_band,
  CAST(DATE_TRUNC('WEEK', answered_at) AS DATE) AS period,
  GROUPING(satisfaction_band) AS g__satisfaction_band,
  SUM(CASE WHEN (
    NOT nps IS NULL
  ) THEN 1 ELSE 0 END) AS nps__n,
  SUM(CASE WHEN (
    NOT nps IS NULL
  ) AND nps >= 9 THEN 1 ELSE 0 END) AS nps__p,
  SUM(CASE WHEN (
    NOT nps IS NULL
  ) AND nps <= 6 THEN 1 ELSE 0 END) AS nps__d,
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
  answered_at >= $date_from AND answered_at < $date_to AND segment IN ($f0_0, $f0_1)
GROUP BY
  GROUPING SETS (
    (channel, CAST(DATE_TRUNC('WEEK', answered_at) AS DATE)),
    (channel, satisfaction_band, CAST(DATE_TRUNC('WEEK', answered_at) AS DATE))
  )
ORDER BY
  1,
  2,
  3;

-- source: contacts; kpis: fcr, frt_median; params: date_from, date_to, f0_0, f0_1, fcr_window_s, win_from, win_to
WITH rep AS (
  SELECT
    c.contact_id,
    SUM(CASE WHEN r.opened_at >= c.opened_at THEN 1 ELSE 0 END) AS after_n,
    SUM(CASE WHEN r.opened_at <= c.opened_at THEN 1 ELSE 0 END) AS before_n
  FROM contacts AS c
  JOIN contacts AS r
    ON r.customer_id = c.customer_id
    AND r.issue_type = c.issue_type
    AND r.contact_id <> c.contact_id
    AND ABS(EPOCH(r.opened_at) - EPOCH(c.opened_at)) <= $fcr_window_s
  WHERE
    c.opened_at >= $date_from
    AND r.opened_at >= $win_from
    AND c.opened_at < $date_to
    AND r.opened_at < $win_to
  GROUP BY
    c.contact_id
), base AS (
  SELECT
    c.contact_id,
    c.customer_id,
    c.channel,
    c.issue_type,
    c.team,
    c.opened_at,
    c.wait_s,
    c.first_response_s,
    c.handle_s,
    c.abandoned,
    c.bot_handled,
    c.escalated,
    c.resolved,
    c.resolved_at,
    c.first_contact_resolved,
    cu.segment,
    cu.tier,
    cu.region,
    cu.age_band,
    COALESCE(rep.after_n, 0) > 0 AS repeat_after,
    COALESCE(rep.before_n, 0) > 0 AS repeat_before
  FROM contacts AS c
  LEFT JOIN customers AS cu
    ON cu.customer_id = c.customer_id
  LEFT JOIN rep
    ON rep.contact_id = c.contact_id
)
SELECT
  channel,
  CAST(DATE_TRUNC('WEEK', opened_at) AS DATE) AS period,
  SUM(CASE WHEN (
    NOT COALESCE(abandoned, FALSE)
  ) THEN 1 ELSE 0 END) AS fcr__n,
  SUM(
    CASE
      WHEN (
        NOT COALESCE(abandoned, FALSE)
      )
      AND (
        COALESCE(first_contact_resolved, COALESCE(resolved, FALSE) AND NOT repeat_after)
      )
      THEN 1
      ELSE 0
    END
  ) AS fcr__x,
  COUNT(CASE WHEN (
    NOT first_response_s IS NULL
  ) THEN first_response_s END) AS frt_median__n,
  QUANTILE_CONT(CASE WHEN (
    NOT first_response_s IS NULL
  ) THEN first_response_s END, 0.5) AS frt_median__v
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to AND segment IN ($f0_0, $f0_1)
GROUP BY
  channel,
  CAST(DATE_TRUNC('WEEK', opened_at) AS DATE)
ORDER BY
  1,
  2;

-- source: contacts; kpis: channel_mix; params: date_from, date_to, f0_0, f0_1
WITH base AS (
  SELECT
    c.contact_id,
    c.customer_id,
    c.channel,
    c.issue_type,
    c.team,
    c.opened_at,
    c.wait_s,
    c.first_response_s,
    c.handle_s,
    c.abandoned,
    c.bot_handled,
    c.escalated,
    c.resolved,
    c.resolved_at,
    c.first_contact_resolved,
    cu.segment,
    cu.tier,
    cu.region,
    cu.age_band
  FROM contacts AS c
  LEFT JOIN customers AS cu
    ON cu.customer_id = c.customer_id
)
SELECT
  channel,
  CAST(DATE_TRUNC('WEEK', opened_at) AS DATE) AS period,
  SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END) AS channel_mix__x,
  SUM(SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END)) OVER (PARTITION BY CAST(DATE_TRUNC('WEEK', opened_at) AS DATE)) AS channel_mix__n
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to AND segment IN ($f0_0, $f0_1)
GROUP BY
  channel,
  CAST(DATE_TRUNC('WEEK', opened_at) AS DATE)
ORDER BY
  1,
  2;
