//! The invariants of the spec's §5, checked on the database as a kill (or a stop) left it.

use std::collections::HashMap;

use fastreg_platform::domain::*;
use fastreg_platform::rules::Policy;

use super::load::Answer;

/// The database as a kill (or a stop) left it.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    /// Every entity with its Mini Program counter.
    pub(super) entities: Vec<(Entity, u32)>,
    pub(super) mini_programs: Vec<MiniProgram>,
    pub(super) registrations: Vec<Registration>,
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// One line per broken invariant.
    pub(super) violations: Vec<String>,
    /// Answered successes found as answered.
    pub(super) checked: u64,
    /// Registrations in progress.
    pub(super) in_progress: u64,
}

/// Checks the invariants of the spec's §5 on a database snapshot: every answered success is
/// there as answered; one live registration per ticket and one succeeded registration per
/// Mini Program; per OA and month at most the quota; per entity at most its cap (Mini
/// Programs plus registrations in progress) and a counter equal to its Mini Programs; per
/// OA at most one registration in progress, and none at all when `restarted`.
pub(super) fn check(
    snap: &Snapshot,
    answered: &HashMap<String, Answer>,
    policy: &Policy,
    restarted: bool,
) -> Findings {
    let mut f = Findings::default();
    let mut v = Vec::new();
    let mps: HashMap<&str, &MiniProgram> = snap
        .mini_programs
        .iter()
        .map(|m| (m.appid.as_str(), m))
        .collect();
    let mut live_by_ticket: HashMap<&str, Vec<&Registration>> = HashMap::new();
    let mut succeeded_by_mp: HashMap<&str, Vec<&Registration>> = HashMap::new();
    let mut per_month: HashMap<(&str, &str), u32> = HashMap::new();
    let mut in_progress_oa: HashMap<&str, u32> = HashMap::new();
    let mut in_progress_entity: HashMap<i64, u32> = HashMap::new();
    for r in &snap.registrations {
        match r.status {
            RegistrationStatus::Abandoned => continue,
            RegistrationStatus::InProgress => {
                f.in_progress += 1;
                *in_progress_oa.entry(&r.oa_appid).or_default() += 1;
                *in_progress_entity.entry(r.entity_id).or_default() += 1;
                if restarted {
                    v.push(format!(
                        "registration #{} of {} is still in progress after a restart",
                        r.id, r.oa_appid
                    ));
                }
            }
            RegistrationStatus::Succeeded => {
                let Some(mp_appid) = r.mp_appid.as_deref() else {
                    v.push(format!(
                        "registration #{} succeeded without a Mini Program",
                        r.id
                    ));
                    continue;
                };
                succeeded_by_mp.entry(mp_appid).or_default().push(r);
                match mps.get(mp_appid) {
                    None => v.push(format!(
                        "registration #{} succeeded with Mini Program {mp_appid}, which does not exist",
                        r.id
                    )),
                    Some(mp) if mp.entity_id != r.entity_id || mp.registered_by_oa != r.oa_appid => {
                        v.push(format!(
                            "Mini Program {mp_appid} belongs to entity {} / OA {}, its registration #{} to {} / {}",
                            mp.entity_id, mp.registered_by_oa, r.id, r.entity_id, r.oa_appid
                        ));
                    }
                    Some(_) => {}
                }
                match r.month.as_deref() {
                    Some(month) => *per_month.entry((&r.oa_appid, month)).or_default() += 1,
                    None => v.push(format!("registration #{} succeeded without a month", r.id)),
                }
            }
        }
        live_by_ticket.entry(&r.ticket).or_default().push(r);
    }
    for (ticket, regs) in &live_by_ticket {
        if regs.len() > 1 {
            let mps: Vec<_> = regs
                .iter()
                .map(|r| r.mp_appid.as_deref().unwrap_or("-"))
                .collect();
            v.push(format!(
                "ticket {ticket} has {} live registrations (Mini Programs {})",
                regs.len(),
                mps.join(", ")
            ));
        }
    }
    for (mp, regs) in &succeeded_by_mp {
        if regs.len() > 1 {
            v.push(format!(
                "Mini Program {mp} is recorded by {} registrations",
                regs.len()
            ));
        }
    }
    for mp in &snap.mini_programs {
        if !succeeded_by_mp.contains_key(mp.appid.as_str()) {
            v.push(format!(
                "Mini Program {} exists without a succeeded registration",
                mp.appid
            ));
        }
    }
    for ((oa, month), n) in &per_month {
        if *n > policy.monthly_quota {
            v.push(format!(
                "{oa} has {n} successes in {month}, over the quota of {}",
                policy.monthly_quota
            ));
        }
    }
    for (oa, n) in &in_progress_oa {
        if *n > 1 {
            v.push(format!("{oa} has {n} registrations in progress at once"));
        }
    }
    let mut owned: HashMap<i64, u32> = HashMap::new();
    for mp in &snap.mini_programs {
        *owned.entry(mp.entity_id).or_default() += 1;
    }
    for (e, counter) in &snap.entities {
        let owned = owned.get(&e.id).copied().unwrap_or(0);
        let pending = in_progress_entity.get(&e.id).copied().unwrap_or(0);
        let cap = e.mini_program_cap.unwrap_or(policy.entity_mini_program_cap);
        if *counter != owned {
            v.push(format!(
                "entity {} counts {counter} Mini Programs but owns {owned}",
                e.id
            ));
        }
        if owned + pending > cap {
            v.push(format!(
                "entity {} owns {owned} Mini Programs and has {pending} in progress, over its cap of {cap}",
                e.id
            ));
        }
    }
    let succeeded_by_ticket: HashMap<&str, &Registration> = snap
        .registrations
        .iter()
        .filter(|r| r.status == RegistrationStatus::Succeeded)
        .map(|r| (r.ticket.as_str(), r))
        .collect();
    for (ticket, a) in answered {
        match succeeded_by_ticket.get(ticket.as_str()) {
            None => v.push(format!(
                "the success answered for ticket {ticket} ({}) is not in the database",
                a.appid
            )),
            Some(r)
                if r.mp_appid.as_deref() != Some(&a.appid)
                    || r.oa_appid != a.oa_appid
                    || r.authorization_code.as_deref() != Some(&a.authorization_code) =>
            {
                v.push(format!(
                    "ticket {ticket} was answered {} for {}, the database has {:?} for {}",
                    a.appid, a.oa_appid, r.mp_appid, r.oa_appid
                ));
            }
            Some(_) => f.checked += 1,
        }
    }
    v.sort();
    f.violations = v;
    f
}
