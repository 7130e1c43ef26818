//! Prometheus metrics. One [`Metrics`] is made in `main` with its own
//! registry and passed down; nothing registers globally. Every label comes
//! from a closed set: route names from the config, rule ids and categories
//! from the packs, and the fixed reason/kind/format strings below.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder,
};
use std::sync::{Arc, OnceLock};

/// Every metric scrim exports. Cloning is one reference count (each
/// request's stream holds a clone).
#[derive(Clone)]
pub struct Metrics(std::sync::Arc<MetricSet>);

impl std::ops::Deref for Metrics {
    type Target = MetricSet;
    fn deref(&self) -> &MetricSet {
        &self.0
    }
}

/// The metrics themselves (see [`Metrics`]).
pub struct MetricSet {
    /// Unique per `Metrics::new` in this process.
    id: u64,
    registry: Registry,
    /// Redactions by route, direction, rule and category.
    pub redactions: IntCounterVec,
    /// Bytes scanned by route and format.
    pub scanned_bytes: IntCounterVec,
    /// Bytes passed without scanning by route and reason.
    pub unscanned_bytes: IntCounterVec,
    /// Responses refused before any body byte (502) by route and reason.
    pub blocked: IntCounterVec,
    /// Responses cut off mid-body by route and reason.
    pub aborted: IntCounterVec,
    /// Requests by route and status class.
    pub requests: IntCounterVec,
    /// Request duration (to the end of the response body) by route.
    pub duration: HistogramVec,
    /// Upstream time to response headers by route.
    pub ttfb: HistogramVec,
    /// Upstream errors by kind.
    pub upstream_errors: IntCounterVec,
    /// Bodies being streamed now.
    pub inflight: IntGauge,
    /// Config/pack reloads by result.
    pub reloads: IntCounterVec,
    /// Rules loaded per pack.
    pub rules_loaded: GaugeVec,
    /// 1 when the loaded packs passed their self-test.
    pub selftest_ok: Gauge,
    /// Version and pack digest in force.
    pub build_info: GaugeVec,
    /// Audit records dropped because the queue was full.
    pub audit_dropped: IntCounter,
    /// JSON bodies that were not JSON (scanned as text from that point).
    pub malformed: IntCounterVec,
    /// WebSocket messages by route, direction and outcome.
    pub ws_messages: IntCounterVec,
    /// 1 while a route is in observe mode.
    pub observe_mode: GaugeVec,
    /// 1 while a route is pass-through (nothing scanned).
    pub route_pass: GaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl Metrics {
    /// Identity of this set of metrics (clones share it; never reused in
    /// a process, unlike an address).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// Creates every metric in a new registry.
    // The metric definitions are constants; `expect` documents that a
    // failure here is a programming error caught by any test run.
    #[allow(clippy::expect_used)]
    pub fn new() -> Metrics {
        let r = Registry::new();
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let hist = |name: &str, help: &str| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.clone()),
                &["route"],
            )
            .expect("valid histogram");
            r.register(Box::new(h.clone()))
                .expect("metric registered once");
            h
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            r.register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let inflight = IntGauge::new(
            "scrim_inflight_streams",
            "Response bodies being streamed now",
        )
        .expect("valid gauge");
        r.register(Box::new(inflight.clone()))
            .expect("metric registered once");
        let selftest_ok = Gauge::new(
            "scrim_selftest_ok",
            "1 when the loaded rule packs passed their self-test",
        )
        .expect("valid gauge");
        r.register(Box::new(selftest_ok.clone()))
            .expect("metric registered once");
        let audit_dropped = IntCounter::new(
            "scrim_audit_dropped_total",
            "Audit records dropped because the queue was full",
        )
        .expect("valid counter");
        r.register(Box::new(audit_dropped.clone()))
            .expect("metric registered once");
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Metrics(std::sync::Arc::new(MetricSet {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            redactions: counter(
                &r,
                "scrim_redactions_total",
                "Values redacted",
                &["route", "direction", "rule", "category"],
            ),
            scanned_bytes: counter(
                &r,
                "scrim_scanned_bytes_total",
                "Body bytes scanned by the engine",
                &["route", "format"],
            ),
            unscanned_bytes: counter(
                &r,
                "scrim_unscanned_bytes_total",
                "Body bytes passed without redaction",
                &["route", "reason"],
            ),
            blocked: counter(
                &r,
                "scrim_responses_blocked_total",
                "Responses refused with an error before any body byte",
                &["route", "reason"],
            ),
            aborted: counter(
                &r,
                "scrim_responses_aborted_total",
                "Responses cut off mid-body (the client sees a failure)",
                &["route", "reason"],
            ),
            requests: counter(
                &r,
                "scrim_requests_total",
                "Requests by route and status class",
                &["route", "status_class"],
            ),
            duration: hist(
                "scrim_request_duration_seconds",
                "Request duration until the response body ended",
            ),
            ttfb: hist(
                "scrim_upstream_ttfb_seconds",
                "Upstream time to response headers",
            ),
            upstream_errors: counter(
                &r,
                "scrim_upstream_errors_total",
                "Upstream failures by kind",
                &["kind"],
            ),
            inflight,
            reloads: counter(
                &r,
                "scrim_config_reloads_total",
                "Pack and config reloads by result",
                &["result"],
            ),
            rules_loaded: gauge_vec("scrim_rules_loaded", "Rules loaded per pack", &["pack"]),
            selftest_ok,
            build_info: gauge_vec(
                "scrim_build_info",
                "Version and rule pack digest in force",
                &["version", "pack_digest"],
            ),
            audit_dropped,
            malformed: counter(
                &r,
                "scrim_malformed_json_total",
                "JSON bodies that stopped being JSON (rest scanned as text)",
                &["route"],
            ),
            ws_messages: counter(
                &r,
                "scrim_websocket_messages_total",
                "WebSocket messages by direction and outcome",
                &["route", "direction", "outcome"],
            ),
            observe_mode: gauge_vec(
                "scrim_observe_mode",
                "1 while the route only observes (bodies unchanged)",
                &["route"],
            ),
            route_pass: gauge_vec(
                "scrim_route_pass",
                "1 while the route passes bodies unscanned (mode = \"pass\")",
                &["route"],
            ),
            registry: r,
        }))
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }

    /// Sets the per-route mode gauges for `routes`, dropping the series of
    /// routes that no longer exist.
    pub fn set_routes(&self, routes: &[std::sync::Arc<crate::config::Route>]) {
        use crate::config::Mode;
        self.observe_mode.reset();
        self.route_pass.reset();
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        for r in routes {
            self.observe_mode
                .with_label_values(&[&r.name])
                .set(flag(r.mode == Mode::Observe));
            self.route_pass
                .with_label_values(&[&r.name])
                .set(flag(r.mode == Mode::Pass));
        }
    }

    /// Records the rules in force (on start-up and after each reload).
    pub fn set_rules(&self, m: &crate::Matcher, selftest_ok: bool) {
        self.rules_loaded.reset();
        for (pack, n) in m.packs() {
            self.rules_loaded.with_label_values(&[pack]).set(*n as f64);
        }
        self.selftest_ok.set(if selftest_ok { 1.0 } else { 0.0 });
        self.build_info.reset();
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), m.digest()])
            .set(1.0);
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// `2xx`-style class of a status code.
pub fn status_class(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The metric series of one route that every request touches, each
/// resolved on first use and kept: a labelled lookup (hash the labels, take
/// a lock, find the child) per request and per body frame is a measurable
/// share of a pass-through request's cost. A series appears in the output
/// only once used, exactly as with direct lookups.
#[derive(Debug)]
pub struct RouteMetrics {
    /// Which [`Metrics`] the series belong to.
    owner: u64,
    route: String,
    requests: [OnceLock<IntCounter>; 5],
    duration: OnceLock<Histogram>,
    ttfb: OnceLock<Histogram>,
    /// By reason: route_pass, binary, observe.
    unscanned: [OnceLock<IntCounter>; 3],
    /// By format: text, json, ndjson, sse.
    scanned: [OnceLock<IntCounter>; 4],
}

const UNSCANNED_REASONS: [&str; 3] = ["route_pass", "binary", "observe"];

impl RouteMetrics {
    fn new(m: &Metrics, route: &str) -> RouteMetrics {
        RouteMetrics {
            owner: m.id(),
            route: route.to_string(),
            requests: Default::default(),
            duration: OnceLock::new(),
            ttfb: OnceLock::new(),
            unscanned: Default::default(),
            scanned: Default::default(),
        }
    }

    /// `scrim_requests_total` for this route and `status`'s class.
    pub fn requests(&self, m: &Metrics, status: u16) -> &IntCounter {
        let class = status_class(status);
        let i = usize::from(class.as_bytes()[0] - b'1');
        self.requests[i].get_or_init(|| m.requests.with_label_values(&[&self.route, class]))
    }

    /// The request duration histogram of this route.
    pub fn duration(&self, m: &Metrics) -> &Histogram {
        self.duration
            .get_or_init(|| m.duration.with_label_values(&[&self.route]))
    }

    /// The upstream time-to-first-byte histogram of this route.
    pub fn ttfb(&self, m: &Metrics) -> &Histogram {
        self.ttfb
            .get_or_init(|| m.ttfb.with_label_values(&[&self.route]))
    }

    /// Adds to `scrim_unscanned_bytes_total` for this route and `reason`.
    pub fn add_unscanned(&self, m: &Metrics, reason: &str, n: u64) {
        match UNSCANNED_REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.unscanned[i]
                .get_or_init(|| m.unscanned_bytes.with_label_values(&[&self.route, reason]))
                .inc_by(n),
            None => m
                .unscanned_bytes
                .with_label_values(&[&self.route, reason])
                .inc_by(n),
        }
    }

    /// Adds to `scrim_scanned_bytes_total` for this route and `format`.
    pub fn add_scanned(&self, m: &Metrics, format: crate::Format, n: u64) {
        let i = format as usize;
        self.scanned[i]
            .get_or_init(|| {
                m.scanned_bytes
                    .with_label_values(&[&self.route, format.name()])
            })
            .inc_by(n);
    }
}

/// Where a route keeps its [`RouteMetrics`]: resolved by the first request
/// and shared by later ones. A clone starts empty.
#[derive(Default)]
pub struct RouteMetricsCell(OnceLock<Arc<RouteMetrics>>);

impl RouteMetricsCell {
    /// The route's series in `m`. A route used with a second [`Metrics`]
    /// (tests) gets fresh, uncached series for it.
    pub fn get(&self, m: &Metrics, route: &str) -> Arc<RouteMetrics> {
        let rm = self.0.get_or_init(|| Arc::new(RouteMetrics::new(m, route)));
        if rm.owner == m.id() {
            rm.clone()
        } else {
            Arc::new(RouteMetrics::new(m, route))
        }
    }
}

impl Clone for RouteMetricsCell {
    fn clone(&self) -> Self {
        RouteMetricsCell::default()
    }
}

impl std::fmt::Debug for RouteMetricsCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteMetricsCell")
    }
}
