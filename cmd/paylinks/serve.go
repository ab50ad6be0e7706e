package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/metrics"
	"github.com/paylinks/paylinks/outbox"
)

// Server timeouts (security.md A6): Echo's own server has none.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
	setupTokenTTL     = 24 * time.Hour
	// Links left in creating (security.md A10): re-sent with their key.
	recoveryInterval = 15 * time.Minute
	stuckAfter       = 10 * time.Minute
	// The dashboard's figures are shared by every viewer for this long.
	dashboardMaxAge = 10 * time.Second
)

// serve runs the web application until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger, stdout io.Writer) error {
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
	hasher, err := auth.NewHasher(auth.DefaultHashParams)
	if err != nil {
		return err
	}

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
	prov, err := newProvider(getenv, filepath.Dir(cfg.DBPath), "http://"+ln.Addr().String()+"/webhooks/stablemint", log, stdout)
	if err != nil {
		return err
	}
	defer prov.Close()
	// Metrics: a registry of this server's own; StableMint calls are timed
	// through a decorator and the minter reports each attempt's outcome.
	metrics := metrics.New(log)
	client := metrics.InstrumentClient(prov.Client)
	minter := links.NewMinter(st, client, log)
	minter.ObserveOutcomes(metrics.LinkCreation)
	mailer, err := newMailer(cfg, st, log, metrics)
	if err != nil {
		return err
	}
	// Webhook deliveries are group-committed by one goroutine with the
	// statements prepared once; it stops after the server (deferred calls
	// run in reverse), before the store.
	writer, err := st.NewWebhookWriter(ctx)
	if err != nil {
		return err
	}
	webhooks := ingest.New(writer, log, ingest.Options{})
	defer webhooks.Close()

	e, err := handlers.New(handlers.Options{
		Logger: log, Store: st, Hasher: hasher, BaseURL: base, SessionKeys: keys,
		IdleTimeout: cfg.IdleTimeout, AbsoluteTimeout: cfg.AbsoluteTimeout,
		TrustedProxies: cfg.TrustedProxies, LoginRatePerMinute: cfg.LoginRate,
		WebhookRatePerSecond: float64(cfg.WebhookRate), WebhookBurst: 4 * cfg.WebhookRate,
		DashboardMaxAge: dashboardMaxAge,
		Client:          client, Minter: minter, SandboxMode: prov.Sandbox != nil,
		Metrics: metrics, MetricsToken: cfg.MetricsToken, Breaker: prov.Client,
		Verifier: prov.Verifier, Webhooks: webhooks,
		Mail: mailer, MailFrom: cfg.MailFrom, CompanyName: cfg.CompanyName, MailRatePerMinute: cfg.MailRate,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	msrv, err := serveMetrics(cfg, metrics, log, stdout)
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

	fmt.Fprintf(stdout, "paylinks listening on %s\n", base)
	if err := printSetupLink(ctx, st, base, stdout); err != nil {
		return err
	}

	// Background jobs (docs/architecture.md): expired sessions swept, open
	// links past their expiry expired, links left in creating re-sent,
	// queued emails sent. They stop when serve returns, each finishing a
	// run in progress (a mint or an SMTP attempt), before the store closes.
	defer jobs.Start(ctx, log,
		sessionSweep(st, cfg, log),
		links.NewExpirySweeper(st, time.Now, links.DefaultExpiryInterval, log).Job(),
		minter.RecoveryJob(startedAt, recoveryInterval, stuckAfter),
		mailer.Job(),
	).Stop()
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

// sessionSweep deletes expired sessions every ten minutes.
func sessionSweep(st *db.Store, cfg Config, log *slog.Logger) jobs.Job {
	return jobs.Job{Name: "sessions", Interval: 10 * time.Minute, Run: func(ctx context.Context) error {
		now := time.Now()
		n, err := st.DeleteExpiredSessions(ctx, now.Add(-cfg.IdleTimeout), now.Add(-cfg.AbsoluteTimeout))
		if n > 0 {
			log.Info("expired sessions removed", "component", "sessions", "count", n)
		}
		return err
	}}
}

// newMailer builds the outbox worker: SMTP when PAYLINKS_SMTP_URL is set,
// otherwise the local mailbox (nothing is sent).
func newMailer(cfg Config, st *db.Store, log *slog.Logger, metrics *metrics.Metrics) (*outbox.Mailer, error) {
	wc := outbox.Config{Logger: log, Metrics: metrics}
	if cfg.SMTP != nil {
		s, err := mail.NewSMTP(*cfg.SMTP)
		if err != nil {
			return nil, fmt.Errorf("PAYLINKS_SMTP_URL: %w", err)
		}
		wc.Sender = s
		log.Info("customer emails go through SMTP", "component", "mailer", "server", s.String(), "from", cfg.MailFrom.Email)
	} else {
		log.Warn("PAYLINKS_SMTP_URL is not set: customer emails are kept in the local mailbox (/admin/mailbox), not sent", "component", "mailer")
	}
	return outbox.NewMailer(st, wc), nil
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
