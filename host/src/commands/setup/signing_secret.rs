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
pub(crate) fn relative_to_config(config: &Config, file: &Path) -> String {
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

/// Points endpoint `endpoint` of the config file `config` at the secret file `file`:
/// its `signing_secret_env = ...` line (when `replaces_env` names the variable) becomes
/// `signing_secret_file = "<file>"`, else that line is added under `[endpoints.<name>]`.
/// Only that one line changes (comments and layout stay); the file is replaced
/// atomically, and put back if the result does not load or does not read `secret` for
/// the endpoint. A config that spells the endpoint otherwise (an inline table) is left
/// alone, with an error saying what to change by hand.
pub(crate) fn point_config_at_file(
    config: &Path,
    endpoint: &str,
    file: &Path,
    replaces_env: Option<&str>,
    secret: &str,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let loaded = Config::load_with(
        config,
        crate::config::LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )?;
    let shown = relative_to_config(&loaded, file);
    let wanted = format!(
        "signing_secret_file = {}",
        toml::Value::String(shown.clone())
    );
    let by_hand = || {
        anyhow!(
            "could not find the line to change in {}: in [endpoints.{endpoint}] {}",
            config.display(),
            match replaces_env {
                Some(v) => format!("replace signing_secret_env = {v:?} by {wanted}"),
                None => format!("add {wanted}"),
            }
        )
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| {
            let t = l.trim();
            t == format!("[endpoints.{endpoint}]") || t == format!("[endpoints.\"{endpoint}\"]")
        })
        .ok_or_else(by_hand)?;
    let end = lines[header + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| header + 1 + i);
    let key_of = |l: &str| {
        l.split_once('=')
            .map(|(k, _)| k.trim().to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match replaces_env {
        Some(_) => {
            let at = (header + 1..end)
                .find(|i| key_of(lines[*i]) == "signing_secret_env")
                .ok_or_else(by_hand)?;
            let indent: String = lines[at]
                .chars()
                .take_while(|c| c.is_whitespace())
                .collect();
            out[at] = format!("{indent}{wanted}");
        }
        None => out.insert(header + 1, wanted.clone()),
    }
    let mut new_text = out.join("\n");
    if text.ends_with('\n') {
        new_text.push('\n');
    }
    replace_file(config, &new_text)?;
    let check = Config::load_with(
        config,
        crate::config::LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )
    .map_err(anyhow::Error::from)
    .and_then(|c| {
        let reads = c
            .endpoints
            .get(endpoint)
            .and_then(|e| e.signing_secret.as_ref())
            .map(|s| s.expose().trim().to_string());
        anyhow::ensure!(
            reads.as_deref() == Some(secret),
            "the changed config does not read the webhook's secret for endpoint {endpoint}"
        );
        Ok(())
    });
    if let Err(e) = check {
        replace_file(config, &text)?;
        return Err(e.context(format!(
            "changing {} (put back as it was)",
            config.display()
        )));
    }
    Ok(())
}

/// Replaces a file's content atomically (a temporary file renamed over it), keeping its
/// permissions: the gateway watches the config's folder and must never read half a file.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}
