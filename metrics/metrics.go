// Package metrics is paylinks' Prometheus instrumentation: the registry,
// the series every part reports to, and the outcome names each series is
// started with. docs/operations.md lists the series.
package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/stablemint"
)

// Outcomes other code reports; each series starts at 0 so it is scraped
// before the first event.
var (
	// WebhookOutcomes are the outcomes of a POST /webhooks/stablemint.
	WebhookOutcomes = []string{"accepted", "duplicate", "refused", "unavailable"}
	// EmailOutcomes are the outcomes of one outbox send attempt.
	EmailOutcomes = []string{"sent", "kept", "retry", "failed", "cancelled"}
	// CheckpointOutcomes are the outcomes of one WAL checkpoint.
	CheckpointOutcomes = []string{"ok", "busy", "error"}
)

// Metrics is paylinks' Prometheus instrumentation, on a registry of its own
// (one per server: tests never share one). Every method is safe on a nil
// *Metrics and then records nothing, so code that reports an outcome needs
// no check.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	requests *prometheus.HistogramVec
	links    *prometheus.CounterVec
	smCalls  *prometheus.HistogramVec
	smErrors *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	emails   *prometheus.CounterVec
	ckpts    *prometheus.CounterVec
	ckptPgs  prometheus.Counter
	refusals *prometheus.CounterVec

	mu     sync.Mutex
	gauges map[string]*atomic.Pointer[func() float64]
}

// New makes the registry with paylinks' series, the Go runtime's and
// the process's. log receives gauge read errors (nil discards them).
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(), log: log.With("component", "metrics"),
		gauges: map[string]*atomic.Pointer[func() float64]{},
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paylinks_http_request_duration_seconds",
			Help: "HTTP requests by method, route (the route pattern, never the raw URL) and status.",
		}, []string{"method", "route", "status"}),
		links: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_link_creations_total",
			Help: "Attempts to mint a link at StableMint, by outcome.",
		}, []string{"outcome"}),
		smCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paylinks_stablemint_call_duration_seconds",
			Help:    "CreateHostedSession calls as paylinks sees them (retries included), by outcome.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}, []string{"outcome"}),
		smErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_stablemint_call_errors_total",
			Help: "Failed CreateHostedSession calls, by kind.",
		}, []string{"kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_webhook_deliveries_total",
			Help: "Webhook deliveries received, by outcome.",
		}, []string{"outcome"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_emails_total",
			Help: "Outbox send attempts, by outcome.",
		}, []string{"outcome"}),
		ckpts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_wal_checkpoints_total",
			Help: "WAL checkpoints the checkpoint job ran, by mode (passive, truncate) and outcome (ok, busy, error).",
		}, []string{"mode", "outcome"}),
		ckptPgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paylinks_wal_checkpointed_pages_total",
			Help: "Pages the checkpoint job's checkpoints found copied into the database file (a page copied earlier counts again).",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylinks_busy_refusals_total",
			Help: "Expensive requests (searches, counts, exports) answered busy because the expensive class was full, by class.",
		}, []string{"class"}),
	}
	m.reg.MustRegister(m.ckpts, m.ckptPgs, m.refusals)
	m.reg.MustRegister(m.requests, m.links, m.smCalls, m.smErrors, m.webhooks, m.emails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range WebhookOutcomes {
		m.webhooks.WithLabelValues(o)
	}
	for _, o := range EmailOutcomes {
		m.emails.WithLabelValues(o)
	}
	for _, mode := range []string{"passive", "truncate"} {
		for _, o := range CheckpointOutcomes {
			m.ckpts.WithLabelValues(mode, o)
		}
	}
	for _, o := range links.Outcomes {
		m.links.WithLabelValues(o)
	}
	return m
}

// Registry is the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// WebhookDelivery counts one webhook delivery; outcome is one of
// WebhookOutcomes.
func (m *Metrics) WebhookDelivery(outcome string) {
	if m != nil {
		m.webhooks.WithLabelValues(outcome).Inc()
	}
}

// EmailOutcome counts one outbox send attempt; outcome is one of
// EmailOutcomes.
func (m *Metrics) EmailOutcome(outcome string) {
	if m != nil {
		m.emails.WithLabelValues(outcome).Inc()
	}
}

// LinkCreation counts one mint attempt; outcome is one of links.Outcomes.
func (m *Metrics) LinkCreation(outcome string) {
	if m != nil {
		m.links.WithLabelValues(outcome).Inc()
	}
}

// Checkpoint counts one WAL checkpoint: mode "passive" or "truncate",
// outcome one of CheckpointOutcomes, and the pages it found checkpointed.
func (m *Metrics) Checkpoint(mode, outcome string, pages int) {
	if m != nil {
		m.ckpts.WithLabelValues(mode, outcome).Inc()
		if pages > 0 {
			m.ckptPgs.Add(float64(pages))
		}
	}
}

// WALSize exports paylinks_wal_bytes, the WAL file's size read at each
// scrape; a failed read is logged and scraped as NaN.
func (m *Metrics) WALSize(size func() (int64, error)) {
	m.gauge(prometheus.GaugeOpts{Name: "paylinks_wal_bytes", Help: "Size of the database's write-ahead log file in bytes."}, func() float64 {
		n, err := size()
		if err != nil {
			m.log.Warn("metrics gauge", "gauge", "paylinks_wal_bytes", "err", err)
			return math.NaN()
		}
		return float64(n)
	})
}

// BusyRefusal counts one expensive request answered busy; class names
// what it was ("search", "count", "export", "audit").
func (m *Metrics) BusyRefusal(class string) {
	if m != nil {
		m.refusals.WithLabelValues(class).Inc()
	}
}

// OutboxDepth exports paylinks_outbox_depth, read from depth at each
// scrape (emails queued and not yet sent). A later call replaces depth.
func (m *Metrics) OutboxDepth(depth func(ctx context.Context) (int, error)) {
	m.GaugeFromDB("paylinks_outbox_depth", "Emails waiting in the outbox.", depth)
}

// GaugeFromDB exports a gauge read by a query, with a deadline; a failed
// read is logged and scraped as NaN.
func (m *Metrics) GaugeFromDB(name, help string, read func(ctx context.Context) (int, error)) {
	m.gauge(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := read(ctx)
		if err != nil {
			m.log.Warn("metrics gauge", "gauge", name, "err", err)
			return math.NaN()
		}
		return float64(n)
	})
}

// gauge registers a GaugeFunc once per name and labels; later calls swap
// its function, so building two servers on one Metrics is harmless.
func (m *Metrics) gauge(opts prometheus.GaugeOpts, fn func() float64) {
	if m == nil {
		return
	}
	key := opts.Name
	for k, v := range opts.ConstLabels {
		key += "," + k + "=" + v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.gauges[key]; ok {
		p.Store(&fn)
		return
	}
	p := &atomic.Pointer[func() float64]{}
	p.Store(&fn)
	m.gauges[key] = p
	m.reg.MustRegister(prometheus.NewGaugeFunc(opts, func() float64 { return (*p.Load())() }))
}

// Breaker exports StableMint's circuit breaker as
// paylinks_stablemint_breaker_state{state="closed|open|half-open"}: 1 for
// the current state, 0 for the others.
func (m *Metrics) Breaker(b interface{ BreakerState() string }) {
	for _, s := range []string{stablemint.BreakerClosed, stablemint.BreakerOpen, stablemint.BreakerHalfOpen} {
		m.gauge(prometheus.GaugeOpts{
			Name: "paylinks_stablemint_breaker_state", Help: "StableMint circuit breaker: 1 for its current state.",
			ConstLabels: prometheus.Labels{"state": s},
		}, func() float64 {
			if b.BreakerState() == s {
				return 1
			}
			return 0
		})
	}
}

// StorageFault exports paylinks_database_writable (1 while the database
// accepts writes, 0 after a write the disk refused) and
// paylinks_database_write_fault{fault="…"}, 1 for the current fault and 0
// for the other names in faults; current reports the fault's name, or ""
// while writes succeed.
func (m *Metrics) StorageFault(faults []string, current func() string) {
	m.gauge(prometheus.GaugeOpts{Name: "paylinks_database_writable", Help: "1 while the database accepts writes; 0 after a write the disk refused, until a write succeeds."},
		func() float64 {
			if current() == "" {
				return 1
			}
			return 0
		})
	for _, f := range faults {
		m.gauge(prometheus.GaugeOpts{
			Name: "paylinks_database_write_fault", Help: "Why the database cannot accept writes: 1 for the current fault.",
			ConstLabels: prometheus.Labels{"fault": f},
		}, func() float64 {
			if current() == f {
				return 1
			}
			return 0
		})
	}
}

// Handler serves the metrics. With a token it demands
// "Authorization: Bearer <token>" (compared in constant time) and answers
// 401 otherwise.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg, ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	})
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
	if token == "" {
		return wrapped
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		// Hashing first makes the comparison constant-time in the length too.
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paylinks metrics"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		wrapped.ServeHTTP(w, r)
	})
}

// InstrumentClient wraps c so every CreateHostedSession call is timed and
// its errors counted. A client already wrapped by m is returned as is.
func (m *Metrics) InstrumentClient(c links.HostedSessions) links.HostedSessions {
	if m == nil || c == nil {
		return c
	}
	if mc, ok := c.(*meteredSessions); ok && mc.m == m {
		return c
	}
	return &meteredSessions{HostedSessions: c, m: m}
}

// meteredSessions is the metrics decorator of the StableMint client.
type meteredSessions struct {
	links.HostedSessions
	m *Metrics
}

func (s *meteredSessions) CreateHostedSession(ctx context.Context, req stablemint.Request) (stablemint.Session, error) {
	start := time.Now()
	sess, err := s.HostedSessions.CreateHostedSession(ctx, req)
	outcome := links.Classify(err).Outcome
	s.m.smCalls.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if err != nil {
		kind := outcome
		if errors.Is(err, stablemint.ErrCircuitOpen) {
			kind = "circuit-open"
		}
		s.m.smErrors.WithLabelValues(kind).Inc()
	}
	return sess, err
}

// BreakerState passes the wrapped client's breaker through.
func (s *meteredSessions) BreakerState() string {
	if b, ok := s.HostedSessions.(interface{ BreakerState() string }); ok {
		return b.BreakerState()
	}
	return ""
}

// Request times one HTTP request for paylinks_http_request_duration_seconds;
// route is the route pattern, never the raw URL.
func (m *Metrics) Request(method, route string, status int, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(methodLabel(method), route, strconv.Itoa(status)).Observe(d.Seconds())
	}
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
