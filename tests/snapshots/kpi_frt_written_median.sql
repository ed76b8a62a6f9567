-- source: contacts; kpis: frt_written_median; params: date_from, date_to
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
  ) AS frt_written_median__g
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
