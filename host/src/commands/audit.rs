//! `zendesk-gateway audit`: print the audit trail, what the AI did per run.

use crate::config::Config;
use anyhow::Context;

/// Prints at most `limit` records (of `ticket` only, if given) from the gateway's database.
pub fn run(path: &std::path::Path, ticket: Option<u64>, limit: usize) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let g = &config.gateway;
    let records = match &g.database {
        Some(url) => {
            let db = crate::store::Database::postgres(url.expose(), g.database_tls, "audit", 1)
                .context("reading the audit trail from PostgreSQL")?;
            db.audit.query(ticket, limit)?
        }
        None => {
            let db = g.data_dir.join("gateway.db");
            anyhow::ensure!(
                db.exists(),
                "no gateway database at {} yet: has the gateway run with this config?",
                db.display()
            );
            let log = crate::store::audit::AuditLog::open(&db)
                .with_context(|| format!("reading {}", db.display()))?;
            log.query(ticket, limit)?
        }
    };
    if records.is_empty() {
        println!("no runs recorded");
    }
    for r in records {
        println!(
            "{}  ticket {:<6} {:<12} {:<10} {:<9} v{}  {}  {}",
            r.at,
            r.ticket_id,
            r.brand,
            r.environment,
            r.mode,
            r.plugin_version,
            r.outcome,
            r.reason
        );
    }
    Ok(())
}
