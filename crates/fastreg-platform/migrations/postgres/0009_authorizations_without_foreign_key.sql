-- A success inserts its Mini Program's authorisation, and the insert checked its foreign key to
-- the component by a query per row: a quarter of the statement that writes a batch's successes
-- (`EXPLAIN ANALYZE` of it for 16 successes: 0.67-0.92 ms of 3.1-3.6 ms in the key's trigger).
-- As with migration 0007, the row it refers to is the one the writer's own checks just read
-- under the write lock (the component whose token called), and nothing deletes components but a
-- world's purge, which deletes every table of the world. The primary key, whose first columns
-- are the key's, stays. SQLite keeps its foreign keys.
ALTER TABLE authorizations DROP CONSTRAINT authorizations_world_component_appid_fkey;
