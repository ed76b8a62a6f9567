-- source: surveys; kpis: nps, csat, satisfaction_index, ces, churn_by_satisfaction; params: date_from, date_to
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
    NOT csat IS NULL
  ) THEN 1 ELSE 0 END) AS csat__n,
  SUM(CASE WHEN (
    NOT csat IS NULL
  ) AND (
    csat >= 4
  ) THEN 1 ELSE 0 END) AS csat__x,
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
  ) * 25.0 END) AS satisfaction_index__sd,
  COUNT(CASE WHEN (
    NOT ces IS NULL
  ) THEN ces END) AS ces__n,
  AVG(CASE WHEN (
    NOT ces IS NULL
  ) THEN ces END) AS ces__mean,
  STDDEV_SAMP(CASE WHEN (
    NOT ces IS NULL
  ) THEN ces END) AS ces__sd,
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
  GROUPING SETS (
    (),
    (
      satisfaction_band
    )
  )
ORDER BY
  1;

-- source: contacts; kpis: fcr, aht, frt_live_median, frt_live_p90, frt_written_median, frt_written_p90, wait_live_median, resolution_time, escalation_rate, service_level, abandonment_rate, repeat_contact_rate, automation_rate, long_wait_share; params: date_from, date_to, fcr_window_s, sl_chat_s, sl_phone_s
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
    COALESCE(c.next_gap_s <= $fcr_window_s, FALSE) AS repeat_after,
    COALESCE(c.prev_gap_s <= $fcr_window_s, FALSE) AS repeat_before
  FROM contacts AS c
)
SELECT
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
        NOT COALESCE(bot_handled, FALSE)
        AND NOT COALESCE(abandoned, FALSE)
        AND NOT handle_s IS NULL
      )
      THEN handle_s
    END
  ) AS aht__n,
  AVG(
    CASE
      WHEN (
        NOT COALESCE(bot_handled, FALSE)
        AND NOT COALESCE(abandoned, FALSE)
        AND NOT handle_s IS NULL
      )
      THEN handle_s
    END
  ) AS aht__mean,
  STDDEV_SAMP(
    CASE
      WHEN (
        NOT COALESCE(bot_handled, FALSE)
        AND NOT COALESCE(abandoned, FALSE)
        AND NOT handle_s IS NULL
      )
      THEN handle_s
    END
  ) AS aht__sd,
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
  ) AS frt_live_median__g,
  COUNT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('phone', 'chat', 'video', 'chatbot', 'in_person')
      )
      THEN first_response_s
    END
  ) AS frt_live_p90__n,
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
  ) AS frt_live_p90__g,
  COUNT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('email', 'web_form', 'social', 'sms', 'app')
      )
      THEN first_response_s / 3600.0
    END
  ) AS frt_written_median__n,
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('email', 'web_form', 'social', 'sms', 'app')
      )
      THEN first_response_s / 3600.0
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
  ) AS frt_written_median__g,
  COUNT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('email', 'web_form', 'social', 'sms', 'app')
      )
      THEN first_response_s / 3600.0
    END
  ) AS frt_written_p90__n,
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT first_response_s IS NULL
        AND channel IN ('email', 'web_form', 'social', 'sms', 'app')
      )
      THEN first_response_s / 3600.0
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
  ) AS frt_written_p90__g,
  COUNT(
    CASE
      WHEN (
        NOT wait_s IS NULL
        AND channel IN ('phone', 'chat', 'video', 'chatbot', 'in_person')
      )
      THEN wait_s
    END
  ) AS wait_live_median__n,
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT wait_s IS NULL
        AND channel IN ('phone', 'chat', 'video', 'chatbot', 'in_person')
      )
      THEN wait_s
    END,
    [0.3, 0.4, 0.45, 0.48, 0.49, 0.5, 0.51, 0.52, 0.55, 0.6, 0.7]
  ) AS wait_live_median__g,
  COUNT(
    CASE
      WHEN (
        COALESCE(resolved, FALSE) AND NOT resolved_at IS NULL
      )
      THEN (
        EPOCH(resolved_at) - EPOCH(opened_at)
      ) / 3600.0
    END
  ) AS resolution_time__n,
  QUANTILE_CONT(
    CASE
      WHEN (
        COALESCE(resolved, FALSE) AND NOT resolved_at IS NULL
      )
      THEN (
        EPOCH(resolved_at) - EPOCH(opened_at)
      ) / 3600.0
    END,
    [0.3, 0.4, 0.45, 0.48, 0.49, 0.5, 0.51, 0.52, 0.55, 0.6, 0.7]
  ) AS resolution_time__g,
  SUM(CASE WHEN (
    NOT escalated IS NULL
  ) THEN 1 ELSE 0 END) AS escalation_rate__n,
  SUM(CASE WHEN (
    NOT escalated IS NULL
  ) AND (
    escalated
  ) THEN 1 ELSE 0 END) AS escalation_rate__x,
  SUM(
    CASE
      WHEN (
        channel IN ('phone', 'chat') AND (
          NOT wait_s IS NULL OR abandoned
        )
      )
      THEN 1
      ELSE 0
    END
  ) AS service_level__n,
  SUM(
    CASE
      WHEN (
        channel IN ('phone', 'chat') AND (
          NOT wait_s IS NULL OR abandoned
        )
      )
      AND (
        NOT COALESCE(abandoned, FALSE)
        AND wait_s <= CASE WHEN channel = 'phone' THEN $sl_phone_s ELSE $sl_chat_s END
      )
      THEN 1
      ELSE 0
    END
  ) AS service_level__x,
  SUM(CASE WHEN (
    NOT abandoned IS NULL
  ) THEN 1 ELSE 0 END) AS abandonment_rate__n,
  SUM(CASE WHEN (
    NOT abandoned IS NULL
  ) AND (
    abandoned
  ) THEN 1 ELSE 0 END) AS abandonment_rate__x,
  SUM(CASE WHEN (
    NOT customer_id IS NULL
  ) THEN 1 ELSE 0 END) AS repeat_contact_rate__n,
  SUM(
    CASE WHEN (
      NOT customer_id IS NULL
    ) AND (
      repeat_before
    ) THEN 1 ELSE 0 END
  ) AS repeat_contact_rate__x,
  SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END) AS automation_rate__n,
  SUM(
    CASE
      WHEN (
        TRUE
      )
      AND (
        COALESCE(bot_handled, FALSE)
        AND COALESCE(resolved, FALSE)
        AND NOT COALESCE(escalated, FALSE)
      )
      THEN 1
      ELSE 0
    END
  ) AS automation_rate__x,
  SUM(CASE WHEN (
    channel = 'phone' AND NOT wait_s IS NULL
  ) THEN 1 ELSE 0 END) AS long_wait_share__n,
  SUM(
    CASE
      WHEN (
        channel = 'phone' AND NOT wait_s IS NULL
      ) AND (
        wait_s > 600
      )
      THEN 1
      ELSE 0
    END
  ) AS long_wait_share__x
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;

-- source: contacts; kpis: channel_mix; params: date_from, date_to
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
    c.first_contact_resolved
  FROM contacts AS c
)
SELECT
  channel,
  SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END) AS channel_mix__x,
  SUM(SUM(CASE WHEN (
    TRUE
  ) THEN 1 ELSE 0 END)) OVER () AS channel_mix__n
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to
GROUP BY
  channel
ORDER BY
  1;

-- source: customer_months; kpis: churn_rate; params: m_from, m_to
WITH months AS (
  SELECT
    CAST(g.m AS DATE) AS month_start,
    CAST(CAST(g.m AS DATE) + INTERVAL '1' MONTH AS DATE) AS month_end
  FROM GENERATE_SERIES(
    CAST(GREATEST(
      COALESCE(
        CAST($m_from AS DATE),
        COALESCE(
          (
            SELECT
              CAST(DATE_TRUNC(
                'MONTH',
                LEAST(
                  (
                    SELECT
                      MIN(churned_at)
                    FROM customers
                  ),
                  (
                    SELECT
                      MIN(opened_at)
                    FROM contacts
                  ),
                  (
                    SELECT
                      MIN(issued_at)
                    FROM invoices
                  )
                )
              ) AS DATE)
          ),
          (
            SELECT
              CAST(DATE_TRUNC('MONTH', MIN(signup_date)) + INTERVAL '1' MONTH AS DATE)
            FROM customers
          )
        )
      ),
      COALESCE(
        (
          SELECT
            CAST(DATE_TRUNC(
              'MONTH',
              LEAST(
                (
                  SELECT
                    MIN(churned_at)
                  FROM customers
                ),
                (
                  SELECT
                    MIN(opened_at)
                  FROM contacts
                ),
                (
                  SELECT
                    MIN(issued_at)
                  FROM invoices
                )
              )
            ) AS DATE)
        ),
        (
          SELECT
            CAST(DATE_TRUNC('MONTH', MIN(signup_date)) + INTERVAL '1' MONTH AS DATE)
          FROM customers
        )
      )
    ) AS TIMESTAMP),
    CAST(COALESCE(
      CAST($m_to AS DATE),
      (
        SELECT
          CAST(DATE_TRUNC('MONTH', MAX(GREATEST(signup_date, COALESCE(churned_at, signup_date)))) AS DATE)
        FROM customers
      )
    ) AS TIMESTAMP),
    INTERVAL '1' MONTH
  ) AS g(m)
), base AS (
  SELECT
    mo.month_start,
    cu.segment,
    cu.tier,
    cu.region,
    cu.age_band,
    CASE WHEN cu.churned_at < mo.month_end THEN 1 ELSE 0 END AS lost
  FROM months AS mo
  JOIN customers AS cu
    ON cu.signup_date < mo.month_start
    AND (
      cu.churned_at IS NULL OR cu.churned_at >= mo.month_start
    )
)
SELECT
  COUNT(*) AS churn_rate__n,
  SUM(lost) AS churn_rate__x
FROM base;
