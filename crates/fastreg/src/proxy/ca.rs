//! The proxy's local certificate authority: where it is kept, creating it on first use,
//! reading it back on every later start, and the leaf certificates it signs for WeChat's hosts.
//!
//! The CA is per installation: an ECDSA P-256 key and a self-signed certificate, valid ten
//! years, name-constrained to WeChat's three hosts (so trusting it cannot vouch for any other
//! site even if the key leaks). The files are `fastreg-ca.pem` (the certificate, the file to
//! trust) and `fastreg-ca.key` (the key, mode 0600) in [`ca_dir`]. Leaf certificates are made
//! at each start, one per host, and never written to disk.
//!
//! The key never leaves this module as text: [`Ca`]'s `Debug` shows only where it lives, and
//! errors name files, never their contents.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Datelike as _;
use fastreg_platform::settings::Settings;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::target::WECHAT_HOSTS;

/// The CA certificate's file name (PEM).
pub const CERT_FILE: &str = "fastreg-ca.pem";
/// The CA key's file name (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "fastreg-ca.key";

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Where the CA is kept for these settings: `ca_dir` when set; else the directory of a SQLite
/// database file (beside it, like its lock file); else (`sqlite::memory:`, PostgreSQL) the
/// per-user data directory, `$XDG_DATA_HOME/fastreg` or `~/.local/share/fastreg`.
///
/// # Errors
/// None of these is known (no `ca_dir`, no database file, neither `XDG_DATA_HOME` nor `HOME`).
pub fn ca_dir(settings: &Settings) -> anyhow::Result<PathBuf> {
    if let Some(dir) = settings.ca_dir.as_deref().filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(rest) = settings.db.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if !path.is_empty() && path != ":memory:" {
            let parent = Path::new(path).parent().unwrap_or(Path::new(""));
            return Ok(if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            });
        }
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".local/share"))
        })
        .context(
            "no directory for the proxy's CA: the database is not a file and neither \
             XDG_DATA_HOME nor HOME is set; set --ca-dir (FASTREG_CA_DIR)",
        )?;
    Ok(data.join("fastreg"))
}

/// The local CA, loaded or just created.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    created: bool,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .field("created", &self.created)
            .field("key", &"[secret]")
            .finish()
    }
}

impl Ca {
    /// Reads the CA in `dir`, or creates it there (and `dir` itself) when neither file exists.
    ///
    /// # Errors
    /// The directory cannot be created or read, only one of the two files exists, a file is
    /// not what it should be, or the certificate is not the key's. One line each.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Ca> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Ca::load(dir, &cert_path, &key_path),
            (false, false) => Ca::create(dir, &cert_path, &key_path),
            (cert, _) => {
                let (present, missing) = if cert {
                    (&cert_path, &key_path)
                } else {
                    (&key_path, &cert_path)
                };
                anyhow::bail!(
                    "the proxy's CA is incomplete: {} exists but {} does not; delete it to \
                     have a new CA made (clients must then trust the new one)",
                    present.display(),
                    missing.display()
                )
            }
        }
    }

    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> anyhow::Result<Ca> {
        let key_pem = std::fs::read_to_string(key_path)
            .with_context(|| format!("reading the CA key {}", key_path.display()))?;
        // rcgen's parse errors do not quote the input; still, say only which file is wrong.
        let key = KeyPair::from_pem(&key_pem).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a PEM private key fastreg can use",
                key_path.display()
            )
        })?;
        let cert_pem = std::fs::read_to_string(cert_path)
            .with_context(|| format!("reading the CA certificate {}", cert_path.display()))?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| anyhow::anyhow!("{} is not a PEM certificate", cert_path.display()))?;
        if !contains(&cert_der, key.public_key_raw()) {
            anyhow::bail!(
                "{} is not the certificate of the key {}; delete both to have a new CA made",
                cert_path.display(),
                key_path.display()
            );
        }
        warn_if_readable_by_others(key_path);
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem,
            cert_der,
            issuer: Issuer::new(ca_params(&key), key),
            created: false,
        })
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> anyhow::Result<Ca> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the CA directory {}", dir.display()))?;
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = ca_params(&key);
        let today = today();
        params.not_before = today - DAY;
        params.not_after = today + 3650 * DAY;
        let cert = params
            .self_signed(&key)
            .context("signing the CA certificate")?;
        let cert_pem = cert.pem();
        // The key first: a certificate on disk always has its key beside it.
        write_new(key_path, key.serialize_pem().as_bytes(), true)?;
        write_new(cert_path, cert_pem.as_bytes(), false)?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem,
            cert_der: cert.der().clone(),
            issuer: Issuer::new(ca_params(&key), key),
            created: true,
        })
    }

    /// The CA certificate, PEM: what clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate's file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    /// Whether this call created the CA (first start).
    pub fn created(&self) -> bool {
        self.created
    }

    /// A fresh leaf certificate for `host`, signed by the CA, with its key: the chain (leaf,
    /// CA) and the key as rustls takes them. Valid from yesterday for 397 days (the longest
    /// any client accepts for a leaf).
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn leaf(
        &self,
        host: &str,
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate().context("generating a leaf key")?;
        let mut params = CertificateParams::new(vec![host.to_string()])
            .with_context(|| format!("a certificate for {host}"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let today = today();
        params.not_before = today - DAY;
        params.not_after = today + 397 * DAY;
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing the certificate for {host}"))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key))
    }
}

/// The CA's parameters as an issuer needs them (name, key identifier, usages), derived from
/// the key alone so that a CA read back from disk signs exactly as the one first made. The
/// name carries the start of the key identifier, so two installations' CAs differ by name.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let id = params.key_identifier(key);
    let short: String = id.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("fastreg local CA {short}"));
    dn.push(
        DnType::OrganizationName,
        "fastreg sandbox (not WeChat; for tests only)",
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: WECHAT_HOSTS
            .iter()
            .map(|h| GeneralSubtree::DnsName((*h).to_string()))
            .collect(),
        excluded_subtrees: Vec::new(),
    });
    params
}

/// Today at 00:00 UTC.
fn today() -> time::OffsetDateTime {
    let now = chrono::Utc::now();
    // `month()` is 1..=12 and `day()` 1..=31: they fit a u8.
    rcgen::date_time_ymd(now.year(), now.month() as u8, now.day() as u8)
}

/// Writes a file that must not exist yet, through a temporary file and a hard link, so a
/// concurrent first start cannot overwrite what another wrote. `secret`: mode 0600.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".fastreg-ca")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // tempfile creates files 0600; the certificate is public.
        let mode = if secret { 0o600 } else { 0o644 };
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    std::fs::hard_link(tmp.path(), path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// Logs a warning when the key file can be read by others than its owner.
fn warn_if_readable_by_others(key_path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(key_path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %key_path.display(),
                    mode = format!("{mode:o}"),
                    "the proxy's CA key is readable by others; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = key_path;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// How to make clients trust the CA whose certificate is at `cert`, for people: one recipe per
/// client family, with this installation's path filled in.
pub fn trust_instructions(cert: &Path, proxy_addr: &str) -> String {
    let cert = cert.display();
    format!(
        "The PEM above is fastreg's local CA ({cert}); it signs certificates for \
         api.weixin.qq.com, mp.weixin.qq.com and open.weixin.qq.com only.\n\
         Trust it in the client that talks to WeChat through the proxy at http://{proxy_addr}:\n\
         \n  JVM (WxJava …): keytool -importcert -noprompt -alias fastreg -file {cert} \
         -keystore fastreg.jks -storepass changeit\n      \
         then java -Djavax.net.ssl.trustStore=fastreg.jks -Djavax.net.ssl.trustStorePassword=changeit \
         -Dhttps.proxyHost=HOST -Dhttps.proxyPort=PORT …\n  \
         Python (requests, wechatpy): REQUESTS_CA_BUNDLE={cert} HTTPS_PROXY=http://{proxy_addr}\n      \
         (SSL_CERT_FILE={cert} for the standard library's ssl)\n  \
         Node: NODE_EXTRA_CA_CERTS={cert}\n  \
         curl: curl --proxy http://{proxy_addr} --cacert {cert} https://api.weixin.qq.com/…\n\
         \nA proxy user name picks a world: http://WORLD@{proxy_addr}; without one, the default world.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(db: &str, ca_dir: Option<&str>) -> Settings {
        Settings {
            db: db.into(),
            ca_dir: ca_dir.map(String::from),
            ..Settings::default()
        }
    }

    #[test]
    fn the_ca_lives_beside_a_sqlite_database_file_unless_a_directory_is_named() {
        let dir = |db, ca| ca_dir(&settings(db, ca)).unwrap();
        assert_eq!(dir("sqlite://fastreg.db", None), PathBuf::from("."));
        assert_eq!(
            dir("sqlite:///var/lib/fastreg/f.db?mode=rwc", None),
            PathBuf::from("/var/lib/fastreg")
        );
        assert_eq!(dir("sqlite:data/f.db", None), PathBuf::from("data"));
        assert_eq!(
            dir("sqlite://fastreg.db", Some("/etc/fastreg")),
            PathBuf::from("/etc/fastreg")
        );
    }

    #[test]
    fn an_in_memory_or_postgres_database_keeps_the_ca_in_the_data_directory() {
        for db in ["sqlite::memory:", "postgres://u@h/db"] {
            let dir = ca_dir(&settings(db, None)).unwrap();
            assert!(dir.ends_with("fastreg"), "{db}: {}", dir.display());
        }
    }

    #[test]
    fn a_ca_read_back_is_the_one_written_and_signs_leaves_for_each_host() {
        let dir = tempfile::tempdir().unwrap();
        let made = Ca::load_or_create(dir.path()).unwrap();
        assert!(made.created());
        let again = Ca::load_or_create(dir.path()).unwrap();
        assert!(!again.created());
        assert_eq!(made.cert_pem(), again.cert_pem());
        for host in WECHAT_HOSTS {
            let (chain, _) = again.leaf(host).unwrap();
            assert_eq!(chain.len(), 2);
            assert_eq!(chain[1], made.cert_der);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |f| {
                std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode(KEY_FILE), 0o600);
            assert_eq!(mode(CERT_FILE), 0o644);
        }
    }

    #[test]
    fn a_half_written_ca_is_refused_with_the_file_to_delete() {
        let dir = tempfile::tempdir().unwrap();
        Ca::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let err = Ca::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("incomplete") && err.contains(KEY_FILE),
            "{err}"
        );
    }

    #[test]
    fn a_certificate_of_another_key_is_refused() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        Ca::load_or_create(one.path()).unwrap();
        Ca::load_or_create(two.path()).unwrap();
        std::fs::copy(two.path().join(CERT_FILE), one.path().join(CERT_FILE)).unwrap();
        let err = Ca::load_or_create(one.path()).unwrap_err().to_string();
        assert!(err.contains("is not the certificate of the key"), "{err}");
    }

    #[test]
    fn debug_output_of_the_ca_shows_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path()).unwrap();
        let key = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        let shown = format!("{ca:?}");
        assert!(!shown.contains(&body[..20]), "{shown}");
        assert!(shown.contains("[secret]"));
    }
}
