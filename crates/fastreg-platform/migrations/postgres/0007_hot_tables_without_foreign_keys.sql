-- A success inserts a registration and a Mini Program, and each insert checked its foreign
-- keys by a query per key (nine for the two rows) and kept an index under each for deletions
-- of the rows they refer to. On PostgreSQL the one writer spent a fifth of its time on them
-- (`perf`: AfterTriggerEndQuery; the summed statement timings of `fastreg bench --db`). The
-- rows they refer to are the ones the writer's own checks just read under the write lock (the
-- ticket, the OA, its entity, the component, the Mini Program inserted in the same job), and
-- nothing deletes those but a world's purge, which deletes every table of the world. So the two
-- tables written on every success keep their unique indexes (one live registration per ticket,
-- one in progress per OA, one registration per Mini Program) and lose the foreign keys and the
-- indexes that only served them. SQLite keeps its foreign keys: they cost it nothing to speak of.
ALTER TABLE registrations
    DROP CONSTRAINT registrations_world_ticket_fkey,
    DROP CONSTRAINT registrations_world_oa_appid_fkey,
    DROP CONSTRAINT registrations_world_entity_id_fkey,
    DROP CONSTRAINT registrations_world_component_appid_fkey,
    DROP CONSTRAINT registrations_world_mp_appid_fkey;
ALTER TABLE mini_programs
    DROP CONSTRAINT mini_programs_world_appid_fkey,
    DROP CONSTRAINT mini_programs_world_entity_id_fkey,
    DROP CONSTRAINT mini_programs_world_registered_by_oa_fkey,
    DROP CONSTRAINT mini_programs_world_linked_oa_fkey;
DROP INDEX registrations_by_ticket;
DROP INDEX registrations_by_entity;
DROP INDEX registrations_by_component;
DROP INDEX mini_programs_by_entity;
DROP INDEX mini_programs_by_registering_oa;
