-- source: contacts; kpis: service_level; params: date_from, date_to, sl_chat_s, sl_phone_s
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
  ) AS service_level__x
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
