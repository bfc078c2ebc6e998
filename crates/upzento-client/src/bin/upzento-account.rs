//! `upzento-account`: the app's account from a terminal, through the same code the
//! app uses (token in the OS keyring, account facts in the app's config directory).
//!
//! ```text
//! upzento-account sign-in --cloud URL --email EMAIL --config-dir DIR
//! upzento-account token   --cloud URL --email EMAIL
//! ```
//! The password is read from `UPZENTO_PASSWORD`, so it never appears in `ps`.
//! `sign-in` leaves the app signed in (already signed in to that cloud: nothing to
//! do; no keyring: a warning, exit 3). `token` prints a fresh session token for
//! scripts and stores nothing. `cargo xtask` uses both, which keeps the developer
//! commands free of the client's system libraries until they have installed them.

use std::sync::Arc;

use upzento_client::ErrorKind;
use upzento_client::account::{AccountService, Credentials};
use upzento_client::cloud::{CloudClient, parse_base_url};
use upzento_client::credentials::KeyringStore;

const USAGE: &str = "usage: upzento-account sign-in --cloud URL --email EMAIL --config-dir DIR\n       \
                     upzento-account token --cloud URL --email EMAIL\n\
                     (the password in UPZENTO_PASSWORD)";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("upzento-account: {message}");
    std::process::exit(code)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let required = |name: &str| arg(&args, name).unwrap_or_else(|| fail(2, USAGE));
    let command = args.first().map(String::as_str);
    if !matches!(command, Some("sign-in" | "token")) {
        fail(2, USAGE);
    }
    let cloud = required("--cloud");
    let email = required("--email");
    let password = std::env::var("UPZENTO_PASSWORD")
        .unwrap_or_else(|_| fail(2, "UPZENTO_PASSWORD is not set"));

    if command == Some("token") {
        let base = parse_base_url(&cloud).unwrap_or_else(|e| fail(1, &e.message));
        let client = CloudClient::new(base).unwrap_or_else(|e| fail(1, &e.message));
        match client
            .token(
                &email,
                &password,
                Some("upzento-account (command line)".into()),
            )
            .await
        {
            Ok(token) => println!("{}", token.token),
            Err(e) => fail(1, &e.message),
        }
        return;
    }

    let accounts = AccountService::new(required("--config-dir"), Arc::new(KeyringStore));
    if let Ok(Some(account)) = accounts.current().await
        && account.cloud_url.trim_end_matches('/') == cloud.trim_end_matches('/')
    {
        eprintln!("already signed in to {cloud} as {}", account.user.email);
        return;
    }
    match accounts
        .sign_in(&cloud, Credentials::Password { email, password })
        .await
    {
        Ok(account) => eprintln!("signed in to {cloud} as {}", account.user.email),
        Err(e) if e.kind == ErrorKind::KeyringUnavailable => fail(3, &e.message),
        Err(e) => fail(1, &e.message),
    }
}
