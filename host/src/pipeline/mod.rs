//! The stages a notification passes, in order: [`ingress`] (HTTP, validation,
//! signatures, 202 once stored) -> the inbox (`crate::store`) -> [`dispatcher`] (workers
//! claiming tickets) -> [`handling`] (guard -> run -> commit -> hand-off) -> audit.
//! [`console`] is the operators' web console, mounted by the ingress router.

pub mod console;
pub mod dispatcher;
pub mod handling;
pub mod ingress;
