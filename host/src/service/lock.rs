//! One gateway per data folder. Two gateways on one `data_dir` would each recover the
//! other's running tickets at start and run them a second time, so the first takes an
//! OS lock on `<data_dir>/lock` (`flock`, released by the kernel when the process dies,
//! even by SIGKILL) and a second one stops before it touches anything.

use anyhow::Context;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it releases the data folder.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Locks `data_dir` (creating it, private, if needed) or says which process holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        crate::store::files::private_dir(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let path = data_dir.join("lock");
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        if let Err(e) = try_lock(&file) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another zendesk-gateway".to_string()
            } else {
                format!("another zendesk-gateway (pid {holder})")
            };
            anyhow::bail!(
                "{who} is already using the data folder {}: two gateways on one data folder would run \
                 the same tickets twice. Stop the other one, or give this one its own gateway.data_dir. \
                 Nothing was changed.",
                data_dir.display()
            );
        }
        // For the message a second instance prints.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<()> {
    // No advisory lock here: one gateway per data folder is up to the operator.
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!(
            "lock-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let first = DataDirLock::acquire(&dir).unwrap();
        let err = DataDirLock::acquire(&dir).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("already using the data folder"), "{err}");
        drop(first);
        DataDirLock::acquire(&dir).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
