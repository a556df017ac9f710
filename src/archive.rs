//! Where the archive is, as the SOURCE argument names it: a local folder, or an object
//! store's bucket and prefix (`s3://bucket/prefix`). Every command that reads an archive
//! (mount, export, scan, crosswalk, resolve) takes the same forms and the same flags, and
//! gets the same view of it: the view is a function of the bytes and the key, not of where
//! they are kept.

use crate::source::{DicomWebSource, LocalSource, ObjectSource, Source};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to reach an object store, beyond what the standard AWS environment says
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`...).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// The store's address (an S3-compatible server), over `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Public buckets: send requests unsigned, with no credentials.
    pub unsigned: bool,
    /// Where a DICOMweb source keeps the instances it fetched (a folder of its own inside).
    pub cache_dir: Option<PathBuf>,
    /// The most those instances take on disk.
    pub cache_bytes: u64,
}

#[derive(Debug, Clone)]
pub enum Archive {
    Local(PathBuf),
    S3 {
        bucket: String,
        /// Keys under this prefix (no leading or trailing `/`; empty: the whole bucket).
        prefix: String,
        store: StoreOptions,
    },
    /// A DICOMweb server: its root, `http(s)://HOST/.../dicom-web`.
    DicomWeb {
        url: String,
        store: StoreOptions,
    },
}

impl Archive {
    /// The archive a SOURCE argument names: `s3://BUCKET[/PREFIX]`,
    /// `dicomweb+http(s)://HOST/PATH`, else a local folder.
    pub fn parse(arg: &Path, store: StoreOptions) -> anyhow::Result<Self> {
        let Some(text) = arg.to_str().filter(|t| t.contains("://")) else {
            return Ok(Self::Local(arg.to_path_buf()));
        };
        if let Some(url) = text.strip_prefix("dicomweb+") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!(
                    "source dicomweb+...: give dicomweb+http://HOST/dicom-web or dicomweb+https://..."
                );
            }
            return Ok(Self::DicomWeb {
                url: url.into(),
                store,
            });
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            let scheme = text.split("://").next().unwrap_or_default();
            bail!(
                "source {scheme}://...: not a kind of archive deidfs reads; give a local folder, s3://BUCKET/PREFIX or dicomweb+http://HOST/dicom-web"
            );
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("source s3://: no bucket; give s3://BUCKET or s3://BUCKET/PREFIX");
        }
        Ok(Self::S3 {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
            store,
        })
    }

    /// The local folder, for the checks that only a local archive needs (the mountpoint
    /// or an export's destination inside it, who else can read it).
    pub fn local(&self) -> Option<&Path> {
        match self {
            Self::Local(p) => Some(p),
            Self::S3 { .. } | Self::DicomWeb { .. } => None,
        }
    }

    /// Where a file of the archive is, for the key holder (`resolve`).
    pub fn locate(&self, rel: &Path) -> String {
        match self {
            Self::Local(p) => p.join(rel).display().to_string(),
            Self::S3 { bucket, prefix, .. } => {
                let rel = rel.to_string_lossy();
                let key = [prefix.as_str(), &rel]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/");
                format!("s3://{bucket}/{key}")
            }
            Self::DicomWeb { url, .. } => {
                // STUDY/SERIES/SOP.dcm: the instance's WADO-RS address.
                let parts: Vec<String> = rel
                    .iter()
                    .map(|p| p.to_string_lossy().trim_end_matches(".dcm").to_string())
                    .collect();
                match parts.as_slice() {
                    [study, series, sop] => {
                        format!("dicomweb+{url}/studies/{study}/series/{series}/instances/{sop}")
                    }
                    _ => format!("dicomweb+{url}/{}", parts.join("/")),
                }
            }
        }
    }

    /// Files planned at once when a folder is listed: a remote store answers each after a
    /// round trip, so many are asked for together; a local disk needs only a few.
    pub fn planners(&self, local: usize) -> usize {
        match self {
            Self::Local(_) => local,
            Self::S3 { .. } | Self::DicomWeb { .. } => local.max(32),
        }
    }

    /// Opens the archive; a remote store's folder listings are kept for `ttl`.
    pub fn open(&self, ttl: Duration) -> anyhow::Result<Arc<dyn Source>> {
        match self {
            Self::Local(p) => {
                let s = LocalSource::new(p).with_context(|| format!("source {}", p.display()))?;
                Ok(Arc::new(s))
            }
            Self::S3 {
                bucket,
                prefix,
                store,
            } => Ok(Arc::new(open_s3(bucket, prefix, store, ttl)?)),
            Self::DicomWeb { url, store } => {
                let dir = store.cache_dir.clone().unwrap_or_else(default_cache_dir);
                // Results per QIDO request: lower for a server that refuses big pages.
                let page = std::env::var("DEIDFS_QIDO_PAGE")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(crate::source::QIDO_PAGE);
                let s = DicomWebSource::new(url, &dir, store.cache_bytes, ttl, page)
                    .with_context(|| format!("cache folder {}", dir.display()))?;
                s.list(Path::new(""))
                    .map_err(|e| anyhow::anyhow!("source dicomweb+{url}: {e}"))?;
                Ok(Arc::new(s))
            }
        }
    }
}

/// `$XDG_CACHE_HOME/deidfs`, else `~/.cache/deidfs`, else `/var/tmp/deidfs-UID`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("deidfs");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/deidfs");
    }
    // SAFETY: getuid cannot fail.
    PathBuf::from(format!("/var/tmp/deidfs-{}", unsafe { libc::getuid() }))
}

fn open_s3(
    bucket: &str,
    prefix: &str,
    options: &StoreOptions,
    ttl: Duration,
) -> anyhow::Result<ObjectSource> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ClientOptions, RetryConfig};
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = options
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(e) = &endpoint {
        // A server of one's own (MinIO, SeaweedFS, Ceph): path-style requests, plain HTTP
        // allowed where the address says so.
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    if options.unsigned {
        b = b.with_skip_signature(true);
    }
    // A store that is gone fails reads within seconds, not after the crate's default three
    // minutes of retries: the reader gets EIO and the view keeps serving what it holds.
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let http = endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
        || std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true");
    let client = ClientOptions::new()
        .with_allow_http(http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60));
    let store = b
        .with_retry(retry)
        .with_client_options(client)
        .build()
        .map_err(|e| anyhow::anyhow!("source s3://{bucket}: {e}"))?;
    let root =
        if prefix.is_empty() {
            None
        } else {
            Some(object_store::path::Path::parse(prefix).map_err(|_| {
                anyhow::anyhow!("source s3://{bucket}/{prefix}: not a valid prefix")
            })?)
        };
    let address = format!(
        "s3 {} {bucket} {prefix}",
        endpoint.as_deref().unwrap_or("aws")
    );
    let source = ObjectSource::new(store, &address, root, ttl)
        .with_context(|| format!("source s3://{bucket}"))?;
    // Fail now, with the reason, rather than at the first listing.
    source.list(Path::new("")).map_err(|e| {
        let credentials = ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"];
        let hint = if options.unsigned || credentials.iter().any(|v| std::env::var_os(v).is_some()) {
            ""
        } else {
            " (no credentials in the environment, so the instance metadata service was asked: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give --no-sign-request for a public bucket)"
        };
        anyhow::anyhow!("source s3://{bucket}/{prefix}: {e}{hint}")
    })?;
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_argument_is_a_local_folder_unless_it_names_a_bucket() {
        let local = Archive::parse(Path::new("/srv/pacs"), StoreOptions::default()).unwrap();
        assert_eq!(local.local(), Some(Path::new("/srv/pacs")));
        let s3 = Archive::parse(Path::new("s3://idc/ct/"), StoreOptions::default()).unwrap();
        assert!(s3.local().is_none());
        assert_eq!(s3.locate(Path::new("a/b.dcm")), "s3://idc/ct/a/b.dcm");
        let whole = Archive::parse(Path::new("s3://idc"), StoreOptions::default()).unwrap();
        assert_eq!(whole.locate(Path::new("a.dcm")), "s3://idc/a.dcm");
        let err = Archive::parse(Path::new("ftp://x/y"), StoreOptions::default()).unwrap_err();
        assert!(err.to_string().contains("s3://BUCKET"), "{err}");
        assert!(Archive::parse(Path::new("s3:///x"), StoreOptions::default()).is_err());
    }
}
