//! The `backend` example, run as a test: its code is compiled into this binary, so the test
//! exercises exactly what a reader copies.

#[path = "../../examples/backend.rs"]
mod backend;

use std::time::Duration;

#[tokio::test]
async fn the_backend_example_registers_through_the_admin_pages() {
    let walk = backend::run(backend::Options::default()).await.unwrap();

    assert_eq!(walk.outcomes.len(), 1, "{walk:?}");
    assert!(walk.outcomes[0].starts_with("registered"), "{walk:?}");
    assert!(
        walk.outcomes[0].contains("refresh token saved: true"),
        "{walk:?}"
    );
    assert!(walk.mini_program.is_some());
}

#[tokio::test]
async fn the_backend_example_settles_an_unknown_outcome_by_asking_again_with_the_same_ticket() {
    let walk = backend::run(backend::Options {
        processing_delay_ms: 1500,
        fast_register_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await
    .unwrap();

    assert!(walk.outcomes[0].starts_with("unknown"), "{walk:?}");
    assert!(
        walk.outcomes.last().unwrap().starts_with("registered"),
        "{walk:?}"
    );
    assert!(walk.mini_program.is_some());
}
