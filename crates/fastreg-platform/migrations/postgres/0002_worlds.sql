-- Worlds (platform.md §9), as migrations/sqlite/0005_worlds.sql: every row belongs to one
-- world, every key is unique within its world only, world 0 is the default world and holds
-- everything that existed before. PostgreSQL changes keys in place: a `world` column on every
-- table, then every primary key (with the foreign keys that depend on it), unique index and
-- index again with `world` first.

CREATE TABLE worlds (
    key          BIGINT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    token_hash   TEXT,
    created_at   BIGINT NOT NULL,
    frozen       BOOLEAN NOT NULL,
    clock_start  BIGINT,
    spec         TEXT NOT NULL,
    version      BIGINT NOT NULL DEFAULT 0,
    deleted      BOOLEAN NOT NULL DEFAULT FALSE
);
-- A change draws the next version from the highest (SQLite); instances compare versions.
CREATE INDEX worlds_by_version ON worlds (version, key, id, deleted);
INSERT INTO worlds (key, id, name, token_hash, created_at, frozen, clock_start, spec)
    VALUES (0, 'default', 'default', NULL, EXTRACT(EPOCH FROM now())::BIGINT, FALSE, NULL, '{}');
-- What `worlds.version` is drawn from: instances reload the worlds changed since the highest
-- version they saw.
CREATE SEQUENCE world_versions;

ALTER TABLE meta ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE appids ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE components ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE verify_tickets ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE official_accounts ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mini_programs ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE authorizations ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fastregister_tickets ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE registrations ADD COLUMN world BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pushes ADD COLUMN world BIGINT NOT NULL DEFAULT 0;

-- Every foreign key refers to one of these keys: CASCADE drops them all with their keys.
ALTER TABLE meta DROP CONSTRAINT meta_pkey CASCADE;
ALTER TABLE appids DROP CONSTRAINT appids_pkey CASCADE;
ALTER TABLE components DROP CONSTRAINT components_pkey CASCADE;
ALTER TABLE verify_tickets DROP CONSTRAINT verify_tickets_pkey CASCADE;
ALTER TABLE entities DROP CONSTRAINT entities_pkey CASCADE;
ALTER TABLE official_accounts DROP CONSTRAINT official_accounts_pkey CASCADE;
ALTER TABLE mini_programs DROP CONSTRAINT mini_programs_pkey CASCADE;
ALTER TABLE authorizations DROP CONSTRAINT authorizations_pkey CASCADE;
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey CASCADE;
ALTER TABLE codes DROP CONSTRAINT codes_pkey CASCADE;
ALTER TABLE fastregister_tickets DROP CONSTRAINT fastregister_tickets_pkey CASCADE;
ALTER TABLE registrations DROP CONSTRAINT registrations_mp_appid_key CASCADE;

ALTER TABLE meta ADD PRIMARY KEY (world, key);
ALTER TABLE appids ADD PRIMARY KEY (world, appid);
ALTER TABLE components ADD PRIMARY KEY (world, appid);
ALTER TABLE verify_tickets ADD PRIMARY KEY (world, ticket);
ALTER TABLE entities ADD PRIMARY KEY (world, id);
ALTER TABLE official_accounts ADD PRIMARY KEY (world, appid);
ALTER TABLE mini_programs ADD PRIMARY KEY (world, appid);
ALTER TABLE authorizations ADD PRIMARY KEY (world, component_appid, authorizer_appid);
ALTER TABLE tokens ADD PRIMARY KEY (world, hash);
ALTER TABLE codes ADD PRIMARY KEY (world, hash);
ALTER TABLE fastregister_tickets ADD PRIMARY KEY (world, ticket);

ALTER TABLE components
    ADD FOREIGN KEY (world, appid) REFERENCES appids (world, appid);
ALTER TABLE verify_tickets
    ADD FOREIGN KEY (world, component_appid) REFERENCES components (world, appid);
ALTER TABLE official_accounts
    ADD FOREIGN KEY (world, appid) REFERENCES appids (world, appid),
    ADD FOREIGN KEY (world, entity_id) REFERENCES entities (world, id);
ALTER TABLE mini_programs
    ADD FOREIGN KEY (world, appid) REFERENCES appids (world, appid),
    ADD FOREIGN KEY (world, entity_id) REFERENCES entities (world, id),
    ADD FOREIGN KEY (world, registered_by_oa) REFERENCES official_accounts (world, appid),
    ADD FOREIGN KEY (world, linked_oa) REFERENCES official_accounts (world, appid);
ALTER TABLE authorizations
    ADD FOREIGN KEY (world, component_appid) REFERENCES components (world, appid);
ALTER TABLE fastregister_tickets
    ADD FOREIGN KEY (world, component_appid) REFERENCES components (world, appid),
    ADD FOREIGN KEY (world, oa_appid) REFERENCES official_accounts (world, appid);
ALTER TABLE registrations
    ADD FOREIGN KEY (world, ticket) REFERENCES fastregister_tickets (world, ticket),
    ADD FOREIGN KEY (world, oa_appid) REFERENCES official_accounts (world, appid),
    ADD FOREIGN KEY (world, entity_id) REFERENCES entities (world, id),
    ADD FOREIGN KEY (world, component_appid) REFERENCES components (world, appid),
    ADD FOREIGN KEY (world, mp_appid) REFERENCES mini_programs (world, appid);

DROP INDEX verify_tickets_by_component;
DROP INDEX mini_programs_by_entity;
DROP INDEX mini_programs_by_linked_oa;
DROP INDEX mini_programs_newest;
DROP INDEX authorizations_by_authorizer;
DROP INDEX authorizations_by_time;
DROP INDEX tokens_current;
DROP INDEX tokens_by_component;
DROP INDEX codes_unused;
DROP INDEX registrations_live_ticket;
DROP INDEX registrations_in_progress_oa;
DROP INDEX registrations_in_progress_entity;
DROP INDEX registrations_month;
DROP INDEX registrations_by_oa;
DROP INDEX pushes_by_component;

CREATE INDEX verify_tickets_by_component ON verify_tickets (world, component_appid, create_time);
CREATE INDEX mini_programs_by_entity ON mini_programs (world, entity_id);
CREATE INDEX mini_programs_by_linked_oa ON mini_programs (world, linked_oa);
CREATE INDEX mini_programs_newest ON mini_programs (world, created_at DESC, appid);
CREATE INDEX authorizations_by_authorizer ON authorizations (world, authorizer_appid);
CREATE INDEX authorizations_by_time
    ON authorizations (world, component_appid, auth_time, authorizer_appid);
CREATE INDEX tokens_current ON tokens (world, component_appid, authorizer_appid, kind)
    WHERE superseded_at IS NULL;
CREATE INDEX tokens_by_component ON tokens (world, component_appid, kind);
CREATE INDEX codes_unused ON codes (world, component_appid, authorizer_appid)
    WHERE used_at IS NULL;
CREATE UNIQUE INDEX registrations_live_ticket ON registrations (world, ticket)
    WHERE status IN ('in_progress', 'succeeded');
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
CREATE INDEX pushes_by_component ON pushes (world, component_appid, id);
CREATE INDEX pushes_by_world ON pushes (world, id);

ALTER TABLE meta ALTER COLUMN world DROP DEFAULT;
ALTER TABLE appids ALTER COLUMN world DROP DEFAULT;
ALTER TABLE components ALTER COLUMN world DROP DEFAULT;
ALTER TABLE verify_tickets ALTER COLUMN world DROP DEFAULT;
ALTER TABLE entities ALTER COLUMN world DROP DEFAULT;
ALTER TABLE official_accounts ALTER COLUMN world DROP DEFAULT;
ALTER TABLE mini_programs ALTER COLUMN world DROP DEFAULT;
ALTER TABLE authorizations ALTER COLUMN world DROP DEFAULT;
ALTER TABLE tokens ALTER COLUMN world DROP DEFAULT;
ALTER TABLE codes ALTER COLUMN world DROP DEFAULT;
ALTER TABLE fastregister_tickets ALTER COLUMN world DROP DEFAULT;
ALTER TABLE registrations ALTER COLUMN world DROP DEFAULT;
ALTER TABLE pushes ALTER COLUMN world DROP DEFAULT;
