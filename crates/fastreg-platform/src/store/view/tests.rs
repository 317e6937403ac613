//! The view's unit tests: staleness, epochs, capacity and the known-tickets filter.

use super::*;

fn oa(appid: &str, verified: bool) -> OfficialAccount {
    OfficialAccount {
        appid: appid.into(),
        user_name: "gh_1".into(),
        nickname: "n".into(),
        entity_id: 1,
        verified,
        pending_registration: false,
        link_cap: None,
        created_at: 0,
    }
}

fn put_oa(view: &View, a: &OfficialAccount, epoch: u64) {
    put_oa_in(view, DEFAULT_WORLD, a, epoch);
}

fn put_oa_in(view: &View, world: WorldKey, a: &OfficialAccount, epoch: u64) {
    let read = OaRead {
        component_appid: "wxcomponent".into(),
        authorization: None,
        component: None,
        official_account: Some(Arc::new(a.clone())),
        details: None,
    };
    view.oas
        .put((world, a.appid.clone()), Arc::new(read), epoch);
}

#[test]
fn one_appid_in_two_worlds_is_two_values() {
    let view = View::new();
    let e = view.epoch();
    put_oa_in(&view, 7, &oa("wxoa1", true), e);
    assert_eq!(
        view.lookup().official_account("wxoa1"),
        None,
        "not in the default world"
    );
    assert_eq!(
        view.lookup_in(7).official_account("wxoa1"),
        Some(Some(Arc::new(oa("wxoa1", true))))
    );
    put_oa(&view, &oa("wxoa1", false), e);
    // A write in world 7 leaves the default world's value usable, and the reverse.
    view.touch_in(7, Key::OfficialAccount("wxoa1"));
    view.publish();
    assert_eq!(view.lookup_in(7).official_account("wxoa1"), None);
    let key = Key::OfficialAccount("wxoa1");
    // Unless the two keys share a slot (1 in 65,536), the default world's value stays usable.
    if slot_of(&view.hasher, 7, key) != slot_of(&view.hasher, DEFAULT_WORLD, key) {
        assert_eq!(
            view.lookup().official_account("wxoa1"),
            Some(Some(Arc::new(oa("wxoa1", false))))
        );
    }
}

#[test]
fn a_value_read_after_the_last_change_is_used() {
    let view = View::new();
    let e = view.epoch();
    put_oa(&view, &oa("wxoa1", true), e);
    assert_eq!(
        view.lookup().official_account("wxoa1"),
        Some(Some(Arc::new(oa("wxoa1", true))))
    );
}

#[test]
fn a_touched_key_misses_while_the_write_is_open_and_after_it_is_published() {
    let view = View::new();
    let e = view.epoch();
    put_oa(&view, &oa("wxoa1", true), e);
    view.touch(Key::OfficialAccount("wxoa1"));
    assert_eq!(view.lookup().official_account("wxoa1"), None, "in flight");
    view.publish();
    assert_eq!(view.lookup().official_account("wxoa1"), None, "published");
    // A reader that began after the publication may store it again.
    let e2 = view.epoch();
    assert!(e2 > e);
    put_oa(&view, &oa("wxoa1", false), e2);
    assert_eq!(
        view.lookup().official_account("wxoa1"),
        Some(Some(Arc::new(oa("wxoa1", false))))
    );
}

#[test]
fn a_value_read_before_a_change_was_published_is_never_used() {
    // The reader recorded its epoch, then the writer changed the OA and published, and
    // only then did the reader store what its (older) snapshot held.
    let view = View::new();
    let before = view.epoch();
    view.touch(Key::OfficialAccount("wxoa1"));
    view.publish();
    put_oa(&view, &oa("wxoa1", true), before);
    assert_eq!(view.lookup().official_account("wxoa1"), None);
}

#[test]
fn a_lookup_begun_before_a_change_does_not_use_values_read_after_it() {
    let view = View::new();
    let lookup = view.lookup();
    view.touch(Key::OfficialAccount("wxoa1"));
    view.publish();
    put_oa(&view, &oa("wxoa1", true), view.epoch());
    assert_eq!(lookup.official_account("wxoa1"), None, "older lookup");
    assert!(view.lookup().official_account("wxoa1").is_some());
}

#[test]
fn touching_everything_empties_the_view() {
    let view = View::new();
    put_oa(&view, &oa("wxoa1", true), view.epoch());
    view.touch(Key::All);
    view.publish();
    put_oa(&view, &oa("wxoa2", true), view.epoch() - 1);
    assert_eq!(view.lookup().official_account("wxoa1"), None);
    assert_eq!(view.lookup().official_account("wxoa2"), None);
}

#[test]
fn untouched_keys_stay_usable_across_other_writes() {
    let view = View::new();
    put_oa(&view, &oa("wxoa1", true), view.epoch());
    let mine = slot_of(&view.hasher, DEFAULT_WORLD, Key::OfficialAccount("wxoa1"));
    let mut collided = false;
    for i in 0..100 {
        let other = format!("wxother{i}");
        collided |= slot_of(&view.hasher, DEFAULT_WORLD, Key::OfficialAccount(&other)) == mine;
        view.touch(Key::OfficialAccount(&other));
        view.publish();
    }
    // Only a key sharing wxoa1's slot (a chance of about 1 in 650 here) makes it miss.
    assert_eq!(view.lookup().official_account("wxoa1").is_some(), !collided);
}

#[test]
fn an_unlisted_ticket_is_known_to_be_absent_only_once_the_scan_is_in() {
    let view = View::new();
    assert_eq!(
        view.lookup().ticket("nope"),
        None,
        "no scan yet: ask the database"
    );
    view.load_known_tickets(vec![ticket_hash("issued")]);
    assert_eq!(view.lookup().ticket("nope"), Some(None));
    assert_eq!(view.lookup().ticket_registration("nope"), Some(None));
    // A listed ticket is read from the database (or its remembered row).
    assert_eq!(view.lookup().ticket("issued"), None);
}

#[test]
fn a_ticket_being_inserted_is_never_reported_absent() {
    let view = View::new();
    view.load_known_tickets(Vec::new());
    view.touch(Key::Ticket("fresh"));
    assert_eq!(view.lookup().ticket("fresh"), None, "in flight");
    view.publish();
    assert_eq!(view.lookup().ticket("fresh"), None, "committed");
}

#[test]
fn the_ticket_filter_grows_with_the_tickets_and_never_loses_one() {
    let known = KnownTickets::default();
    known.load(
        (0..1000u64)
            .map(|i| ticket_hash(&format!("scanned{i}")))
            .collect(),
    );
    // Far more than the filter was first sized for (131,072).
    let added: Vec<u64> = (0..400_000u64)
        .map(|i| ticket_hash(&format!("added{i}")))
        .collect();
    for &h in &added {
        known.add(h);
    }
    assert!((0..1000u64).all(|i| !known.certainly_absent(ticket_hash(&format!("scanned{i}")))));
    assert!(added.iter().all(|&h| !known.certainly_absent(h)));
    let others = 100_000u64;
    let maybe = (0..others)
        .filter(|i| !known.certainly_absent(ticket_hash(&format!("never{i}"))))
        .count();
    // At most about 1 in 400 once rebuilt (about 1 in 25 had it stayed at its first size).
    assert!(
        maybe < 500,
        "{maybe} of {others} unknown tickets were not ruled out"
    );
}

#[test]
fn a_full_map_is_emptied_rather_than_grown() {
    let view = View::new();
    for i in 0..(CAPACITY + 10) {
        put_oa(&view, &oa(&format!("wx{i}"), true), view.epoch());
    }
    let len = view.oas.len();
    assert!(len <= CAPACITY, "{len}");
}

#[test]
fn a_key_looked_up_by_its_parts_finds_the_value_stored_under_them_and_no_other() {
    let map: Map<WorldKeyed, u32> = Map::new();
    map.put((1, "wxoa1".to_string()), 7, 0);
    map.put((2, "wxoa1".to_string()), 8, 0);
    assert_eq!(map.get(&At(1, "wxoa1")), Some((7, 0)));
    assert_eq!(map.get(&At(2, "wxoa1")), Some((8, 0)));
    assert_eq!(map.get(&At(3, "wxoa1")), None);
    assert_eq!(map.get(&At(1, "wxoa")), None);
}

fn component_token(hash: &str) -> TokenRecord {
    TokenRecord {
        hash: hash.into(),
        kind: TokenKind::Component,
        component_appid: "wxcomponent".into(),
        authorizer_appid: String::new(),
        issued_at: 0,
        expires_at: 7200,
        superseded_at: None,
    }
}

fn authorization(refresh_token: &str) -> Authorization {
    Authorization {
        component_appid: "wxcomponent".into(),
        authorizer_appid: "wxoa1".into(),
        authorizer_kind: AuthorizerKind::OfficialAccount,
        permission_sets: vec![1, 27],
        refresh_token: refresh_token.into(),
        auth_time: 0,
        revoked: false,
    }
}

#[test]
fn what_the_writer_read_while_its_key_was_settled_is_used_until_a_write_touches_it() {
    let view = View::new();
    view.remember_settled_token(DEFAULT_WORLD, Arc::new(component_token("h1")));
    view.remember_settled_authorization(
        DEFAULT_WORLD,
        "wxcomponent",
        "wxoa1",
        Some(authorization("r1")),
    );
    view.remember_settled_authorization(DEFAULT_WORLD, "wxcomponent", "wxoa2", None);
    let lookup = view.lookup();
    assert_eq!(
        lookup.token("h1").map(|t| t.hash.clone()),
        Some("h1".into())
    );
    assert_eq!(
        lookup.any_authorization("wxcomponent", "wxoa1"),
        Some(Some(authorization("r1")))
    );
    assert_eq!(
        lookup.any_authorization("wxcomponent", "wxoa2"),
        Some(None),
        "an absence is remembered too"
    );
    // A new authorisation of wxoa1 (a re-authorisation replaces the refresh token).
    view.touch(Key::Authorization("wxcomponent", "wxoa1"));
    assert_eq!(
        view.lookup().any_authorization("wxcomponent", "wxoa1"),
        None
    );
    view.publish();
    assert_eq!(
        view.lookup().any_authorization("wxcomponent", "wxoa1"),
        None
    );
    // A new component token supersedes the old one.
    view.touch(Key::Tokens("wxcomponent", ""));
    view.publish();
    assert!(view.lookup().token("h1").is_none());
}

#[test]
fn what_the_writer_reads_while_its_own_batch_changes_the_key_is_not_remembered() {
    let view = View::new();
    view.touch(Key::Authorization("wxcomponent", "wxoa1"));
    // Read inside the batch that is changing it: possibly the batch's own uncommitted value.
    view.remember_settled_authorization(
        DEFAULT_WORLD,
        "wxcomponent",
        "wxoa1",
        Some(authorization("uncommitted")),
    );
    view.touch(Key::Tokens("wxcomponent", ""));
    view.remember_settled_token(DEFAULT_WORLD, Arc::new(component_token("h2")));
    view.publish();
    assert_eq!(
        view.lookup().any_authorization("wxcomponent", "wxoa1"),
        None
    );
    assert!(view.lookup().token("h2").is_none());
}

/// What one fastregister check of wxoa1 (entity 1) read: its token, authorisation and the OA.
fn oa_context() -> FastRegisterContext {
    let mut token = component_token("oa-h1");
    token.kind = TokenKind::Authorizer(AuthorizerKind::OfficialAccount);
    token.authorizer_appid = "wxoa1".into();
    FastRegisterContext {
        token_present: true,
        token: Some(Arc::new(token)),
        authorization: Some(Arc::new(authorization("r1"))),
        official_account: Some(Arc::new(oa("wxoa1", true))),
        oa_successes_this_month: 2,
        ..FastRegisterContext::default()
    }
}

#[test]
fn a_check_the_writer_made_on_settled_keys_is_remembered_until_a_write_touches_one() {
    let view = View::new();
    view.remember_settled_context(DEFAULT_WORLD, &oa_context(), "2026-12");
    let lookup = view.lookup();
    assert!(lookup.token("oa-h1").is_some());
    assert_eq!(lookup.oa_successes("wxoa1", "2026-12"), Some(2));
    assert_eq!(
        lookup.official_account("wxoa1"),
        Some(Some(Arc::new(oa("wxoa1", true))))
    );
    // A success of wxoa1 changes its counts; its token stays as it was.
    view.touch(Key::OfficialAccount("wxoa1"));
    view.publish();
    assert_eq!(view.lookup().oa_successes("wxoa1", "2026-12"), None);
    assert!(
        view.lookup().token("oa-h1").is_some(),
        "the token is unchanged"
    );
}

#[test]
fn a_check_the_writer_made_while_its_batch_changes_any_key_it_read_is_not_remembered() {
    // One pending key among those the check read is enough: the entity, here.
    let view = View::new();
    view.touch(Key::Entity(1));
    view.remember_settled_context(DEFAULT_WORLD, &oa_context(), "2026-12");
    view.publish();
    let lookup = view.lookup();
    assert!(lookup.token("oa-h1").is_none());
    assert_eq!(lookup.official_account("wxoa1"), None);
    // The same check with nothing pending is remembered.
    view.remember_settled_context(DEFAULT_WORLD, &oa_context(), "2026-12");
    assert!(view.lookup().token("oa-h1").is_some());
}
