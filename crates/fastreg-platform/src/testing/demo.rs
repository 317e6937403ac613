//! The ids of the demo world (`demo_world.toml`, the seed a new database starts with), so that
//! tests name them rather than retype them. The unit test below keeps them in step with the
//! seed.

/// The demo component (published, holding the base permission sets).
pub const COMPONENT: &str = "wxc0ffee0000000001";
/// The OA that can fast-register (enterprise, verified, set 27 granted).
pub const OA: &str = "wx0a00000000000001";
/// A media entity's OA: must reuse verification (`copy_wx_verify=1`, else 61056).
pub const OA_MEDIA: &str = "wx0a00000000000002";
/// A personal entity's OA (61051).
pub const OA_PERSONAL: &str = "wx0a00000000000003";
/// An unverified OA (61052).
pub const OA_UNVERIFIED: &str = "wx0a00000000000004";
/// An overseas entity's OA (61061).
pub const OA_OVERSEAS: &str = "wx0a00000000000005";
/// A blacklisted entity's OA (61054).
pub const OA_BLACKLISTED: &str = "wx0a00000000000006";
/// An OA with a Mini Program pending registration (61057).
pub const OA_PENDING: &str = "wx0a00000000000007";
/// Every demo OA, in the seed's order.
pub const OAS: [&str; 7] = [
    OA,
    OA_MEDIA,
    OA_PERSONAL,
    OA_UNVERIFIED,
    OA_OVERSEAS,
    OA_BLACKLISTED,
    OA_PENDING,
];
/// The entity of [`OA`], [`OA_UNVERIFIED`] and [`OA_PENDING`].
pub const ACME_ENTITY: i64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_ids_are_the_seeds_own() {
        let seed: toml::Value =
            toml::from_str(include_str!("../../demo_world.toml")).expect("the seed parses");
        let appids = |table: &str| -> Vec<String> {
            seed[table]
                .as_array()
                .expect("a table array")
                .iter()
                .map(|r| r["appid"].as_str().expect("an appid").to_string())
                .collect()
        };
        assert_eq!(appids("components"), [COMPONENT]);
        assert_eq!(appids("official_accounts"), OAS);
        let acme: Vec<i64> = seed["official_accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["entity_id"].as_integer() == Some(ACME_ENTITY))
            .map(|r| r["appid"].as_str().unwrap().to_string())
            .map(|a| OAS.iter().position(|o| *o == a).unwrap() as i64)
            .collect();
        assert_eq!(
            acme,
            [0, 3, 6],
            "OA, OA_UNVERIFIED and OA_PENDING are Acme's"
        );
    }
}
