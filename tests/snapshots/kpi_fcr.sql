-- source: contacts; kpis: fcr; params: date_from, date_to, fcr_window_s
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
  ) AS fcr__x
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
