//! Plain HTTP webhooks: a signed POST, redirects never followed, one pooled client.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};
use reqwest::Url;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use super::{Outcome, Target};
use crate::domain::call::is_success;
use crate::domain::destination::{check_url, is_non_public};
use crate::domain::redact::MASK;
use crate::domain::signing::{active_previous, jws_sign, signature_header, SigningKey};
use crate::domain::time::now_millis;
use crate::domain::webhook::{is_sensitive_header, DEFAULT_CONTENT_TYPE, DEFAULT_JWS_ISSUER};
use crate::store::{ClaimedCall, NewAttempt, WebhookRecord};

pub const USER_AGENT_VALUE: &str = concat!("hookrelay/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Allow loopback, private and reserved destinations (off in production).
    pub allow_private_targets: bool,
    /// Response bodies are cut to this many bytes in the activity log.
    pub response_body_limit: usize,
    /// Deliveries in flight at once: also the idle connections kept per receiving host, so
    /// a busy receiver never has its connections closed and reopened between calls.
    pub max_in_flight: usize,
}

pub struct HttpTarget {
    client: reqwest::Client,
    settings: HttpSettings,
    /// Per webhook id: the record a [`Prepared`] was made from, and it. A record is
    /// replaced (never changed in place) when the webhook changes, so pointer equality
    /// says whether the preparation still holds.
    prepared: Mutex<HashMap<String, PreparedFor>>,
}

/// A preparation and the webhook record it was made from.
type PreparedFor = (Arc<WebhookRecord>, Arc<Prepared>);

/// What every request to one version of a webhook shares, worked out once instead of per
/// call: the checked URL, the signing keys and the headers that do not change per call.
struct Prepared {
    url: Result<Url, String>,
    headers: Result<FixedHeaders, String>,
    key: Result<SigningKey, String>,
    /// The secret before a rotation, while it may still sign (checked per call).
    previous_key: Option<Result<SigningKey, String>>,
    /// Where the JWS goes (`X-Nf-Sign` unless the webhook names another header).
    jws_header: Result<HeaderName, String>,
}

/// Webhooks prepared at most; beyond this the map starts over (it is only a shortcut).
const PREPARED_MAX: usize = 10_000;

// The headers set per call, named once (a custom name parsed per call is an allocation).
const X_ENVIRONMENT: HeaderName = HeaderName::from_static("x-environment");
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
/// An ordered call's place among its key's calls (1, 2, …), so a receiver can tell a gap.
const WEBHOOK_SEQUENCE: HeaderName = HeaderName::from_static("webhook-sequence");
const X_NF_SIGN: HeaderName = HeaderName::from_static("x-nf-sign");
/// None of these carries a credential, so their values are logged as sent.
const PER_CALL_HEADERS: [HeaderName; 7] = [
    CONTENT_TYPE,
    X_ENVIRONMENT,
    WEBHOOK_ID,
    WEBHOOK_TIMESTAMP,
    WEBHOOK_SIGNATURE,
    WEBHOOK_SEQUENCE,
    X_NF_SIGN,
];

/// The headers every call of one webhook carries, and how the activity log shows them
/// (credentials masked), worked out once.
struct FixedHeaders {
    sent: HeaderMap,
    logged: Vec<(HeaderName, String)>,
}

fn value(name: &HeaderName, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))
}

fn header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), String> {
    let name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?;
    let value = self::value(&name, value)?;
    headers.insert(name, value);
    Ok(())
}

/// Drops every resolved address that is not public, so a host name cannot smuggle a
/// delivery to the private network. IP-literal URLs never reach a resolver; `check_url`
/// covers those.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.into_iter().filter(|a| !is_non_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to private, loopback or reserved addresses"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client that sends each request exactly once, as it was made: redirects are
/// never followed (a webhook answers, it does not forward), and reqwest's own retry of
/// refused HTTP/2 streams is off (an attempt the log shows is one request; hookrelay's
/// retry schedule decides what happens next). With no retry allowed, reqwest also stops
/// copying every request (headers and all) in case it has to send it again.
pub fn send_once_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
}

impl HttpTarget {
    pub fn new(settings: HttpSettings) -> anyhow::Result<Self> {
        let mut builder = send_once_client()
            // Environment proxies would bypass the address checks.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(settings.max_in_flight.max(1))
            .tcp_nodelay(true);
        if !settings.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(HttpTarget {
            client: builder.build()?,
            settings,
            prepared: Mutex::default(),
        })
    }

    pub(super) fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// The request [`Target::deliver`] sends for `call` at `started_at`, and its headers
    /// as the activity log shows them; `Err` says why it cannot be sent. (Public for the
    /// bench, whose raw load generator sends the same requests without hookrelay's work
    /// around them.)
    pub fn request(
        &self,
        call: &ClaimedCall,
        webhook: &Arc<WebhookRecord>,
        started_at: i64,
    ) -> Result<(reqwest::Request, Box<RawValue>), String> {
        let prepared = self.prepared(webhook);
        let url = prepared.url.as_ref().map_err(String::clone)?;
        let fixed = prepared.headers.as_ref().map_err(String::clone)?;
        let per_call = Self::per_call_headers(&prepared, call, webhook, started_at / 1000)?;
        let logged = to_json(&LoggedRequestHeaders {
            fixed: &fixed.logged,
            per_call: &per_call,
        });
        // The header map is sized once for the fixed and the per-call headers: a clone of
        // the fixed map has no room to spare, and growing it twice per call was 2 % of the
        // delivering thread.
        let mut request = reqwest::Request::new(reqwest::Method::POST, url.clone());
        let headers = request.headers_mut();
        headers.reserve(fixed.sent.len() + per_call.len());
        for (name, value) in &fixed.sent {
            headers.append(name, value.clone());
        }
        for (name, value) in per_call {
            headers.insert(name, value);
        }
        *request.timeout_mut() = Some(Duration::from_millis(webhook.settings.timeout_ms));
        *request.body_mut() = Some(call.body.clone().into());
        Ok((request, logged))
    }

    /// The client deliveries are sent with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The preparation for this version of `webhook`, made on first use.
    fn prepared(&self, webhook: &Arc<WebhookRecord>) -> Arc<Prepared> {
        let mut prepared = self.prepared.lock().expect("prepared lock");
        if let Some((record, ready)) = prepared.get(&webhook.id) {
            if Arc::ptr_eq(record, webhook) {
                return ready.clone();
            }
        }
        if prepared.len() >= PREPARED_MAX {
            prepared.clear();
        }
        let ready = Arc::new(self.prepare(webhook));
        prepared.insert(webhook.id.clone(), (webhook.clone(), ready.clone()));
        ready
    }

    fn prepare(&self, webhook: &WebhookRecord) -> Prepared {
        let parse_key =
            |secret: &str| SigningKey::parse(secret).map_err(|e| format!("webhook secret: {e}"));
        Prepared {
            url: check_url(&webhook.settings.url, self.settings.allow_private_targets)
                .map_err(|problem| format!("the URL {problem}")),
            headers: static_headers(webhook),
            key: parse_key(&webhook.secret),
            previous_key: webhook.previous_secret.as_deref().map(parse_key),
            jws_header: match &webhook.settings.signature_header {
                None => Ok(X_NF_SIGN),
                Some(name) => HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("signature header {name}: {e}")),
            },
        }
    }

    /// This call's own headers (see [`PER_CALL_HEADERS`]): its content type, environment
    /// and signatures.
    fn per_call_headers(
        prepared: &Prepared,
        call: &ClaimedCall,
        webhook: &WebhookRecord,
        timestamp: i64,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut headers = Vec::with_capacity(PER_CALL_HEADERS.len());
        let content_type = match &call.content_type {
            None => HeaderValue::from_static(DEFAULT_CONTENT_TYPE),
            Some(own) => value(&CONTENT_TYPE, own)?,
        };
        headers.push((CONTENT_TYPE, content_type));
        headers.push((X_ENVIRONMENT, value(&X_ENVIRONMENT, &call.environment)?));
        let current = prepared.key.as_ref().map_err(String::clone)?;
        let previous = active_previous(
            prepared.previous_key.as_ref(),
            webhook.previous_secret_expires_at,
            timestamp * 1000,
        )
        .map(|key| key.as_ref().map_err(String::clone))
        .transpose()?;
        let body = &call.body[..];
        let signature = signature_header(current, previous, &call.call_id, timestamp, body);
        headers.push((WEBHOOK_ID, value(&WEBHOOK_ID, &call.call_id)?));
        headers.push((WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp)));
        headers.push((WEBHOOK_SIGNATURE, value(&WEBHOOK_SIGNATURE, &signature)?));
        if let Some((_, sequence)) = &call.order {
            headers.push((WEBHOOK_SEQUENCE, HeaderValue::from(*sequence)));
        }
        if let Some(secret) = &webhook.settings.jws_secret {
            let issuer = webhook
                .settings
                .jws_issuer
                .as_deref()
                .unwrap_or(DEFAULT_JWS_ISSUER);
            let token = jws_sign(secret.as_bytes(), issuer, body);
            let name = prepared.jws_header.clone()?;
            let token = value(&name, &token)?;
            headers.push((name, token));
        }
        Ok(headers)
    }
}

/// The headers every call of `webhook` carries: its own, then ours (which win), less the
/// ones set per call.
fn static_headers(webhook: &WebhookRecord) -> Result<FixedHeaders, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &webhook.settings.headers {
        header(&mut headers, name, value)?;
    }
    header(&mut headers, USER_AGENT.as_str(), USER_AGENT_VALUE)?;
    header(&mut headers, "x-webhook-id", &webhook.id)?;
    // A webhook's calls are all of its site's events.
    header(&mut headers, "x-site-id", &webhook.site_id)?;
    if let Some(auth) = &webhook.settings.basic_auth {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", auth.username, auth.password));
        header(
            &mut headers,
            AUTHORIZATION.as_str(),
            &format!("Basic {token}"),
        )?;
    }
    for name in &PER_CALL_HEADERS {
        headers.remove(name);
    }
    let shown = LoggedHeaders {
        headers: &headers,
        mask_credentials: true,
    };
    let logged = headers
        .keys()
        .map(|name| (name.clone(), shown.joined(name).into_owned()))
        .collect();
    Ok(FixedHeaders {
        sent: headers,
        logged,
    })
}

/// Headers as the activity log keeps them: one JSON object, written straight to text (no
/// intermediate map: this runs for every delivery), a repeated name's values joined with
/// ", ". Request headers have their credentials masked.
struct LoggedHeaders<'h> {
    headers: &'h HeaderMap,
    mask_credentials: bool,
}

impl LoggedHeaders<'_> {
    fn show<'v>(&self, name: &HeaderName, value: &'v HeaderValue) -> Cow<'v, str> {
        if !(self.mask_credentials && is_sensitive_header(name.as_str())) {
            return String::from_utf8_lossy(value.as_bytes());
        }
        match value.to_str().ok().and_then(|v| v.split_once(' ')) {
            Some((scheme, _)) if name == AUTHORIZATION => Cow::Owned(format!("{scheme} {MASK}")),
            _ => Cow::Borrowed(MASK),
        }
    }

    /// All values of `name`, as shown.
    fn joined(&self, name: &HeaderName) -> Cow<'_, str> {
        let mut values = self.headers.get_all(name).iter();
        let mut shown = values
            .next()
            .map(|value| self.show(name, value))
            .unwrap_or_default();
        for value in values {
            let joined = shown.to_mut();
            joined.push_str(", ");
            joined.push_str(&self.show(name, value));
        }
        shown
    }
}

fn to_json(headers: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(headers).expect("header names and text serialise")
}

impl Serialize for LoggedHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_map(Some(self.headers.keys_len()))?;
        for name in self.headers.keys() {
            object.serialize_entry(name.as_str(), &self.joined(name))?;
        }
        object.end()
    }
}

/// Request headers as the activity log keeps them: credentials masked.
pub(super) fn masked_headers(headers: &HeaderMap) -> Box<RawValue> {
    to_json(&LoggedHeaders {
        headers,
        mask_credentials: true,
    })
}

/// A request's headers as the activity log keeps them: the webhook's fixed ones, masked
/// when prepared, then the call's own.
struct LoggedRequestHeaders<'h> {
    fixed: &'h [(HeaderName, String)],
    per_call: &'h [(HeaderName, HeaderValue)],
}

impl Serialize for LoggedRequestHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_map(Some(self.fixed.len() + self.per_call.len()))?;
        for (name, shown) in self.fixed {
            object.serialize_entry(name.as_str(), shown)?;
        }
        for (name, value) in self.per_call {
            object.serialize_entry(name.as_str(), &String::from_utf8_lossy(value.as_bytes()))?;
        }
        object.end()
    }
}

/// `{}`: the headers of a request that was never sent.
pub(super) fn empty_object() -> Box<RawValue> {
    to_json(&serde_json::Map::new())
}

pub(super) fn header_map_json(headers: &HeaderMap) -> Box<RawValue> {
    to_json(&LoggedHeaders {
        headers,
        mask_credentials: false,
    })
}

/// A readable reason for a transport failure, with its root cause.
pub(super) fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!(
            "timed out: no complete response within {} ms",
            timeout.as_millis()
        );
    }
    let mut text = if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Target for HttpTarget {
    async fn deliver(&self, call: &ClaimedCall, webhook: &Arc<WebhookRecord>) -> Outcome {
        let started_at = now_millis();
        let clock = Instant::now();
        let timeout = Duration::from_millis(webhook.settings.timeout_ms);
        let attempt = |request_headers: Box<RawValue>| NewAttempt {
            manual: call.manual,
            started_at,
            duration_ms: clock.elapsed().as_millis() as i64,
            request_url: webhook.settings.url.clone(),
            request_headers,
            request_body: None,
            response_status: None,
            response_headers: None,
            response_body: None,
            error: None,
        };
        let failed = |request_headers, error: String| {
            Outcome::plain(
                NewAttempt {
                    error: Some(error),
                    ..attempt(request_headers)
                },
                false,
            )
        };
        let (request, request_headers) = match self.request(call, webhook, started_at) {
            Ok(built) => built,
            Err(problem) => return failed(empty_object(), format!("not sent: {problem}")),
        };
        let mut response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(e) => return failed(request_headers, describe(&e, timeout)),
        };
        let mut attempt = attempt(request_headers);
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        attempt.response_status = Some(i64::from(status));
        attempt.response_headers = Some(header_map_json(response.headers()));
        let mut body = Vec::new();
        let mut body_error = None;
        while body.len() < self.settings.response_body_limit {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(describe(&e, timeout));
                    break;
                }
            }
        }
        body.truncate(self.settings.response_body_limit);
        attempt.response_body = Some(String::from_utf8_lossy(&body).into_owned());
        attempt.duration_ms = clock.elapsed().as_millis() as i64;
        let delivered = is_success(status);
        if !delivered {
            attempt.error = Some(match status {
                300..=399 => format!(
                    "HTTP {status}: redirects are not followed; point the webhook at the final URL"
                ),
                _ => format!("HTTP {status}"),
            });
        } else if let Some(e) = body_error {
            // The receiver answered 2xx; a broken body after that does not undo delivery.
            attempt.error = Some(format!("response body unreadable: {e}"));
        }
        Outcome::answered(attempt, delivered, status, retry_after.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_credentials_but_keeps_the_scheme() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic dTpw"));
        h.insert("x-api-key", HeaderValue::from_static("k"));
        h.insert("x-team", HeaderValue::from_static("blue"));
        let shown: serde_json::Value = serde_json::from_str(masked_headers(&h).get()).unwrap();
        assert_eq!(shown["authorization"], "Basic ********");
        assert_eq!(shown["x-api-key"], "********");
        assert_eq!(shown["x-team"], "blue");
    }

    #[test]
    fn repeated_response_headers_are_joined() {
        let mut h = HeaderMap::new();
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        h.insert("x-bin", HeaderValue::from_bytes(b"\xffok").unwrap());
        let shown: serde_json::Value = serde_json::from_str(header_map_json(&h).get()).unwrap();
        assert_eq!(shown["set-cookie"], "a=1, b=2");
        assert_eq!(shown["x-bin"], "\u{fffd}ok");
        let masked: serde_json::Value = serde_json::from_str(masked_headers(&h).get()).unwrap();
        assert_eq!(masked["set-cookie"], "********, ********");
    }
}
