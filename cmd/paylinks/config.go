package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/paylinks/paylinks/mail"
)

// envVar documents one setting; the README table lists the same.
type envVar struct {
	Name, Default, Help string
}

// envVars is every variable paylinks reads, with its default.
var envVars = []envVar{
	{"PAYLINKS_ADDR", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)"},
	{"PAYLINKS_DB", "./data/paylinks.db", "SQLite database file; created with its directory"},
	{"PAYLINKS_BASE_URL", "http://<PAYLINKS_ADDR>", "public URL; https turns on Secure/__Host- cookies and HSTS"},
	{"PAYLINKS_SESSION_KEYS", "generated into session.keys beside the database (mode 0600)", "comma-separated 128-hex-digit keys, newest first; older ones still decode (rotation)"},
	{"PAYLINKS_SESSION_IDLE", "30m", "sign out after this long without activity"},
	{"PAYLINKS_SESSION_MAX", "8h", "sign out this long after signing in, active or not"},
	{"PAYLINKS_TRUSTED_PROXIES", "(none)", "comma-separated CIDRs whose X-Forwarded-For is trusted for the client IP"},
	{"PAYLINKS_LOGIN_RATE", "20", "sign-in attempts per minute per client IP"},
	{"PAYLINKS_WEBHOOK_RATE", "50", "webhook requests per second per client IP, with bursts of four times as many; beyond it 429 and StableMint retries"},
	{"PAYLINKS_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"PAYLINKS_LOG_FORMAT", "text on a terminal, json otherwise", "text or json"},
	{"PAYLINKS_SMTP_URL", "none: emails are kept in the local mailbox (/admin/mailbox), not sent", "smtp://user:pass@host:587 (STARTTLS required), smtps://user:pass@host:465 (implicit TLS), or smtp://host:port?tls=none (plain text, local test servers only)"},
	{"PAYLINKS_SMTP_PASSWORD_FILE", "none", "file holding the SMTP password (instead of putting it in PAYLINKS_SMTP_URL)"},
	{"PAYLINKS_MAIL_FROM", "paylinks@localhost (required with PAYLINKS_SMTP_URL)", "sender of customer emails: billing@acme.example or Acme Billing <billing@acme.example>"},
	{"PAYLINKS_COMPANY_NAME", "paylinks", "your company's name in emails ({{.CompanyName}}), and the sender's name when PAYLINKS_MAIL_FROM has none"},
	{"PAYLINKS_MAIL_RATE", "60", "customer emails each user may queue per minute"},
	{"PAYLINKS_METRICS_TOKEN", "none: /metrics is 404 on PAYLINKS_ADDR", "bearer token (16+ characters) that GET /metrics requires; with it /metrics is served on PAYLINKS_ADDR (and PAYLINKS_METRICS_ADDR)"},
	{"PAYLINKS_METRICS_ADDR", "none", "a separate listen address (host:port) serving only /metrics, for a private network; without a token it is open there"},
}

// Config is paylinks' typed configuration, read once from the environment.
type Config struct {
	Addr            string
	DBPath          string
	BaseURL         *url.URL // nil until the listener is known, when not set
	SessionKeys     [][]byte // (hash, block) pairs, newest first; nil = use the key file
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	TrustedProxies  []*net.IPNet
	LoginRate       int
	WebhookRate     int
	LogLevel        slog.Level
	LogFormat       string // "text", "json" or "" (decide by terminal)
	// SMTP is the mail server; nil keeps emails in the local mailbox.
	SMTP        *mail.SMTPConfig
	MailFrom    mail.Address
	CompanyName string
	MailRate    int
	// MetricsToken guards /metrics; MetricsAddr is a listener of its own
	// for it. With neither, no metrics are served.
	MetricsToken string
	MetricsAddr  string
}

// loadConfig reads every variable, collects every problem, and reports them
// one per line, each naming its variable.
func loadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name, def string) time.Duration {
		d, err := time.ParseDuration(get(name, def))
		if err != nil || d <= 0 {
			bad(name, "want a positive duration like 30m or 8h, got %q", get(name, def))
		}
		return d
	}
	c := Config{
		Addr:            get("PAYLINKS_ADDR", "127.0.0.1:8080"),
		DBPath:          get("PAYLINKS_DB", "./data/paylinks.db"),
		IdleTimeout:     dur("PAYLINKS_SESSION_IDLE", "30m"),
		AbsoluteTimeout: dur("PAYLINKS_SESSION_MAX", "8h"),
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("PAYLINKS_ADDR", "want host:port, got %q", c.Addr)
	}
	if v := get("PAYLINKS_BASE_URL", ""); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("PAYLINKS_BASE_URL", "want an absolute http(s) URL without a path, got %q", v)
		} else {
			u.Path = ""
			c.BaseURL = u
		}
	}
	if v := get("PAYLINKS_SESSION_KEYS", ""); v != "" {
		keys, err := parseSessionKeys(v)
		if err != nil {
			bad("PAYLINKS_SESSION_KEYS", "%v", err)
		}
		c.SessionKeys = keys
	}
	if c.IdleTimeout > c.AbsoluteTimeout {
		bad("PAYLINKS_SESSION_IDLE", "must not exceed PAYLINKS_SESSION_MAX")
	}
	if c.AbsoluteTimeout > 24*time.Hour {
		bad("PAYLINKS_SESSION_MAX", "at most 24h")
	}
	for _, s := range splitList(get("PAYLINKS_TRUSTED_PROXIES", "")) {
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			bad("PAYLINKS_TRUSTED_PROXIES", "%q is not an IP or CIDR", s)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	rate, err := strconv.Atoi(get("PAYLINKS_LOGIN_RATE", "20"))
	if err != nil || rate < 1 || rate > 10000 {
		bad("PAYLINKS_LOGIN_RATE", "want a whole number from 1 to 10000")
	}
	c.LoginRate = rate
	whRate, err := strconv.Atoi(get("PAYLINKS_WEBHOOK_RATE", "50"))
	if err != nil || whRate < 1 || whRate > 100000 {
		bad("PAYLINKS_WEBHOOK_RATE", "want a whole number from 1 to 100000")
	}
	c.WebhookRate = whRate
	if err := c.LogLevel.UnmarshalText([]byte(get("PAYLINKS_LOG_LEVEL", "info"))); err != nil {
		bad("PAYLINKS_LOG_LEVEL", "want debug, info, warn or error")
	}
	switch c.LogFormat = get("PAYLINKS_LOG_FORMAT", ""); c.LogFormat {
	case "", "text", "json":
	default:
		bad("PAYLINKS_LOG_FORMAT", "want text or json")
	}
	loadMailConfig(&c, get, bad)
	c.MetricsToken = get("PAYLINKS_METRICS_TOKEN", "")
	if c.MetricsToken != "" && (len(c.MetricsToken) < 16 || strings.ContainsFunc(c.MetricsToken, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
		bad("PAYLINKS_METRICS_TOKEN", "want at least 16 printable characters without spaces")
	}
	if c.MetricsAddr = get("PAYLINKS_METRICS_ADDR", ""); c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("PAYLINKS_METRICS_ADDR", "want host:port, got %q", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			bad("PAYLINKS_METRICS_ADDR", "must differ from PAYLINKS_ADDR")
		}
	}
	return c, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSessionKeys reads comma-separated 64-byte hex keys: the first 32
// bytes sign (HMAC-SHA256), the last 32 encrypt (AES-256).
func parseSessionKeys(s string) ([][]byte, error) {
	var pairs [][]byte
	for i, k := range splitList(s) {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) != 64 {
			return nil, fmt.Errorf("key %d is not 128 hex digits", i+1)
		}
		pairs = append(pairs, b[:32], b[32:])
	}
	if len(pairs) == 0 {
		return nil, errors.New("no keys")
	}
	return pairs, nil
}

// sessionKeysFile loads the generated key file beside the database, making
// it (mode 0600) on first start.
func sessionKeysFile(dbPath string) ([][]byte, string, error) {
	path := filepath.Join(filepath.Dir(dbPath), "session.keys")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := hex.EncodeToString(securecookie.GenerateRandomKey(64))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, path, fmt.Errorf("create session key file: %w", err)
		}
		if _, err := f.WriteString(key + "\n"); err != nil {
			f.Close()
			return nil, path, err
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return nil, path, err
		}
		b = []byte(key)
	} else if err != nil {
		return nil, path, fmt.Errorf("read session key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, path, fmt.Errorf("session key file %s is readable by others (mode %o); chmod 600 it", path, fi.Mode().Perm())
	}
	keys, err := parseSessionKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, path, fmt.Errorf("session key file %s: %w", path, err)
	}
	return keys, path, nil
}

// loadMailConfig reads the email settings. The SMTP password never appears
// in a message: URL errors are redacted by mail.ParseSMTPURL.
func loadMailConfig(c *Config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	c.CompanyName = get("PAYLINKS_COMPANY_NAME", "paylinks")
	if err := mail.CheckHeader(c.CompanyName, mail.MaxNameLength); err != nil {
		bad("PAYLINKS_COMPANY_NAME", "the name %v", err)
	}
	if v := get("PAYLINKS_SMTP_URL", ""); v != "" {
		smtp, err := mail.ParseSMTPURL(v)
		if err != nil {
			bad("PAYLINKS_SMTP_URL", "%v", err)
		} else {
			c.SMTP = &smtp
		}
	}
	if path := get("PAYLINKS_SMTP_PASSWORD_FILE", ""); path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err != nil:
			bad("PAYLINKS_SMTP_PASSWORD_FILE", "%v", err)
		case c.SMTP == nil:
			bad("PAYLINKS_SMTP_PASSWORD_FILE", "set PAYLINKS_SMTP_URL too")
		case c.SMTP.Security == mail.PlainText:
			bad("PAYLINKS_SMTP_PASSWORD_FILE", "refusing to send a password over plain text (tls=none)")
		default:
			c.SMTP.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	from := get("PAYLINKS_MAIL_FROM", "")
	switch {
	case from == "" && c.SMTP != nil:
		bad("PAYLINKS_MAIL_FROM", "required when PAYLINKS_SMTP_URL is set: the address customers see and reply to")
	case from == "":
		c.MailFrom = mail.Address{Email: "paylinks@localhost"}
	default:
		a, err := mail.ParseMailbox(from)
		if err != nil {
			bad("PAYLINKS_MAIL_FROM", "want an address like billing@acme.example or Acme Billing <billing@acme.example>: %v", err)
		}
		c.MailFrom = a
	}
	if c.MailFrom.Name == "" {
		c.MailFrom.Name = c.CompanyName
	}
	rate, err := strconv.Atoi(get("PAYLINKS_MAIL_RATE", "60"))
	if err != nil || rate < 1 || rate > 10000 {
		bad("PAYLINKS_MAIL_RATE", "want a whole number from 1 to 10000")
	}
	c.MailRate = rate
}
