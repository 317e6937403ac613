-- Superseding a token (every api_authorizer_token, every component token, every code
-- exchanged) is an UPDATE of superseded_at. PostgreSQL could not make it a HOT update (one
-- that writes the new row version on the same page and touches no index) because
-- superseded_at was in the predicate of tokens_current: each superseded row got new entries in
-- all three indexes of the table, and the duplicates cost the writer's backend a further pass
-- of bottom-up deletion (`perf` of `fastreg bench --db`: half its samples in index inserts and
-- that pass). One index on the key now serves every lookup that is not by hash: a key's tokens
-- newest first (its current one, which the key's newest row is unless it was invalidated),
-- every token of a key (invalidating it) and of a component and kind (counting them). No index
-- names superseded_at, and pages keep room for the superseded row's new version.
DROP INDEX tokens_current;
DROP INDEX tokens_by_component;
CREATE INDEX tokens_by_key ON tokens (world, component_appid, kind, authorizer_appid, issued_at);
ALTER TABLE tokens SET (fillfactor = 50);
