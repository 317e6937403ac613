//! fastregister, the product's reason to exist: its refusals in the spec's order, contested
//! tickets and OAs, concurrent calls, the in-process view's answers, and what survives a
//! restart.

mod alone;
mod concurrency;
mod contested;
mod refusals;
mod restart;
mod view;
