//! What makes the gateway unready beyond its credentials: an inbox that cannot be
//! written (a full disk, a database locked past its timeout) and a worker that died.
//! While either holds, notifications would be refused or accepted and never handled, so
//! a load balancer or an operator must hear it from `/readyz`.

use crate::gateway::Gateway;

/// Why the gateway cannot do its work now, as (status word, detail), if it cannot.
pub fn unready(gw: &Gateway) -> Option<(&'static str, String)> {
    if let Some(problem) = gw.inbox.health_problem() {
        return Some(("inbox_unavailable", problem));
    }
    let deaths = gw.metrics.worker_deaths.get();
    if deaths > 0 {
        return Some((
            "workers_died",
            format!("{deaths} worker(s) died of a panic; tickets may wait unhandled: restart the gateway"),
        ));
    }
    None
}
