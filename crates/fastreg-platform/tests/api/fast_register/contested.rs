//! Contested load: 1,000 simultaneous fastregister calls over 50 OAs of 5 entities whose caps
//! (and some of whose OAs' quotas) are nearly used up. The outcome is counted exactly: how
//! many Mini Programs each entity gains, and how many calls end with each errcode, follow from
//! the rules of spec §5 alone, whatever the order in which the calls arrive.
//!
//! The world is built so that every count is determined by the rules. Each OA sends 16 calls:
//!
//! - a "one" OA (quota left) sends its one fresh ticket 16 times (one ticket, many callers);
//! - a "two" OA (4 of 5 successes used this month) sends each of two fresh tickets 8 times;
//! - a "spent" OA (5 of 5 used) sends its fresh ticket 16 times: 61055 every time.
//!
//! An OA can gain at most one Mini Program (one ticket, or one success left), so an entity
//! with `room` places under its cap and `eligible` one/two OAs gains `min(room, eligible)`
//! Mini Programs, and every call of a losing OA is refused with 61053 (the cap is checked
//! after the quota and a full entity never empties). Entities where the race has losers hold
//! one kind of OA only, so the answers of the winners are determined too: without a
//! processing delay, a winner's other calls with the same ticket replay its success (0) and
//! its calls with its other ticket are refused for the quota (61055); with a delay, calls
//! arriving while the registration is in progress get 61058 (same ticket) or 61057 (other
//! ticket) instead. Besides: a replay of every success registered before the burst (0, same
//! appid and code), and calls with another OA's ticket or an unknown one (61058).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

/// Calls per OA in the burst.
const M: usize = 16;
/// The whole burst.
const CALLS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Quota left; one fresh ticket, sent M times.
    One,
    /// 4 of 5 successes used this month; two fresh tickets, each sent M/2 times.
    Two,
    /// 5 of 5 used; one fresh ticket, sent M times.
    Spent,
}

/// One entity of the world: its OAs as (kind, how many, successes each before the burst),
/// and the places left under its cap when the burst starts.
struct EntityPlan {
    oas: &'static [(Kind, usize, usize)],
    room: u32,
}

const PLAN: [EntityPlan; 5] = [
    // Ten OAs race for three places.
    EntityPlan {
        oas: &[(Kind::One, 10, 2)],
        room: 3,
    },
    // Eight race for the last place; two have no quota left.
    EntityPlan {
        oas: &[(Kind::One, 8, 1), (Kind::Spent, 2, 5)],
        room: 1,
    },
    // Full already.
    EntityPlan {
        oas: &[(Kind::One, 5, 1), (Kind::Spent, 5, 5)],
        room: 0,
    },
    // Exactly enough places for every OA that may still register.
    EntityPlan {
        oas: &[(Kind::Two, 6, 4), (Kind::One, 4, 0)],
        room: 10,
    },
    // Ten OAs with one success left each race for four places.
    EntityPlan {
        oas: &[(Kind::Two, 10, 4)],
        room: 4,
    },
];

/// A registration made before the burst.
#[derive(Debug, Clone)]
struct Done {
    ticket: String,
    appid: String,
    code: String,
}

#[derive(Debug)]
struct Oa {
    appid: String,
    entity: usize,
    kind: Kind,
    token: String,
    fresh: Vec<String>,
    before: Vec<Done>,
}

/// What a call is for, to judge its answer.
#[derive(Debug, Clone)]
enum Purpose {
    /// A fresh ticket of OA `oa`.
    Fresh { oa: usize },
    /// A replay of a registration made before the burst.
    Replay(Done),
    /// Another OA's ticket, or an unknown one.
    Foreign,
}

/// Builds the world of [`PLAN`] through the sandbox API and real registrations.
async fn world(app: &TestApp) -> Vec<Oa> {
    let ct = app.component_token(C).await;
    let mut oas = Vec::new();
    for (e, plan) in PLAN.iter().enumerate() {
        let entity = app
            .sandbox_ok(
                "POST",
                "/entities",
                Some(&json!({"name": format!("Contested {e}"), "type": "enterprise"})),
            )
            .await;
        let id = entity["id"].as_i64().unwrap();
        let mut owned = 0;
        for &(kind, count, before) in plan.oas {
            for k in 0..count {
                let oa = app
                    .sandbox_ok(
                        "POST",
                        "/official-accounts",
                        Some(&json!({"nickname": format!("Contested {e}.{k}"), "entity_id": id, "verified": true})),
                    )
                    .await;
                let appid = oa["appid"].as_str().unwrap().to_string();
                let (token, _) = app.authorize(&ct, C, &appid, &[27]).await;
                let mut done = Vec::new();
                for _ in 0..before {
                    let ticket = app.confirm(C, &appid, 1).await;
                    let r = app.fastregister(&token, &ticket).await;
                    assert_eq!(errcode(&r), 0, "registration before the burst: {r}");
                    done.push(Done {
                        ticket,
                        appid: r["appid"].as_str().unwrap().into(),
                        code: r["authorization_code"].as_str().unwrap().into(),
                    });
                }
                owned += before as u32;
                let tickets = if kind == Kind::Two { 2 } else { 1 };
                let mut fresh = Vec::new();
                for _ in 0..tickets {
                    fresh.push(app.confirm(C, &appid, 1).await);
                }
                oas.push(Oa {
                    appid,
                    entity: e,
                    kind,
                    token,
                    fresh,
                    before: done,
                });
            }
        }
        app.sandbox_ok(
            "PATCH",
            &format!("/entities/{id}"),
            Some(&json!({"mini_program_cap": owned + plan.room})),
        )
        .await;
    }
    oas
}

/// The burst: M calls per OA, a replay of every earlier registration, and enough calls with
/// foreign or unknown tickets to make [`CALLS`]; in a fixed, shuffled order.
fn burst(oas: &[Oa]) -> Vec<(String, String, Purpose)> {
    let mut calls = Vec::new();
    for (i, oa) in oas.iter().enumerate() {
        for k in 0..M {
            let ticket = oa.fresh[k % oa.fresh.len()].clone();
            calls.push((oa.token.clone(), ticket, Purpose::Fresh { oa: i }));
        }
        for d in &oa.before {
            calls.push((
                oa.token.clone(),
                d.ticket.clone(),
                Purpose::Replay(d.clone()),
            ));
        }
    }
    let mut k = 0;
    while calls.len() < CALLS {
        let (oa, other) = (&oas[k % oas.len()], &oas[(k + 1) % oas.len()]);
        let ticket = if k % 2 == 0 {
            other.fresh[0].clone()
        } else {
            format!("{:032x}", 0xdead_0000_u64 + k as u64)
        };
        calls.push((oa.token.clone(), ticket, Purpose::Foreign));
        k += 1;
    }
    // A fixed shuffle (xorshift), so OAs and entities interleave.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..calls.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        calls.swap(i, (x % (i as u64 + 1)) as usize);
    }
    calls
}

/// The counts the rules determine.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    /// New Mini Programs per entity.
    gained: Vec<usize>,
    /// Calls answered 0 (successes and replays) when nothing is observably in progress.
    zero: usize,
    /// Calls refused for the quota when nothing is observably in progress.
    quota: usize,
    /// Calls refused for the cap.
    cap: usize,
    /// Calls refused for a foreign or unknown ticket.
    foreign: usize,
    /// Calls that are the first of a winner or a replay: answered 0 even with a delay.
    sure_zero: usize,
    /// Calls refused for the quota even with a delay (spent OAs).
    sure_quota: usize,
}

/// Derives the counts from the rules (see the module docs).
fn expected(oas: &[Oa], calls: &[(String, String, Purpose)]) -> Expected {
    let mut e = Expected {
        gained: vec![0; PLAN.len()],
        zero: 0,
        quota: 0,
        cap: 0,
        foreign: 0,
        sure_zero: 0,
        sure_quota: 0,
    };
    for (i, plan) in PLAN.iter().enumerate() {
        let eligible: Vec<&Oa> = oas
            .iter()
            .filter(|o| o.entity == i && o.kind != Kind::Spent)
            .collect();
        let winners = eligible.len().min(plan.room as usize);
        let kinds: HashSet<Kind> = eligible.iter().map(|o| o.kind).collect();
        assert!(
            winners == eligible.len() || kinds.len() <= 1,
            "entity {i}: a race between kinds of OA would not have determined counts"
        );
        e.gained[i] = winners;
        e.cap += (eligible.len() - winners) * M;
        let spent = oas
            .iter()
            .filter(|o| o.entity == i && o.kind == Kind::Spent)
            .count();
        e.quota += spent * M;
        e.sure_quota += spent * M;
        e.sure_zero += winners;
        for w in eligible.iter().take(winners) {
            // Which OAs win is open; what a winner's calls get is not (one kind per race).
            match w.kind {
                Kind::One => e.zero += M,
                Kind::Two => {
                    e.zero += M / 2;
                    e.quota += M / 2;
                }
                Kind::Spent => unreachable!(),
            }
        }
    }
    for (_, _, p) in calls {
        match p {
            Purpose::Replay(_) => {
                e.zero += 1;
                e.sure_zero += 1;
            }
            Purpose::Foreign => e.foreign += 1,
            Purpose::Fresh { .. } => {}
        }
    }
    e
}

/// One fastregister call, raw: (HTTP status, JSON or Null).
async fn call(app: &TestApp, token: &str, ticket: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(format!(
            "{}/cgi-bin/account/fastregister?access_token={token}",
            app.base
        ))
        .body(json!({ "ticket": ticket }).to_string())
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Builds the world, fires the burst and checks everything; returns the answers by errcode.
async fn contested_burst(delay_ms: u64) -> BTreeMap<i64, usize> {
    let app = spawn_app().await;
    let oas = world(&app).await;
    let calls = burst(&oas);
    assert_eq!(calls.len(), CALLS);
    let want = expected(&oas, &calls);
    // The derivation, spelled out for this plan: 8 + 10 winners; 0 = 8×16 + 10×8 + 132
    // replays; 61055 = 10×8 + 7 spent×16; 61053 = 25 losers×16; 61058 = the rest.
    assert_eq!(want.gained, vec![3, 1, 0, 10, 4]);
    assert_eq!(
        (want.zero, want.quota, want.cap, want.foreign),
        (340, 192, 400, 68)
    );
    app.sandbox_ok(
        "PATCH",
        "/config",
        Some(&json!({ "processing_delay_ms": delay_ms })),
    )
    .await;

    let answers = join_all(calls.iter().map(|(t, k, _)| call(&app, t, k))).await;

    // No 5xx, nor any other HTTP status: every answer is WeChat's 200 with an errcode.
    let statuses: BTreeMap<u16, usize> = answers.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
        *m.entry(*s).or_default() += 1;
        m
    });
    assert_eq!(statuses, BTreeMap::from([(200, CALLS)]));
    let mut tally: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, v) in &answers {
        *tally.entry(errcode(v)).or_default() += 1;
    }
    let count = |code: i64| tally.get(&code).copied().unwrap_or(0);
    assert_eq!(tally.values().sum::<usize>(), CALLS);
    assert_eq!(count(61053), want.cap, "{tally:?}");
    if delay_ms == 0 {
        // Nothing is ever observably in progress: no 61057, and 61058 only for foreign tickets.
        assert_eq!(
            tally,
            BTreeMap::from([
                (0, want.zero),
                (61053, want.cap),
                (61055, want.quota),
                (61058, want.foreign)
            ])
        );
    } else {
        // Calls that met a registration in progress got 61058 (same ticket) or 61057 (the
        // OA's other ticket) instead of the replay or the quota refusal they get later.
        let known: HashSet<i64> = [0, 61053, 61055, 61057, 61058].into();
        assert!(tally.keys().all(|c| known.contains(c)), "{tally:?}");
        assert_eq!(
            count(0) + count(61058),
            want.zero + want.foreign,
            "{tally:?}"
        );
        assert_eq!(count(61055) + count(61057), want.quota, "{tally:?}");
        assert!(count(0) >= want.sure_zero, "{tally:?}");
        assert!(count(61055) >= want.sure_quota, "{tally:?}");
        assert!(count(61058) >= want.foreign, "{tally:?}");
    }

    // Successes: one Mini Program per ticket whatever the number of callers, at most one per
    // OA, exactly min(room, eligible) per entity; every replay answered as first answered.
    let mut by_ticket: HashMap<&str, HashSet<(&str, &str)>> = HashMap::new();
    let mut winners_of: Vec<HashSet<usize>> = vec![HashSet::new(); PLAN.len()];
    for ((_, ticket, purpose), (_, v)) in calls.iter().zip(&answers) {
        match purpose {
            Purpose::Fresh { oa } if errcode(v) == 0 => {
                by_ticket.entry(ticket).or_default().insert((
                    v["appid"].as_str().unwrap(),
                    v["authorization_code"].as_str().unwrap(),
                ));
                winners_of[oas[*oa].entity].insert(*oa);
            }
            Purpose::Replay(d) => {
                assert_eq!(errcode(v), 0, "replay of {}: {v}", d.ticket);
                assert_eq!(v["appid"], d.appid.as_str());
                assert_eq!(v["authorization_code"], d.code.as_str());
            }
            _ => {}
        }
    }
    for (ticket, answered) in &by_ticket {
        assert_eq!(answered.len(), 1, "ticket {ticket} answered {answered:?}");
    }
    let gained: Vec<usize> = winners_of.iter().map(HashSet::len).collect();
    assert_eq!(gained, want.gained, "new Mini Programs per entity");
    assert_eq!(by_ticket.len(), want.gained.iter().sum::<usize>());

    // The platform's own record agrees: nothing left in progress, one registration per
    // ticket, the quota kept, and each new success replays as it was answered.
    for (i, oa) in oas.iter().enumerate() {
        let regs = app.registrations(&oa.appid).await;
        assert!(
            regs.iter().all(|r| r["status"] == "succeeded"),
            "{}: {regs:?}",
            oa.appid
        );
        let tickets: HashSet<&str> = regs.iter().map(|r| r["ticket"].as_str().unwrap()).collect();
        assert_eq!(
            tickets.len(),
            regs.len(),
            "one registration per ticket: {regs:?}"
        );
        let won = usize::from(winners_of[oa.entity].contains(&i));
        assert_eq!(regs.len(), oa.before.len() + won, "{}: {regs:?}", oa.appid);
        assert!(regs.len() <= 5, "quota: {regs:?}");
        for ticket in oa
            .fresh
            .iter()
            .filter(|t| by_ticket.contains_key(t.as_str()))
        {
            let first = by_ticket[ticket.as_str()].iter().next().unwrap();
            let replay = app.fastregister(&oa.token, ticket).await;
            assert_eq!(
                (
                    replay["appid"].as_str(),
                    replay["authorization_code"].as_str()
                ),
                (Some(first.0), Some(first.1)),
                "{replay}"
            );
        }
    }
    app.stop().await;
    tally
}

#[tokio::test]
async fn a_thousand_contested_calls_without_a_processing_delay_register_exactly_what_the_rules_allow(
) {
    contested_burst(0).await;
}

#[tokio::test]
async fn a_thousand_contested_calls_with_a_processing_delay_register_exactly_what_the_rules_allow()
{
    let tally = contested_burst(50).await;
    // The delay made registrations observably in progress to some of the contested calls.
    assert!(
        tally.get(&61058).copied().unwrap_or(0) > 68 || tally.contains_key(&61057),
        "{tally:?}"
    );
}
