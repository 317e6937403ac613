//! The writer's token replacements as one statement for every token a row of its batch's jobs
//! issued (put off and sent by `deferred.rs`), instead of one per job (`Tx::replace_token`).

use std::collections::HashMap;

use super::Conn;
use crate::domain::{TokenRecord, UnixTime, WorldKey};
use crate::error::Result;

/// Supersedes the current token of each (kind, component, authorizer) of `$8`..`$11`, as of
/// the time given with it, and inserts the tokens of `$1`..`$7`. A key has at most one
/// current token, since each replacement supersedes the one before: the update takes the
/// key's newest row that is not superseded (walking its index newest first, so a long history
/// costs nothing) and updates it by row address, so that its plan stays a handful of lookups
/// whatever the statistics say. That update is HOT (migration 0008): no index names
/// `superseded_at`. It does not see the inserted rows (one snapshot), so a new token is not
/// superseded by its own statement.
const REPLACE_TOKENS: &str = "WITH superseded AS (
        UPDATE tokens AS t SET superseded_at = s.at
        FROM (SELECT c.row, u.at
              FROM unnest($8::TEXT[], $9::TEXT[], $10::TEXT[], $11::BIGINT[]) AS u(kind, c, a, at)
              CROSS JOIN LATERAL (SELECT ctid AS row FROM tokens WHERE world = fw()
                  AND component_appid = u.c AND kind = u.kind AND authorizer_appid = u.a
                  AND superseded_at IS NULL ORDER BY issued_at DESC LIMIT 1) AS c) AS s
        WHERE t.ctid = s.row)
    INSERT INTO tokens (world, hash, kind, component_appid, authorizer_appid, issued_at,
        expires_at, superseded_at)
    SELECT fw(), * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
        $6::BIGINT[], $7::BIGINT[])";

/// The columns of the tokens to insert, and the keys to supersede with when.
#[derive(Default)]
struct Columns<'t> {
    hash: Vec<&'t str>,
    kind: Vec<&'t str>,
    component: Vec<&'t str>,
    authorizer: Vec<&'t str>,
    issued_at: Vec<UnixTime>,
    expires_at: Vec<UnixTime>,
    superseded_at: Vec<Option<UnixTime>>,
    key_kind: Vec<&'t str>,
    key_component: Vec<&'t str>,
    key_authorizer: Vec<&'t str>,
    key_at: Vec<UnixTime>,
}

/// What `tokens` (of one world, in the order they were issued) write: each token as it is
/// stored, superseded by the next of its key in `tokens` if there is one; and each key's
/// tokens stored before, superseded by the first of `tokens` with that key.
fn columns<'t>(tokens: &[&'t TokenRecord]) -> Columns<'t> {
    let mut out = Columns::default();
    // The next token of the same key, for each token.
    let mut next: HashMap<(&str, &str, &str), UnixTime> = HashMap::new();
    let mut superseded = vec![None; tokens.len()];
    for (i, t) in tokens.iter().enumerate().rev() {
        let key = (
            t.kind.as_str(),
            t.component_appid.as_str(),
            t.authorizer_appid.as_str(),
        );
        superseded[i] = t.superseded_at.or(next.get(&key).copied());
        next.insert(key, t.issued_at);
    }
    for (t, superseded_at) in tokens.iter().zip(superseded) {
        out.hash.push(&t.hash);
        out.kind.push(t.kind.as_str());
        out.component.push(&t.component_appid);
        out.authorizer.push(&t.authorizer_appid);
        out.issued_at.push(t.issued_at);
        out.expires_at.push(t.expires_at);
        out.superseded_at.push(superseded_at);
    }
    // `next` now holds each key's first token.
    for ((kind, component, authorizer), at) in next {
        out.key_kind.push(kind);
        out.key_component.push(component);
        out.key_authorizer.push(authorizer);
        out.key_at.push(at);
    }
    out
}

/// Sends the replacements of `tokens` (of `world`, in the order they were issued) without
/// waiting, as one statement (`client.rs`), under the tag the connection has now.
pub(super) fn send_later(conn: &mut Conn, world: WorldKey, tokens: &[&TokenRecord]) -> Result<()> {
    let st = conn.statement(REPLACE_TOKENS)?;
    let c = columns(tokens);
    conn.client.execute_later(
        &st,
        &[
            &c.hash,
            &c.kind,
            &c.component,
            &c.authorizer,
            &c.issued_at,
            &c.expires_at,
            &c.superseded_at,
            &c.key_kind,
            &c.key_component,
            &c.key_authorizer,
            &c.key_at,
            &world,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthorizerKind, TokenKind};

    fn token(hash: &str, authorizer: &str, issued_at: UnixTime) -> TokenRecord {
        TokenRecord {
            hash: hash.into(),
            kind: TokenKind::Authorizer(AuthorizerKind::OfficialAccount),
            component_appid: "wxcomponent".into(),
            authorizer_appid: authorizer.into(),
            issued_at,
            expires_at: issued_at + 7200,
            superseded_at: None,
        }
    }

    #[test]
    fn a_token_put_off_is_superseded_by_the_next_of_its_key_and_the_stored_ones_by_the_first() {
        let (a1, b1, a2, a3) = (
            token("a1", "wxa", 10),
            token("b1", "wxb", 11),
            token("a2", "wxa", 12),
            token("a3", "wxa", 13),
        );
        let c = columns(&[&a1, &b1, &a2, &a3]);
        assert_eq!(c.hash, ["a1", "b1", "a2", "a3"]);
        assert_eq!(c.superseded_at, [Some(12), None, Some(13), None]);
        let mut keys: Vec<(&str, UnixTime)> = c
            .key_authorizer
            .iter()
            .copied()
            .zip(c.key_at.iter().copied())
            .collect();
        keys.sort();
        assert_eq!(keys, [("wxa", 10), ("wxb", 11)]);
    }

    #[test]
    fn a_token_stored_superseded_keeps_its_own_time() {
        let mut a1 = token("a1", "wxa", 10);
        a1.superseded_at = Some(0);
        let a2 = token("a2", "wxa", 12);
        let c = columns(&[&a1, &a2]);
        assert_eq!(c.superseded_at, [Some(0), None]);
        assert_eq!(c.key_at, [10]);
    }
}
