//! OAuth 2.0 token requests (RFC 6749, sections 4.4 and 6) made by the host
//! for a connector's credential. The guest never sees the client secret, the
//! refresh token or the access token.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::runtime::grants::{OAuth2, OAuth2Grant, Secret};

/// An access token and when it stops being valid, if the vendor said.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) value: Secret,
    expires: Option<Instant>,
}

impl AccessToken {
    /// Whether it is expired or about to be (within a minute).
    pub(crate) fn is_stale(&self) -> bool {
        self.expires
            .is_some_and(|at| Instant::now() + Duration::from_secs(60) >= at)
    }
}

/// The token endpoint's successful answer (RFC 6749, section 5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Asks the token endpoint for an access token.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    oauth: &OAuth2,
    client_secret: &Secret,
) -> Result<AccessToken, String> {
    let body = request_body(oauth, client_secret)?;
    let endpoint = &oauth.token_url;
    let response = http
        .post(endpoint.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| match super::private_network_refused(&e) {
            Some(refused) => format!("the token endpoint `{endpoint}` is refused: {refused}"),
            None => format!("the token endpoint `{endpoint}` is unreachable: {e}"),
        })?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading the answer of `{endpoint}`: {e}"))?;
    if !status.is_success() {
        // RFC 6749 error answers carry `error` and `error_description`,
        // never a secret; keep them short in logs.
        let excerpt: String = body.chars().take(300).collect();
        return Err(format!(
            "the token endpoint `{endpoint}` answered {status}: {excerpt}"
        ));
    }
    let answer: TokenAnswer = serde_json::from_str(&body).map_err(|e| {
        format!("the token endpoint `{endpoint}` answered {status} without an access_token: {e}")
    })?;
    if let Some(kind) = &answer.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(format!(
            "the token endpoint `{endpoint}` issued a `{kind}` token; only bearer tokens are supported"
        ));
    }
    Ok(AccessToken {
        value: Secret::new(answer.access_token),
        expires: answer
            .expires_in
            .map(|seconds| Instant::now() + Duration::from_secs(seconds)),
    })
}

/// The form-encoded token request.
fn request_body(oauth: &OAuth2, client_secret: &Secret) -> Result<String, String> {
    let client_secret = std::str::from_utf8(client_secret.expose())
        .map_err(|_| "the client secret is not UTF-8".to_owned())?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match &oauth.grant {
        OAuth2Grant::ClientCredentials => {
            form.append_pair("grant_type", "client_credentials");
        }
        OAuth2Grant::RefreshToken(refresh) => {
            let refresh = std::str::from_utf8(refresh.expose())
                .map_err(|_| "the refresh token is not UTF-8".to_owned())?;
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh);
        }
    }
    form.append_pair("client_id", &oauth.client_id);
    form.append_pair("client_secret", client_secret);
    if let Some(scope) = &oauth.scope {
        form.append_pair("scope", scope);
    }
    Ok(form.finish())
}
