-- Which instance claimed a registration in progress (platform.md §5's processing delay): the
-- key of the advisory lock that instance holds while it lives (store/postgres/mod.rs). An
-- instance that dies releases its lock with its connection, so the others abandon its claims
-- within a second instead of after the shared-claim timeout. NULL for claims made before.
ALTER TABLE registrations ADD COLUMN claimed_by INTEGER;
