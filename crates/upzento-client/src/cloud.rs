//! HTTP client of the tenant cloud's public API. The client reaches the cloud
//! only through this API: there is no shortcut into the server's database.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use upzento_domain::wire::{
    ErrorBody, Health, InvitationAcceptance, InvitationLookup, InvitationPreview, Me,
    PasswordChange, SERVICE_NAME, TokenRequest, TokenResponse,
};

use crate::{ClientError, ErrorKind};

#[derive(Debug, Clone)]
pub struct CloudClient {
    base: Url,
    http: reqwest::Client,
}

/// Parses and normalises what a user typed as the cloud's address.
pub fn parse_base_url(input: &str) -> Result<Url, ClientError> {
    let trimmed = input.trim();
    let invalid = |why: &str| {
        ClientError::new(
            ErrorKind::InvalidInput,
            format!("“{trimmed}” is not a usable cloud address: {why}"),
        )
    };
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host name"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not carry a query or fragment"));
    }
    // Joining relative paths needs a trailing slash on the base.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl CloudClient {
    pub fn new(base: Url) -> Result<Self, ClientError> {
        Self::with_timeout(base, Duration::from_secs(20))
    }

    /// A client whose requests give up after `timeout` (the live stream excepted).
    pub fn with_timeout(base: Url, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("upzento-phone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::new(ErrorKind::Storage, format!("HTTP client: {e}")))?;
        Ok(Self { base, http })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, ClientError> {
        self.url(path)
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path)
            .map_err(|e| ClientError::new(ErrorKind::InvalidInput, e.to_string()))
    }

    /// Checks that an Upzento cloud answers at the base address.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let response = self.http.get(self.url("healthz")?).send().await;
        let health: Health = read(response).await.map_err(|e| match e.kind {
            ErrorKind::Server | ErrorKind::Unauthorized => not_a_cloud(&self.base),
            _ => e,
        })?;
        if health.service != SERVICE_NAME {
            return Err(not_a_cloud(&self.base));
        }
        Ok(health)
    }

    pub async fn token(
        &self,
        email: &str,
        password: &str,
        device: Option<String>,
    ) -> Result<TokenResponse, ClientError> {
        let body = TokenRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            device,
        };
        let response = self
            .http
            .post(self.url("phone-sms/auth/token")?)
            .json(&body)
            .send()
            .await;
        read(response).await
    }

    /// What an invitation code is for (no sign-in needed).
    pub async fn lookup_invitation(&self, code: &str) -> Result<InvitationPreview, ClientError> {
        let response = self
            .http
            .post(self.url("phone-sms/invitations/lookup")?)
            .json(&InvitationLookup {
                code: code.trim().to_owned(),
            })
            .send()
            .await;
        read(response).await
    }

    /// Joins through an invitation: the new user, signed in.
    pub async fn accept_invitation(
        &self,
        acceptance: &InvitationAcceptance,
    ) -> Result<TokenResponse, ClientError> {
        let response = self
            .http
            .post(self.url("phone-sms/invitations/accept")?)
            .json(acceptance)
            .send()
            .await;
        read(response).await
    }

    pub async fn me(&self, token: &str) -> Result<Me, ClientError> {
        let response = self
            .http
            .get(self.url("phone-sms/me")?)
            .bearer_auth(token)
            .send()
            .await;
        read(response).await
    }
}

impl CloudClient {
    /// Replaces the signed-in user's password (`POST /me/password`); their other sessions
    /// end on the cloud. A wrong current password or a weak new one is the user's to fix.
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        let response = self
            .http
            .post(self.url("phone-sms/me/password")?)
            .bearer_auth(token)
            .json(&PasswordChange {
                current_password: current.to_owned(),
                new_password: new.to_owned(),
            })
            .send()
            .await
            .map_err(|e| {
                ClientError::new(
                    ErrorKind::Unreachable,
                    format!("The cloud could not be reached: {}", describe(&e)),
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.json::<ErrorBody>().await.ok();
        let kind = match (status, body.as_ref().map(|b| b.code.as_str())) {
            (_, Some("wrong_password")) => ErrorKind::InvalidInput,
            (StatusCode::UNAUTHORIZED, _) => ErrorKind::Unauthorized,
            (s, _) if s.is_client_error() => ErrorKind::InvalidInput,
            _ => ErrorKind::Server,
        };
        Err(ClientError::new(
            kind,
            body.map_or_else(|| status.to_string(), |b| b.message),
        ))
    }

    /// Revokes `token` on the cloud (sign-out).
    pub async fn revoke(&self, token: &str) -> Result<(), ClientError> {
        let response = self
            .http
            .delete(self.url("phone-sms/auth/token")?)
            .bearer_auth(token)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| ClientError::new(ErrorKind::Unreachable, describe(&e)))?;
        match response.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            s => Err(ClientError::new(ErrorKind::Server, s.to_string())),
        }
    }
}

fn not_a_cloud(base: &Url) -> ClientError {
    ClientError::new(
        ErrorKind::NotACloud,
        format!("{base} answered, but it is not an Upzento cloud. Check the address."),
    )
}

async fn read<T: DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ClientError> {
    let response = response.map_err(|e| {
        ClientError::new(
            ErrorKind::Unreachable,
            format!("The cloud could not be reached: {}", describe(&e)),
        )
    })?;
    let status = response.status();
    if status.is_success() {
        return response.json::<T>().await.map_err(|e| {
            ClientError::new(
                ErrorKind::Server,
                format!("Unexpected answer from the cloud: {e}"),
            )
        });
    }
    let body = response.json::<ErrorBody>().await.ok();
    let detail = body.map_or_else(|| status.to_string(), |b| b.message);
    let kind = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
        s if s.is_client_error() => ErrorKind::InvalidInput,
        _ => ErrorKind::Server,
    };
    Err(ClientError::new(kind, detail))
}

/// reqwest's top-level message hides the cause ("error sending request"); walk the chain.
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_trailing_slash() {
        let url = parse_base_url(" http://127.0.0.1:8787 ").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8787/");
        let url = parse_base_url("https://cloud.example.com/tenant-a").unwrap();
        assert_eq!(
            url.join("healthz").unwrap().as_str(),
            "https://cloud.example.com/tenant-a/healthz"
        );
    }

    #[test]
    fn bad_base_urls_are_invalid_input() {
        for bad in [
            "",
            "cloud.example.com",
            "ftp://x",
            "http://",
            "http://h/?a=1",
        ] {
            let err = parse_base_url(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{bad}: {err}");
        }
    }
}
