-- source: contacts; kpis: frt_median; params: date_from, date_to
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
  COUNT(CASE WHEN (
    NOT first_response_s IS NULL
  ) THEN first_response_s END) AS frt_median__n,
  QUANTILE_CONT(CASE WHEN (
    NOT first_response_s IS NULL
  ) THEN first_response_s END, 0.5) AS frt_median__v
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
