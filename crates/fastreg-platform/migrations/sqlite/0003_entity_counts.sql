-- How many Mini Programs each entity owns, kept by the store on every insert, so the cap
-- check (61053) reads one row instead of counting an entity's Mini Programs on every call.
ALTER TABLE entities ADD COLUMN mini_program_count INTEGER NOT NULL DEFAULT 0;
UPDATE entities SET mini_program_count =
    (SELECT COUNT(*) FROM mini_programs WHERE mini_programs.entity_id = entities.id);
