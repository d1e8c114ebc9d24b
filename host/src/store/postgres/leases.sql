-- Work done once for the whole cluster of daemons sharing this database (a
-- connector's polling, fulfilment, campaign dispatch, segment refresh,
-- statements) is done by the holder of its lease. The holder renews it
-- while it works; once it expires, another daemon takes it over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Scheduled jobs run once per period across the cluster: a run's row
-- commits with the run's own work.
CREATE TABLE scheduled_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    holder TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (job, period)
);
