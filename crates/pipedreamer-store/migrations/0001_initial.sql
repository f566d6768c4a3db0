-- The control plane's schema. Runs unchanged on SQLite and PostgreSQL: ids are UUIDv7 TEXT,
-- times BIGINT unix milliseconds, booleans BIGINT 0/1, enums TEXT words, JSON TEXT.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX workspaces_name_unique ON workspaces (name);

CREATE TABLE deployments (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    repo              TEXT NOT NULL,
    branch            TEXT NOT NULL,
    path              TEXT NOT NULL,
    target            TEXT NOT NULL,
    auto_rebuild      BIGINT NOT NULL CHECK (auto_rebuild IN (0, 1)),
    subdomain         TEXT,
    webhook_secret    TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('STOPPED', 'DEPLOYING', 'RUNNING', 'FAILED')),
    current_build_id  TEXT,
    local_port        BIGINT CHECK (local_port BETWEEN 1 AND 65535),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
-- Index names carry the column they guard: error messages are mapped by these words.
CREATE UNIQUE INDEX deployments_name_unique ON deployments (workspace_id, name);
CREATE UNIQUE INDEX deployments_subdomain_unique ON deployments (subdomain) WHERE subdomain IS NOT NULL;
CREATE UNIQUE INDEX deployments_local_port_unique ON deployments (local_port) WHERE local_port IS NOT NULL;

-- Kept apart from `deployments` so no query of deployments reads them by accident.
CREATE TABLE deployment_secrets (
    deployment_id  TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    secrets        TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- The build history and the build queue in one table.
CREATE TABLE builds (
    id                TEXT PRIMARY KEY,
    deployment_id     TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'BUILDING', 'SUCCESS', 'FAILED', 'CANCELLED')),
    commit_hash       TEXT,
    commit_message    TEXT,
    branch            TEXT NOT NULL,
    triggered_by      TEXT NOT NULL CHECK (triggered_by IN ('manual', 'webhook', 'auto')),
    delivery_id       TEXT,
    image             TEXT,
    image_digest      TEXT,
    error_message     TEXT,
    cancel_requested  BIGINT NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    lease_owner       TEXT,
    lease_until       BIGINT,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    completed_at      BIGINT
);
-- The queue's invariants, enforced by the database whatever the number of servers:
-- a GitHub delivery makes at most one build; a deployment has at most one PENDING and at most
-- one BUILDING build.
CREATE UNIQUE INDEX builds_delivery_unique ON builds (delivery_id) WHERE delivery_id IS NOT NULL;
CREATE UNIQUE INDEX builds_one_pending ON builds (deployment_id) WHERE status = 'PENDING';
CREATE UNIQUE INDEX builds_one_building ON builds (deployment_id) WHERE status = 'BUILDING';
CREATE INDEX builds_history ON builds (deployment_id, created_at);
CREATE INDEX builds_queue ON builds (status, created_at);

-- Logs as append-only chunks, never a growing column.
CREATE TABLE build_logs (
    build_id    TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (build_id, seq)
);

-- API tokens: the JWT id, its scope and the SHA-256 of the token, never the token.
CREATE TABLE api_tokens (
    id             TEXT PRIMARY KEY,
    scope          TEXT NOT NULL CHECK (scope IN ('read', 'deploy', 'admin', 'report')),
    deployment_id  TEXT REFERENCES deployments (id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked        BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
