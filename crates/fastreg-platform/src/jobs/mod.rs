//! What runs beside the requests: the push deliverer ([`deliver`]) and the work that falls due
//! with the sandbox clock ([`due`]). Jobs call services, as handlers do; nothing in a service
//! or below calls a job.

pub mod deliver;
pub mod due;
