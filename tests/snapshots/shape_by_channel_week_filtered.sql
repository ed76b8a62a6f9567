-- source: surveys; kpis: nps, churn_by_satisfaction; params: date_from, date_to, f0_0, f0_1, tz
WITH base AS (
  SELECT
    s.response_id,
    s.answered_at,
    s.nps,
    s.csat,
    s.ces,
    s.contact_channel AS channel,
    s.contact_issue_type AS issue_type,
    s.contact_team AS team,
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
  channel,
  satisfaction_band,
  CAST(DATE_TRUNC('WEEK', (
    (
      answered_at AT TIME ZONE 'UTC'
    ) AT TIME ZONE $tz
  )) AS DATE) AS period,
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
    (
      channel,
      CAST(DATE_TRUNC('WEEK', (
        (
          answered_at AT TIME ZONE 'UTC'
        ) AT TIME ZONE $tz
      )) AS DATE)
    ),
    (
      channel,
      satisfaction_band,
      CAST(DATE_TRUNC('WEEK', (
        (
          answered_at AT TIME ZONE 'UTC'
        ) AT TIME ZONE $tz
      )) AS DATE)
    )
  )
ORDER BY
  1,
  2,
  3;

-- source: contacts; kpis: fcr, frt_live_median; params: date_from, date_to, f0_0, f0_1, fcr_window_s, tz
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
    cu.age_band,
    COALESCE(c.next_gap_s <= $fcr_window_s, FALSE) AS repeat_after,
    COALESCE(c.prev_gap_s <= $fcr_window_s, FALSE) AS repeat_before
  FROM contacts AS c
  LEFT JOIN customers AS cu
    ON cu.customer_id = c.customer_id
)
SELECT
  channel,
  CAST(DATE_TRUNC('WEEK', (
    (
      opened_at AT TIME ZONE 'UTC'
    ) AT TIME ZONE $tz
  )) AS DATE) AS period,
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
  COUNT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('phone', 'chat', 'video', 'chatbot', 'in_person')
      )
      THEN first_response_s
    END
  ) AS frt_live_median__n,
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('phone', 'chat', 'video', 'chatbot', 'in_person')
      )
      THEN first_response_s
    END,
    [
      0.3,
      0.4,
      0.45,
      0.48,
      0.49,
      0.5,
      0.51,
      0.52,
      0.55,
      0.6,
      0.7,
      0.8,
      0.85,
      0.88,
      0.89,
      0.9,
      0.91,
      0.92,
      0.95
    ]
  ) AS frt_live_median__g
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to AND segment IN ($f0_0, $f0_1)
GROUP BY
  channel,
  CAST(DATE_TRUNC('WEEK', (
    (
      opened_at AT TIME ZONE 'UTC'
    ) AT TIME ZONE $tz
  )) AS DATE)
ORDER BY
  1,
  2;

-- source: contacts; kpis: channel_mix; params: date_from, date_to, f0_0, f0_1, tz
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
  CAST(DATE_TRUNC('WEEK', (
    (
      opened_at AT TIME ZONE 'UTC'
    ) AT TIME ZONE $tz
  )) AS DATE) AS period,
  SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END) AS channel_mix__x,
  SUM(SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END)) OVER (
    PARTITION BY CAST(DATE_TRUNC('WEEK', (
      (
        opened_at AT TIME ZONE 'UTC'
      ) AT TIME ZONE $tz
    )) AS DATE)
  ) AS channel_mix__n
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to AND segment IN ($f0_0, $f0_1)
GROUP BY
  channel,
  CAST(DATE_TRUNC('WEEK', (
    (
      opened_at AT TIME ZONE 'UTC'
    ) AT TIME ZONE $tz
  )) AS DATE)
ORDER BY
  1,
  2;
