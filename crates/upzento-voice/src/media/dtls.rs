//! DTLS-SRTP (RFC 5763, RFC 5764): the SRTP keys of a call agreed by a DTLS handshake
//! on the call's own RTP socket, each side proving its certificate against the
//! fingerprint in the other's SDP.
//!
//! The handshake is the `dtls` crate's (webrtc-rs). It reads and writes through
//! [`Flow`], an adapter fed by the session's receiver, which hands it the datagrams
//! whose first byte says DTLS (RFC 7983: 20–63) while RTP and RTCP go their own way.

use std::net::SocketAddr;
use std::sync::Arc;

use dtls::config::{ClientAuthType, Config, ExtendedMasterSecretType};
use dtls::conn::DTLSConn;
use dtls::crypto::Certificate;
use dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use webrtc_util::KeyingMaterialExporter;

use super::sdp::{CryptoSuite, SdesKey};
use super::session::Srtp;

/// Makes ring the process's rustls provider, once. The app links rustls with two
/// providers (reqwest brings aws-lc-rs, rsipstack and the dtls crate ring), and then
/// rustls wants one chosen before its first use: SIP over TLS or a DTLS handshake.
pub(crate) fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether a datagram is DTLS (RFC 7983 §7: first byte 20–63).
pub fn is_dtls(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| (20..=63).contains(b))
}

/// Our certificate for DTLS and its SHA-256 fingerprint for the SDP. Self-signed: the
/// fingerprint in the (signalled) SDP is what the other side checks.
#[derive(Clone)]
pub struct Identity {
    certificate: Certificate,
    fingerprint: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &fingerprint_text(&self.fingerprint))
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh ECDSA P-256 certificate.
    pub fn generate() -> Result<Self, String> {
        ensure_tls_provider();
        let certificate = Certificate::generate_self_signed(vec!["upzento-phone".to_owned()])
            .map_err(|e| format!("cannot make a DTLS certificate: {e}"))?;
        let der = certificate
            .certificate
            .first()
            .ok_or("the DTLS certificate is empty")?;
        let fingerprint = Sha256::digest(der.as_ref()).to_vec();
        Ok(Self {
            certificate,
            fingerprint,
        })
    }

    /// SHA-256 of our certificate (for `a=fingerprint:sha-256`).
    pub fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }
}

/// `AB:CD:…`, as the SDP writes fingerprints.
pub fn fingerprint_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The DTLS side of a call.
#[derive(Debug, Clone)]
pub struct DtlsSetup {
    pub identity: Identity,
    /// We open the handshake (`setup:active`) or wait for it (`setup:passive`).
    pub client: bool,
    /// SHA-256 fingerprint the other side's certificate must have.
    pub remote_fingerprint: Vec<u8>,
}

/// The session's end of the handshake's datagrams: DTLS packets the receiver sorted out
/// arrive through `incoming`; what the handshake sends goes to the peer on the socket.
struct Flow {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    incoming: Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
}

#[async_trait::async_trait]
impl webrtc_util::Conn for Flow {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let packet = self
            .incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| webrtc_util::Error::Other("the call's media ended".into()))?;
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok((self.recv(buf).await?, self.peer))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.socket
            .send_to(buf, self.peer)
            .await
            .map_err(webrtc_util::Error::from_std)
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(webrtc_util::Error::from_std)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Runs the handshake with `peer` over `socket` (DTLS datagrams from `incoming`) and
/// derives the SRTP keys (RFC 5764 §4.2). The connection is returned too: it must live
/// as long as the call, to answer a peer that repeats its last flight.
pub async fn handshake(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    incoming: mpsc::UnboundedReceiver<Vec<u8>>,
    setup: DtlsSetup,
) -> Result<(Srtp, DTLSConn), String> {
    ensure_tls_provider();
    let expected = setup.remote_fingerprint.clone();
    let config = Config {
        certificates: vec![setup.identity.certificate.clone()],
        srtp_protection_profiles: vec![
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32,
        ],
        extended_master_secret: ExtendedMasterSecretType::Request,
        // Self-signed on both sides: the fingerprint from the SDP is the check.
        insecure_skip_verify: true,
        client_auth: ClientAuthType::RequireAnyClientCert,
        verify_peer_certificate: Some(Arc::new(move |certificates: &[Vec<u8>], _| {
            let presented = certificates.first().map(|der| Sha256::digest(der).to_vec());
            if presented.as_deref() == Some(expected.as_slice()) {
                Ok(())
            } else {
                Err(dtls::Error::Other(
                    "the certificate does not match the fingerprint in the SDP".into(),
                ))
            }
        })),
        ..Config::default()
    };
    let flow = Arc::new(Flow {
        socket,
        peer,
        incoming: Mutex::new(incoming),
    });
    let conn = DTLSConn::new(flow, config, setup.client, None)
        .await
        .map_err(|e| format!("DTLS handshake: {e}"))?;
    let suite = match conn.selected_srtpprotection_profile() {
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => CryptoSuite::AesCm128HmacSha1_80,
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => CryptoSuite::AesCm128HmacSha1_32,
        other => {
            return Err(format!(
                "DTLS chose an SRTP profile we do not offer: {other:?}"
            ));
        }
    };
    // client key | server key | client salt | server salt (16, 16, 14, 14 bytes).
    let material = conn
        .connection_state()
        .await
        .export_keying_material("EXTRACTOR-dtls_srtp", &[], 2 * (16 + 14))
        .await
        .map_err(|e| format!("DTLS-SRTP keys: {e}"))?;
    let key = |key: &[u8], salt: &[u8]| {
        let mut key_salt = [0u8; 30];
        key_salt[..16].copy_from_slice(key);
        key_salt[16..].copy_from_slice(salt);
        SdesKey {
            tag: 1,
            suite,
            key_salt,
        }
    };
    let client = key(&material[..16], &material[32..46]);
    let server = key(&material[16..32], &material[46..60]);
    let keys = if setup.client {
        Srtp {
            ours: client,
            theirs: server,
        }
    } else {
        Srtp {
            ours: server,
            theirs: client,
        }
    };
    Ok((keys, conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Arc<UdpSocket>, Arc<UdpSocket>) {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (Arc::new(a), Arc::new(b))
    }

    /// Feeds what arrives on `socket` to a handshake.
    fn pump(socket: Arc<UdpSocket>) -> mpsc::UnboundedReceiver<Vec<u8>> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, _)) = socket.recv_from(&mut buf).await {
                if is_dtls(&buf[..n]) && tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        rx
    }

    #[tokio::test]
    async fn both_ends_derive_mirrored_keys_and_a_wrong_fingerprint_fails() {
        let (a, b) = pair().await;
        let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let client = handshake(
            a.clone(),
            b_addr,
            pump(a.clone()),
            DtlsSetup {
                identity: ida.clone(),
                client: true,
                remote_fingerprint: idb.fingerprint().to_vec(),
            },
        );
        let server = handshake(
            b.clone(),
            a_addr,
            pump(b.clone()),
            DtlsSetup {
                identity: idb.clone(),
                client: false,
                remote_fingerprint: ida.fingerprint().to_vec(),
            },
        );
        let (c, s) = tokio::join!(client, server);
        let (c, _cc) = c.unwrap();
        let (s, _sc) = s.unwrap();
        assert_eq!(c.ours.key_salt, s.theirs.key_salt);
        assert_eq!(c.theirs.key_salt, s.ours.key_salt);
        assert_ne!(c.ours.key_salt, c.theirs.key_salt);

        // A certificate that is not the one the SDP announced: no keys.
        let (a, b) = pair().await;
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let impostor = Identity::generate().unwrap();
        let client = handshake(
            a.clone(),
            b_addr,
            pump(a.clone()),
            DtlsSetup {
                identity: impostor,
                client: true,
                remote_fingerprint: idb.fingerprint().to_vec(),
            },
        );
        let server = handshake(
            b.clone(),
            a_addr,
            pump(b.clone()),
            DtlsSetup {
                identity: idb,
                client: false,
                remote_fingerprint: ida.fingerprint().to_vec(),
            },
        );
        let (c, s) = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            tokio::join!(client, server)
        })
        .await
        .expect("the handshake ends either way");
        let Err(err) = s else {
            panic!("the server took the impostor")
        };
        assert!(err.contains("fingerprint"), "{err}");
        assert!(c.is_err());
        assert_eq!(fingerprint_text(&[0xab, 0x01]), "AB:01");
    }
}
