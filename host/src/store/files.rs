//! The gateway's own files, kept private: the data folder and the compile cache are
//! `0700`, the database (customer text) and compiled plugins `0600`, whatever the umask.
//! Compiled plugins are loaded with an unchecked deserialize, so the loader also keeps
//! a record of each file's hash next to it ([`write_recorded`]) and loads only files
//! that match it ([`read_recorded`]).

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) readable only by the gateway's user, and makes
/// an existing one so.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    set_mode(dir, 0o700)
}

/// Makes the SQLite database at `db` private before it is opened: creates it empty with
/// mode `0600` if missing (SQLite gives its `-wal` and `-shm` files the database's
/// mode), and tightens an existing database and its companions, for data folders made
/// by earlier versions.
pub fn private_database(db: &Path) -> std::io::Result<()> {
    if !db.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(db)?;
    }
    for path in [
        db.to_path_buf(),
        companion(db, "-wal"),
        companion(db, "-shm"),
    ] {
        if path.exists() {
            set_mode(&path, 0o600)?;
        }
    }
    Ok(())
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Where the hash of `path`, recorded when the gateway wrote it, is kept.
pub fn record_path(path: &Path) -> PathBuf {
    companion(path, ".sha256")
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place), mode
/// `0600` in a `0700` folder, with its SHA-256 recorded beside it for
/// [`read_recorded`]. The record is written first, so a crash between the two leaves a
/// record without a file, never a file without its record.
pub fn write_recorded(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let digest = hex::encode(Sha256::digest(bytes));
    write_private_atomic(&record_path(path), digest.as_bytes())?;
    write_private_atomic(path, bytes)
}

/// The content of `path` if it matches the hash recorded by [`write_recorded`]; `None`
/// when the file, or its record, is missing or they disagree (the caller then treats
/// the file as absent). The bytes returned are the ones checked: nothing can swap the
/// file between the check and the use.
pub fn read_recorded(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let recorded = match std::fs::read_to_string(record_path(path)) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    Ok((recorded.trim() == actual).then_some(bytes))
}

fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    // A temporary file left by an earlier crash keeps its old mode: tighten it.
    set_mode(&tmp, 0o600)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    // rename is atomic: a reader sees the old state or the whole new file.
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_files_load_only_when_they_match_their_record() {
        let dir = std::env::temp_dir().join(format!(
            "files-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let path = dir.join("cache").join("a.bin");
        write_recorded(&path, b"compiled").unwrap();
        assert_eq!(
            read_recorded(&path).unwrap().as_deref(),
            Some(&b"compiled"[..])
        );
        std::fs::write(&path, b"swapped").unwrap();
        assert_eq!(read_recorded(&path).unwrap(), None);
        std::fs::remove_file(record_path(&path)).unwrap();
        std::fs::write(&path, b"compiled").unwrap();
        assert_eq!(read_recorded(&path).unwrap(), None, "unrecorded");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            write_recorded(&path, b"again").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&record_path(&path)), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
