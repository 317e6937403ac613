-- Every token's key is (component, kind, authorizer), and in a world nearly every token has the
-- same component and kind (the world's one component, its Official Accounts' access tokens).
-- With those two first in tokens_by_key, each comparison of an index descent compared the world,
-- then two equal strings under the database's collation, before it reached the authorizer that
-- tells the keys apart, once for the lookup of the key's current token and once for the insert
-- of the new one: the writer's backend, the cluster's one serial chain, spent a sixth of its
-- time in index comparisons under api_authorizer_token (`perf` of the backend: _bt_compare,
-- nocache_index_getattr, varstr_cmp). With the authorizer first the comparisons stop at it: the
-- replacement statement ran 4 % faster in a pgbench model of it, and api_authorizer_token 9 %
-- on the mean of fourteen pairs of `fastreg bench --db`, within that host's noise
-- (BENCHMARKS.md). The same index still serves a key's lookups; counting a component's tokens of
-- a kind (the sandbox's component summary, rare) now reads the world's part of it.
DROP INDEX tokens_by_key;
CREATE INDEX tokens_by_key ON tokens (world, authorizer_appid, component_appid, kind, issued_at);
