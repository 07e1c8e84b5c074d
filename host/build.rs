//! Build script of the gateway: compiles the guest plugins in `plugins/`.
//!
//! The plugins are WebAssembly components for `wasm32-wasip2`, in a Cargo workspace of
//! their own (a build script cannot ask the outer cargo to build another target). So
//! that nobody has to remember a second command, this script
//!
//! 1. makes sure the `wasm32-wasip2` standard library is installed (with rustup if not),
//! 2. runs `cargo build --release --target wasm32-wasip2` on `plugins/Cargo.toml`, into
//!    `target/plugins`, with the outer build's settings scrubbed from the environment,
//! 3. asks cargo to run it again only when something under `plugins/` or `wit/` changes,
//! 4. writes `$OUT_DIR/plugin_artifacts.rs` with the path of every plugin component, the
//!    list of them all, and the bytes of the two example plugins that the demo embeds.
//!
//! It uses nothing but `std`: the host's build-dependencies are not its to choose, and a
//! build script with dependencies makes every clean build longer.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target the plugins are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// The plugins whose bytes are embedded (`<NAME>_WASM`): the demo runs them without a
/// plugin directory on disk.
const EMBEDDED: &[&str] = &["triage", "order-desk"];

fn main() {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let repo = manifest_dir
        .parent()
        .expect("the host crate lives in a directory of the repository")
        .to_path_buf();
    let plugins_dir = repo.join("plugins");
    let out_dir = PathBuf::from(env_var("OUT_DIR"));
    let target_dir = plugin_target_dir(&repo, &out_dir);

    let members = workspace_members(&plugins_dir);
    watch(&manifest_dir, &repo, &plugins_dir, &members);

    ensure_wasm_target();
    build_plugins(&plugins_dir, &target_dir);

    let artifact_dir = target_dir.join(WASM_TARGET).join("release");
    let artifacts = plugin_artifacts(&members, &artifact_dir);
    let python = python::build_all(&repo, &plugins_dir.join("python"), &target_dir);
    let mut source = render_artifacts(&artifacts);
    source.push_str(&python::render(&python));
    write_if_changed(&out_dir.join("plugin_artifacts.rs"), &source);
}

/// Plugins written in Python, built with componentize-py (from PyPI).
///
/// Each folder `plugins/python/<name>/` with an `app.py` becomes
/// `target/plugins/python/<name_with_underscores>.wasm`, with `plugins/python/sdk/` (the
/// modules every Python plugin may import, such as `gateway_http`) on its Python path.
/// componentize-py is installed
/// once into `target/plugins/py-toolchain` with pip (pinned version), so nothing has to
/// be installed by hand; when Python or the registry is not available, the Python
/// plugins are skipped with a warning and their constant is `None` (the tests that need
/// them fail under `CI=true` and say why otherwise).
mod python {
    use std::collections::hash_map::DefaultHasher;
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::fs;
    use std::hash::{Hash, Hasher};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The componentize-py release the plugins are built with.
    pub const COMPONENTIZE_PY: &str = "0.25.1";

    /// The result per plugin: its component, or why there is none.
    pub type Built = BTreeMap<String, Result<PathBuf, String>>;

    pub fn build_all(repo: &Path, python_dir: &Path, target_dir: &Path) -> Built {
        let mut built = Built::new();
        let Ok(entries) = fs::read_dir(python_dir) else {
            return built;
        };
        println!("cargo:rerun-if-changed={}", python_dir.display());
        for file in fs::read_dir(python_dir.join("sdk"))
            .into_iter()
            .flatten()
            .flatten()
        {
            println!("cargo:rerun-if-changed={}", file.path().display());
        }
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join("app.py").is_file())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return built;
        }
        let toolchain = target_dir.join("py-toolchain");
        let tool = ensure_toolchain(&toolchain);
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            for file in fs::read_dir(&dir).into_iter().flatten().flatten() {
                println!("cargo:rerun-if-changed={}", file.path().display());
            }
            let result = match &tool {
                Ok(tool) => build_one(repo, &dir, &name, tool, &target_dir.join("python")),
                Err(why) => Err(why.clone()),
            };
            if let Err(why) = &result {
                println!("cargo:warning=Python plugin {name} not built: {why}");
            }
            built.insert(name, result);
        }
        built
    }

    /// How to run componentize-py: the interpreter and the folder holding the package.
    pub struct Tool {
        python: String,
        site: PathBuf,
    }

    fn ensure_toolchain(dir: &Path) -> Result<Tool, String> {
        let python = ["python3", "python"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .ok_or("no python3 on the PATH (componentize-py needs it)")?
            .to_string();
        let tool = Tool {
            python,
            site: dir.to_path_buf(),
        };
        let stamp = dir.join(format!("componentize-py-{COMPONENTIZE_PY}.installed"));
        if stamp.is_file() {
            return Ok(tool);
        }
        println!(
            "cargo:warning=installing componentize-py {COMPONENTIZE_PY} from PyPI into {} (once)",
            dir.display()
        );
        let output = Command::new(&tool.python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
            ])
            .arg(dir)
            .arg(format!("componentize-py=={COMPONENTIZE_PY}"))
            .output()
            .map_err(|e| format!("running pip: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "pip could not install componentize-py {COMPONENTIZE_PY}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        fs::write(&stamp, "").map_err(|e| format!("writing {}: {e}", stamp.display()))?;
        Ok(tool)
    }

    fn build_one(
        repo: &Path,
        dir: &Path,
        name: &str,
        tool: &Tool,
        out_dir: &Path,
    ) -> Result<PathBuf, String> {
        fs::create_dir_all(out_dir).map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
        let out = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
        let stamp = out.with_extension("inputs");
        let sdk = dir.parent().map(|p| p.join("sdk")).unwrap_or_default();
        let fingerprint = fingerprint(&[dir, &sdk, &repo.join("wit")]);
        let world = world_of(&dir.join("app.py"))?;
        if out.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == fingerprint) {
            return Ok(out);
        }
        let output = Command::new(&tool.python)
            .env("PYTHONPATH", &tool.site)
            // No __pycache__ in the source folder: it would make cargo rerun this script.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args([
                "-c",
                "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
                "-d",
            ])
            .arg(repo.join("wit"))
            .args(["-w", &world, "componentize", "app", "-p"])
            .arg(dir)
            .arg("-p")
            .arg(&sdk)
            .arg("-o")
            .arg(&out)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("running componentize-py: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "componentize-py failed: {}{}",
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        fs::write(&stamp, fingerprint).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
        // componentize-py's own interpreter may still leave bytecode behind.
        let _ = fs::remove_dir_all(dir.join("__pycache__"));
        Ok(out)
    }

    /// The world a plugin is built against: `brand-plugin`, unless the first line of its
    /// `app.py` says `# componentize-py world: <name>` (for example `brand-plugin-http`
    /// for a plugin that calls its brand's APIs). componentize-py binds exactly one
    /// world, so the choice has to be made per plugin.
    fn world_of(app: &Path) -> Result<String, String> {
        let source =
            fs::read_to_string(app).map_err(|e| format!("reading {}: {e}", app.display()))?;
        let first = source.lines().next().unwrap_or_default();
        Ok(first
            .strip_prefix("# componentize-py world:")
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "brand-plugin".to_string()))
    }

    /// A hash of every file's path and bytes under `roots` plus the tool's version: the
    /// component is rebuilt exactly when one of them changes.
    fn fingerprint(roots: &[&Path]) -> String {
        let mut files = Vec::new();
        for root in roots {
            collect(root, &mut files);
        }
        files.sort();
        let mut h = DefaultHasher::new();
        COMPONENTIZE_PY.hash(&mut h);
        for f in files {
            if f.components().any(|c| c.as_os_str() == "__pycache__") {
                continue;
            }
            f.hash(&mut h);
            fs::read(&f).unwrap_or_default().hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                collect(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// `pub const <NAME>_PY_PATH: Option<&str>` per plugin, plus `PYTHON_SKIPPED`, the
    /// reason when any was not built.
    pub fn render(built: &Built) -> String {
        let mut source = String::new();
        let mut skipped = Vec::new();
        for (name, result) in built {
            let konst = name.to_uppercase().replace('-', "_");
            let value = match result {
                Ok(path) => format!("Some({:?})", path.to_str().expect("UTF-8 path")),
                Err(why) => {
                    skipped.push(format!("{name}: {why}"));
                    "None".into()
                }
            };
            let _ = write!(
                source,
                "\n/// The `{name}` Python plugin's component (componentize-py), if it could be built.\n\
                 pub const {konst}_PY_PATH: Option<&str> = {value};\n"
            );
        }
        let _ = write!(
            source,
            "\n/// Why Python plugins were not built, if any was not.\npub const PYTHON_SKIPPED: Option<&str> = {};\n",
            if skipped.is_empty() { "None".to_string() } else { format!("Some({:?})", skipped.join("; ")) }
        );
        source
    }
}

/// One crate of the plugins workspace.
struct Member {
    /// Its directory.
    dir: PathBuf,
    /// The package name (`order-desk`).
    package: String,
    /// The library's name (`order_desk`), which names the `.wasm` file; `None` when the
    /// crate builds no `cdylib`, like the SDK, and so produces no component.
    cdylib: Option<String>,
}

/// Reads an environment variable cargo always sets for build scripts.
fn env_var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name} for the build script"))
}

/// Where the plugins are built: `plugins` inside the outer build's target directory.
///
/// That is `<repo>/target/plugins` normally, and follows the outer build when its target
/// directory is elsewhere (`CARGO_TARGET_DIR`, `--target-dir`), so that `cargo clean`
/// removes the plugins too and two checkouts never share one plugin build. The outer
/// target directory is found from `OUT_DIR`, which cargo places at
/// `<target>/[<triple>/]<profile>/build/<package>-<hash>/out`. When the layout does not
/// look like that (a future cargo), `<repo>/target/plugins` is used.
fn plugin_target_dir(repo: &Path, out_dir: &Path) -> PathBuf {
    let outer_target = || -> Option<PathBuf> {
        let build = out_dir.parent()?.parent()?;
        if build.file_name()? != "build" {
            return None;
        }
        let mut target = build.parent()?.parent()?;
        let triple = env::var_os("TARGET")?;
        if target.file_name()? == triple {
            target = target.parent()?;
        }
        Some(target.to_path_buf())
    };
    outer_target()
        .unwrap_or_else(|| repo.join("target"))
        .join("plugins")
}

/// Makes sure the Rust standard library for `wasm32-wasip2` is installed, installing it
/// with rustup when it is not.
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|error| panic!("running `{} --print sysroot`: {error}", rustc.display()));
    assert!(
        output.status.success(),
        "`{} --print sysroot` failed:\n{}",
        rustc.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return;
    }

    println!(
        "cargo:warning=the {WASM_TARGET} target is not installed; running `rustup target add \
         {WASM_TARGET}` to build the plugins"
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    // Install into the toolchain this build uses, not whichever is rustup's default:
    // rustup keeps toolchains at `<RUSTUP_HOME>/toolchains/<name>`, the sysroot.
    let toolchain = sysroot
        .parent()
        .filter(|parent| parent.file_name().is_some_and(|name| name == "toolchains"))
        .and_then(|_| sysroot.file_name());
    if let Some(toolchain) = toolchain {
        rustup.arg("--toolchain").arg(toolchain);
    }
    match rustup.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "`rustup target add {WASM_TARGET}` failed; install the target by hand and build \
             again.\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) if error.kind() == ErrorKind::NotFound => panic!(
            "the guest plugins need the Rust standard library for {WASM_TARGET}, which the \
             toolchain at {} lacks, and rustup is not installed to add it. Run `rustup target \
             add {WASM_TARGET}` (or install your distribution's rust-std package for \
             {WASM_TARGET}), then build again.",
            sysroot.display()
        ),
        Err(error) => panic!("running `rustup target add {WASM_TARGET}`: {error}"),
    }
}

/// Whether the plugin build must not inherit the environment variable `name`.
///
/// The outer cargo sets many variables for this script that describe the *outer* build
/// and that a nested cargo would obey: `CARGO_ENCODED_RUSTFLAGS` (native flags, or a
/// coverage tool's instrumentation), `CARGO_BUILD_TARGET`, `CARGO_TARGET_DIR`,
/// `CARGO_PROFILE_*` overrides, `CARGO_MAKEFLAGS` (the outer jobserver), `CARGO_CFG_*`,
/// `CARGO_FEATURE_*`, `CARGO_PRIMARY_PACKAGE`, `RUSTC_WORKSPACE_WRAPPER` (clippy-driver
/// under `cargo clippy`)... So every `CARGO_*` goes, except the settings about where
/// cargo lives and how it reaches registries, which the plugin build needs exactly like
/// the outer one (a mirror, a proxy, offline mode). The variables cargo sets for build
/// scripts without the prefix go too, in case the plugins' build scripts read them.
fn scrub(name: &str) -> bool {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const OUTER_BUILD: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
    ];
    if name.starts_with("CARGO_") || name.starts_with("__CARGO") {
        !KEEP.iter().any(|keep| name.starts_with(keep))
    } else {
        OUTER_BUILD.contains(&name)
    }
}

/// Runs the plugin workspace's release build for `wasm32-wasip2`.
fn build_plugins(plugins_dir: &Path, target_dir: &Path) {
    // `CARGO` is the cargo running this build: the same version and toolchain, even when
    // `cargo` on the PATH is another one or a rustup proxy.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(plugins_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        // Cargo reads its configuration from the working directory up, not from the
        // manifest's: run it where a `plugins/.cargo/config.toml` would be seen.
        .current_dir(plugins_dir);
    for (name, _) in env::vars_os() {
        if scrub(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }

    let output = command
        .output()
        .unwrap_or_else(|error| panic!("running `{}`: {error}", cargo.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "building the guest plugins failed ({}); to see it outside this build, run\n  \
         cargo build --release --target {WASM_TARGET} --manifest-path {} --target-dir {}\n\n\
         {stderr}",
        output.status,
        plugins_dir.join("Cargo.toml").display(),
        target_dir.display(),
    );
    // A successful build script's output is hidden; compiler warnings in a plugin would
    // be lost without this.
    for line in stderr.lines() {
        if line.starts_with("warning") {
            println!("cargo:warning=plugins: {line}");
        }
    }
}

/// The crates of the plugins workspace, read from `plugins/Cargo.toml`.
fn workspace_members(plugins_dir: &Path) -> Vec<Member> {
    let manifest_path = plugins_dir.join("Cargo.toml");
    let manifest = read(&manifest_path);
    let mut members = Vec::new();
    for pattern in members_patterns(&manifest, &manifest_path) {
        for dir in expand_member(plugins_dir, &pattern) {
            members.push(read_member(dir));
        }
    }
    members.sort_by(|a, b| a.package.cmp(&b.package));
    members
}

/// The strings of `members = [...]` in the `[workspace]` table.
///
/// This is a small reader for the one key this script needs, not a TOML parser: it
/// expects the array of plain strings cargo itself writes, possibly over several lines
/// and with comments.
fn members_patterns(manifest: &str, path: &Path) -> Vec<String> {
    let mut in_workspace = false;
    let mut collecting = false;
    let mut array = String::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if !collecting {
            if line.starts_with('[') {
                in_workspace = line == "[workspace]";
                continue;
            }
            let Some(value) = key_value(line, "members").filter(|_| in_workspace) else {
                continue;
            };
            collecting = true;
            array.push_str(value);
        } else {
            array.push_str(line);
        }
        if array.contains(']') {
            return quoted_strings(&array);
        }
    }
    panic!(
        "{} has no `members = [...]` array in its [workspace] table",
        path.display()
    );
}

/// The value of `key = value` on `line`, or `None` for another key.
fn key_value<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let (name, value) = line.split_once('=')?;
    (name.trim() == key).then(|| value.trim())
}

/// Every `"..."` string in `text`, in order.
fn quoted_strings(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The member directories `pattern` names: itself, or for `dir/*` every subdirectory of
/// `dir` with a `Cargo.toml` (the only glob the workspace uses).
fn expand_member(plugins_dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let Some(parent) = pattern.strip_suffix("/*") else {
        assert!(
            !pattern.contains(['*', '?', '[']),
            "plugins/Cargo.toml: member pattern `{pattern}` is not supported by host/build.rs \
             (use a path or `dir/*`)"
        );
        return vec![plugins_dir.join(pattern)];
    };
    let parent = plugins_dir.join(parent);
    let entries = fs::read_dir(&parent)
        .unwrap_or_else(|error| panic!("listing {}: {error}", parent.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("listing {}: {error}", parent.display()))
                .path()
        })
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Reads a member's package name and whether (and under which name) it builds a cdylib.
fn read_member(dir: PathBuf) -> Member {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = read(&manifest_path);
    let mut table = String::new();
    let mut package = None;
    let mut lib_name = None;
    let mut is_cdylib = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            table = line.to_owned();
            continue;
        }
        match table.as_str() {
            "[package]" => {
                if let Some(value) = key_value(line, "name") {
                    package = quoted_strings(value).into_iter().next();
                }
            }
            "[lib]" => {
                if let Some(value) = key_value(line, "name") {
                    lib_name = quoted_strings(value).into_iter().next();
                }
                if let Some(value) = key_value(line, "crate-type") {
                    is_cdylib = quoted_strings(value).iter().any(|kind| kind == "cdylib");
                }
            }
            _ => {}
        }
    }
    let package = package.unwrap_or_else(|| {
        panic!(
            "{}: no `name = \"...\"` in [package]",
            manifest_path.display()
        )
    });
    let cdylib = is_cdylib.then(|| lib_name.unwrap_or_else(|| package.replace('-', "_")));
    Member {
        dir,
        package,
        cdylib,
    }
}

/// Tells cargo what the plugin build depends on, so that the script (and with it the
/// plugin build) runs again exactly when one of those changes.
///
/// Only sources are listed: not the whole `plugins/` directory, which would include a
/// `plugins/target` left by someone running cargo there by hand. Globbed member
/// directories (`plugins/hostile`) are watched whole, so that adding a crate counts.
fn watch(manifest_dir: &Path, repo: &Path, plugins_dir: &Path, members: &[Member]) {
    let mut paths = vec![
        manifest_dir.join("build.rs"),
        repo.join("wit"),
        plugins_dir.join("Cargo.toml"),
        plugins_dir.join("Cargo.lock"),
        plugins_dir.join(".cargo"),
    ];
    for member in members {
        paths.push(member.dir.join("Cargo.toml"));
        paths.push(member.dir.join("src"));
        paths.push(member.dir.join("build.rs"));
        if let Some(parent) = member.dir.parent().filter(|parent| *parent != plugins_dir) {
            paths.push(parent.to_path_buf());
        }
    }
    paths.sort();
    paths.dedup();
    // Cargo reruns the script on every build for a listed path that does not exist, so
    // optional files (`build.rs`, `.cargo`, a lock file not generated yet) are only
    // listed when present.
    for path in paths.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The component of every cdylib member, checked to exist and to be a component.
fn plugin_artifacts(members: &[Member], artifact_dir: &Path) -> BTreeMap<String, PathBuf> {
    /// A component's preamble: the wasm magic, then version 0x0d and layer 1, where a
    /// core module has version 1 and layer 0.
    const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    let mut artifacts = BTreeMap::new();
    for member in members {
        let Some(lib_name) = &member.cdylib else {
            continue;
        };
        let path = artifact_dir.join(format!("{lib_name}.wasm"));
        let bytes = fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "plugin `{}` built, but {} cannot be read: {error}",
                member.package,
                path.display()
            )
        });
        assert!(
            bytes.starts_with(&COMPONENT_PREAMBLE),
            "{} is not a WebAssembly component (was it built for {WASM_TARGET}?)",
            path.display()
        );
        artifacts.insert(member.package.clone(), path);
    }
    for name in EMBEDDED {
        assert!(
            artifacts.contains_key(*name),
            "the demo embeds the `{name}` plugin, but plugins/ has no cdylib crate of that name"
        );
    }
    artifacts
}

/// `order-desk` becomes `ORDER_DESK`.
fn const_name(package: &str) -> String {
    package
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The Rust source of `plugin_artifacts.rs`.
///
/// String literals are written with `{:?}`, whose escaping is valid Rust, so any path
/// works. The items carry doc comments because the host includes the file in a public
/// module.
fn render_artifacts(artifacts: &BTreeMap<String, PathBuf>) -> String {
    let mut source = String::from(
        "// @generated by host/build.rs from the crates in plugins/. Do not edit.\n\n",
    );
    let path_str = |path: &PathBuf| {
        path.to_str()
            .unwrap_or_else(|| panic!("{} is not valid UTF-8", path.display()))
            .to_owned()
    };
    for (package, path) in artifacts {
        let _ = writeln!(
            source,
            "/// Path of the compiled `{package}` plugin component.\n\
             pub const {}_PATH: &str = {:?};\n",
            const_name(package),
            path_str(path),
        );
    }
    source.push_str(
        "/// Every plugin compiled from `plugins/`: (crate name, path of its component), \
         sorted by name.\npub const ALL: &[(&str, &str)] = &[\n",
    );
    for package in artifacts.keys() {
        let _ = writeln!(source, "    ({package:?}, {}_PATH),", const_name(package));
    }
    source.push_str("];\n");
    for package in EMBEDDED {
        let _ = write!(
            source,
            "\n/// The `{package}` example plugin's component, embedded for the demo.\n\
             pub const {}_WASM: &[u8] = include_bytes!({:?});\n",
            const_name(package),
            path_str(&artifacts[*package]),
        );
    }
    source
}

/// Reads a text file, or fails the build naming it.
fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Writes `contents` to `path` unless it already holds exactly that, so an unchanged
/// plugin build does not make the host crate recompile.
fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return;
    }
    fs::write(path, contents).unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
}
