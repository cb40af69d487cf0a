//! Fetching what sources publish, politely and safely: conditional GET, compressed bodies
//! with a cap on what they unpack to, `Cache-Control: max-age` and `Retry-After` read back,
//! one or two requests per host and a cap on all, connect and total timeouts, at most five
//! redirects, and no request to a loopback, private, link-local or other special address
//! (checked at every redirect and after DNS resolution) unless the source allows it.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap};
use tokio::sync::Semaphore;

/// Requests in flight to one host.
pub const PER_HOST: usize = 2;
/// Requests in flight in all.
pub const GLOBAL: usize = 32;
/// Redirects followed.
pub const MAX_REDIRECTS: usize = 5;
/// The largest body taken (after decompression).
pub const MAX_BODY: usize = discal_protocol::ics::MAX_ICS_BYTES;

/// Whether an address is one a request may not reach unless allowed (loopback, private,
/// link-local, shared, unspecified, broadcast, documentation and their IPv6 kin).
pub fn special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || o[0] == 100 && (o[1] & 0xc0) == 64
                || o[0] == 192 && o[1] == 0 && o[2] == 0
                || o[0] == 198 && (o[1] & 0xfe) == 18
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || a.to_ipv4_mapped().is_some_and(|v4| special(IpAddr::V4(v4)))
                || a.to_ipv4()
                    .is_some_and(|v4| s[0..6] == [0; 6] && special(IpAddr::V4(v4)))
        }
    }
}

/// A resolver that refuses names resolving to a special address, so a public-looking name
/// cannot lead a request into the node's own network (checked on the addresses the
/// connection will use, not on an earlier lookup that DNS could answer differently).
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(a) = addrs.iter().find(|a| special(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, a loopback, private or special address \
                     (allow_private in the entry, or [push] allow_private_callbacks for hub callbacks, allows it)",
                    a.ip()
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// What one request asks.
pub struct Request<'a> {
    /// The URL.
    pub url: &'a str,
    /// `If-None-Match`.
    pub etag: Option<&'a str>,
    /// `If-Modified-Since`.
    pub last_modified: Option<&'a str>,
    /// Special addresses allowed.
    pub allow_private: bool,
    /// `Accept`.
    pub accept: &'static str,
}

/// A full answer.
#[derive(Debug)]
pub struct Body {
    /// The body, decompressed.
    pub bytes: Vec<u8>,
    /// The URL it came from, after redirects.
    pub url: String,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
}

/// What a request brought.
#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing new.
    NotModified {
        /// `Cache-Control: max-age`, seconds.
        max_age: Option<u64>,
    },
    /// 200 with a body.
    Full {
        /// It.
        body: Body,
        /// `Cache-Control: max-age`, seconds.
        max_age: Option<u64>,
    },
}

/// Why a request brought nothing usable.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// The HTTP status (0: none came).
    pub status: u16,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u64>,
    /// What happened.
    pub message: String,
}

fn fail(status: u16, message: impl Into<String>) -> FetchError {
    FetchError {
        status,
        retry_after: None,
        message: message.into(),
    }
}

/// The HTTP clients and the concurrency limits, shared by every poll of one node.
pub struct Fetcher {
    /// Loopback addresses tests treat as public, to show that a redirect from there to a
    /// special address is refused.
    #[cfg(feature = "test-utils")]
    pub exempt: Mutex<Vec<SocketAddr>>,
    public: reqwest::Client,
    private: reqwest::Client,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    global: Semaphore,
}

impl Fetcher {
    /// Clients that name `public_url` in their User-Agent.
    pub fn new(public_url: &str) -> Result<Self, String> {
        let build = |resolver: Option<Arc<PublicOnly>>| {
            let mut b = crate::client::http_client()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(format!(
                    "DisCal/{} (+{public_url})",
                    env!("CARGO_PKG_VERSION")
                ))
                .no_proxy();
            if let Some(r) = resolver {
                b = b.dns_resolver(r);
            }
            b.build().map_err(|e| format!("HTTP client: {e}"))
        };
        Ok(Self {
            #[cfg(feature = "test-utils")]
            exempt: Mutex::default(),
            public: build(Some(Arc::new(PublicOnly)))?,
            private: build(None)?,
            hosts: Mutex::new(HashMap::new()),
            global: Semaphore::new(GLOBAL),
        })
    }

    /// The client that may reach special addresses, or the one that may not.
    fn client(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private {
            &self.private
        } else {
            &self.public
        }
    }

    fn host_slot(&self, host: &str) -> Arc<Semaphore> {
        let mut m = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST)))
            .clone()
    }

    #[cfg(feature = "test-utils")]
    fn exempted(&self, url: &reqwest::Url) -> bool {
        let ip = match url.host() {
            Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
            Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
            _ => return false,
        };
        let addr = SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80));
        let exempt = self
            .exempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        exempt.contains(&addr)
    }

    #[cfg(not(feature = "test-utils"))]
    fn exempted(&self, _: &reqwest::Url) -> bool {
        false
    }

    /// One GET, following redirects, within every limit above.
    pub async fn get(&self, req: &Request<'_>) -> Result<Fetched, FetchError> {
        let mut url =
            reqwest::Url::parse(req.url).map_err(|e| fail(0, format!("{}: {e}", req.url)))?;
        let client = self.client(req.allow_private);
        let _all = self
            .global
            .acquire()
            .await
            .map_err(|_| fail(0, "stopping"))?;
        for _ in 0..=MAX_REDIRECTS {
            check_target(&url, req.allow_private || self.exempted(&url))?;
            let host = url.host_str().unwrap_or_default().to_owned();
            let slot = self.host_slot(&host);
            let _one = slot.acquire().await.map_err(|_| fail(0, "stopping"))?;
            let mut r = client
                .get(url.clone())
                .header(header::ACCEPT, req.accept)
                .header(header::ACCEPT_ENCODING, "gzip, br");
            // Validators belong to the URL the source names, not to where it redirects.
            if url.as_str() == req.url {
                if let Some(e) = req.etag {
                    r = r.header(header::IF_NONE_MATCH, e);
                }
                if let Some(m) = req.last_modified {
                    r = r.header(header::IF_MODIFIED_SINCE, m);
                }
            }
            let resp = r.send().await.map_err(|e| fail(0, describe(&e)))?;
            let status = resp.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let to = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        fail(status.as_u16(), format!("HTTP {status} without a Location"))
                    })?;
                url = url
                    .join(to)
                    .map_err(|e| fail(status.as_u16(), format!("redirect to {to:?}: {e}")))?;
                continue;
            }
            return answer(resp).await;
        }
        Err(fail(0, format!("more than {MAX_REDIRECTS} redirects")))
    }
}

impl Fetcher {
    /// One POST (a push), within the same limits and address guard. Redirects are not
    /// followed: a push is signed for the URI it is sent to. `Ok` is the 2xx status; any
    /// other answer is an error with its status, `Retry-After` and the start of its body.
    pub async fn post(
        &self,
        url: &str,
        allow_private: bool,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<u16, FetchError> {
        let url = reqwest::Url::parse(url).map_err(|e| fail(0, format!("{url}: {e}")))?;
        check_target(&url, allow_private || self.exempted(&url))?;
        let client = self.client(allow_private);
        let _all = self
            .global
            .acquire()
            .await
            .map_err(|_| fail(0, "stopping"))?;
        let slot = self.host_slot(url.host_str().unwrap_or_default());
        let _one = slot.acquire().await.map_err(|_| fail(0, "stopping"))?;
        let mut r = client.post(url).body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let mut resp = r.send().await.map_err(|e| fail(0, describe(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let retry_after = retry_after(resp.headers());
        // The start of the receiver's answer says why; the rest is not read.
        let mut said = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            said.extend_from_slice(&chunk);
            if said.len() >= 300 {
                break;
            }
        }
        said.truncate(300);
        let said = String::from_utf8_lossy(&said);
        Err(FetchError {
            status: status.as_u16(),
            retry_after,
            message: format!("HTTP {status}: {}", said.trim()),
        })
    }
}

/// Refuses what no request may go to: other schemes, and special addresses written as such.
fn check_target(url: &reqwest::Url, allow_private: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail(0, format!("{url}: only http and https are fetched")));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(fail(0, format!("{url}: no host"))),
    };
    if special(ip) && !allow_private {
        return Err(fail(
            0,
            format!(
                "{url}: {ip} is a loopback, private or special address \
                 (allow_private in the entry, or [push] allow_private_callbacks for hub callbacks, allows it)"
            ),
        ));
    }
    Ok(())
}

/// The error with its causes, which reqwest keeps apart (the resolver's refusal among them).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 512)
}

/// `Cache-Control: max-age` in seconds.
pub fn max_age(h: &HeaderMap) -> Option<u64> {
    let cc = header_str(h, header::CACHE_CONTROL)?;
    cc.split(',').find_map(|d| {
        d.trim()
            .strip_prefix("max-age=")
            .and_then(|v| v.trim_matches('"').parse().ok())
    })
}

/// `Retry-After` in seconds (a number, or an HTTP date).
pub fn retry_after(h: &HeaderMap) -> Option<u64> {
    let v = header_str(h, header::RETRY_AFTER)?;
    if let Ok(s) = v.parse() {
        return Some(s);
    }
    let at = httpdate::parse_http_date(&v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs()),
    )
}

async fn answer(mut resp: reqwest::Response) -> Result<Fetched, FetchError> {
    let status = resp.status();
    let h = resp.headers().clone();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified {
            max_age: max_age(&h),
        });
    }
    if !status.is_success() {
        return Err(FetchError {
            status: status.as_u16(),
            retry_after: retry_after(&h),
            message: format!("HTTP {status}"),
        });
    }
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(fail(
            status.as_u16(),
            format!("a body over {MAX_BODY} bytes"),
        ));
    }
    let mut raw = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fail(status.as_u16(), describe(&e)))?
    {
        if raw.len() + chunk.len() > MAX_BODY {
            return Err(fail(
                status.as_u16(),
                format!("a body over {MAX_BODY} bytes"),
            ));
        }
        raw.extend_from_slice(&chunk);
    }
    let bytes = match header_str(&h, header::CONTENT_ENCODING).as_deref() {
        None | Some("identity") => raw,
        Some("gzip" | "x-gzip") => unpack(flate2::read::GzDecoder::new(&raw[..]))
            .map_err(|e| fail(status.as_u16(), format!("gzip: {e}")))?,
        Some("br") => unpack(brotli::Decompressor::new(&raw[..], 4096))
            .map_err(|e| fail(status.as_u16(), format!("br: {e}")))?,
        Some(other) => return Err(fail(status.as_u16(), format!("Content-Encoding {other}"))),
    };
    Ok(Fetched::Full {
        max_age: max_age(&h),
        body: Body {
            bytes,
            url: resp.url().to_string(),
            etag: header_str(&h, header::ETAG),
            last_modified: header_str(&h, header::LAST_MODIFIED),
            content_type: header_str(&h, header::CONTENT_TYPE),
        },
    })
}

/// Decompresses up to [`MAX_BODY`] bytes: a small body that unpacks to gigabytes is refused
/// when it passes the cap, not after.
fn unpack(r: impl Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_BODY {
        return Err(format!("unpacks to over {MAX_BODY} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_known() {
        for a in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.5.4",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(special(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "1.1.1.1"] {
            assert!(!special(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn addresses_in_disguise_are_refused() {
        for u in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:a9fe:a9fe]/latest",
            "http://0.0.0.0:8080/",
            "http://[fd00::1]/",
            "file:///etc/passwd",
            "gopher://example.org/",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert!(check_target(&url, false).is_err(), "{u}");
        }
        let ok = reqwest::Url::parse("https://93.184.216.34/").unwrap();
        assert!(check_target(&ok, false).is_ok());
    }

    #[test]
    fn cache_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        h.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(max_age(&h), Some(600));
        assert_eq!(retry_after(&h), Some(120));
    }

    #[test]
    fn a_compression_bomb_stops_at_the_cap() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_BODY >> 20) + 2 {
            gz.write_all(&zeros).unwrap();
        }
        let packed = gz.finish().unwrap();
        assert!(packed.len() < 100_000);
        assert!(unpack(flate2::read::GzDecoder::new(&packed[..])).is_err());
    }
}
