//! The listener's accept loop: one HTTP/1.1 connection task per client, each serving the
//! router with the client's address in the request's [`Scope`], stopped gracefully on shutdown.
//!
//! This is `axum::serve` with one difference, [`PollAgainOnSelfWake`] around every connection
//! task. Every WeChat endpoint reads its body, and that wrapper took the p99 of fastreg's 61058
//! in the side by side (wrk, 64 connections, two cores) from 4.6–5.0 ms to 2.0–2.9 ms at the
//! same throughput (BENCHMARKS.md, "SQLite, side by side with httpmock").
//!
//! The proxy mode (in the binary) serves its connections with its own loop, since it answers
//! CONNECT first; it wraps its tasks in the same [`PollAgainOnSelfWake`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

use super::extract::Scope;

/// Serves `app` (the platform's [`super::App`]) on `listener` until `shutdown` resolves; then
/// accepts nothing new, lets every connection finish the request it is in (idle keep-alive
/// connections close at once), and returns when all have closed. The caller bounds that wait
/// (`shutdown_timeout_secs`).
pub async fn serve<S>(listener: TcpListener, app: S, shutdown: impl Future<Output = ()>)
where
    S: Service<axum::extract::Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    backoff_after(&e).await;
                    continue;
                }
            },
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(Scope::from_peer(peer));
            req.map(Body::new)
        });
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(PollAgainOnSelfWake::new(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// After a failed accept (here and in the proxy's loop): the client's own failures (it reset
/// before we accepted) cost nothing; running out of file descriptors and the like backs off
/// instead of spinning.
pub async fn backoff_after(e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "could not accept a connection; retrying in 50 ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A future that, when it wakes itself while being polled, is polled again at once (up to
/// [`POLLS_IN_PLACE`] times) instead of going to the back of its worker's run queue.
///
/// Why: hyper's HTTP/1 connection task wakes itself whenever its handler takes the request
/// body (the body channel tells its sender there is room, and the sender is the connection
/// task itself), even though the body has long arrived and the answer is about to be written.
/// tokio queues a task woken while running at the back of its worker's local queue; the answer
/// goes out within the same poll, but the task stays queued instead of waiting on its socket,
/// and when that worker is preempted (a load generator on the same two cores), the next
/// request on the connection waits behind the whole queue. Measured on a bare axum server,
/// 64 connections, two cores: a handler that reads its body had p99 4.4 ms, one that does not
/// 1.6–2.2 ms; the same body-reading handler in this wrapper 1.6 ms, at the same throughput.
///
/// A wake from anywhere else (the socket, a timer, another task) while the future is not
/// being polled goes to the task's own waker as usual. A future that keeps waking itself (a
/// fairness yield) is polled [`POLLS_IN_PLACE`] times, then handed back to the scheduler.
pub struct PollAgainOnSelfWake<F> {
    inner: Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
}

/// How many times one poll of [`PollAgainOnSelfWake`] may poll its future: hyper's connection
/// needs two (the poll that answers, then one that finds nothing to do and waits on its
/// socket); more lets a future that yields on purpose (hyper yields after 16 pipelined
/// requests) run a little longer before its worker's other tasks.
pub const POLLS_IN_PLACE: usize = 4;

/// The state shared by a [`PollAgainOnSelfWake`] and the waker it polls its future with.
struct WakeFlag {
    state: AtomicU8,
    /// The task's own waker, as of the last poll.
    task: AtomicWaker,
}

/// The future is being polled.
const POLLING: u8 = 0b01;
/// The future was woken while being polled.
const WOKEN: u8 = 0b10;

impl<F: Future> PollAgainOnSelfWake<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        let flag = Arc::new(WakeFlag {
            state: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        PollAgainOnSelfWake {
            inner: Box::pin(inner),
            flag,
            waker,
        }
    }
}

impl<F: Future> Future for PollAgainOnSelfWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.flag.task.register(cx.waker());
        for _ in 0..POLLS_IN_PLACE {
            this.flag.state.store(POLLING, Ordering::Release);
            let polled = this
                .inner
                .as_mut()
                .poll(&mut Context::from_waker(&this.waker));
            // From here on a wake goes to the task's waker (WakeFlag::wake_by_ref).
            let state = this.flag.state.swap(0, Ordering::AcqRel);
            if polled.is_ready() || state & WOKEN == 0 {
                return polled;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        while state & POLLING != 0 {
            // Being polled (on this thread or another): the poll loop sees WOKEN and polls again.
            match self.state.compare_exchange_weak(
                state,
                state | WOKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Count {
        fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Polls `f` once with a counting waker.
    fn poll_once<F: Future>(f: &mut Pin<Box<F>>, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(count.clone());
        f.as_mut().poll(&mut Context::from_waker(&waker))
    }

    /// Pending `selfish` times, waking itself each time, then ready with how often it was polled.
    fn yields(selfish: usize) -> impl Future<Output = usize> {
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            if polls > selfish {
                Poll::Ready(polls)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[test]
    fn a_future_that_wakes_itself_once_is_polled_again_without_waking_the_task() {
        let count = Arc::new(Count::default());
        let mut f = Box::pin(PollAgainOnSelfWake::new(yields(1)));
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(2));
        assert_eq!(count.wakes(), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_is_handed_back_to_the_scheduler() {
        let count = Arc::new(Count::default());
        let mut f = Box::pin(PollAgainOnSelfWake::new(yields(POLLS_IN_PLACE + 1)));
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        assert_eq!(count.wakes(), 1, "the task is woken to be polled later");
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(POLLS_IN_PLACE + 2));
    }

    #[test]
    fn a_wake_while_idle_reaches_the_task_once_per_poll() {
        let count = Arc::new(Count::default());
        let stored = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let mut f = Box::pin(PollAgainOnSelfWake::new(std::future::poll_fn({
            let stored = stored.clone();
            move |cx| {
                *stored.lock().expect("not poisoned") = Some(cx.waker().clone());
                Poll::<()>::Pending
            }
        })));
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        assert_eq!(count.wakes(), 0);
        let waker = stored.lock().expect("not poisoned").take();
        let waker = waker.expect("the future stored its waker");
        waker.wake_by_ref();
        assert_eq!(count.wakes(), 1);
        // The first wake took the task's waker; the poll it causes registers it again.
        waker.wake_by_ref();
        assert_eq!(count.wakes(), 1);
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        waker.wake_by_ref();
        assert_eq!(count.wakes(), 2);
    }

    #[test]
    fn a_wake_from_another_thread_during_the_poll_is_not_lost() {
        let count = Arc::new(Count::default());
        let mut f = Box::pin(PollAgainOnSelfWake::new({
            let mut polls = 0;
            std::future::poll_fn(move |cx| {
                polls += 1;
                if polls == 2 {
                    return Poll::Ready(polls);
                }
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake())
                    .join()
                    .expect("the waking thread");
                Poll::Pending
            })
        }));
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(2));
        assert_eq!(count.wakes(), 0);
    }

    #[tokio::test]
    async fn a_connection_served_in_the_wrapper_answers_requests_that_carry_a_body() {
        use axum::routing::post;
        use axum::Extension;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let router = axum::Router::new().route(
            "/echo",
            post(
                |Extension(scope): Extension<Scope>, body: String| async move {
                    let peer = scope.peer.expect("the accept loop's peer");
                    format!("{body} from {}", peer.ip())
                },
            ),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        for i in 0..3 {
            let body = format!("hello {i}");
            let req = format!(
                "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(req.as_bytes()).await.expect("write");
            let expected = format!("hello {i} from 127.0.0.1");
            let mut answer = Vec::new();
            while !answer.ends_with(expected.as_bytes()) {
                let mut buf = [0; 1024];
                let n = tcp.read(&mut buf).await.expect("read");
                assert_ne!(n, 0, "closed after {:?}", String::from_utf8_lossy(&answer));
                answer.extend_from_slice(&buf[..n]);
            }
            assert!(answer.starts_with(b"HTTP/1.1 200"));
        }
        let _ = stop.send(());
        // The idle keep-alive connection is closed, and the server returns.
        let mut rest = Vec::new();
        tcp.read_to_end(&mut rest).await.expect("read to the end");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops")
            .expect("the server task");
    }
}
