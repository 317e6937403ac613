//! Start-up and shutdown: [`Application::build`] opens and prepares the store, binds the
//! listener (port 0 in tests) and reports where it listens; [`Application::run_until_stopped`]
//! serves until the given future resolves. `main` and the tests use exactly this path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::http;
use crate::jobs::deliver::run_deliverer;
use crate::jobs::due::{abandon_dead_registrations, purge_deleted_worlds, run_due_work};
use crate::redact;
use crate::secrets;
use crate::service::sandbox::{self as sandbox_svc, SeedWorld};
use crate::settings::Settings;
use crate::state::{AppState, TicketScan, Worlds};
use crate::store::Store;

/// The built-in demo world (a seed file), used when no seed is given.
pub use crate::service::worlds::DEMO_WORLD;

/// A built, bound, not yet serving platform.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    seeded_now: Option<String>,
}

impl Application {
    /// Opens the store, finishes what a previous run left half done, seeds a new database,
    /// and binds the listener.
    ///
    /// In-progress registrations left by a stopped instance were never answered as successes
    /// (the answer follows the commit of the success), so they are marked abandoned and their
    /// tickets become usable again (see [`abandon_dead_registrations`]).
    ///
    /// # Errors
    /// The database cannot be opened or migrated, the seed is invalid, or the address cannot
    /// be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::open(&settings.db, settings.durability)
            .await
            .map_err(|e| {
                // The store's own message may quote the URL; the password stays out of it.
                let mut why = format!("{e:#}");
                if let Some(password) = redact::db_password(&settings.db) {
                    why = why.replace(password, redact::MASK);
                }
                anyhow::anyhow!("opening database {}: {why}", redact::db_url(&settings.db))
            })?;
        let abandoned = abandon_dead_registrations(&store).await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "registrations in progress at the last stop were abandoned; their tickets are usable again"
            );
        }
        let worlds = Worlds::load(&store, &settings).await?;
        purge_deleted_worlds(&store).await?;
        let default = worlds.default_world().clone();
        let seed_text = match &settings.seed {
            Some(path) => Some((
                path.clone(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading seed file {path}"))?,
            )),
            None => None,
        };
        let initialized = store.read(|tx| sandbox_svc::is_initialized(tx)).await?;
        let mut seeded_now = None;
        if !initialized {
            let (name, text) =
                seed_text.unwrap_or_else(|| ("the built-in demo world".into(), DEMO_WORLD.into()));
            let world = SeedWorld::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("seed {name} is not valid: {e}"))?;
            let (now, lifetimes) = (default.clock.now(), settings.lifetimes.clone());
            // Checked again in the write: another instance on a shared database may have
            // seeded it since the read.
            let applied = store
                .write(move |tx| {
                    if sandbox_svc::is_initialized(tx)? {
                        return Ok(false);
                    }
                    sandbox_svc::apply_seed(tx, world, now, &lifetimes).map(|_| true)
                })
                .await
                .with_context(|| format!("applying {name}"))?;
            seeded_now = applied.then_some(name);
        } else if let Some((name, _)) = seed_text {
            tracing::warn!(
                seed = name,
                "the database is already seeded; the seed file is ignored"
            );
        }

        let page_secret = store
            .write(|tx| {
                if let Some(hex) = tx.meta("page_secret")? {
                    if let Ok(bytes) = hex::decode(&hex) {
                        return Ok(bytes);
                    }
                }
                let fresh = secrets::hex_bytes(32);
                tx.set_meta("page_secret", &fresh)?;
                Ok(hex::decode(fresh).unwrap_or_default())
            })
            .await?;
        let admin_token = settings
            .admin_token
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| secrets::alnum(32));
        let listener = TcpListener::bind(&settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let state = Arc::new(AppState {
            store,
            settings,
            worlds,
            admin_token,
            ticket_scan: TicketScan::default(),
            push_wake: tokio::sync::Notify::new(),
            page_secret,
            stopping: AtomicBool::new(false),
        });
        Ok(Application {
            listener,
            state,
            seeded_now,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The sandbox API's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// The shared state (for in-process tests and the CLI).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Which seed this start applied to a new database, if any.
    pub fn seeded_now(&self) -> Option<&str> {
        self.seeded_now.as_deref()
    }

    /// Serves until `shutdown` resolves, then stops gracefully: no new connections, in-flight
    /// requests finish (for at most `shutdown_timeout_secs`), the push deliverer finishes the
    /// pass it is in, and what is left in the push outbox (persisted, like every push) is
    /// logged; it is delivered after the next start.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let state = self.state.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                if let Err(e) = run_due_work(&state).await {
                    tracing::warn!(error = %e, "scheduled work failed; retrying next tick");
                }
            }
        });
        let (stop_deliverer, deliverer_stop) = tokio::sync::watch::channel(false);
        let deliverer = tokio::spawn(run_deliverer(self.state.clone(), deliverer_stop));
        let grace = Duration::from_secs(self.state.settings.shutdown_timeout_secs);
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.stopping.store(true, Ordering::Relaxed);
            tracing::info!(
                in_flight_grace_secs = grace.as_secs(),
                "stopping: accepting no new connections, finishing in-flight requests"
            );
            let _ = signalled.send(());
        };
        let app = http::router(self.state.clone());
        let server = http::serve::serve(self.listener, app, shutdown);
        let overdue = async {
            match on_signal.await {
                Ok(()) => tokio::time::sleep(grace).await,
                // The server ended without a signal: nothing to time out.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = server => {}
            () = overdue => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "in-flight requests did not finish in time; stopping without them \
                     (a registration they left in progress is abandoned at the next start)"
                );
            }
        }
        ticker.abort();
        let _ = stop_deliverer.send(true);
        if tokio::time::timeout(DELIVERER_GRACE, deliverer)
            .await
            .is_err()
        {
            tracing::warn!("the push deliverer did not finish its pass in time");
        }
        match self
            .state
            .store
            .read(|tx| Ok(tx.due_pushes(i64::MAX, 10_000)?.len()))
            .await
        {
            Ok(0) => {}
            Ok(pending) => tracing::info!(
                pending,
                "pushes are pending in the outbox; they are delivered after the next start"
            ),
            Err(e) => tracing::warn!(error = %e, "could not count the pending pushes"),
        }
        tracing::info!("stopped");
    }
}

/// How long the push deliverer may take to finish its pass at shutdown (one attempt times
/// out after 5 s).
const DELIVERER_GRACE: Duration = Duration::from_secs(7);
