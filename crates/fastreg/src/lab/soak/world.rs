//! The soak's world, written straight into the store (as `fastreg bench` does): N Official
//! Accounts, ten per entity, each with a never-expiring token and enough tickets for the run.
//! One entity in four is nearly at its Mini Program cap (17 of 20), one in four fills up within
//! a few rounds (cap 60), the others have room; in those, the last OA has used all but one of
//! this month's quota.
//!
//! On PostgreSQL (a database that may hold other data) the run works in a world of its own,
//! seeded with the demo world, and deletes it at the end.

use std::sync::Arc;

use fastreg_platform::app::Application;
use fastreg_platform::clock::shanghai_month;
use fastreg_platform::domain::WorldKey;
use fastreg_platform::secrets;
use fastreg_platform::settings::Settings;
use fastreg_platform::state::AppState;

use super::{SoakArgs, FILLS_UP, NEAR_FULL};
use crate::lab::world::{self, demo_world, SeedOa, OAS_PER_ENTITY};

/// Where the run works: the default world of its own SQLite file, or a world of its own.
pub(super) struct Place {
    pub(super) oas: Vec<SeedOa>,
    /// The world's id and key, when the run has one.
    pub(super) world: Option<(String, WorldKey)>,
}

impl Place {
    /// Its base path: `/w/{id}`, or empty.
    pub(super) fn prefix(&self) -> String {
        self.world
            .as_ref()
            .map_or_else(String::new, |(id, _)| format!("/w/{id}"))
    }
}

/// The platform's state on `db` (opened, migrated, seeded if new), without serving it.
async fn platform(db: &str, args: &SoakArgs) -> anyhow::Result<Arc<AppState>> {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: db.into(),
        durability: args.durability.store(),
        admin_token: Some(secrets::alnum(32)),
        ..Settings::default()
    };
    Ok(Application::build(settings).await?.state())
}

/// Deletes the run's world (`id`, `key`) and its rows.
pub(super) async fn delete_world(
    db: &str,
    args: &SoakArgs,
    (id, key): &(String, WorldKey),
) -> anyhow::Result<()> {
    let state = platform(db, args).await?;
    fastreg_platform::service::worlds::delete(&state, id).await?;
    fastreg_platform::service::worlds::purge(&state.store, *key).await?;
    Ok(())
}

/// Creates the database (with the demo world, whose component every seeded OA authorises)
/// and seeds the soak's OAs, entities and nearly full caps: in its default world, or in a world
/// created for the run when `in_world`.
pub(super) async fn seed_world(db: &str, args: &SoakArgs, in_world: bool) -> anyhow::Result<Place> {
    let state = platform(db, args).await?;
    let (w, world) = if in_world {
        let (w, _) = fastreg_platform::service::worlds::create(&state, demo_world()?).await?;
        let id = (w.id.clone(), w.key);
        (w, Some(id))
    } else {
        (state.worlds.default_world().clone(), None)
    };
    let (store, now) = (&w.store, w.clock.now());
    let quota = w.runtime().rules.monthly_quota as usize;

    let entity_count = args.oas.div_ceil(OAS_PER_ENTITY);
    let caps: Vec<Option<u32>> = (0..entity_count)
        .map(|e| match e % 4 {
            0 => Some(NEAR_FULL.1),
            1 => Some(FILLS_UP),
            _ => Some(1_000_000),
        })
        .collect();
    let entity_ids = world::entities(store, "Soak", caps).await?;
    // Enough tickets for the quota of every month the run reaches, and two to spare.
    let tickets = quota * (args.rounds / 2 + 1) + 2;
    let specs: Vec<(i64, usize)> = (0..args.oas)
        .map(|i| (entity_ids[i / OAS_PER_ENTITY], tickets))
        .collect();
    let oas = world::official_accounts(store, now, "Soak", 0, &specs).await?;
    // The nearly full entities' Mini Programs, registered years ago by their OAs.
    let mut regs = Vec::new();
    for (e, &id) in entity_ids.iter().enumerate().filter(|(e, _)| e % 4 == 0) {
        let members = &oas[e * OAS_PER_ENTITY..((e + 1) * OAS_PER_ENTITY).min(oas.len())];
        for k in 0..NEAR_FULL.0 {
            regs.push((
                members[k % members.len()].appid.clone(),
                id,
                format!("2019-{:02}", k % 12 + 1),
            ));
        }
    }
    let first = regs.len();
    world::store_registrations(store, regs, 0, now).await?;
    // In the roomy entities, the last OA has used all but one of this month's quota.
    let month = shanghai_month(now);
    let regs: Vec<(String, i64, String)> = oas
        .iter()
        .enumerate()
        .filter(|(i, _)| i / OAS_PER_ENTITY % 4 >= 2 && i % OAS_PER_ENTITY == OAS_PER_ENTITY - 1)
        .flat_map(|(_, o)| (1..quota).map(|_| (o.appid.clone(), o.entity_id, month.clone())))
        .collect();
    world::store_registrations(store, regs, first, now).await?;
    Ok(Place { oas, world })
}
