-- The change feed (src/store/postgres/feed.rs): each write batch that changes what an
-- instance's in-process view may hold appends the view keys it touched, under the next number
-- of a gapless counter drawn under the write lock, so instances apply them in commit order.
CREATE TABLE fastreg_feed_head (seq BIGINT NOT NULL);
INSERT INTO fastreg_feed_head (seq) VALUES (0);
CREATE TABLE fastreg_changes (
    seq  BIGINT PRIMARY KEY,
    keys TEXT[] NOT NULL
);
