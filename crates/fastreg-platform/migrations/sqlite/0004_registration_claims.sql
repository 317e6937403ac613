-- When (system clock, unix milliseconds) a registration claimed its ticket. Start-up abandons
-- in-progress registrations claimed before it started; on a database shared by several
-- instances (PostgreSQL) only those older than any live instance could still be working on.
ALTER TABLE registrations ADD COLUMN claimed_at_ms INTEGER NOT NULL DEFAULT 0;
