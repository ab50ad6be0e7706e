// Package app is paylinks' one composition root: from an open store and a
// StableMint client it builds the services (minting, webhook ingest, mail,
// password hashing, metrics), the web layer on top of them, and the list of
// background jobs. `paylinks serve`, the handler tests and the benchmarks
// all build the application through New, so there is one way to wire it;
// docs/architecture.md draws the layers.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/metrics"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/stablemint"
)

// Defaults for the settings a caller leaves zero. cmd/paylinks's
// configuration table documents the same values for its variables.
const (
	DefaultIdleTimeout          = 30 * time.Minute
	DefaultAbsoluteTimeout      = 8 * time.Hour
	DefaultLoginRatePerMinute   = 20
	DefaultWebhookRatePerSecond = 50
	DefaultMailRatePerMinute    = 60
	DefaultCompanyName          = "paylinks"
	DefaultMailFrom             = "paylinks@localhost"
	// Links left in creating (docs/security.md A10) are re-sent with their
	// key: those of an earlier process at start, then every
	// RecoveryInterval those stuck longer than StuckAfter.
	DefaultRecoveryInterval = 15 * time.Minute
	DefaultStuckAfter       = 10 * time.Minute
	// How often expired sessions are deleted.
	DefaultSessionSweep = 10 * time.Minute
	// How often the checkpoint job copies the WAL into the database
	// (db/checkpoint.go), truncating it when over Config.WALLimit.
	DefaultCheckpointInterval = time.Second
	// DefaultExpensiveConcurrency is how many expensive requests (broad
	// searches, counts, exports, audit searches) run at once
	// (handlers/admission.go).
	DefaultExpensiveConcurrency = 2
	// The JSON API: each key's requests a minute (and burst), and how long
	// Idempotency-Key answers are kept (at least 24 h, docs/api.md), pruned
	// every hour.
	DefaultAPIRatePerMinute = 600
	APIIdempotencyKeep      = 48 * time.Hour
	APIIdempotencyPrune     = time.Hour
	// The API's read audits (api.read) are committed in groups: the first
	// waits at most ReadAuditLinger for others, up to ReadAuditBatch in one
	// transaction. A crash loses at most that moment's reads' entries.
	ReadAuditLinger = 200 * time.Millisecond
	ReadAuditBatch  = 256
	// Bulk imports: links sent to StableMint at once, and how often the
	// import job looks for queued links when nothing wakes it.
	DefaultImportInFlight = links.DefaultImportInFlight
	DefaultImportInterval = 2 * time.Second
)

// Config is the application's settings. Zero values take the defaults
// above (webhook bursts default to four times the rate).
type Config struct {
	BaseURL         *url.URL // the public URL; https turns on Secure cookies and HSTS
	SessionKeys     [][]byte // securecookie (hash, block) pairs, newest first
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	TrustedProxies  []*net.IPNet
	SandboxMode     bool // StableMint is the built-in sandbox: the pages say so

	LoginRatePerMinute   int
	WebhookRatePerSecond float64
	WebhookBurst         int
	// DashboardMaxAge is how long the dashboard's figures are shared by
	// every viewer before they are worked out again; 0 means always fresh.
	DashboardMaxAge time.Duration

	MailFrom          mail.Address // sender of customer emails; its name defaults to CompanyName
	CompanyName       string
	MailRatePerMinute int
	// Mail tunes the outbox (its Sender is SMTP; nil keeps emails in the
	// local mailbox). New fills its Logger, Now and Metrics.
	Mail outbox.Config

	// WALLimit is the WAL size in bytes past which the checkpoint job
	// truncates it; 0: db.DefaultWALLimit.
	WALLimit int64
	// ExpensiveConcurrency bounds the expensive requests running at once;
	// 0: DefaultExpensiveConcurrency.
	ExpensiveConcurrency int
	// APIKeyHashKey keys the stored hash of API keys' tokens (32 bytes or
	// more; paylinks serve keeps it in a file beside the database). Unset,
	// one is derived from the first session key: tests and embedders.
	APIKeyHashKey    []byte
	APIRatePerMinute int
	// ImportInFlight is how many links of bulk imports are minted at once.
	ImportInFlight int

	MetricsToken string          // serves GET /metrics on the app's own address when set
	HashParams   argon2id.Params // zero: auth.DefaultHashParams
	Ingest       ingest.Options
	// Outbound tunes the outbound-webhook worker (tests: a resolver, TLS
	// roots, a short timeout). New fills its Logger, Now, Guard (sandbox
	// mode and the settings' allowed hosts) and Disabled hook when unset.
	Outbound outbound.Options

	// Web, when set, adjusts the web layer's options after New has built
	// them and before the routes are made: tests put a store decorator or
	// a stricter limit here. Production leaves it nil.
	Web func(*handlers.Options)
}

// Parts are what the application is built on.
type Parts struct {
	Store *db.Store
	// StableMint mints links: the real client or the built-in sandbox's.
	// Its BreakerState, when it has one, is exported to /metrics.
	StableMint links.HostedSessions
	// Verifier checks StableMint's webhook signatures; nil answers every
	// webhook 503.
	Verifier *stablemint.Verifier
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
}

// App is the built application.
type App struct {
	Store    *db.Store
	Handler  *echo.Echo
	Metrics  *metrics.Metrics
	Hasher   *auth.Hasher
	Minter   *links.Minter
	Mailer   *outbox.Mailer
	Webhooks *ingest.Ingester
	Expiry   *links.ExpirySweeper
	// Imports mints the links of confirmed bulk imports; ImportEmails
	// emails each customer whose row asked, once the link is open.
	Imports      *links.BatchMinter
	ImportEmails *outbox.ImportEmails
	// Reminders queues customers' reminders; Notifier staff notifications.
	Reminders *outbox.Reminders
	Notifier  *outbox.Notifier
	// Outbound delivers paylinks' own webhooks (outbound/).
	Outbound *outbound.Worker

	// ReadAudits group-commits the JSON API's read audits; Close flushes it.
	ReadAudits *db.AuditWriter

	cfg Config
	log *slog.Logger
	now func() time.Time
}

func (c *Config) defaults() error {
	if c.BaseURL == nil {
		return errors.New("app: BaseURL is required")
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if c.LoginRatePerMinute == 0 {
		c.LoginRatePerMinute = DefaultLoginRatePerMinute
	}
	if c.WebhookRatePerSecond == 0 {
		c.WebhookRatePerSecond = DefaultWebhookRatePerSecond
	}
	if c.WebhookBurst == 0 {
		c.WebhookBurst = 4 * int(c.WebhookRatePerSecond)
	}
	if c.MailRatePerMinute == 0 {
		c.MailRatePerMinute = DefaultMailRatePerMinute
	}
	if c.CompanyName == "" {
		c.CompanyName = DefaultCompanyName
	}
	if c.MailFrom.Email == "" {
		c.MailFrom.Email = DefaultMailFrom
	}
	if c.MailFrom.Name == "" {
		c.MailFrom.Name = c.CompanyName
	}
	if c.WALLimit == 0 {
		c.WALLimit = db.DefaultWALLimit
	}
	if c.ExpensiveConcurrency == 0 {
		c.ExpensiveConcurrency = DefaultExpensiveConcurrency
	}
	if c.APIRatePerMinute == 0 {
		c.APIRatePerMinute = DefaultAPIRatePerMinute
	}
	if len(c.APIKeyHashKey) == 0 && len(c.SessionKeys) > 0 {
		m := hmac.New(sha256.New, c.SessionKeys[0])
		m.Write([]byte("paylinks API key hashing"))
		c.APIKeyHashKey = m.Sum(nil)
	}
	if c.HashParams == (argon2id.Params{}) {
		c.HashParams = auth.DefaultHashParams
	}
	return nil
}

// New builds the services and the web layer over p. Close releases what it
// started (the webhook writer); Jobs lists the background work for the
// caller to start.
func New(ctx context.Context, cfg Config, p Parts) (*App, error) {
	if p.Store == nil || p.StableMint == nil {
		return nil, errors.New("app: a store and a StableMint client are required")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	a := &App{Store: p.Store, cfg: cfg, log: log, now: now}

	// Metrics: a registry of this application's own; StableMint calls are
	// timed through a decorator and the minter reports each attempt.
	a.Metrics = metrics.New(log)
	a.Metrics.WALSize(p.Store.WALSize)
	var breaker interface{ BreakerState() string }
	if b, ok := p.StableMint.(interface{ BreakerState() string }); ok {
		breaker = b
	}
	client := a.Metrics.InstrumentClient(p.StableMint)
	hasher, err := auth.NewHasher(cfg.HashParams)
	if err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	a.Hasher = hasher
	a.Minter = links.NewMinter(p.Store, client, log, now)
	a.Minter.ObserveOutcomes(a.Metrics.LinkCreation)
	var breakerState func() string
	if breaker != nil {
		breakerState = breaker.BreakerState
	}
	a.Imports = links.NewBatchMinter(a.Minter, p.Store, cfg.ImportInFlight, breakerState, log)
	mc := cfg.Mail
	mc.Logger, mc.Now, mc.Metrics = log, now, a.Metrics
	if mc.LockPath == "" && p.Store.Path() != "" {
		mc.LockPath = p.Store.Path() + ".mailer-lock"
	}
	a.Mailer = outbox.NewMailer(p.Store, mc)
	a.Reminders = outbox.NewReminders(p.Store, outbox.ReminderConfig{From: cfg.MailFrom, CompanyName: cfg.CompanyName,
		Money: handlers.FormatMoney, Now: now, Logger: log, Wake: a.Mailer.Wake})
	// One email budget per user for every customer email: the pages' and
	// the API's Send, and the import emails.
	budget := outbox.NewSendBudget(cfg.MailRatePerMinute)
	a.ImportEmails = outbox.NewImportEmails(p.Store, outbox.ReminderConfig{From: cfg.MailFrom, CompanyName: cfg.CompanyName,
		Money: handlers.FormatMoney, Now: now, Logger: log, Wake: a.Mailer.Wake}, budget)
	a.Notifier = outbox.NewNotifier(p.Store, outbox.NotifyConfig{From: cfg.MailFrom, CompanyName: cfg.CompanyName,
		BaseURL: cfg.BaseURL.String(), Money: handlers.FormatMoney, Now: now, Logger: log, Wake: a.Mailer.Wake})
	a.Expiry = links.NewExpirySweeper(p.Store, now, links.DefaultExpiryInterval, log)
	// Webhook deliveries are group-committed by one goroutine with the
	// statements prepared once; Close stops it, after the HTTP server.
	writer, err := p.Store.NewWebhookWriter(ctx)
	if err != nil {
		return nil, err
	}
	a.Webhooks = ingest.New(writer, log, cfg.Ingest)

	a.Outbound = newOutbound(cfg, p.Store, log, now, a.Mailer.Wake)
	// The JSON API's read audits, group-committed (db/audit.go); Close
	// commits what is queued.
	a.ReadAudits = p.Store.NewAuditWriter(ReadAuditLinger, ReadAuditBatch, func(n int, err error) {
		log.Error("API read audit entries could not be stored", "component", "audit", "count", n, "err", err)
	})

	o := handlers.Options{
		Logger: log, Store: p.Store, Hasher: hasher, BaseURL: cfg.BaseURL, SessionKeys: cfg.SessionKeys,
		IdleTimeout: cfg.IdleTimeout, AbsoluteTimeout: cfg.AbsoluteTimeout, TrustedProxies: cfg.TrustedProxies,
		LoginRatePerMinute: cfg.LoginRatePerMinute, SandboxMode: cfg.SandboxMode, Now: now,
		Client: client, Minter: a.Minter, Imports: a.Imports,
		Mail: a.Mailer, MailFrom: cfg.MailFrom, CompanyName: cfg.CompanyName, MailRatePerMinute: cfg.MailRatePerMinute,
		MailBudget: budget,
		Verifier:   p.Verifier, Webhooks: a.Webhooks,
		WebhookRatePerSecond: cfg.WebhookRatePerSecond, WebhookBurst: cfg.WebhookBurst,
		DashboardMaxAge: cfg.DashboardMaxAge, ExpensiveConcurrency: cfg.ExpensiveConcurrency,
		Metrics: a.Metrics, MetricsToken: cfg.MetricsToken, Breaker: breaker,
		APIKeyHashKey: cfg.APIKeyHashKey, APIRatePerMinute: cfg.APIRatePerMinute,
		Outbound: a.Outbound, ReadAudits: a.ReadAudits,
	}
	if cfg.Web != nil {
		cfg.Web(&o)
	}
	if a.Handler, err = handlers.New(o); err != nil {
		a.Webhooks.Close()
		a.ReadAudits.Close()
		return nil, err
	}
	return a, nil
}

// Jobs is the application's background work: expired sessions swept, open
// links past their expiry expired, links left in creating re-sent (those of
// an earlier process, last touched before startedAt, at once), queued
// emails sent, due reminders queued, bulk imports' links minted, staff notified (at once and in daily
// digests).
func (a *App) Jobs(startedAt time.Time) []jobs.Job {
	idle, absolute := a.cfg.IdleTimeout, a.cfg.AbsoluteTimeout
	sessions := jobs.Job{Name: "sessions", Interval: DefaultSessionSweep, Run: func(ctx context.Context) error {
		now := a.now()
		n, err := a.Store.DeleteExpiredSessions(ctx, now.Add(-idle), now.Add(-absolute))
		if n > 0 {
			a.log.Info("expired sessions removed", "component", "sessions", "count", n)
		}
		return err
	}}
	// Idempotency-Key answers of the JSON API, kept APIIdempotencyKeep.
	idempotency := jobs.Job{Name: "api-idempotency", Interval: APIIdempotencyPrune, Run: func(ctx context.Context) error {
		n, err := a.Store.PruneIdempotency(ctx, a.now().Add(-APIIdempotencyKeep))
		if n > 0 {
			a.log.Info("idempotency keys pruned", "component", "api-idempotency", "count", n)
		}
		return err
	}}
	return append([]jobs.Job{sessions, idempotency, a.checkpointJob(), a.Expiry.Job(), a.Minter.RecoveryJob(startedAt, DefaultRecoveryInterval, DefaultStuckAfter), a.Mailer.Job(),
		a.Reminders.Job(), a.Outbound.Job(), a.Imports.Job(DefaultImportInterval), a.ImportEmails.Job()}, a.Notifier.Jobs()...)
}

// checkpointJob copies the WAL into the database every second and
// truncates it when it has grown past the limit (db/checkpoint.go), and
// reports each checkpoint to the metrics.
//
// A TRUNCATE that readers kept waiting held new writes back for up to
// 250 ms (db/checkpoint.go); while a long read lasts, trying every second
// would hold the writer back a quarter of the time. So after a busy one
// the next waits 2, 4, 8, then 16 s (PASSIVE still runs every second), and
// a TRUNCATE that succeeds starts again at once.
func (a *App) checkpointJob() jobs.Job {
	limit := a.cfg.WALLimit
	var backoff time.Duration
	var next time.Time // no TRUNCATE before this
	run := func(ctx context.Context) error {
		l := limit
		if time.Now().Before(next) {
			l = math.MaxInt64 // PASSIVE only
		}
		res, size, err := a.Store.CheckpointWAL(ctx, l)
		for _, r := range res {
			outcome := "ok"
			if r.Busy {
				outcome = "busy"
			}
			a.Metrics.Checkpoint(r.Mode, outcome, r.Checkpointed)
			if r.Mode != db.CheckpointTruncate {
				continue
			}
			if !r.Busy {
				backoff = 0
				continue
			}
			backoff = min(max(2*backoff, 2*time.Second), 16*time.Second)
			next = time.Now().Add(backoff)
			a.log.Info("WAL over its limit, and readers kept the checkpoint from truncating it; trying again later",
				"component", "checkpoint", "wal_bytes", size, "limit_bytes", limit, "retry_in", backoff.String())
		}
		if err != nil && ctx.Err() == nil {
			mode := db.CheckpointPassive
			if len(res) > 0 {
				mode = db.CheckpointTruncate
			}
			a.Metrics.Checkpoint(mode, "error", 0)
		}
		return err
	}
	return jobs.Job{Name: "checkpoint", Interval: DefaultCheckpointInterval, Run: run}
}

// Close stops the webhook writer: call it once the HTTP server has shut
// down, before the store closes. A batch in progress commits first.
func (a *App) Close() {
	a.Webhooks.Close()
	a.Minter.Close()
	a.Mailer.Close()
	a.Outbound.Close()
	a.ReadAudits.Close()
}

// newOutbound builds the outbound-webhook worker: the sandbox's rules in
// sandbox mode, the admins' allowed hosts from the settings, admins
// emailed when an endpoint is disabled. A message's data is the link as
// the JSON API shows it (outbound.DefaultLinkData, api.LinkOf).
func newOutbound(cfg Config, st *db.Store, log *slog.Logger, now func() time.Time, wakeMail func()) *outbound.Worker {
	o := cfg.Outbound
	o.Logger = log
	if o.Now == nil {
		o.Now = now
	}
	if o.Guard == nil {
		o.Guard = &outbound.Guard{Sandbox: cfg.SandboxMode}
	}
	if o.Guard.Allowed == nil {
		g := *o.Guard
		g.Allowed = st.OutboundPrivateHosts
		o.Guard = &g
	}
	if o.LockPath == "" && st.Path() != "" {
		o.LockPath = st.Path() + ".webhooks-lock"
	}
	if o.Disabled == nil {
		o.Disabled = outbound.EmailAdmins(st, outbound.AdminEmail{FromAddr: cfg.MailFrom.Email, FromName: cfg.MailFrom.Name,
			PageURL: cfg.BaseURL.JoinPath("/admin/webhook-endpoints").String(), Wake: wakeMail, Logger: log})
	}
	return outbound.New(st, o)
}
