//! The running service: loading rules (with self-test), starting the proxy
//! and admin listeners, reloading on SIGHUP or file changes, and shutting
//! down gracefully. Tests start it in-process on `127.0.0.1:0`.

use crate::audit::{Audit, Sink};
use crate::config::{AuditOutput, Config, Overrides};
use crate::metrics::Metrics;
use crate::proxy::{self, Shared};
use crate::Matcher;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Loads, compiles and self-tests the packs the config names.
pub fn load_rules(config: &Config) -> Result<Matcher, String> {
    let args = crate::cli::PackArgs {
        patterns: config.packs_dir.clone(),
        token_key_file: config.token_key_file.clone(),
    };
    let m = Arc::new(crate::cli::load_matcher_with(
        &args,
        |k| std::env::var(k).ok(),
        config.audit_fingerprint,
    )?);
    let errs = crate::selftest::run(&m);
    if !errs.is_empty() {
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        return Err(format!("rule self-test failed:\n{}", msgs.join("\n")));
    }
    Arc::try_unwrap(m).map_err(|_| "internal: matcher still shared".to_string())
}

/// How long shutdown waits for the audit log to be written out.
const AUDIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A started service.
#[derive(Debug)]
pub struct Running {
    /// Address of the proxy listener.
    pub proxy_addr: SocketAddr,
    /// Address of the admin listener, if any.
    pub admin_addr: Option<SocketAddr>,
    /// Shared state (metrics, rules, draining flag).
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
}

impl Running {
    /// Starts SIGTERM-style shutdown: stop accepting, drain, stop.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits until the proxy has drained and stopped, and the audit
    /// records of the drained requests are written.
    pub async fn wait(self) {
        let _ = self.done.await;
        // Bounded: a sink that stopped taking writes must not hold up exit.
        let _ = tokio::time::timeout(AUDIT_FLUSH_TIMEOUT, self.shared.audit.flush()).await;
    }

    /// Reloads config and packs (what SIGHUP does).
    pub fn reload(&self) -> Result<(), String> {
        reload(&self.shared, self.config_path.as_deref(), &self.overrides)
    }
}

/// Reloads: compile and self-test first, then swap; a failure keeps the
/// old rules and config and is counted.
pub fn reload(
    shared: &Shared,
    config_path: Option<&std::path::Path>,
    ov: &Overrides,
) -> Result<(), String> {
    let result = (|| {
        let config = match config_path {
            Some(p) => Config::load(Some(p), ov).map_err(|e| e.join("\n"))?,
            None => (*shared.config()).clone(),
        };
        let m = load_rules(&config)?;
        Ok::<_, String>((config, m))
    })();
    match result {
        Ok((config, m)) => {
            shared.metrics.set_rules(&m, true);
            shared.set_matcher(Arc::new(m));
            // Routes removed or renamed must not keep their old series.
            shared.metrics.set_routes(&config.routes);
            shared.set_config(Arc::new(config));
            shared.metrics.reloads.with_label_values(&["success"]).inc();
            tracing::info!(digest = %shared.matcher().digest(), "reloaded rules and config");
            Ok(())
        }
        Err(e) => {
            shared.metrics.reloads.with_label_values(&["failure"]).inc();
            tracing::error!(error = %e, "reload failed; keeping the rules in force");
            Err(e)
        }
    }
}

/// Starts the service from a validated config. `config_path` is re-read on
/// reload.
pub async fn start(
    config: Config,
    config_path: Option<PathBuf>,
    overrides: Overrides,
) -> Result<Running, String> {
    let metrics = Metrics::new();
    // Taken before the packs are read, so a change made while they load is
    // seen by the watcher rather than lost.
    let watched = config
        .watch
        .then(|| fingerprint(config.packs_dir.as_deref(), config_path.as_deref()));
    let matcher = load_rules(&config)?;
    metrics.set_rules(&matcher, true);
    let audit = match &config.audit {
        AuditOutput::Off => Audit::off(metrics.clone()),
        AuditOutput::Stdout => Audit::start(
            Sink::Stdout,
            config.audit_queue,
            config.audit_fail_closed,
            metrics.clone(),
        )
        .await
        .map_err(|e| format!("audit: {e}"))?,
        AuditOutput::File(p) => Audit::start(
            Sink::File(p.clone()),
            config.audit_queue,
            config.audit_fail_closed,
            metrics.clone(),
        )
        .await
        .map_err(|e| format!("audit file {}: {e}", p.display()))?,
    };
    let tls = match &config.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(proxy::tls::server_config(
            files,
        )?)),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", config.listen))?;
    let proxy_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let admin = match config.admin {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| format!("admin {a}: {e}"))?,
        ),
        None => None,
    };
    let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
    let shared = Arc::new(Shared::new(config, Arc::new(matcher), metrics, audit)?);
    let (tx, rx) = watch::channel(false);
    if let Some(l) = admin {
        tokio::spawn(admin_loop(shared.clone(), l));
    }
    if let Some(last) = watched {
        tokio::spawn(watch_loop(
            shared.clone(),
            config_path.clone(),
            overrides.clone(),
            last,
            rx.clone(),
        ));
    }
    let mut rx2 = rx.clone();
    let shutdown = async move {
        while !*rx2.borrow() {
            if rx2.changed().await.is_err() {
                break;
            }
        }
    };
    let done = tokio::spawn(proxy::serve(shared.clone(), listener, tls, shutdown));
    Ok(Running {
        proxy_addr,
        admin_addr,
        shared,
        shutdown: tx,
        done,
        config_path,
        overrides,
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>, ct: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ct),
    );
    r
}

/// Serves `/metrics`, `/healthz` and `/readyz`; it keeps answering while
/// the proxy drains (readiness then says not ready) until the process ends.
async fn admin_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let shared = shared.clone();
                    async move {
                        let r = match req.uri().path() {
                            "/metrics" => text(
                                StatusCode::OK,
                                shared.metrics.render(),
                                "text/plain; version=0.0.4",
                            ),
                            "/healthz" => text(StatusCode::OK, "ok\n", "text/plain"),
                            "/readyz" => readiness(&shared),
                            _ => text(StatusCode::NOT_FOUND, "not found\n", "text/plain"),
                        };
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn readiness(shared: &Shared) -> Response<Full<Bytes>> {
    let m = shared.matcher();
    let cfg = shared.config();
    let observing: Vec<&str> = cfg
        .routes
        .iter()
        .filter(|r| r.mode == crate::config::Mode::Observe)
        .map(|r| r.name.as_str())
        .collect();
    let passing: Vec<&str> = cfg
        .routes
        .iter()
        .filter(|r| r.mode == crate::config::Mode::Pass)
        .map(|r| r.name.as_str())
        .collect();
    let draining = shared.draining.load(Ordering::SeqCst);
    let selftest = shared.metrics.selftest_ok.get() >= 1.0;
    let ready = !draining && selftest;
    let body = serde_json::json!({
        "ready": ready,
        "draining": draining,
        "selftest_ok": selftest,
        "pack_digest": m.digest(),
        "rules": m.rule_count(),
        "observe_routes": observing,
        "pass_routes": passing,
    });
    text(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        format!("{body}\n"),
        "application/json",
    )
}

/// Fingerprint of the packs directory and config file: names, sizes and
/// modification times, following symlinks (a Kubernetes ConfigMap update
/// swaps a symlinked directory, so the directory is what is watched).
fn fingerprint(
    packs_dir: Option<&std::path::Path>,
    config_path: Option<&std::path::Path>,
) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut v = Vec::new();
    let mut add = |p: PathBuf| {
        if let Ok(md) = std::fs::metadata(&p) {
            v.push((p, md.len(), md.modified().ok()));
        }
    };
    if let Some(c) = config_path {
        add(c.to_path_buf());
    }
    if let Some(dir) = packs_dir {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                add(f);
            }
        }
    }
    v
}

async fn watch_loop(
    shared: Arc<Shared>,
    config_path: Option<PathBuf>,
    ov: Overrides,
    mut last: Vec<(PathBuf, u64, Option<SystemTime>)>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        let now = fingerprint(shared.config().packs_dir.as_deref(), config_path.as_deref());
        if now != last {
            last = now;
            let _ = reload(&shared, config_path.as_deref(), &ov);
        }
    }
}

/// Runs `scrim serve` until SIGTERM/SIGINT; SIGHUP reloads.
pub async fn run_until_signal(
    config: Config,
    config_path: Option<PathBuf>,
    ov: Overrides,
) -> Result<(), String> {
    let running = start(config, config_path, ov).await?;
    tracing::info!(proxy = %running.proxy_addr, admin = ?running.admin_addr, digest = %running.shared.matcher().digest(), "scrim serving");
    eprintln!("scrim: proxy listening on {}", running.proxy_addr);
    if let Some(a) = running.admin_addr {
        eprintln!("scrim: admin (/metrics /healthz /readyz) on {a}");
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                _ = hup.recv() => { let _ = running.reload(); }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("scrim: draining");
    running.shutdown();
    running.wait().await;
    Ok(())
}
