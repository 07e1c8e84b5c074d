//! The webhooks' signing secrets: fetched from Zendesk and stored where the endpoint's
//! config reads them (a file written atomically, owner-only), with a note when the config
//! does not read them from there yet. The secret itself is never printed.

use super::api::Api;
use super::plan::{EndpointPlan, SecretTarget};
use super::report::{EnvironmentReport, ObjectReport, Outcome};
use crate::config::Config;
use anyhow::{anyhow, Context};
use std::path::Path;

/// Fetches the webhook's signing secret and stores it where the endpoint's config reads
/// it (see [`SecretTarget`]). The secret itself is never printed.
pub(super) async fn store_secret(
    config: &Config,
    api: &Api,
    ep: &EndpointPlan,
    webhook_id: Option<&str>,
    dry_run: bool,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let file = ep.secret.file().to_path_buf();
    let Some(id) = webhook_id else {
        report.objects.push(ObjectReport {
            kind: "signing secret",
            name: format!("{} (fetched from the new webhook)", file.display()),
            outcome: Outcome::WouldCreate,
            id: None,
        });
        return Ok(());
    };
    let answer = api
        .get(&format!("/api/v2/webhooks/{id}/signing_secret"))
        .await?;
    let secret = answer["signing_secret"]["secret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("Zendesk answered no signing secret"))?;
    if let SecretTarget::Variable { name, .. } = &ep.secret {
        if ep
            .endpoint
            .signing_secret
            .as_ref()
            .is_some_and(|s| s.expose() == secret)
        {
            report.objects.push(ObjectReport {
                kind: "signing secret",
                name: format!("${name}"),
                outcome: Outcome::Unchanged,
                id: None,
            });
            return Ok(());
        }
    }
    let current = std::fs::read_to_string(&file).ok();
    let outcome = match (current.as_deref().map(str::trim), dry_run) {
        (Some(c), _) if c == secret => Outcome::Unchanged,
        (Some(_), false) => Outcome::Updated,
        (None, false) => Outcome::Created,
        (Some(_), true) => Outcome::WouldUpdate,
        (None, true) => Outcome::WouldCreate,
    };
    if matches!(outcome, Outcome::Created | Outcome::Updated) {
        write_secret_file(&file, secret).with_context(|| format!("writing {}", file.display()))?;
    }
    report.objects.push(ObjectReport {
        kind: "signing secret",
        name: file.display().to_string(),
        outcome,
        id: None,
    });
    if let Some(note) = config_note(config, ep, &file) {
        report.notes.push(note);
    }
    Ok(())
}

/// What the operator has to change so the gateway reads the secret from `file`, unless
/// the config already names that file.
fn config_note(config: &Config, ep: &EndpointPlan, file: &Path) -> Option<String> {
    let ep_key = format!("[endpoints.{}]", ep.endpoint.name);
    match &ep.secret {
        SecretTarget::ConfiguredFile(_) => None,
        SecretTarget::Variable { name, .. } => Some(format!(
            "{ep_key} reads its signing secret from ${name}, which does not hold the webhook's \
             secret: set it to the content of {} (or use signing_secret_file = {:?} instead)",
            file.display(),
            relative_to_config(config, file)
        )),
        SecretTarget::Default(_) => Some(format!(
            "add signing_secret_file = {:?} to {ep_key} in {} so the gateway verifies \
             Zendesk's signatures",
            relative_to_config(config, file),
            config.source.display()
        )),
    }
}

/// A path as the config would name it: relative to the config's folder when inside it.
fn relative_to_config(config: &Config, file: &Path) -> String {
    let dir = config.source.parent().unwrap_or(Path::new(""));
    file.strip_prefix(dir)
        .ok()
        .filter(|_| !dir.as_os_str().is_empty())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Writes a secret readable by its owner only, atomically: a temporary file in the same
/// folder renamed over the old one, so the gateway (which watches the file) never reads
/// half a secret.
pub(crate) fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(secret.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
