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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/securecookie"

	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/stablemint"
)

// setting is one environment variable, written once: loadConfig reads the
// settings in order, `paylinks config` lists them, and the table in
// docs/operations.md ("## Configuration") is made from them
// (TestDocsConfigurationTable; -update rewrites it).
type setting struct {
	Name string
	// Default is the value parse receives when the variable is unset or
	// blank; "" when there is none, and then parse is not called.
	Default string
	// Shown is the default as listed, in Markdown, when it is a description
	// rather than a value; "" lists Default in backticks, or "none".
	Shown string
	// Doc says what the variable means, on one line of Markdown.
	Doc string
	// Required makes unset an error.
	Required bool
	// Needs names a variable without which this one is not read at all.
	Needs string
	// show is how `paylinks config` prints a value that is set; nil prints
	// it as it is, hidden never prints it.
	show func(v string) string
	// parse checks the trimmed value and stores it in c. Its error is
	// worded to follow the variable's name ("want …", "is required") and
	// never quotes a secret; errors.Join reports several problems. Settings
	// are parsed in table order, so parse may use what rows above stored.
	parse func(c *Config, v string) error
}

// Variables other code names.
const (
	envStableMintBaseURL = "STABLEMINT_BASE_URL"
	envSMTPURL           = "PAYLINKS_SMTP_URL"
	envMailFrom          = "PAYLINKS_MAIL_FROM"
)

// settings is every variable paylinks reads, in the order they are listed.
var settings = []setting{
	{Name: "PAYLINKS_ADDR", Default: "127.0.0.1:8080",
		Doc: "listen address (`host:port`; port `0` picks a free one)",
		parse: func(c *Config, v string) error {
			c.Addr = v
			return checkHostPort(v)
		}},
	{Name: "PAYLINKS_DB", Default: "./data/paylinks.db",
		Doc: "SQLite database file; created with its directory (mode 0700)",
		parse: func(c *Config, v string) error {
			c.DBPath = v
			return nil
		}},
	{Name: "PAYLINKS_BASE_URL", Shown: "`http://<PAYLINKS_ADDR>`",
		Doc:   "public URL, without a path; `https` turns on `Secure` and `__Host-` cookies and HSTS",
		parse: parseBaseURL},
	{Name: "PAYLINKS_SESSION_KEYS", Shown: "generated into `session.keys` beside the database (mode 0600)",
		Doc:  "comma-separated 128-hex-digit keys, newest first; the first 64 hex digits sign, the last 64 encrypt; older keys still decode (rotation)",
		show: hidden,
		parse: func(c *Config, v string) (err error) {
			c.SessionKeys, err = parseSessionKeys(v)
			return err
		}},
	{Name: "PAYLINKS_SESSION_IDLE", Default: "30m",
		Doc:   "sign out after this long without activity; at most `PAYLINKS_SESSION_MAX`",
		parse: func(c *Config, v string) error { return parseTimeout(&c.IdleTimeout, v) }},
	{Name: "PAYLINKS_SESSION_MAX", Default: "8h",
		Doc: "sign out this long after signing in, active or not; at most `24h`",
		parse: func(c *Config, v string) error {
			if err := parseTimeout(&c.AbsoluteTimeout, v); err != nil {
				return err
			}
			if c.AbsoluteTimeout > 24*time.Hour {
				return errors.New("at most 24h")
			}
			return nil
		}},
	{Name: "PAYLINKS_TRUSTED_PROXIES",
		Doc:   "comma-separated IPs or CIDRs whose `X-Forwarded-For` is trusted for the client IP; without it the TCP peer is the client",
		parse: parseTrustedProxies},
	{Name: "PAYLINKS_LOGIN_RATE", Default: "20",
		Doc:   "sign-in attempts per minute per client IP (1 to 10000), shared by `/login`, `/setup` and `/login/2fa`",
		parse: parseRate(func(c *Config) *int { return &c.LoginRate }, 10000)},
	{Name: "PAYLINKS_WEBHOOK_RATE", Default: "50",
		Doc:   "webhook requests per second per client IP (1 to 100000), with bursts of four times as many; beyond it `429` and StableMint retries",
		parse: parseRate(func(c *Config) *int { return &c.WebhookRate }, 100000)},
	{Name: "PAYLINKS_LOG_LEVEL", Default: "info",
		Doc: "`debug`, `info`, `warn` or `error`",
		parse: func(c *Config, v string) error {
			if c.LogLevel.UnmarshalText([]byte(v)) != nil {
				return errors.New("want debug, info, warn or error")
			}
			return nil
		}},
	// Unset leaves LogFormat "": newLogger decides by the terminal.
	{Name: "PAYLINKS_LOG_FORMAT", Shown: "text on a terminal, json otherwise",
		Doc: "`text` or `json`",
		parse: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			c.LogFormat = v
			return nil
		}},
	{Name: envSMTPURL,
		Doc:  "unset: emails are kept in the local mailbox (`/admin/mailbox`), not sent. Otherwise `smtp://user:pass@host:587` (STARTTLS required; port 587 by default), `smtps://user:pass@host:465` (implicit TLS), or `smtp://host:1025?tls=none` (plain text, for local test servers; credentials refused). User and password are URL-encoded",
		show: redactURLPassword,
		// mail.ParseSMTPURL's errors never quote the password.
		parse: func(c *Config, v string) error {
			smtp, err := mail.ParseSMTPURL(v)
			if err != nil {
				return err
			}
			c.SMTP = &smtp
			return nil
		}},
	{Name: "PAYLINKS_SMTP_PASSWORD_FILE",
		Doc:   "file holding the SMTP password, instead of writing it into `PAYLINKS_SMTP_URL`; refused with `tls=none`",
		parse: parseSMTPPasswordFile},
	// Set or not, the sender's name defaults to PAYLINKS_COMPANY_NAME, and
	// it must be set when PAYLINKS_SMTP_URL is (rules below).
	{Name: envMailFrom, Default: "paylinks@localhost", Shown: "`paylinks@localhost` (required with `PAYLINKS_SMTP_URL`)",
		Doc: "sender of customer emails: `billing@acme.example` or `Acme Billing <billing@acme.example>`; its domain ends every `Message-ID`. A name written here is the sender's name; without one, the company name from Settings is",
		parse: func(c *Config, v string) error {
			a, err := mail.ParseMailbox(v)
			if err != nil {
				return fmt.Errorf("want an address like billing@acme.example or Acme Billing <billing@acme.example>: %w", err)
			}
			c.MailFrom = a
			return nil
		}},
	{Name: "PAYLINKS_COMPANY_NAME", Default: "paylinks",
		Doc: "the first-run default of your company name: used in emails (`{{.CompanyName}}`, and as the sender's name when `PAYLINKS_MAIL_FROM` has none), on customer pages, in the staff header and in authenticator apps until an admin saves the company name under Settings; after that the saved name is used and this variable is ignored",
		parse: func(c *Config, v string) error {
			c.CompanyName = v
			if err := mail.CheckHeader(v, mail.MaxNameLength); err != nil {
				return fmt.Errorf("the name %w", err)
			}
			return nil
		}},
	{Name: "PAYLINKS_MAIL_RATE", Default: strconv.Itoa(outbox.DefaultSendBudget),
		Doc:   "customer emails each user may queue per minute (1 to 10000; a batch counts each email); refusals are logged and audited",
		parse: parseRate(func(c *Config) *int { return &c.MailRate }, 10000)},
	{Name: "PAYLINKS_IMPORT_IN_FLIGHT", Default: "4",
		Doc:   "links of bulk imports sent to StableMint at once (1 to 32); more is faster until StableMint answers 429",
		parse: parseRate(func(c *Config) *int { return &c.ImportInFlight }, 32)},
	{Name: "PAYLINKS_METRICS_TOKEN",
		Doc:  "unset: `/metrics` is 404 on `PAYLINKS_ADDR`. Set: a bearer token (16 or more printable characters, no spaces) that `GET /metrics` requires, and `/metrics` is served on `PAYLINKS_ADDR` too",
		show: hidden,
		parse: func(c *Config, v string) error {
			if len(v) < 16 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return errors.New("want at least 16 printable characters without spaces")
			}
			c.MetricsToken = v
			return nil
		}},
	{Name: "PAYLINKS_METRICS_ADDR",
		Doc: "a separate listen address (`host:port`, not `PAYLINKS_ADDR`) that serves only `/metrics`, for a private network or a sidecar; without a token it is open there, so never expose it",
		parse: func(c *Config, v string) error {
			c.MetricsAddr = v
			return checkHostPort(v)
		}},
	{Name: "PAYLINKS_PPROF_ADDR",
		Doc: "a loopback listen address (`127.0.0.1:6060`, `[::1]:6060`, `localhost:6060`) serving Go's profiler (`/debug/pprof/`) for finding where CPU and memory go; unset: no profiler anywhere. Never on `PAYLINKS_ADDR`, never off loopback (reach it with an SSH tunnel)",
		parse: func(c *Config, v string) error {
			c.PprofAddr = v
			return checkLoopbackHostPort(v)
		}},
	{Name: "PAYLINKS_WAL_LIMIT", Default: "32MiB",
		Doc: "how large the database's write-ahead log (`<PAYLINKS_DB>-wal`) may grow before the checkpoint job (every second) waits briefly for readers and truncates it: a size in `KiB`, `MiB` or `GiB` (1 MiB to 16 GiB); see [WAL](#the-write-ahead-log-wal)",
		parse: func(c *Config, v string) (err error) {
			c.WALLimit, err = parseSize(v, 1<<20, 16<<30)
			return err
		}},
	{Name: "PAYLINKS_EXPENSIVE_CONCURRENCY", Default: "2",
		Doc:   "how many expensive requests (searches inside references and emails, the deferred counts, exports, filtered audit searches) run at once (1 to 64); others are answered busy at once, and cheap pages never wait for them; see [Admission](#admission-busy-answers)",
		parse: parseRate(func(c *Config) *int { return &c.ExpensiveConcurrency }, 64)},

	// StableMint. Unset STABLEMINT_BASE_URL means demo mode: the built-in
	// sandbox, Config.StableMint nil, and the other STABLEMINT_* unread.
	// Set, its parse makes Config.StableMint, which the rows below fill.
	{Name: envStableMintBaseURL,
		Doc: "unset: demo mode, with the built-in sandbox. Set: StableMint's API base URL, `https://paymentinitiationservice-rest.stablemint.io` (production) or `https://paymentinitiationservice-rest.stablemint.net` (StableMint's sandbox); `https`, plain `http` only on loopback",
		parse: func(c *Config, v string) error {
			c.StableMint = &stablemint.Config{BaseURL: v}
			return stablemint.CheckBaseURL(v)
		}},
	{Name: "STABLEMINT_API_KEY", Required: true, Needs: envStableMintBaseURL,
		Doc:  "required with `STABLEMINT_BASE_URL`: the API key, sent in the `api_key` (v1) or `ApiKey` (v2) header",
		show: hidden,
		parse: func(c *Config, v string) error {
			c.StableMint.APIKey = v
			return stablemint.CheckCredential(v)
		}},
	{Name: "STABLEMINT_API_SECRET", Required: true, Needs: envStableMintBaseURL,
		Doc:  "required with `STABLEMINT_BASE_URL`: the API secret, signed into every request, never sent or logged",
		show: hidden,
		parse: func(c *Config, v string) error {
			c.StableMint.APISecret = v
			return stablemint.CheckCredential(v)
		}},
	{Name: "STABLEMINT_PRIVATE_KEY_FILE", Required: true, Needs: envStableMintBaseURL,
		Doc:   "required with `STABLEMINT_BASE_URL`: PEM file with the partner RSA private key (PKCS#1 or PKCS#8, unencrypted, at least 2048 bits) that signs requests",
		parse: parsePrivateKeyFile},
	{Name: "STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE", Required: true, Needs: envStableMintBaseURL,
		Doc:   "required with `STABLEMINT_BASE_URL`: comma-separated PEM files, one StableMint RSA public key each (PKIX or PKCS#1, at least 2048 bits); a webhook signed by any of them is accepted (rotation)",
		parse: parsePublicKeyFiles},
	{Name: "STABLEMINT_AUTH_SCHEME", Default: "v1", Needs: envStableMintBaseURL,
		Doc: "request signing: `v1` (the hosted-session page's scheme) or `v2` (newer documentation)",
		parse: func(c *Config, v string) (err error) {
			if c.StableMint.Scheme, err = stablemint.ParseScheme(v); err != nil {
				return fmt.Errorf("must be v1 or v2, not %q", clip(v, 16))
			}
			return nil
		}},
	{Name: "STABLEMINT_CUSTOM_FIELDS_AS", Default: "object", Needs: envStableMintBaseURL,
		Doc: "how a link's custom fields are sent in `customFields`: `object` (a JSON object, as in StableMint's example) or `string` (that object JSON-encoded into a string, as in its schema)",
		parse: func(c *Config, v string) (err error) {
			if c.StableMint.CustomFieldsAs, err = stablemint.ParseCustomFieldsFormat(v); err != nil {
				return fmt.Errorf("must be object or string, not %q", clip(v, 16))
			}
			return nil
		}},
	// Unset: stablemint.DefaultCheckoutHosts of the base URL (rules below).
	{Name: "STABLEMINT_CHECKOUT_HOSTS", Shown: "any host under `stablemint.io` or `stablemint.net`, and the base URL's host", Needs: envStableMintBaseURL,
		Doc:   "comma-separated hosts a checkout URL may point to, replacing the default list: `host` or `host:port` (exact, case-insensitive) or `*.domain` (any host under it, no port). A session whose checkout URL is elsewhere is kept, and nobody is sent there until its host is approved",
		parse: parseCheckoutHosts},
	// Unset limits are none: StableMint documents only its sandbox's
	// (0.1 to 10), which demo mode applies (provider.go).
	{Name: "STABLEMINT_MIN_AMOUNT", Needs: envStableMintBaseURL,
		Doc:   "smallest link amount, a plain decimal above 0 in major units of the link's currency; unset: none (StableMint's production limits are undocumented; its sandbox takes 0.1 to 10)",
		parse: parseAmountLimit(func(sm *stablemint.Config) *stablemint.Decimal { return &sm.MinAmount })},
	{Name: "STABLEMINT_MAX_AMOUNT", Needs: envStableMintBaseURL,
		Doc:   "largest link amount, likewise; unset: none",
		parse: parseAmountLimit(func(sm *stablemint.Config) *stablemint.Decimal { return &sm.MaxAmount })},
	{Name: "STABLEMINT_WEBHOOK_TOLERANCE_PAST", Default: "4h", Needs: envStableMintBaseURL,
		Doc:   "how old a webhook's `StableMint-Timestamp` may be (a Go duration, above 0, at most `168h`)",
		parse: func(c *Config, v string) error { return parseTolerance(&c.StableMint.WebhookTolerancePast, v) }},
	{Name: "STABLEMINT_WEBHOOK_TOLERANCE_FUTURE", Default: "5m", Needs: envStableMintBaseURL,
		Doc:   "how far ahead it may be (likewise)",
		parse: func(c *Config, v string) error { return parseTolerance(&c.StableMint.WebhookToleranceFuture, v) }},
}

// rule is a check across settings, run once every setting is parsed. It is
// skipped when a variable in needs failed to parse, so that one mistake is
// reported once. set tells whether a variable is set.
type rule struct {
	name  string // the variable an error names
	needs []string
	check func(c *Config, set func(name string) bool) error
}

var rules = []rule{
	{"PAYLINKS_SESSION_IDLE", []string{"PAYLINKS_SESSION_IDLE", "PAYLINKS_SESSION_MAX"}, func(c *Config, _ func(string) bool) error {
		if c.IdleTimeout > c.AbsoluteTimeout {
			return errors.New("must not exceed PAYLINKS_SESSION_MAX")
		}
		return nil
	}},
	{envMailFrom, []string{envSMTPURL}, func(c *Config, set func(string) bool) error {
		if c.SMTP != nil && !set(envMailFrom) {
			return errors.New("required when PAYLINKS_SMTP_URL is set: the address customers see and reply to")
		}
		return nil
	}},
	{envMailFrom, nil, func(c *Config, _ func(string) bool) error {
		if c.MailFrom.Name == "" {
			c.MailFrom.Name = c.CompanyName
		}
		return nil
	}},
	{"PAYLINKS_METRICS_ADDR", []string{"PAYLINKS_ADDR", "PAYLINKS_METRICS_ADDR"}, func(c *Config, _ func(string) bool) error {
		if c.MetricsAddr != "" && c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			return errors.New("must differ from PAYLINKS_ADDR")
		}
		return nil
	}},
	{"STABLEMINT_MAX_AMOUNT", []string{"STABLEMINT_MIN_AMOUNT", "STABLEMINT_MAX_AMOUNT"}, func(c *Config, _ func(string) bool) error {
		if sm := c.StableMint; sm != nil && !sm.MaxAmount.IsZero() && sm.MaxAmount.Cmp(sm.MinAmount) < 0 {
			return fmt.Errorf("is below STABLEMINT_MIN_AMOUNT (%s)", sm.MinAmount)
		}
		return nil
	}},
	{"STABLEMINT_CHECKOUT_HOSTS", []string{envStableMintBaseURL, "STABLEMINT_CHECKOUT_HOSTS"}, func(c *Config, _ func(string) bool) error {
		if sm := c.StableMint; sm != nil && len(sm.CheckoutHosts) == 0 {
			sm.CheckoutHosts = stablemint.DefaultCheckoutHosts(sm.BaseURL)
		}
		return nil
	}},
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
	// ImportInFlight is how many links of bulk imports are minted at once.
	ImportInFlight int
	// MetricsToken guards /metrics; MetricsAddr is a listener of its own
	// for it. With neither, no metrics are served.
	MetricsToken string
	MetricsAddr  string
	// PprofAddr is the profiler's loopback listener; "" serves none.
	PprofAddr string
	// WALLimit is the WAL size that makes the checkpoint job truncate it.
	WALLimit int64
	// ExpensiveConcurrency bounds expensive requests running at once.
	ExpensiveConcurrency int
	// StableMint is the provider to connect to, its key files read; nil
	// when STABLEMINT_BASE_URL is unset: demo mode, the built-in sandbox.
	StableMint *stablemint.Config
}

// loadConfig reads every setting, collects every problem, and reports them
// one per line, each naming its variable and never a secret's value. Values
// are trimmed of surrounding spaces; an empty value means unset.
func loadConfig(getenv func(string) string) (Config, error) {
	var (
		c      Config
		errs   []error
		failed = map[string]bool{}
	)
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	set := func(name string) bool { return get(name) != "" }
	for _, s := range settings {
		if s.Needs != "" && !set(s.Needs) {
			continue
		}
		v := get(s.Name)
		if v == "" {
			v = s.Default
		}
		var err error
		switch {
		case v != "":
			err = s.parse(&c, v)
		case s.Required:
			err = errors.New("is required")
		}
		if err != nil {
			failed[s.Name] = true
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: %w", s.Name, e))
			}
		}
	}
	for _, r := range rules {
		if slices.ContainsFunc(r.needs, func(n string) bool { return failed[n] }) {
			continue
		}
		if err := r.check(&c, set); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	return c, errors.Join(errs...)
}

// unjoin splits an errors.Join into its errors, one line each.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkLoopbackHostPort accepts host:port on a loopback address only.
func checkLoopbackHostPort(v string) error {
	host, _, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", v)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("want a loopback address (127.0.0.1, ::1 or localhost), got %q", host)
	}
	return nil
}

// parseSize reads a size such as 64MiB, 512KiB or 1GiB, between lo and hi
// bytes.
func parseSize(v string, lo, hi int64) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err == nil && n > 0 && n <= hi>>u.shift && n<<u.shift >= lo {
				return n << u.shift, nil
			}
			break
		}
	}
	return 0, fmt.Errorf("want a size like 64MiB (KiB, MiB or GiB) from %dMiB to %dGiB, got %q", lo>>20, hi>>30, v)
}

func checkHostPort(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("want host:port, got %q", v)
	}
	return nil
}

func parseBaseURL(c *Config, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("want an absolute http(s) URL without a path, got %q", v)
	}
	u.Path = ""
	c.BaseURL = u
	return nil
}

// parseTimeout reads a positive duration into *p.
func parseTimeout(p *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration like 30m or 8h, got %q", v)
	}
	*p = d
	return nil
}

// parseRate reads a whole number from 1 to max into field.
func parseRate(field func(*Config) *int, max int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return fmt.Errorf("want a whole number from 1 to %d", max)
		}
		*field(c) = n
		return nil
	}
}

func parseTrustedProxies(c *Config, v string) error {
	var errs []error
	for _, s := range splitList(v) {
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an IP or CIDR", s))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	return errors.Join(errs...)
}

// parseSMTPPasswordFile puts the file's password into the SMTP settings
// PAYLINKS_SMTP_URL (a row above) made.
func parseSMTPPasswordFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	switch {
	case err != nil:
		return err
	case c.SMTP == nil:
		return errors.New("set PAYLINKS_SMTP_URL too")
	case c.SMTP.Security == mail.PlainText:
		return errors.New("refusing to send a password over plain text (tls=none)")
	}
	c.SMTP.Password = strings.TrimRight(string(b), "\r\n")
	return nil
}

func parsePrivateKeyFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	key, err := stablemint.ParseRSAPrivateKeyPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.StableMint.PrivateKey = key
	return nil
}

func parsePublicKeyFiles(c *Config, v string) error {
	paths := strings.Split(v, ",")
	for i := range paths {
		paths[i] = strings.TrimSpace(paths[i])
	}
	if slices.Contains(paths, "") {
		return errors.New("has an empty entry in its comma-separated list")
	}
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot be read: %w", err))
			continue
		}
		key, err := stablemint.ParseRSAPublicKeyPEM(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		c.StableMint.WebhookKeys = append(c.StableMint.WebhookKeys, key)
	}
	return errors.Join(errs...)
}

func parseCheckoutHosts(c *Config, v string) error {
	var errs []error
	for h := range strings.SplitSeq(v, ",") {
		n, err := stablemint.NormaliseCheckoutHost(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("has an invalid entry: %w", err))
			continue
		}
		c.StableMint.CheckoutHosts = append(c.StableMint.CheckoutHosts, n)
	}
	return errors.Join(errs...)
}

// parseAmountLimit reads an amount limit: a plain decimal above 0 (a limit
// of 0 would read as none).
func parseAmountLimit(field func(*stablemint.Config) *stablemint.Decimal) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := stablemint.ParseDecimal(v)
		switch {
		case err != nil:
			return errors.New("must be a plain decimal such as 0.1 or 1000")
		case d.IsZero():
			return errors.New("must be above 0 (leave it unset for no limit)")
		}
		*field(c.StableMint) = d
		return nil
	}
}

// parseTolerance reads a webhook tolerance into *p.
func parseTolerance(p *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("must be a duration such as 4h or 5m")
	case d <= 0:
		return errors.New("must be above 0")
	case d > stablemint.MaxWebhookTolerance:
		return fmt.Errorf("must be at most %s", stablemint.MaxWebhookTolerance)
	}
	*p = d
	return nil
}

// clip shortens s to at most n bytes for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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
