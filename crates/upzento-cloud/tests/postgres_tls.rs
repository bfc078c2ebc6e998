//! PostgreSQL over TLS: `sslmode=require` encrypts and verifies the server's
//! certificate. `cargo xtask test` runs its throwaway cluster with TLS on and a
//! test CA (`UPZENTO_TEST_PG_CA`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use upzento_cloud::store::Store;
use upzento_cloud::store::postgres::PgStore;

fn ca_file() -> PathBuf {
    std::env::var_os("UPZENTO_TEST_PG_CA")
        .map(PathBuf::from)
        .expect("UPZENTO_TEST_PG_CA is not set: the TLS test needs the CA of the test cluster. `cargo xtask test` sets it.")
}

fn with_sslmode(url: &str, mode: &str) -> String {
    format!("{url}?sslmode={mode}")
}

#[tokio::test]
async fn tls_connections_are_encrypted_and_verified() {
    let (url, _db) = common::fresh_pg_database().await;
    let store = PgStore::connect_with(&with_sslmode(&url, "require"), Some(&ca_file()))
        .await
        .unwrap();
    // The store works over it, LISTEN included.
    store
        .start_change_notifications(std::sync::Arc::default())
        .await
        .unwrap();
    let tenant = store
        .create_tenant("TLS", time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(store.tenant(&tenant.id).await.unwrap().unwrap().name, "TLS");
    // And the server says the session is encrypted.
    let mut config: tokio_postgres::Config = with_sslmode(&url, "require").parse().unwrap();
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let pem = std::fs::read(ca_file()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (client, connection) = config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}

#[tokio::test]
async fn an_unverifiable_server_is_refused_with_a_clear_error() {
    let (url, _db) = common::fresh_pg_database().await;
    // The test CA is not a system CA: without it the certificate cannot be verified.
    let err = PgStore::connect_with(&with_sslmode(&url, "require"), None)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    // A CA file without TLS in the URL is a mistake worth saying.
    let err = PgStore::connect_with(&url, Some(&ca_file()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sslmode=require"), "{err}");
    // A file that is no certificate.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate").unwrap();
    let err = PgStore::connect_with(&with_sslmode(&url, "require"), Some(junk.path()))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("no certificate"), "{err:#}");
}
