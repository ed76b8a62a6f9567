-- source: contacts; kpis: aht; params: date_from, date_to
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
  ) AS aht__sd
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
