//! The soak's checker fed hand-made bad databases, so it cannot pass without checking; and
//! the seeded random choices.

use std::collections::HashMap;

use fastreg_platform::domain::*;
use fastreg_platform::rules::Policy;

use super::checks::{check, Snapshot};
use super::load::Answer;
use super::Rng;
use crate::lab::world;

const OA_A: &str = "wxbe00000000000000";
const OA_B: &str = "wxbe00000000000001";

fn entity(id: i64, cap: u32) -> Entity {
    Entity {
        id,
        name: format!("E{id}"),
        entity_type: EntityType::Enterprise,
        overseas: false,
        blacklisted: false,
        mini_program_cap: Some(cap),
    }
}

fn mp(appid: &str, oa: &str) -> MiniProgram {
    MiniProgram {
        appid: appid.into(),
        user_name: "gh_000000000000".into(),
        nickname: "mp".into(),
        entity_id: 1,
        registered_by_oa: oa.into(),
        linked_oa: None,
        verified: true,
        created_at: 0,
    }
}

fn reg(
    id: i64,
    ticket: &str,
    oa: &str,
    status: RegistrationStatus,
    mp: Option<&str>,
) -> Registration {
    let done = status == RegistrationStatus::Succeeded;
    Registration {
        id,
        ticket: ticket.into(),
        oa_appid: oa.into(),
        entity_id: 1,
        component_appid: world::COMPONENT.into(),
        status,
        mp_appid: mp.map(Into::into),
        authorization_code: mp.map(|m| format!("code-{m}")),
        is_wx_verify_succ: true,
        is_link_succ: true,
        created_at: 0,
        completed_at: done.then_some(0),
        month: done.then(|| "2026-01".into()),
    }
}

fn answer(oa: &str, mp: &str) -> Answer {
    Answer {
        oa_appid: oa.into(),
        appid: mp.into(),
        authorization_code: format!("code-{mp}"),
    }
}

/// Two successes of OA A, one of OA B, one of B in progress; cap 5; both of A answered.
fn sound() -> (Snapshot, HashMap<String, Answer>) {
    let snap = Snapshot {
        entities: vec![(entity(1, 5), 3)],
        mini_programs: vec![mp("wxm1", OA_A), mp("wxm2", OA_A), mp("wxm3", OA_B)],
        registrations: vec![
            reg(1, "t1", OA_A, RegistrationStatus::Succeeded, Some("wxm1")),
            reg(2, "t2", OA_A, RegistrationStatus::Succeeded, Some("wxm2")),
            reg(3, "t3", OA_B, RegistrationStatus::Succeeded, Some("wxm3")),
            reg(4, "t4", OA_B, RegistrationStatus::InProgress, None),
            reg(5, "t5", OA_B, RegistrationStatus::Abandoned, None),
        ],
    };
    let answered = HashMap::from([
        ("t1".to_string(), answer(OA_A, "wxm1")),
        ("t2".to_string(), answer(OA_A, "wxm2")),
    ]);
    (snap, answered)
}

fn violations(snap: &Snapshot, answered: &HashMap<String, Answer>, restarted: bool) -> Vec<String> {
    check(snap, answered, &Policy::default(), restarted).violations
}

#[test]
fn a_sound_database_passes_and_counts_what_it_checked() {
    let (snap, answered) = sound();
    let f = check(&snap, &answered, &Policy::default(), false);
    assert_eq!(f.violations, Vec::<String>::new());
    assert_eq!(f.checked, 2);
    assert_eq!(f.in_progress, 1);
}

#[test]
fn an_answered_success_missing_from_the_database_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.registrations.retain(|r| r.ticket != "t2");
    snap.mini_programs.retain(|m| m.appid != "wxm2");
    snap.entities[0].1 = 2;
    let v = violations(&snap, &answered, false);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("ticket t2 (wxm2) is not in the database"),
        "{v:?}"
    );
}

#[test]
fn an_answered_success_recorded_with_another_appid_is_a_violation() {
    let (snap, mut answered) = sound();
    answered.insert("t1".into(), answer(OA_A, "wxm9"));
    let v = violations(&snap, &answered, false);
    assert!(
        v.iter().any(|l| l.contains("ticket t1 was answered wxm9")),
        "{v:?}"
    );
}

#[test]
fn a_ticket_with_two_mini_programs_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.mini_programs.push(mp("wxm4", OA_A));
    snap.entities[0].1 = 4;
    snap.registrations.push(reg(
        6,
        "t1",
        OA_A,
        RegistrationStatus::Succeeded,
        Some("wxm4"),
    ));
    let v = violations(&snap, &answered, false);
    assert!(
        v.iter()
            .any(|l| l.contains("ticket t1 has 2 live registrations")),
        "{v:?}"
    );
}

#[test]
fn more_successes_in_a_month_than_the_quota_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.entities[0] = (entity(1, 50), 9);
    for k in 0..6 {
        let appid = format!("wxq{k}");
        snap.mini_programs.push(mp(&appid, OA_A));
        snap.registrations.push(reg(
            10 + k,
            &format!("q{k}"),
            OA_A,
            RegistrationStatus::Succeeded,
            Some(&appid),
        ));
    }
    let v = violations(&snap, &answered, false);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("has 8 successes in 2026-01, over the quota of 5"),
        "{v:?}"
    );
}

#[test]
fn an_entity_over_its_cap_counting_registrations_in_progress_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.entities[0].0.mini_program_cap = Some(3);
    let v = violations(&snap, &answered, false);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("owns 3 Mini Programs and has 1 in progress, over its cap of 3"),
        "{v:?}"
    );
}

#[test]
fn a_mini_program_counter_that_drifted_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.entities[0].1 = 2;
    let v = violations(&snap, &answered, false);
    assert_eq!(
        v,
        vec!["entity 1 counts 2 Mini Programs but owns 3".to_string()]
    );
}

#[test]
fn a_mini_program_without_its_registration_is_a_violation() {
    let (mut snap, answered) = sound();
    snap.mini_programs.push(mp("wxorphan", OA_B));
    snap.entities[0] = (entity(1, 50), 4);
    let v = violations(&snap, &answered, false);
    assert_eq!(
        v,
        vec!["Mini Program wxorphan exists without a succeeded registration".to_string()]
    );
}

#[test]
fn two_registrations_in_progress_for_one_oa_are_a_violation() {
    let (mut snap, answered) = sound();
    snap.entities[0].0.mini_program_cap = Some(50);
    snap.registrations
        .push(reg(7, "t7", OA_B, RegistrationStatus::InProgress, None));
    let v = violations(&snap, &answered, false);
    assert!(
        v.iter()
            .any(|l| l.contains("has 2 registrations in progress at once")),
        "{v:?}"
    );
}

#[test]
fn a_registration_still_in_progress_after_a_restart_is_a_violation() {
    let (snap, answered) = sound();
    let v = violations(&snap, &answered, true);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("still in progress after a restart"), "{v:?}");
}

#[test]
fn the_same_seed_gives_the_same_choices() {
    let (mut a, mut b) = (Rng::new(42), Rng::new(42));
    let xs: Vec<u64> = (0..5).map(|_| a.below(1000)).collect();
    let ys: Vec<u64> = (0..5).map(|_| b.below(1000)).collect();
    assert_eq!(xs, ys);
    assert!((0..1000).map(|_| a.unit()).all(|u| (0.0..1.0).contains(&u)));
}
