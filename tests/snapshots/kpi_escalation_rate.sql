-- source: contacts; kpis: escalation_rate; params: date_from, date_to
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
  SUM(CASE WHEN (
    NOT escalated IS NULL
  ) THEN 1 ELSE 0 END) AS escalation_rate__n,
  SUM(CASE WHEN (
    NOT escalated IS NULL
  ) AND (
    escalated
  ) THEN 1 ELSE 0 END) AS escalation_rate__x
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
