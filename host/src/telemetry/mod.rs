//! What the gateway tells its operators: Prometheus metrics and logs.

pub mod logging;
pub mod metrics;

pub use metrics::Metrics;
