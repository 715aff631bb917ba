//! How every request of ksec reaches the API server: a tower layer under
//! the kube client that bounds the requests in flight and retries the
//! transient failures within one budget.
//!
//! It sits below kube's error parsing so that it sees the HTTP answer
//! itself: a `429 Too Many Requests` or `503` says in `Retry-After` when to
//! come back, a header that kube's `Error::Api` does not keep.
//!
//! The limit holds for all of ksec's requests at once (access reviews,
//! reads and writes run side by side in the pre-flight): a permit is held
//! from the request until the whole answer has been read.

use crate::cluster::connect;
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::{Body, ClientBuilder, DynBody};
use kube::{Client, Config};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::buffer::Buffer;
use tower::util::BoxService;
use tower::{BoxError, Service, ServiceExt};

/// The stack kube builds from a `Config` (what `ClientBuilder::try_from` gives).
type GenericService = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// At most this many requests in flight at once.
pub const CONCURRENCY: usize = 8;
/// Tries of one request, the first included.
pub const ATTEMPTS: u32 = 5;
/// The wait before the first retry; it doubles for each retry after it.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait a server's `Retry-After` is granted.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);
/// The most one request waits between its tries, in all: a retry whose wait
/// would go past it is not made, and the last answer stands.
pub const TOTAL_WAIT: Duration = Duration::from_secs(30);

/// Answers worth another try: too many requests, and a server or a proxy in
/// front of it that cannot answer now.
pub fn retryable_status(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// A kube client for `config` whose requests go through `Transport`.
pub fn client(mut config: Config) -> kube::Result<Client> {
    // kube's own retry (on by default: 15 tries of 429/503/504, waits of up
    // to 1000 s) would run under this one, outside its budget
    config.default_retry = false;
    let builder = ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&Layer).build())
}

struct Layer;

impl tower::Layer<GenericService> for Layer {
    type Service = Transport;

    fn layer(&self, inner: GenericService) -> Transport {
        Transport {
            // a Buffer makes the boxed stack cloneable, to resend a request
            inner: Buffer::new(inner, 1024),
            permits: Arc::new(Semaphore::new(CONCURRENCY)),
        }
    }
}

type Inner = Buffer<Request<Body>, <GenericService as Service<Request<Body>>>::Future>;

#[derive(Clone)]
pub struct Transport {
    inner: Inner,
    permits: Arc<Semaphore>,
}

type Answer = Result<Response<Body>, BoxError>;

impl Service<Request<Body>> for Transport {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // each try waits for the inner service in `send`
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        Box::pin(send(self.inner.clone(), self.permits.clone(), request))
    }
}

/// One request with its retries.
async fn send(mut inner: Inner, permits: Arc<Semaphore>, request: Request<Body>) -> Answer {
    let mut request = request;
    let mut waited = Duration::ZERO;
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        // a body that cannot be copied is sent once
        let copy = copy(&request);
        let answer = {
            let _permit = permits.acquire().await.map_err(BoxError::from)?;
            once(&mut inner, request).await
        };
        let (Some(next), Some(wait)) = (copy, wait(&answer, backoff)) else {
            return answer;
        };
        if attempt >= ATTEMPTS || waited + wait > TOTAL_WAIT {
            return answer;
        }
        drop(answer);
        tokio::time::sleep(wait).await;
        waited += wait;
        backoff *= 2;
        attempt += 1;
        request = next;
    }
}

/// One try, with its whole answer read (a connection reset while the body
/// comes in is a failed try too).
async fn once(inner: &mut Inner, request: Request<Body>) -> Answer {
    let response = inner.ready().await?.call(request).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// How long to wait before the next try, if the answer is worth one: the
/// server's `Retry-After` (up to `RETRY_AFTER_CAP`), but never less than
/// the backoff. A request that timed out is not retried: the server had its
/// whole read timeout to answer.
fn wait(answer: &Answer, backoff: Duration) -> Option<Duration> {
    match answer {
        Ok(response) if retryable_status(response.status().as_u16()) => {
            Some(retry_after(response).map_or(backoff, |s| s.max(backoff)))
        }
        Ok(_) => None,
        Err(e) => (!connect::is_timeout(e.as_ref())).then_some(backoff),
    }
}

/// `Retry-After` in seconds (the form the API server sends), capped.
fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let text = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    let seconds: u64 = text.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(RETRY_AFTER_CAP))
}

/// The same request again, when its body can be copied.
fn copy(request: &Request<Body>) -> Option<Request<Body>> {
    let mut again = Request::new(request.body().try_clone()?);
    *again.method_mut() = request.method().clone();
    *again.uri_mut() = request.uri().clone();
    *again.version_mut() = request.version();
    *again.headers_mut() = request.headers().clone();
    *again.extensions_mut() = request.extensions().clone();
    Some(again)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn answer(status: u16, retry_after: Option<&str>) -> Answer {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if let Some(value) = retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value.parse().unwrap());
        }
        Ok(response)
    }

    #[test]
    fn retry_after_is_honoured_capped_and_never_below_the_backoff() {
        let backoff = Duration::from_millis(400);
        assert_eq!(
            wait(&answer(429, Some("3")), backoff),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            wait(&answer(503, Some("3600")), backoff),
            Some(RETRY_AFTER_CAP)
        );
        assert_eq!(wait(&answer(429, Some("0")), backoff), Some(backoff));
        assert_eq!(wait(&answer(503, None), backoff), Some(backoff));
        // an HTTP date is not a number of seconds: the backoff applies
        assert_eq!(
            wait(&answer(429, Some("Wed, 21 Oct 2026 07:28:00 GMT")), backoff),
            Some(backoff)
        );
    }

    #[test]
    fn only_transient_answers_and_transport_failures_are_retried() {
        let backoff = FIRST_BACKOFF;
        for code in [200, 201, 400, 401, 403, 404, 409, 422, 501] {
            assert_eq!(wait(&answer(code, Some("1")), backoff), None, "{code}");
        }
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(wait(&Err(reset), backoff), Some(backoff));
        let timed_out: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(wait(&Err(timed_out), backoff), None);
    }

    #[test]
    fn the_budget_fits_its_total_wait() {
        // the backoffs alone of all retries stay within the total wait
        let backoffs: Duration = (0..ATTEMPTS - 1).map(|i| FIRST_BACKOFF * 2u32.pow(i)).sum();
        assert!(backoffs <= TOTAL_WAIT, "{backoffs:?}");
    }
}
