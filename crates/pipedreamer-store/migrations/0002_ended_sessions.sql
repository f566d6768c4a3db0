-- Dashboard sessions ended by signing out before their expiry. A session cookie is stateless
-- (signed, it names its own expiry), so signing out is a row every replica checks; a row is
-- useless once the session would have expired anyway and is deleted then.
CREATE TABLE ended_sessions (
    sid TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
