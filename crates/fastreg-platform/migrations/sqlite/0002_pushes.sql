-- Pushes to components' event URLs: a transactional outbox. A push is recorded in the same
-- transaction as the change that causes it (so it is never lost and never blocks that change)
-- and delivered by a background task with retries. Only the encrypted envelope is stored.

CREATE TABLE pushes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    component_appid    TEXT NOT NULL,
    info_type          TEXT NOT NULL,
    event_url          TEXT NOT NULL,
    encrypt            TEXT NOT NULL,   -- the Encrypt field (base64 ciphertext)
    created_at         INTEGER NOT NULL, -- sandbox clock, unix seconds
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL, -- system clock, unix milliseconds
    last_status        TEXT,
    last_attempt_at_ms INTEGER,
    delivered_at_ms    INTEGER
);
CREATE INDEX pushes_due ON pushes (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX pushes_by_component ON pushes (component_appid, id);
