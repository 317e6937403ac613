-- fastreg platform schema, SQLite. Applied once, tracked by PRAGMA user_version.
-- Invariants that a constraint can carry are carried here too, under the rules' own checks:
-- one live registration per ticket, one registration in progress per OA, appids unique.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every appid ever handed out, whatever the account kind: appids are unique across all.
CREATE TABLE appids (
    appid TEXT PRIMARY KEY,
    kind  TEXT NOT NULL
);

CREATE TABLE components (
    appid              TEXT PRIMARY KEY REFERENCES appids(appid),
    appsecret          TEXT NOT NULL,
    token              TEXT NOT NULL,
    encoding_aes_key   TEXT NOT NULL,
    event_url          TEXT,
    auth_domain        TEXT NOT NULL,
    published          INTEGER NOT NULL,
    permission_sets    TEXT NOT NULL,  -- JSON array of set ids
    mp_permission_sets TEXT NOT NULL,  -- JSON array of set ids
    ip_whitelist       TEXT NOT NULL,  -- JSON array of IPs
    created_at         INTEGER NOT NULL
);

CREATE TABLE verify_tickets (
    ticket          TEXT PRIMARY KEY,
    component_appid TEXT NOT NULL REFERENCES components(appid),
    create_time     INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX verify_tickets_by_component ON verify_tickets (component_appid, create_time);

CREATE TABLE entities (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    overseas         INTEGER NOT NULL,
    blacklisted      INTEGER NOT NULL,
    mini_program_cap INTEGER
);

CREATE TABLE official_accounts (
    appid                TEXT PRIMARY KEY REFERENCES appids(appid),
    user_name            TEXT NOT NULL,
    nickname             TEXT NOT NULL,
    entity_id            INTEGER NOT NULL REFERENCES entities(id),
    verified             INTEGER NOT NULL,
    pending_registration INTEGER NOT NULL,
    link_cap             INTEGER,
    created_at           INTEGER NOT NULL
);

CREATE TABLE mini_programs (
    appid            TEXT PRIMARY KEY REFERENCES appids(appid),
    user_name        TEXT NOT NULL,
    nickname         TEXT NOT NULL,
    entity_id        INTEGER NOT NULL REFERENCES entities(id),
    registered_by_oa TEXT NOT NULL REFERENCES official_accounts(appid),
    linked_oa        TEXT REFERENCES official_accounts(appid),
    verified         INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX mini_programs_by_entity ON mini_programs (entity_id);
CREATE INDEX mini_programs_by_linked_oa ON mini_programs (linked_oa);

CREATE TABLE authorizations (
    component_appid  TEXT NOT NULL REFERENCES components(appid),
    authorizer_appid TEXT NOT NULL,
    authorizer_kind  TEXT NOT NULL,
    permission_sets  TEXT NOT NULL,  -- JSON array of set ids
    refresh_token    TEXT NOT NULL,
    auth_time        INTEGER NOT NULL,
    revoked          INTEGER NOT NULL,
    PRIMARY KEY (component_appid, authorizer_appid)
);
CREATE INDEX authorizations_by_authorizer ON authorizations (authorizer_appid);
CREATE INDEX authorizations_by_time ON authorizations (component_appid, auth_time, authorizer_appid);

-- Access tokens, by SHA-256 of the value: the database never holds a usable token.
CREATE TABLE tokens (
    hash             TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    component_appid  TEXT NOT NULL,
    authorizer_appid TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    superseded_at    INTEGER
);
CREATE INDEX tokens_current ON tokens (component_appid, authorizer_appid, kind)
    WHERE superseded_at IS NULL;

-- Single-use codes (pre_auth_code, auth_code / authorization_code), by SHA-256 of the value.
CREATE TABLE codes (
    hash             TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    component_appid  TEXT NOT NULL,
    authorizer_appid TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
);

CREATE TABLE fastregister_tickets (
    ticket          TEXT PRIMARY KEY,
    component_appid TEXT NOT NULL REFERENCES components(appid),
    oa_appid        TEXT NOT NULL REFERENCES official_accounts(appid),
    copy_wx_verify  INTEGER NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE TABLE registrations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket             TEXT NOT NULL REFERENCES fastregister_tickets(ticket),
    oa_appid           TEXT NOT NULL REFERENCES official_accounts(appid),
    entity_id          INTEGER NOT NULL REFERENCES entities(id),
    component_appid    TEXT NOT NULL REFERENCES components(appid),
    status             TEXT NOT NULL CHECK (status IN ('in_progress', 'succeeded', 'abandoned')),
    mp_appid           TEXT UNIQUE REFERENCES mini_programs(appid),
    authorization_code TEXT,
    is_wx_verify_succ  INTEGER NOT NULL,
    is_link_succ       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    completed_at       INTEGER,
    month              TEXT
);
-- One Mini Program per ticket; a ticket claimed by a call in progress cannot be claimed again.
CREATE UNIQUE INDEX registrations_live_ticket ON registrations (ticket)
    WHERE status IN ('in_progress', 'succeeded');
-- At most one registration in progress per OA.
CREATE UNIQUE INDEX registrations_in_progress_oa ON registrations (oa_appid)
    WHERE status = 'in_progress';
CREATE INDEX registrations_in_progress_entity ON registrations (entity_id)
    WHERE status = 'in_progress';
CREATE INDEX registrations_month ON registrations (oa_appid, month) WHERE status = 'succeeded';
CREATE INDEX registrations_by_oa ON registrations (oa_appid, id);
