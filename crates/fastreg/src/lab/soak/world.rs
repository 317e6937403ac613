//! The soak's world, written straight into the store (as `fastreg bench` does): N Official
//! Accounts, ten per entity, each with a never-expiring token and enough tickets for the run.
//! One entity in four is nearly at its Mini Program cap (17 of 20), one in four fills up within
//! a few rounds (cap 60), the others have room; in those, the last OA has used all but one of
//! this month's quota.

use fastreg_platform::app::Application;
use fastreg_platform::clock::shanghai_month;
use fastreg_platform::secrets;
use fastreg_platform::settings::Settings;

use super::{SoakArgs, FILLS_UP, NEAR_FULL};
use crate::lab::world::{self, SeedOa, OAS_PER_ENTITY};

/// Creates the database (with the demo world, whose component every seeded OA authorises)
/// and seeds the soak's OAs, entities and nearly full caps.
pub(super) async fn seed_world(db: &str, args: &SoakArgs) -> anyhow::Result<Vec<SeedOa>> {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        db: db.into(),
        durability: args.durability.store(),
        admin_token: Some(secrets::alnum(32)),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let state = app.state();
    drop(app);
    let (store, now) = (&state.store, state.worlds.default_world().clock.now());
    let quota = state.worlds.default_world().runtime().rules.monthly_quota as usize;

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
    Ok(oas)
}
