//! `zendesk-gateway new-plugin NAME`: a new plugin crate from a template that builds for
//! `wasm32-wasip2`, passes its own unit test and has a fixture to replay.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("new_plugin_templates/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("new_plugin_templates/lib.rs.tmpl");
const FIXTURE: &str = include_str!("new_plugin_templates/fixture.json.tmpl");
const README: &str = include_str!("new_plugin_templates/README.md.tmpl");

/// The SDK of the source tree this gateway was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

/// Creates `<dir>/<name>/` with the plugin crate; returns its path.
pub fn new_plugin(name: &str, dir: &Path, sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("{name:?} is not a plugin name: use lower-case letters, digits and dashes, starting with a letter");
    }
    let sdk = sdk.map(Path::to_path_buf).unwrap_or_else(default_sdk);
    let sdk = std::fs::canonicalize(&sdk).with_context(|| {
        format!(
            "the plugin SDK is not at {}; give its folder with --sdk",
            sdk.display()
        )
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml; --sdk must be the SDK crate's folder",
            sdk.display()
        );
    }
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} already exists; choose another name or folder",
            root.display()
        );
    }
    let tag = name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &tag)
            .replace("{{tag}}", &tag)
            .replace("{{sdk}}", &sdk.display().to_string().replace('\\', "/"))
    };
    std::fs::create_dir_all(root.join("src"))
        .and_then(|_| std::fs::create_dir_all(root.join("fixtures")))
        .with_context(|| format!("cannot create {}", root.display()))?;
    for (file, template) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB_RS),
        ("fixtures/first-message.json", FIXTURE),
        ("README.md", README),
        (".gitignore", "/target\n"),
    ] {
        let path = root.join(file);
        std::fs::write(&path, fill(template))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(root)
}

/// `zendesk-gateway new-plugin`: creates the crate and says what to do next.
pub fn run(name: &str, dir: &std::path::Path, sdk: Option<&std::path::Path>) -> anyhow::Result<()> {
    let created = new_plugin(name, dir, sdk)?;
    println!("created plugin {name} in {}", created.display());
    println!("next:");
    println!("  cd {}", created.display());
    println!("  cargo test                                   # its unit test, natively");
    println!("  rustup target add wasm32-wasip2 && cargo build --release --target wasm32-wasip2");
    println!(
        "  # then point a brand's `plugin` at target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_existing_folders() {
        let dir = std::env::temp_dir().join(format!("scaffold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(new_plugin("Bad Name", &dir, None).is_err());
        assert!(new_plugin("-x", &dir, None).is_err());
        let made = new_plugin("kids-tone", &dir, None).unwrap();
        let manifest = std::fs::read_to_string(made.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"kids-tone\""));
        assert!(!manifest.contains("{{"), "every placeholder is filled");
        assert!(
            new_plugin("kids-tone", &dir, None).is_err(),
            "never overwrites"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
