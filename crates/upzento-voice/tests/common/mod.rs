//! Real SIP peers for the voice tests, on free loopback ports: kamailio as registrar
//! and proxy with digest auth (users alice/alicepw and bob/bobpw). Every peer is
//! started and stopped here, by its PID.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use upzento_voice::call::State as CallState;
use upzento_voice::media::audio::{Recorder, Tone};
use upzento_voice::registration;
use upzento_voice::ua::{AccountConfig, AccountHandle, CallHandle, Transport, UserAgent};

/// An account of `user` (alice or bob, password `<user>pw`) at `kamailio`.
pub fn account(kamailio: &Kamailio, user: &str, transport: Transport) -> AccountConfig {
    AccountConfig {
        registrar: format!(
            "127.0.0.1:{}",
            match transport {
                Transport::Ws => kamailio.ws_port,
                Transport::Tls | Transport::Wss => kamailio.tls_port,
                Transport::Udp | Transport::Tcp => kamailio.port,
            }
        ),
        user: user.into(),
        auth_user: None,
        password: format!("{user}pw"),
        transport,
        outbound_proxy: None,
        expires: 600,
        srtp: None,
        keepalive: None,
    }
}

/// An account for calling a peer straight at `to`, with no registrar between.
pub fn direct_account(to: std::net::SocketAddr) -> AccountConfig {
    AccountConfig {
        registrar: to.to_string(),
        user: "alice".into(),
        auth_user: None,
        password: String::new(),
        transport: Transport::Udp,
        outbound_proxy: None,
        expires: 600,
        srtp: None,
        keepalive: None,
    }
}

/// alice over UDP.
pub fn alice(kamailio: &Kamailio) -> AccountConfig {
    account(kamailio, "alice", Transport::Udp)
}

/// Waits (up to 10 s) until the call is answered.
pub async fn answered(call: &CallHandle) {
    let mut states = call.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| matches!(s, CallState::Active { .. })),
    )
    .await
    .unwrap_or_else(|_| panic!("not answered within 10 s: {:?}", call.state()))
    .unwrap();
}

/// Calls `target` through `account` with a 440 Hz tone as the microphone, and waits
/// for the answer.
pub async fn call_answered(ua: &UserAgent, account: &AccountConfig, target: &str) -> CallHandle {
    let call = ua
        .call(
            account,
            target,
            Box::new(Tone::new(440.0, 8000.0)),
            Box::new(Recorder::default()),
        )
        .await
        .unwrap();
    answered(&call).await;
    call
}

/// Waits (up to 10 s) until the account is registered.
pub async fn registered(account: &AccountHandle) {
    let mut watch = account.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        watch.wait_for(|s| matches!(s, registration::State::Registered { .. })),
    )
    .await
    .unwrap_or_else(|_| panic!("not registered: {:?}", account.state()))
    .unwrap();
}

pub fn free_port() -> u16 {
    // A port free for both UDP and TCP.
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn modules_dir() -> String {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("kamailio/modules"))
        .find(|p| p.is_dir())
        .expect("kamailio modules not found: `cargo xtask deps` installs kamailio")
        .display()
        .to_string()
}

/// A test CA (`ca.pem`), a certificate it signed for 127.0.0.1 and kamailio's TLS
/// settings, in `dir`. (A self-signed leaf would not do: it is a CA certificate, which
/// webpki refuses as a server's.)
fn make_certificate(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Upzento test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    std::fs::write(
        dir.join("tls.cfg"),
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             private_key = {0}/key.pem\ncertificate = {0}/cert.pem\n\n\
             [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
            dir.display()
        ),
    )
    .unwrap();
}

/// A kamailio on free ports; stopped when dropped.
pub struct Kamailio {
    pub port: u16,
    pub ws_port: u16,
    /// SIP over TLS and WSS (with `WITH_TLS`).
    pub tls_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `-A` defines of kamailio.cfg beyond WITH_WS (e.g. WITH_SHA256).
    defines: Vec<&'static str>,
}

impl Kamailio {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra `-A` defines of kamailio.cfg (`WITH_SHA256`: SHA-256 digest).
    pub fn start_with(defines: &[&'static str]) -> Self {
        // A port taken between choosing and binding means another try.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let template = include_str!("../peers/kamailio.cfg");
            let (port, ws_port, tls_port) = (free_port(), free_port(), free_port());
            let config = template
                .replace("@PORT@", &port.to_string())
                .replace("@WS_PORT@", &ws_port.to_string())
                .replace("@TLS_PORT@", &tls_port.to_string())
                .replace("@DIR@", &dir.path().display().to_string())
                .replace("@MPATH@", &modules_dir());
            std::fs::write(dir.path().join("kamailio.cfg"), config).unwrap();
            if defines.contains(&"WITH_TLS") {
                make_certificate(dir.path());
            }
            let mut k = Self {
                port,
                ws_port,
                tls_port,
                dir,
                child: None,
                defines: defines.to_vec(),
            };
            if k.try_resume() {
                return k;
            }
            k.stop();
        }
        panic!("kamailio found no free ports");
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("kamailio.cfg")
    }

    /// The CA that signed its certificate (for 127.0.0.1), to trust in a test.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts it again on the same ports.
    pub fn resume(&mut self) {
        assert!(self.try_resume(), "kamailio did not start: {}", self.log());
    }

    fn try_resume(&mut self) -> bool {
        assert!(self.child.is_none());
        let log = std::fs::File::create(self.dir.path().join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-A", "WITH_WS"])
            .args(self.defines.iter().flat_map(|d| ["-A", d]))
            .arg("-f")
            .arg(self.config())
            .arg("-Y")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio");
        self.child = Some(child);
        // Listening once the TCP port (and the TLS one, when asked for) accepts; gone if a
        // port was taken.
        let tls = self.defines.contains(&"WITH_TLS");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && (!tls || std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok())
            {
                return true;
            }
            if self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            for _ in 0..100 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A baresip registered at kamailio as `bob`: answers every call, speaks a sine tone of
/// `tone` Hz, records what it hears (WAV files in `recordings()`).
pub struct Baresip {
    dir: tempfile::TempDir,
    ctrl_port: u16,
    child: Option<Child>,
}

pub fn free_udp_range(n: u16) -> u16 {
    loop {
        let base = free_port() & !0x1f;
        if base > 1024 && (0..n).all(|i| std::net::UdpSocket::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

impl Baresip {
    /// Starts it; a port taken between choosing and binding means another try.
    pub fn start(kamailio: &Kamailio, tone: u32) -> Self {
        Self::start_as(kamailio, "bob", tone)
    }

    /// The same as `user` (bob or carol).
    pub fn start_as(kamailio: &Kamailio, user: &str, tone: u32) -> Self {
        Self::start_with(kamailio, user, tone, "PCMU,PCMA")
    }

    /// `user` offering and accepting only `codecs` (baresip's names: opus, PCMU, PCMA).
    pub fn start_with(kamailio: &Kamailio, user: &str, tone: u32, codecs: &str) -> Self {
        for _ in 0..3 {
            match Self::try_start(kamailio, user, tone, codecs) {
                Ok(b) => return b,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("bob did not register: {log}"),
            }
        }
        panic!("baresip found no free ports");
    }

    fn try_start(kamailio: &Kamailio, user: &str, tone: u32, codecs: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        let rtp = free_udp_range(20);
        let ctrl_port = free_port();
        // baresip listens on the port for UDP and TCP, and on the next one for TLS.
        let sip_port = loop {
            let p = free_port();
            if p < u16::MAX
                && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
            {
                break p;
            }
        };
        let config = include_str!("../peers/baresip.config")
            .replace("@SIP_PORT@", &sip_port.to_string())
            .replace("@CTRL_PORT@", &ctrl_port.to_string())
            .replace("@RTP_FIRST@", &rtp.to_string())
            .replace("@RTP_LAST@", &(rtp + 19).to_string())
            .replace("@TONE@", &tone.to_string())
            .replace("@REC@", &rec.display().to_string());
        // DTLS-SRTP peers (WebRTC-like) put RTCP on the RTP port: one handshake.
        let config = if codecs.contains("dtls_srtp") {
            config.replace("rtcp_mux\t\tno", "rtcp_mux\t\tyes")
        } else {
            config
        };
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@127.0.0.1:{}>;auth_pass={user}pw;answermode=auto;regint=300;audio_codecs={codecs}\n",
                kamailio.port
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("contacts"), "").unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip");
        let b = Self {
            dir,
            ctrl_port,
            child: Some(child),
        };
        for _ in 0..200 {
            let log = b.log();
            if log.contains("200 OK") {
                return Ok(b);
            }
            if log.contains("init failed") {
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(b.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Waits (up to 10 s) until baresip has seen `count` calls established: a hang-up
    /// sent before it has our ACK may not reach us as a BYE.
    pub fn wait_established(&self, count: usize) {
        for _ in 0..400 {
            if self.log().matches("Call established").count() >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "baresip did not see {count} calls established:\n{}",
            self.log()
        );
    }

    /// Sends a command to baresip's ctrl_tcp (netstring-framed JSON), e.g. `hangup`.
    pub fn command(&self, command: &str, params: &str) {
        use std::io::Write;
        let body = format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.ctrl_port)).unwrap();
        write!(stream, "{}:{body},", body.len()).unwrap();
        // Wait for its response (baresip drops commands of a connection closed at once).
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 1024];
        let _ = std::io::Read::read(&mut stream, &mut buf);
    }

    /// What baresip heard on its last call: its decoder's recording (written out at
    /// hang-up, so waited for), as samples and their rate.
    pub async fn heard(&self) -> (Vec<i16>, u32) {
        let mut wav = None;
        for _ in 0..100 {
            wav = self
                .recordings()
                .into_iter()
                .find(|p| p.to_string_lossy().contains("dec"));
            if wav
                .as_ref()
                .is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 10_000))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let wav =
            wav.unwrap_or_else(|| panic!("no recording: {:?}\n{}", self.recordings(), self.log()));
        read_wav(&wav)
    }

    /// The WAV files sndfile wrote (one per direction and call, finished at hang-up).
    pub fn recordings(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path().join("rec"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            for _ in 0..100 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // Before kamailio (fields drop after this): it unregisters on SIGTERM.
        self.stop();
    }
}

/// The samples (first channel) and rate of a 16-bit PCM WAV file.
pub fn read_wav(path: &std::path::Path) -> (Vec<i16>, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"RIFF", "{}", path.display());
    let (mut at, mut channels, mut rate, mut samples) = (12, 1u16, 8000u32, Vec::new());
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let mut len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        // A recorder still writing has not filled in the data length yet: take the rest.
        if id == b"data" && (len == 0 || at + 8 + len > bytes.len()) {
            len = bytes.len() - at - 8;
        }
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
        } else if id == b"data" {
            samples = body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .step_by(usize::from(channels))
                .collect();
        }
        at += 8 + len + (len & 1);
    }
    (samples, rate)
}

/// A PulseAudio server of our own with null sinks (shared recipe sip-peers/up.sh):
/// `spk` (the speaker; its monitor is the default source), `micsrc` and `mic` (a
/// microphone fed by playing into `micsrc`). `server()` is the PULSE_SERVER to use.
pub struct Pulse {
    dir: tempfile::TempDir,
    child: Option<Child>,
    at: Option<String>,
}

impl Pulse {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let socket = run.join("native");
        let script = format!(
            ".fail\n\
             load-module module-native-protocol-unix auth-anonymous=1 socket={}\n\
             load-module module-null-sink sink_name=spk rate=48000 channels=2 sink_properties=device.description=TestSpeaker\n\
             load-module module-null-sink sink_name=micsrc rate=48000 channels=1 sink_properties=device.description=TestMicFeed\n\
             load-module module-remap-source source_name=mic master=micsrc.monitor source_properties=device.description=TestMic\n\
             set-default-sink spk\n\
             set-default-source spk.monitor\n",
            socket.display()
        );
        std::fs::write(dir.path().join("test.pa"), script).unwrap();
        let log = std::fs::File::create(dir.path().join("pulse.log")).unwrap();
        let child = Command::new("pulseaudio")
            .args(["-n", "-F"])
            .arg(dir.path().join("test.pa"))
            .args([
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--log-target=stderr",
            ])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &run)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pulseaudio");
        let p = Self {
            dir,
            child: Some(child),
            at: None,
        };
        for _ in 0..200 {
            let ok = Command::new("pactl")
                .arg("info")
                .env("PULSE_SERVER", p.server())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return p;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "pulseaudio did not start: {}",
            std::fs::read_to_string(p.dir.path().join("pulse.log")).unwrap_or_default()
        );
    }

    pub fn server(&self) -> String {
        match &self.at {
            Some(server) => server.clone(),
            None => format!("unix:{}", self.dir.path().join("run/native").display()),
        }
    }

    /// A handle on a server another `Pulse` started (for a blocking thread): it stops
    /// nothing when dropped.
    pub fn at(server: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            at: Some(server.to_owned()),
        }
    }

    /// The environment that points sound clients at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("PULSE_SERVER", self.server())]
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

/// Runs the `#[ignore]`d test `name` of this test binary in a child process with `env`
/// (sound libraries read PULSE_SERVER from the environment, which a test may not set
/// for its own process) and asserts that it passed.
pub fn run_child_test(name: &str, env: &[(&str, String)]) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("1 passed"),
        "{text}"
    );
}

/// The UA's log, captured with the test's output (shown when it fails).
pub fn capture_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("upzento_voice=debug,rsipstack=warn")
        .with_test_writer()
        .try_init();
}

/// linphonec (Linphone's console client, a third SIP implementation) on its own ports,
/// sound through `pulse`, driven by its commands on stdin; what it prints is kept.
pub struct Linphonec {
    _home: tempfile::TempDir,
    child: Option<Child>,
    stdin: Option<std::process::ChildStdin>,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    pub port: u16,
}

impl Linphonec {
    /// With `codecs` (Linphone's names: opus, PCMU, PCMA) enabled and every other off;
    /// its microphone is `pulse`'s `mic` (fed through `micsrc`), its speaker `spk`.
    pub fn start(pulse: &Pulse, codecs: &[&str]) -> Self {
        use std::io::Read;
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".local/share/linphone")).unwrap();
        let port = free_port();
        let rtp = free_udp_range(4);
        let mut config = format!(
            "[sip]\nsip_port={port}\nsip_tcp_port=-1\nsip_tls_port=-1\nuse_ipv6=0\n\
             [rtp]\naudio_rtp_port={rtp}\n\
             [video]\nenabled=0\ncapture=0\ndisplay=0\nautomatically_initiate=0\nautomatically_accept=0\n\
             [sound]\nechocancellation=0\ncapture_dev_id=PulseAudio Unknown: TestMic\n\
             playback_dev_id=PulseAudio Unknown: TestSpeaker\nringer_dev_id=PulseAudio Unknown: TestSpeaker\n"
        );
        for (i, (mime, rate, channels)) in [
            ("opus", 48_000, 2),
            ("PCMU", 8000, 1),
            ("PCMA", 8000, 1),
            ("speex", 16_000, 1),
            ("speex", 8000, 1),
            ("G722", 8000, 1),
            ("GSM", 8000, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let enabled = u8::from(codecs.contains(&mime));
            config.push_str(&format!(
                "[audio_codec_{i}]\nmime={mime}\nrate={rate}\nchannels={channels}\nenabled={enabled}\n"
            ));
        }
        let rc = home.path().join("linphonerc");
        std::fs::write(&rc, config).unwrap();
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .env("HOME", home.path())
            .envs(pulse.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("linphonec (Debian's linphone-cli)");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let mut l = Self {
            _home: home,
            stdin: child.stdin.take(),
            child: Some(child),
            out,
            port,
        };
        assert!(
            l.wait_for("linphonec>", Duration::from_secs(10)),
            "linphonec did not start: {}",
            l.output()
        );
        // Its port is set in its configuration (with `ports sip` at its prompt instead, it
        // kept advertising 5060 in its Contact). Its media address would otherwise be the
        // machine's IPv6 one, which the tests' IPv4 peers cannot reach, whatever
        // `use_ipv6` says; it restarts its transports meanwhile.
        l.command("ipv6 disable");
        assert!(
            l.wait_for("ipv6 use disabled", Duration::from_secs(5)),
            "{}",
            l.output()
        );
        std::thread::sleep(Duration::from_millis(700));
        l
    }

    /// Types a command at its prompt.
    pub fn command(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Whether it printed `text` within `within`.
    pub fn wait_for(&self, text: &str, within: Duration) -> bool {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if self.output().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Plays a sine of `hz` at 8 kHz into the null sink `device` of `pulse` until dropped.
pub struct Playing(Child);

impl Playing {
    pub fn start(pulse: &Pulse, device: &str, hz: f64) -> Self {
        use std::io::Write;
        let mut child = Command::new("pacat")
            .args([
                "--playback",
                "--raw",
                "--format=s16le",
                "--rate=8000",
                "--channels=1",
            ])
            .arg(format!("--device={device}"))
            .envs(pulse.env())
            .stdin(Stdio::piped())
            .spawn()
            .expect("pacat");
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // 60 s of tone, written as fast as the pipe takes it (pacat plays in time).
            let samples: Vec<u8> = (0..8000 * 60)
                .flat_map(|i| {
                    let t = f64::from(i) / 8000.0;
                    let s = (std::f64::consts::TAU * hz * t).sin() * 8000.0;
                    (s as i16).to_le_bytes()
                })
                .collect();
            let _ = stdin.write_all(&samples);
        });
        Self(child)
    }
}

impl Drop for Playing {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `seconds` of what the null sink `device` plays (its monitor), at 8 kHz.
pub fn record_monitor(pulse: &Pulse, device: &str, seconds: f64) -> Vec<i16> {
    use std::io::Read;
    let mut child = Command::new("parec")
        .args(["--raw", "--format=s16le", "--rate=8000", "--channels=1"])
        .arg(format!("--device={device}.monitor"))
        .envs(pulse.env())
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec");
    let mut stdout = child.stdout.take().unwrap();
    let wanted = (8000.0 * seconds) as usize * 2;
    let mut bytes = vec![0u8; wanted];
    let read = stdout.read_exact(&mut bytes);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}
