-- An OA's successes in a month are counted through `registrations_by_oa` (world, oa_appid,
-- id): the OA's registrations, each row checked for its month and status. An OA has few (five
-- successes a month at most, and each of its abandoned claims), and the count is read only
-- when the in-process view does not hold it. The index this drops was keyed by the OA, so each
-- success wrote one more index page at a random place, one more WAL frame at the commit:
-- without it the SQLite writer answers about 8 % more successes (BENCHMARKS.md, the twelfth
-- session).
DROP INDEX registrations_month;
