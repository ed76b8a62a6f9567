-- source: contacts; kpis: repeat_contact_rate; params: date_from, date_to, fcr_window_s, win_from, win_to
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
    COALESCE(rep.after_n, 0) > 0 AS repeat_after,
    COALESCE(rep.before_n, 0) > 0 AS repeat_before
  FROM contacts AS c
  LEFT JOIN rep
    ON rep.contact_id = c.contact_id
)
SELECT
  SUM(CASE WHEN (
    NOT customer_id IS NULL
  ) THEN 1 ELSE 0 END) AS repeat_contact_rate__n,
  SUM(
    CASE WHEN (
      NOT customer_id IS NULL
    ) AND (
      repeat_before
    ) THEN 1 ELSE 0 END
  ) AS repeat_contact_rate__x
FROM base
WHERE
  opened_at >= $date_from AND opened_at < $date_to;
