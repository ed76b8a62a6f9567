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
