-- Run records (issue 15): what engines report to `POST /api/ingest/runs`, and what `pipedreamer
-- dev` keeps in `.pipedreamer/runs.db` (there `deployment_id` is NULL). The whole record is kept
-- as JSON in `record`, exactly as served by `GET /api/runs/:id`; the columns beside it are copies
-- of the fields the lists filter and order by.
CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    deployment_id  TEXT REFERENCES deployments (id) ON DELETE CASCADE,
    workflow       TEXT NOT NULL,
    version        TEXT NOT NULL,
    trigger_name   TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT NOT NULL,
    replay_of      TEXT,
    record         TEXT NOT NULL,
    received_at    BIGINT NOT NULL
);
-- A deployment's runs newest first (lists, paging, keep-latest); `id` breaks ties the same way
-- the lists order them.
CREATE INDEX runs_by_deployment ON runs (deployment_id, started_at, id);
-- Retention deletes by age across deployments.
CREATE INDEX runs_by_start ON runs (started_at);
