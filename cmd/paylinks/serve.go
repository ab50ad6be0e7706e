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

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
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
	hasher, err := handlers.NewHasher(handlers.DefaultHashParams)
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
	minter := handlers.NewMinter(st, prov.Client, log)

	e, err := handlers.New(handlers.Options{
		Logger: log, Store: st, Hasher: hasher, BaseURL: base, SessionKeys: keys,
		IdleTimeout: cfg.IdleTimeout, AbsoluteTimeout: cfg.AbsoluteTimeout,
		TrustedProxies: cfg.TrustedProxies, LoginRatePerMinute: cfg.LoginRate,
		Client: prov.Client, Minter: minter, SandboxMode: prov.Sandbox != nil,
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

	fmt.Fprintf(stdout, "paylinks listening on %s\n", base)
	if err := printSetupLink(ctx, st, base, stdout); err != nil {
		return err
	}

	go sweepSessions(ctx, st, cfg, log)
	go minter.RunRecovery(ctx, startedAt, recoveryInterval, stuckAfter)
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

// printSetupLink prints a one-time link to create the first admin when the
// database has no account. Each start replaces the previous link.
func printSetupLink(ctx context.Context, st *db.Store, base *url.URL, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	token, err := handlers.CreateSetupToken(ctx, st, st.Now(), setupTokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nNo accounts yet. Create the first admin within 24 hours at this one-time link:\n\n    %s/setup?token=%s\n\n", base, token)
	return nil
}

// sweepSessions deletes expired sessions every ten minutes until ctx ends.
func sweepSessions(ctx context.Context, st *db.Store, cfg Config, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			if n, err := st.DeleteExpiredSessions(ctx, now.Add(-cfg.IdleTimeout), now.Add(-cfg.AbsoluteTimeout)); err != nil {
				log.Error("sweep sessions", "component", "sessions", "err", err)
			} else if n > 0 {
				log.Info("expired sessions removed", "component", "sessions", "count", n)
			}
		}
	}
}
