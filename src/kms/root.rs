//! The root key: the key that seals every KMS key's material at rest.
//!
//! Sources, first match wins: the `S3KMS_ROOT_KEY` environment variable (base64 of 32 bytes),
//! the configured `root_key_file`, or `<data_dir>/root.key`, generated (32 random bytes,
//! base64, mode 0600) on first start. Losing the root key loses every KMS key: back it up.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::crypto::Key256;

/// Environment variable that carries the root key.
pub const ROOT_KEY_ENV: &str = "S3KMS_ROOT_KEY";

/// Why the root key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    /// The file could not be read or created.
    #[error("root key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The value is not base64 of 32 bytes.
    #[error("root key from {origin} is not base64 of 32 bytes")]
    Malformed {
        /// Where it came from.
        origin: String,
    },
}

/// Loads (or on first start creates) the root key.
pub fn load(configured_file: Option<&Path>, data_dir: &Path) -> Result<Key256, RootKeyError> {
    if let Ok(value) = std::env::var(ROOT_KEY_ENV) {
        return decode(&value, ROOT_KEY_ENV);
    }
    if let Some(file) = configured_file {
        let text = std::fs::read_to_string(file).map_err(|source| io_error(file, source))?;
        return decode(&text, &file.display().to_string());
    }
    let file = data_dir.join("root.key");
    match std::fs::read_to_string(&file) {
        Ok(text) => decode(&text, &file.display().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(&file),
        Err(source) => Err(io_error(&file, source)),
    }
}

fn create(file: &Path) -> Result<Key256, RootKeyError> {
    use std::io::Write;
    let key = Key256::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|source| io_error(parent, source))?;
    }
    let mut handle = options.open(file).map_err(|source| io_error(file, source))?;
    let text = format!("{}\n", BASE64.encode(key.expose()));
    handle
        .write_all(text.as_bytes())
        .and_then(|()| handle.sync_all())
        .map_err(|source| io_error(file, source))?;
    tracing::info!(file = %file.display(), "generated a new root key; back it up");
    Ok(key)
}

fn decode(text: &str, origin: &str) -> Result<Key256, RootKeyError> {
    let malformed = || RootKeyError::Malformed {
        origin: origin.to_owned(),
    };
    let bytes = BASE64.decode(text.trim()).map_err(|_| malformed())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
    Ok(Key256::from_bytes(bytes))
}

fn io_error(path: &Path, source: std::io::Error) -> RootKeyError {
    RootKeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(None, dir.path()).unwrap();
        let second = load(None, dir.path()).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("root.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn malformed_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        std::fs::write(&file, "not base64!").unwrap();
        assert!(matches!(
            load(Some(&file), dir.path()),
            Err(RootKeyError::Malformed { .. })
        ));
    }
}
