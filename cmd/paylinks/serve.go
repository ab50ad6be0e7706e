package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"path/filepath"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/metrics"
	"github.com/paylinks/paylinks/outbox"
)

// Server timeouts (docs/security.md A6): Echo's own server has none.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	// A graceful stop waits for requests in flight as long as any may run:
	// the write timeout, beyond the 20 s request timeout
	// (handlers/errors.go) that bounds a StableMint call (15 s) and its
	// commit. A SIGTERM during a slow mint still answers that request.
	shutdownTimeout = writeTimeout
	setupTokenTTL   = 24 * time.Hour
	// The dashboard's figures are shared by every viewer for this long.
	dashboardMaxAge = 10 * time.Second
)

// serve runs the web application until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	startedAt := time.Now()
	st, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	keys := cfg.SessionKeys
	if keys == nil {
		var path string
		if keys, path, err = sessionKeysFile(cfg.DBPath); err != nil {
			return fmt.Errorf("PAYLINKS_SESSION_KEYS: %w", err)
		}
		log.Info("session keys from file", "path", path)
	}
	apiHashKey, apiHashPath, err := apiKeyHashFile(cfg.DBPath)
	if err != nil {
		return err
	}
	log.Info("API key hash key from file", "path", apiHashPath)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("PAYLINKS_ADDR: %w", err)
	}
	defer ln.Close()
	base := cfg.BaseURL
	if base == nil {
		base = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	}

	// Webhooks from the in-process sandbox go straight to the listener.
	prov, err := openProvider(cfg.StableMint, filepath.Dir(cfg.DBPath), "http://"+ln.Addr().String()+"/webhooks/stablemint", log, stdout)
	if err != nil {
		return err
	}
	defer prov.Close()
	sender, err := newSender(cfg, log)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Config{
		BaseURL: base, SessionKeys: keys, IdleTimeout: cfg.IdleTimeout, AbsoluteTimeout: cfg.AbsoluteTimeout,
		TrustedProxies: cfg.TrustedProxies, SandboxMode: prov.Sandbox != nil,
		LoginRatePerMinute: cfg.LoginRate, WebhookRatePerSecond: float64(cfg.WebhookRate),
		DashboardMaxAge: dashboardMaxAge, WALLimit: cfg.WALLimit, ExpensiveConcurrency: cfg.ExpensiveConcurrency,
		MailFrom: cfg.MailFrom, CompanyName: cfg.CompanyName, MailRatePerMinute: cfg.MailRate,
		Mail:         outbox.Config{Sender: sender},
		MetricsToken: cfg.MetricsToken, APIKeyHashKey: apiHashKey,
		ImportInFlight: cfg.ImportInFlight,
	}, app.Parts{Store: st, StableMint: prov.Client, Verifier: prov.Verifier, Logger: log})
	if err != nil {
		return err
	}
	// The webhook writer stops after the server (deferred calls run in
	// reverse), before the store.
	defer a.Close()
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	msrv, err := serveMetrics(cfg, a.Metrics, log, stdout)
	if err != nil {
		return err
	}
	if msrv != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := msrv.Shutdown(sctx); err != nil {
				log.Warn("metrics server shutdown", "component", "metrics", "err", err)
			}
		}()
	}

	psrv, err := servePprof(cfg, log, stdout)
	if err != nil {
		return err
	}
	if psrv != nil {
		defer psrv.Close()
	}

	fmt.Fprintf(stdout, "paylinks listening on %s\n", base)
	if err := printSetupLink(ctx, st, base, stdout); err != nil {
		return err
	}

	// Background jobs (docs/architecture.md). They stop when serve
	// returns, each finishing a run in progress (a mint or an SMTP
	// attempt), before the store closes.
	defer jobs.Start(ctx, log, a.Jobs(startedAt)...).Stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printSetupLink prints a one-time link to create the first admin when no
// account can sign in (a fresh database, perhaps seeded). Each start
// replaces the previous link.
func printSetupLink(ctx context.Context, st *db.Store, base *url.URL, stdout io.Writer) error {
	open, err := st.SetupOpen(ctx)
	if err != nil || !open {
		return err
	}
	token, err := handlers.CreateSetupToken(ctx, st, st.Now(), setupTokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nNo account can sign in yet. Create the first admin within 24 hours at this one-time link:\n\n    %s/setup?token=%s\n\n", base, token)
	return nil
}

// newSender is SMTP when PAYLINKS_SMTP_URL is set; nil otherwise: the
// outbox keeps emails in the local mailbox and sends nothing.
func newSender(cfg Config, log *slog.Logger) (outbox.Sender, error) {
	if cfg.SMTP == nil {
		log.Warn("PAYLINKS_SMTP_URL is not set: customer emails are kept in the local mailbox (/admin/mailbox), not sent", "component", "mailer")
		return nil, nil
	}
	s, err := mail.NewSMTP(*cfg.SMTP)
	if err != nil {
		return nil, fmt.Errorf("PAYLINKS_SMTP_URL: %w", err)
	}
	log.Info("customer emails go through SMTP", "component", "mailer", "server", s.String(), "from", cfg.MailFrom.Email)
	return s, nil
}

// serveMetrics starts the metrics-only listener of PAYLINKS_METRICS_ADDR,
// if set: GET /metrics (bearer token when PAYLINKS_METRICS_TOKEN is set),
// 404 for anything else, the same timeouts as the application. The caller
// shuts it down.
func serveMetrics(cfg Config, metrics *metrics.Metrics, log *slog.Logger, stdout io.Writer) (*http.Server, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("PAYLINKS_METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(cfg.MetricsToken))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "component", "metrics", "err", err)
		}
	}()
	if cfg.MetricsToken == "" {
		log.Info("metrics served without a token on a separate address; keep it private", "component", "metrics", "addr", ln.Addr().String())
	}
	fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", ln.Addr())
	return srv, nil
}

// servePprof starts Go's profiler on PAYLINKS_PPROF_ADDR (loopback only,
// checked with the configuration), if set: /debug/pprof/ and nothing else,
// on a mux of its own, never on PAYLINKS_ADDR. A CPU profile runs for the
// seconds asked (?seconds=30), so this server has no write timeout; the
// caller closes it.
func servePprof(cfg Config, log *slog.Logger, stdout io.Writer) (*http.Server, error) {
	if cfg.PprofAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.PprofAddr)
	if err != nil {
		return nil, fmt.Errorf("PAYLINKS_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("profiler server", "component", "pprof", "err", err)
		}
	}()
	log.Warn("Go profiler served on a loopback address; anyone on this host can read it", "component", "pprof", "addr", ln.Addr().String())
	fmt.Fprintf(stdout, "profiler on http://%s/debug/pprof/\n", ln.Addr())
	return srv, nil
}
