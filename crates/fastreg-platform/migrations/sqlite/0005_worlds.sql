-- Worlds (platform.md §9): every row belongs to one world, and every key is unique within its
-- world only, so that one seed with fixed appids can be loaded into many worlds at once.
-- World 0 is the default world: everything that existed before this migration moves into it.
--
-- SQLite cannot change a primary key in place: each table is renamed, created again with the
-- `world` column first in every key, copied, and dropped. Foreign keys are off while this runs
-- (see `migrate`).

CREATE TABLE worlds (
    key          INTEGER PRIMARY KEY,     -- what every row's `world` column holds; 0 = default
    id           TEXT NOT NULL UNIQUE,    -- what URLs name: /w/{id}
    name         TEXT NOT NULL,
    token_hash   TEXT,                    -- SHA-256 of the world's admin token (none: default)
    created_at   INTEGER NOT NULL,        -- system clock, unix seconds
    frozen       INTEGER NOT NULL,        -- the clock moves only when advanced
    clock_start  INTEGER,                 -- the world's time at creation (reset returns to it)
    spec         TEXT NOT NULL,           -- the creation request as JSON (reset replays it)
    version      INTEGER NOT NULL DEFAULT 0, -- bumped by every change other instances see
    deleted      INTEGER NOT NULL DEFAULT 0  -- its rows are being removed; it answers as unknown
);
-- A change draws the next version from the highest (SQLite); instances compare versions.
CREATE INDEX worlds_by_version ON worlds (version, key, id, deleted);
INSERT INTO worlds (key, id, name, token_hash, created_at, frozen, clock_start, spec)
    VALUES (0, 'default', 'default', NULL, CAST(strftime('%s', 'now') AS INTEGER), 0, NULL, '{}');

ALTER TABLE meta RENAME TO old_meta;
ALTER TABLE appids RENAME TO old_appids;
ALTER TABLE components RENAME TO old_components;
ALTER TABLE verify_tickets RENAME TO old_verify_tickets;
ALTER TABLE entities RENAME TO old_entities;
ALTER TABLE official_accounts RENAME TO old_official_accounts;
ALTER TABLE mini_programs RENAME TO old_mini_programs;
ALTER TABLE authorizations RENAME TO old_authorizations;
ALTER TABLE tokens RENAME TO old_tokens;
ALTER TABLE codes RENAME TO old_codes;
ALTER TABLE fastregister_tickets RENAME TO old_fastregister_tickets;
ALTER TABLE registrations RENAME TO old_registrations;
ALTER TABLE pushes RENAME TO old_pushes;

CREATE TABLE meta (
    world INTEGER NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (world, key)
);
INSERT INTO meta SELECT 0, key, value FROM old_meta;

-- Every appid a world ever handed out, whatever the account kind: unique across kinds.
CREATE TABLE appids (
    world INTEGER NOT NULL,
    appid TEXT NOT NULL,
    kind  TEXT NOT NULL,
    PRIMARY KEY (world, appid)
);
INSERT INTO appids SELECT 0, appid, kind FROM old_appids;

CREATE TABLE components (
    world              INTEGER NOT NULL,
    appid              TEXT NOT NULL,
    appsecret          TEXT NOT NULL,
    token              TEXT NOT NULL,
    encoding_aes_key   TEXT NOT NULL,
    event_url          TEXT,
    auth_domain        TEXT NOT NULL,
    published          INTEGER NOT NULL,
    permission_sets    TEXT NOT NULL,
    mp_permission_sets TEXT NOT NULL,
    ip_whitelist       TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (world, appid),
    FOREIGN KEY (world, appid) REFERENCES appids (world, appid)
);
INSERT INTO components SELECT 0, * FROM old_components;

CREATE TABLE verify_tickets (
    world           INTEGER NOT NULL,
    ticket          TEXT NOT NULL,
    component_appid TEXT NOT NULL,
    create_time     INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (world, ticket),
    FOREIGN KEY (world, component_appid) REFERENCES components (world, appid)
);
INSERT INTO verify_tickets (world, ticket, component_appid, create_time, expires_at)
    SELECT 0, ticket, component_appid, create_time, expires_at FROM old_verify_tickets
    ORDER BY rowid;

CREATE TABLE entities (
    world              INTEGER NOT NULL,
    id                 INTEGER NOT NULL,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL,
    overseas           INTEGER NOT NULL,
    blacklisted        INTEGER NOT NULL,
    mini_program_cap   INTEGER,
    mini_program_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (world, id)
);
INSERT INTO entities (world, id, name, type, overseas, blacklisted, mini_program_cap,
    mini_program_count)
    SELECT 0, id, name, type, overseas, blacklisted, mini_program_cap, mini_program_count
    FROM old_entities;

CREATE TABLE official_accounts (
    world                INTEGER NOT NULL,
    appid                TEXT NOT NULL,
    user_name            TEXT NOT NULL,
    nickname             TEXT NOT NULL,
    entity_id            INTEGER NOT NULL,
    verified             INTEGER NOT NULL,
    pending_registration INTEGER NOT NULL,
    link_cap             INTEGER,
    created_at           INTEGER NOT NULL,
    PRIMARY KEY (world, appid),
    FOREIGN KEY (world, appid) REFERENCES appids (world, appid),
    FOREIGN KEY (world, entity_id) REFERENCES entities (world, id)
);
INSERT INTO official_accounts SELECT 0, * FROM old_official_accounts;

CREATE TABLE mini_programs (
    world            INTEGER NOT NULL,
    appid            TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    nickname         TEXT NOT NULL,
    entity_id        INTEGER NOT NULL,
    registered_by_oa TEXT NOT NULL,
    linked_oa        TEXT,
    verified         INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (world, appid),
    FOREIGN KEY (world, appid) REFERENCES appids (world, appid),
    FOREIGN KEY (world, entity_id) REFERENCES entities (world, id),
    FOREIGN KEY (world, registered_by_oa) REFERENCES official_accounts (world, appid),
    FOREIGN KEY (world, linked_oa) REFERENCES official_accounts (world, appid)
);
INSERT INTO mini_programs SELECT 0, * FROM old_mini_programs;

CREATE TABLE authorizations (
    world            INTEGER NOT NULL,
    component_appid  TEXT NOT NULL,
    authorizer_appid TEXT NOT NULL,
    authorizer_kind  TEXT NOT NULL,
    permission_sets  TEXT NOT NULL,
    refresh_token    TEXT NOT NULL,
    auth_time        INTEGER NOT NULL,
    revoked          INTEGER NOT NULL,
    PRIMARY KEY (world, component_appid, authorizer_appid),
    FOREIGN KEY (world, component_appid) REFERENCES components (world, appid)
);
INSERT INTO authorizations SELECT 0, * FROM old_authorizations;

CREATE TABLE tokens (
    world            INTEGER NOT NULL,
    hash             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    component_appid  TEXT NOT NULL,
    authorizer_appid TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    superseded_at    INTEGER,
    PRIMARY KEY (world, hash)
);
INSERT INTO tokens SELECT 0, * FROM old_tokens;

CREATE TABLE codes (
    world            INTEGER NOT NULL,
    hash             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    component_appid  TEXT NOT NULL,
    authorizer_appid TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER,
    PRIMARY KEY (world, hash)
);
INSERT INTO codes SELECT 0, * FROM old_codes;

CREATE TABLE fastregister_tickets (
    world           INTEGER NOT NULL,
    ticket          TEXT NOT NULL,
    component_appid TEXT NOT NULL,
    oa_appid        TEXT NOT NULL,
    copy_wx_verify  INTEGER NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (world, ticket),
    FOREIGN KEY (world, component_appid) REFERENCES components (world, appid),
    FOREIGN KEY (world, oa_appid) REFERENCES official_accounts (world, appid)
);
INSERT INTO fastregister_tickets SELECT 0, * FROM old_fastregister_tickets;

-- Ids are unique across worlds (nothing outside the store shows them).
CREATE TABLE registrations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    world              INTEGER NOT NULL,
    ticket             TEXT NOT NULL,
    oa_appid           TEXT NOT NULL,
    entity_id          INTEGER NOT NULL,
    component_appid    TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('in_progress', 'succeeded', 'abandoned')),
    mp_appid           TEXT,
    authorization_code TEXT,
    is_wx_verify_succ  INTEGER NOT NULL,
    is_link_succ       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    completed_at       INTEGER,
    month              TEXT,
    claimed_at_ms      INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (world, ticket) REFERENCES fastregister_tickets (world, ticket),
    FOREIGN KEY (world, oa_appid) REFERENCES official_accounts (world, appid),
    FOREIGN KEY (world, entity_id) REFERENCES entities (world, id),
    FOREIGN KEY (world, component_appid) REFERENCES components (world, appid),
    FOREIGN KEY (world, mp_appid) REFERENCES mini_programs (world, appid)
);
INSERT INTO registrations (id, world, ticket, oa_appid, entity_id, component_appid, status,
    mp_appid, authorization_code, is_wx_verify_succ, is_link_succ, created_at, completed_at,
    month, claimed_at_ms)
    SELECT id, 0, ticket, oa_appid, entity_id, component_appid, status, mp_appid,
    authorization_code, is_wx_verify_succ, is_link_succ, created_at, completed_at, month,
    claimed_at_ms FROM old_registrations;

CREATE TABLE pushes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    world              INTEGER NOT NULL,
    component_appid    TEXT NOT NULL,
    info_type          TEXT NOT NULL,
    event_url          TEXT NOT NULL,
    encrypt            TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_status        TEXT,
    last_attempt_at_ms INTEGER,
    delivered_at_ms    INTEGER
);
INSERT INTO pushes (id, world, component_appid, info_type, event_url, encrypt, created_at,
    status, attempts, next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms)
    SELECT id, 0, component_appid, info_type, event_url, encrypt, created_at, status, attempts,
    next_attempt_at_ms, last_status, last_attempt_at_ms, delivered_at_ms FROM old_pushes;

DROP TABLE old_pushes;
DROP TABLE old_registrations;
DROP TABLE old_fastregister_tickets;
DROP TABLE old_codes;
DROP TABLE old_tokens;
DROP TABLE old_authorizations;
DROP TABLE old_mini_programs;
DROP TABLE old_official_accounts;
DROP TABLE old_entities;
DROP TABLE old_verify_tickets;
DROP TABLE old_components;
DROP TABLE old_appids;
DROP TABLE old_meta;

CREATE INDEX verify_tickets_by_component ON verify_tickets (world, component_appid, create_time);
CREATE INDEX mini_programs_by_entity ON mini_programs (world, entity_id);
CREATE INDEX mini_programs_by_linked_oa ON mini_programs (world, linked_oa);
CREATE INDEX mini_programs_newest ON mini_programs (world, created_at);
CREATE INDEX authorizations_by_authorizer ON authorizations (world, authorizer_appid);
CREATE INDEX authorizations_by_time
    ON authorizations (world, component_appid, auth_time, authorizer_appid);
CREATE INDEX tokens_current ON tokens (world, component_appid, authorizer_appid, kind)
    WHERE superseded_at IS NULL;
CREATE INDEX tokens_by_component ON tokens (world, component_appid, kind);
CREATE INDEX codes_unused ON codes (world, component_appid, authorizer_appid)
    WHERE used_at IS NULL;
-- One Mini Program per ticket; a ticket claimed by a call in progress cannot be claimed again.
CREATE UNIQUE INDEX registrations_live_ticket ON registrations (world, ticket)
    WHERE status IN ('in_progress', 'succeeded');
-- At most one registration in progress per OA.
CREATE UNIQUE INDEX registrations_in_progress_oa ON registrations (world, oa_appid)
    WHERE status = 'in_progress';
CREATE UNIQUE INDEX registrations_mp ON registrations (world, mp_appid);
CREATE INDEX registrations_in_progress_entity ON registrations (world, entity_id)
    WHERE status = 'in_progress';
CREATE INDEX registrations_in_progress_claims ON registrations (claimed_at_ms)
    WHERE status = 'in_progress';
CREATE INDEX registrations_month ON registrations (world, oa_appid, month)
    WHERE status = 'succeeded';
CREATE INDEX registrations_by_oa ON registrations (world, oa_appid, id);
CREATE INDEX registrations_by_world ON registrations (world, id);
CREATE INDEX pushes_due ON pushes (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX pushes_by_component ON pushes (world, component_appid, id);
CREATE INDEX pushes_by_world ON pushes (world, id);
