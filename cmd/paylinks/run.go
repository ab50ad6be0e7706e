package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
)

const usage = `usage: paylinks [command]

commands:
  serve                      run the web application (the default)
  migrate                    apply database migrations and exit
  users create --email E --name N --role admin|finance|viewer [--password-stdin]
  users list
  users disable --email E
  users enable --email E
  users reset-password --email E [--password-stdin]
  users reset-2fa --email E  remove a user's two-factor sign-in (lost phone and recovery codes)
  seed --links N [--force]   add N realistic fake links (run while paylinks is stopped)
  sandbox [flags]            run the StableMint sandbox alone (see paylinks sandbox --help)
  config                     list every setting, its default and meaning, and which are set (secrets hidden); then check them
  healthcheck                exit 0 when the server at PAYLINKS_ADDR is ready (/readyz: it can save)
  backup --out FILE          write a checked copy of the database to FILE (safe while serving; never overwrites)
  audit verify               check the audit log's hash chain; names the first row that does not match
  figures check              compare the dashboard's kept figures with the links; lists any difference
  figures rebuild            rebuild the dashboard's figures from the links (safe while serving)
  listen [--forward-to URL]  receive the local paylinks' webhooks (sandbox mode): verify, print, forward

Configuration comes from PAYLINKS_* and STABLEMINT_* environment variables;
see docs/operations.md, or run paylinks config.`

// run is the whole program; main only supplies the process's environment,
// so tests can drive it end to end.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", []string(nil)
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "serve", "migrate", "users", "healthcheck", "seed", "backup", "audit", "figures", "listen":
	case "sandbox":
		return runSandbox(ctx, rest, stdout, stderr)
	case "config":
		return configCmd(getenv, rest, stdout)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	env := getenv
	if cmd != "serve" {
		env = withoutStableMint(getenv)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "backup":
		return backupCmd(ctx, cfg, rest, stdout)
	case "audit":
		return auditCmd(ctx, cfg, rest, stdout)
	case "figures":
		return figuresCmd(ctx, cfg, rest, stdout)
	case "migrate":
		st, err := openDB(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer st.Close()
		fmt.Fprintln(stdout, "database is up to date:", cfg.DBPath)
		return nil
	case "users", "seed", "listen":
		st, err := openDB(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer st.Close()
		if cmd == "listen" { // sandbox mode is the server's: no StableMint configured
			return listenCmd(ctx, st, getenv("STABLEMINT_BASE_URL") == "", rest, stdout)
		}
		if cmd == "seed" {
			return seedCmd(ctx, st, rest, stdout)
		}
		return usersCmd(ctx, st, rest, stdin, stdout)
	}
	return serve(ctx, cfg, log, stdout)
}

// openDB opens the database and applies pending migrations.
func openDB(ctx context.Context, cfg Config, log *slog.Logger) (*db.Store, error) {
	st, err := db.Open(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx, migrations.FS)
	if err != nil {
		st.Close()
		return nil, err
	}
	for _, m := range applied {
		log.Info("applied migration", "name", m)
	}
	// Audit rows from before the hash chain (migration 0006) are sealed by
	// a first chained entry at once.
	if added, err := st.StartAuditChain(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("audit chain: %w", err)
	} else if added {
		log.Info("audit log: hash chain started; earlier entries are covered by its first row")
	}
	return st, nil
}

// newLogger logs JSON, or text when stderr is a terminal.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// healthcheck asks the local server for /readyz (for container health
// checks, where no curl exists): a server that answers but cannot save
// (a full or read-only disk) is unhealthy, and the reason is printed.
func healthcheck(ctx context.Context, cfg Config) error {
	host, port, _ := net.SplitHostPort(cfg.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("healthcheck: status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

var errUsage = errors.New("see `paylinks help`")

// withoutStableMint hides the STABLEMINT_* variables: only serve talks to
// StableMint, so no other command reads or checks them (a key file in the
// middle of a rotation never stops a backup or a health check).
func withoutStableMint(getenv func(string) string) func(string) string {
	return func(name string) string {
		if strings.HasPrefix(name, "STABLEMINT_") {
			return ""
		}
		return getenv(name)
	}
}
