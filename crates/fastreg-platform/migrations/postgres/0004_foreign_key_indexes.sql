-- An index under every foreign key's referencing columns that lacked one. Deleting a row that
-- others may refer to (a world's purge, platform.md §9) makes PostgreSQL look for referring
-- rows; without an index each such look is a scan of the referring table, and a world's purge
-- of 2,000 OAs took seconds per batch while holding the write lock.
CREATE INDEX official_accounts_by_entity ON official_accounts (world, entity_id);
CREATE INDEX mini_programs_by_registering_oa ON mini_programs (world, registered_by_oa);
CREATE INDEX fastregister_tickets_by_component ON fastregister_tickets (world, component_appid);
CREATE INDEX fastregister_tickets_by_oa ON fastregister_tickets (world, oa_appid);
CREATE INDEX registrations_by_ticket ON registrations (world, ticket);
CREATE INDEX registrations_by_entity ON registrations (world, entity_id);
CREATE INDEX registrations_by_component ON registrations (world, component_appid);

-- Superseding a token (every token issued) names (world, component, authorizer, kind); with no
-- statistics yet (a new world, a busy new database) the planner took tokens_by_component and
-- walked every token of the component. With the authorizer in that index too, either index
-- finds the one row.
DROP INDEX tokens_by_component;
CREATE INDEX tokens_by_component ON tokens (world, component_appid, kind, authorizer_appid);
