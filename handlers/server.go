// Package handlers is paylinks' web layer: the route table, middleware,
// handlers and the single error handler. It depends on db, views and (later)
// stablemint; nothing imports it but cmd.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/metrics"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// Store is everything the web layer reads and writes; *db.Store is it.
// It is one interface, not one per page, so that a test can put a
// decorator in front of the real store (app.Config.Web) without a fake.
type Store interface {
	// Sessions.
	SessionByID(ctx context.Context, id string) (db.Session, error)
	SaveSessionData(ctx context.Context, id string, data []byte) error
	DeleteSession(ctx context.Context, id string, a *db.AuditEntry) error

	// A user's own sessions.
	ListUserSessions(ctx context.Context, userID int64) ([]db.Session, error)
	EndUserSession(ctx context.Context, userID int64, id string, a db.AuditEntry) error
	EndOtherSessions(ctx context.Context, userID int64, keep string, a db.AuditEntry) (int64, error)

	// The dashboard.
	PeriodFigures(ctx context.Context, since time.Time) ([]db.CurrencyFigures, error)
	PaidPerDay(ctx context.Context, currency string, since time.Time) ([]db.DayAmount, error)
	PayTimes(ctx context.Context, since time.Time) ([]db.PayTime, error)
	StatusTotals(ctx context.Context) ([]db.StatusTotal, error)
	AttentionList(ctx context.Context, now, expiringBefore time.Time) (db.Attention, error)

	// Storage health (readiness, the admins' banner).
	WriteFault() (reason string, since time.Time)
	LastWrite() time.Time
	ProbeWrite(ctx context.Context) error

	// Links, their search and export.
	LinkByID(ctx context.Context, id int64) (db.Link, error)
	ExportCustomFieldNames(ctx context.Context, q db.LinkQuery, max int) ([]string, bool, error)
	StreamExport(ctx context.Context, q db.LinkQuery, fn func(db.ExportLink) error) error
	CancelLink(ctx context.Context, id, actor int64, reason string, a db.AuditEntry) (db.CancelResult, error)
	SearchLinks(ctx context.Context, q db.LinkQuery) (db.SearchPage, error)
	CountSearch(ctx context.Context, q db.LinkQuery, upTo int) (int, error)
	SingleReferenceHit(ctx context.Context, term string) (int64, bool, error)
	// The list's live updates (handlers/list_live.go).
	ListLinksByIDs(ctx context.Context, ids []int64) ([]db.Link, error)
	LinkVersions(ctx context.Context, ids []int64) (map[int64]time.Time, error)
	LastLinkID(ctx context.Context) (int64, error)
	CountNewLinks(ctx context.Context, q db.LinkQuery, since int64, upTo int) (int, error)
	// Saved views of the list (handlers/saved_views.go).
	SavedViews(ctx context.Context, userID int64) ([]db.SavedView, error)
	SavedViewByID(ctx context.Context, id int64) (db.SavedView, error)
	CreateSavedView(ctx context.Context, v db.SavedView, a db.AuditEntry) (db.SavedView, error)
	ShareSavedView(ctx context.Context, id int64, shared bool, a db.AuditEntry) error
	DeleteSavedView(ctx context.Context, id, ownerID int64, a db.AuditEntry) error
	StreamLinks(ctx context.Context, q db.LinkQuery, fn func(db.Link) error) error
	LinkTimeline(ctx context.Context, linkID int64) ([]db.LinkEvent, error)
	GetSettings(ctx context.Context) (db.Settings, error)
	SaveSettings(ctx context.Context, st db.Settings, actor int64, a db.AuditEntry) error
	SaveSettingsAndLogo(ctx context.Context, st db.Settings, lc db.LogoChange, actor int64, a db.AuditEntry) error
	BrandLogo(ctx context.Context) (db.Logo, error)
	BrandLogoInfo(ctx context.Context) (db.LogoInfo, bool, error)
	ApproveCheckoutHost(ctx context.Context, host string, actor int64, a db.AuditEntry) (int, error)

	// Customer emails, templates and the mailbox.
	QueueEmail(ctx context.Context, ne db.NewEmail, a db.AuditEntry) (db.Email, bool, error)
	QueueEmailBatch(ctx context.Context, formToken string, actor int64, emails []db.NewEmail, skipped []db.BatchSkip, a db.AuditEntry) (int64, bool, error)
	ResendEmail(ctx context.Context, id, actor int64, messageIDDomain string, a db.AuditEntry) (db.Email, error)
	EmailByID(ctx context.Context, id int64) (db.Email, error)
	LinkEmails(ctx context.Context, linkID int64) ([]db.Email, error)
	RecentLinkEmail(ctx context.Context, linkID int64, toAddr string, since time.Time, exceptToken string) (db.RecentEmail, error)
	FailedEmails(ctx context.Context, limit int) ([]db.Email, error)
	EmailBatchByID(ctx context.Context, id int64) (db.EmailBatch, error)
	BatchEmails(ctx context.Context, batchID int64) ([]db.Email, error)
	MailboxEmails(ctx context.Context, limit int) ([]db.Email, error)
	MailboxEmail(ctx context.Context, id int64) (db.Email, []byte, error)
	EmailTemplate(ctx context.Context, name string) (db.EmailTemplate, error)
	SaveEmailTemplate(ctx context.Context, t db.EmailTemplate, actor int64, a db.AuditEntry) error

	// Reminders and staff notifications (handlers/reminders.go).
	LinkReminders(ctx context.Context, linkID int64) (db.LinkReminders, error)
	SetLinkReminders(ctx context.Context, linkID int64, override *db.ReminderRule, actor int64, a db.AuditEntry) error
	NotifyPreference(ctx context.Context, userID int64) (string, error)
	SetNotifyPreference(ctx context.Context, userID int64, pref string, a db.AuditEntry) error
	SetTimeZone(ctx context.Context, userID int64, zone string, a db.AuditEntry) error

	// Webhook events for admins, and live updates.
	WebhookEventByID(ctx context.Context, id int64) (db.WebhookEvent, error)
	WebhookEventDeliveries(ctx context.Context, eventID int64) ([]db.WebhookDeliveryRow, error)
	ListWebhookDeliveries(ctx context.Context, f db.WebhookFilter) (db.WebhookDeliveryPage, error)
	WebhookEventTypes(ctx context.Context) ([]string, error)
	LinkIDsByReference(ctx context.Context, ref string, limit int) ([]int64, error)
	LinkVersion(ctx context.Context, id int64) (string, error)
	AssignWebhookEvent(ctx context.Context, eventID, linkID int64, ev db.WebhookEventData, a db.AuditEntry) (db.WebhookAction, error)
	ReapplyWebhookEvent(ctx context.Context, eventID int64, ev db.WebhookEventData, a db.AuditEntry) (db.WebhookAction, error)
	DismissWebhookEvent(ctx context.Context, eventID int64, note string, a db.AuditEntry) error
	ResolveWebhookReview(ctx context.Context, eventID int64, accept bool, a db.AuditEntry) (db.WebhookAction, error)

	// The audit log.
	SearchAudit(ctx context.Context, q db.AuditQuery) (db.AuditPage, error)
	StreamAudit(ctx context.Context, q db.AuditQuery, fn func(db.AuditEntry) error) error
	AuditActions(ctx context.Context) ([]string, error)

	// Two-factor sign-in.
	TOTPByUser(ctx context.Context, userID int64) (db.TOTP, error)
	UsersWithTOTP(ctx context.Context) (map[int64]bool, error)
	StartTOTPEnrolment(ctx context.Context, userID int64, secret string, a db.AuditEntry) error
	EnableTOTP(ctx context.Context, userID int64, secret string, step int64, codeHashes []string, a db.AuditEntry) error
	ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string, a db.AuditEntry) error
	UseTOTPStep(ctx context.Context, userID, step int64) error
	UseRecoveryCode(ctx context.Context, userID int64, codeHash string) (int, error)
	DisableTOTP(ctx context.Context, userID int64, a db.AuditEntry) error
	ResetTOTP(ctx context.Context, userID int64, a db.AuditEntry) error
	CreatePendingLogin(ctx context.Context, p db.PendingLogin, ttl time.Duration, a db.AuditEntry) (db.PendingLogin, error)
	PendingLoginByToken(ctx context.Context, tokenHash string, now time.Time) (db.PendingLogin, error)
	ConsumePendingLogin(ctx context.Context, tokenHash string) (db.PendingLogin, error)
	TwoFactorStatus(ctx context.Context, userID int64) (enabled, required bool, err error)
	TwoFactorRequired(ctx context.Context) (bool, error)
	SetTwoFactorRequired(ctx context.Context, required bool, actor int64, a db.AuditEntry) error

	// Accounts, setup and the rest.
	CountActiveSessions(ctx context.Context, idleSince, createdSince time.Time) (int, error)
	Ping(ctx context.Context) error
	Audit(ctx context.Context, e db.AuditEntry) error
	ListUsers(ctx context.Context) ([]db.User, error)
	UserByEmail(ctx context.Context, email string) (db.User, error)
	UserByID(ctx context.Context, id int64) (db.User, error)
	CreateUser(ctx context.Context, nu db.NewUser, a db.AuditEntry) (db.User, error)
	SetUserRole(ctx context.Context, id int64, role paylink.Role, a db.AuditEntry) error
	SetUserDisabled(ctx context.Context, id int64, disabled bool, a db.AuditEntry) error
	SetPassword(ctx context.Context, id int64, hash string, mustChange bool, keepSession string, a db.AuditEntry) error
	UnlockUser(ctx context.Context, id int64, a db.AuditEntry) error
	RehashPassword(ctx context.Context, id int64, oldHash, newHash string) error
	RecordLoginFailure(ctx context.Context, id int64, lockFor func(int) time.Duration, a db.AuditEntry) (int, time.Time, error)
	CreateSession(ctx context.Context, se db.Session, a db.AuditEntry) (db.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	CountUserSessions(ctx context.Context, userID int64) (int, error)
	EndUserSessions(ctx context.Context, userID int64, a db.AuditEntry) error
	SetupTokenValid(ctx context.Context, tokenHash string) bool
	CompleteSetup(ctx context.Context, tokenHash string, nu db.NewUser, a db.AuditEntry) (db.User, error)
}

// Options are the web layer's parts and settings, all built and filled by
// the composition root (app.New): the web layer builds no service.
type Options struct {
	Logger  *slog.Logger
	Store   Store
	Hasher  *auth.Hasher
	BaseURL *url.URL // the public URL; https turns on Secure cookies and HSTS
	// SessionKeys are securecookie (hash key, block key) pairs, newest first.
	SessionKeys     [][]byte
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	// LoginRatePerMinute is the per-IP sign-in budget: requests per minute and burst.
	LoginRatePerMinute int
	SandboxMode        bool
	Now                func() time.Time
	// Client is StableMint (or the sandbox), already metered; Minter mints
	// links with it.
	Client links.HostedSessions
	Minter *links.Minter
	// Imports is the bulk-import job (handlers/imports.go wakes it).
	Imports *links.BatchMinter
	// Mail is the outbox the pages queue customer emails into (app runs its
	// job). MailFrom is their sender; CompanyName is the company name
	// until an admin saves one under Settings (handlers/brand.go);
	// MailRatePerMinute is each user's budget.
	Mail              *outbox.Mailer
	MailFrom          mail.Address
	CompanyName       string
	MailRatePerMinute int
	// MailBudget, when set, is the budget shared with the import emails
	// (one rule for every customer email); nil: one of MailRatePerMinute.
	MailBudget *outbox.SendBudget
	// Verifier checks StableMint's webhook signatures and Webhooks commits
	// the deliveries; without both, POST /webhooks/stablemint answers 503.
	Verifier *stablemint.Verifier
	Webhooks *ingest.Ingester
	// WebhookRatePerSecond and WebhookBurst bound webhook requests per
	// client IP.
	WebhookRatePerSecond float64
	WebhookBurst         int
	// DashboardMaxAge is how old the dashboard's figures may be before
	// they are worked out again; 0 means always fresh.
	DashboardMaxAge time.Duration
	// ExpensiveConcurrency bounds the expensive requests running at once
	// (handlers/admission.go); below 1 counts as 1.
	ExpensiveConcurrency int
	// Metrics is the application's registry.
	Metrics *metrics.Metrics
	// MetricsToken, when set, serves GET /metrics to requests carrying
	// "Authorization: Bearer <token>"; without it /metrics is 404 here.
	MetricsToken string
	// Breaker, when set, reports StableMint's circuit breaker to /metrics.
	Breaker interface{ BreakerState() string }
	// The JSON API (handlers/api*.go, docs/api.md): APIKeyHashKey (32
	// bytes or more) keys the stored hash of API keys' tokens;
	// APIRatePerMinute is each key's request budget.
	APIKeyHashKey    []byte
	APIRatePerMinute int
	// ReadAudits group-commits the API's read audits (api.read); nil
	// commits each one before the answer.
	ReadAudits *db.AuditWriter
	// Outbound delivers outbound webhooks; its Guard checks endpoint
	// addresses (handlers/webhooks_out.go). nil: no endpoint pages.
	Outbound *outbound.Worker
}

// check refuses options that lack a part or a setting: the web layer
// builds no service and takes no default of its own (app does both).
func (o *Options) check() error {
	switch {
	case o.Store == nil || o.Hasher == nil || o.BaseURL == nil || o.Client == nil || o.Minter == nil ||
		o.Imports == nil || o.Mail == nil || o.Metrics == nil || o.Logger == nil || o.Now == nil:
		return errors.New("handlers: Store, Hasher, BaseURL, Client, Minter, Imports, Mail, Metrics, Logger and Now are required")
	case len(o.SessionKeys) == 0 || len(o.SessionKeys)%2 != 0:
		return errors.New("handlers: session keys come in (hash, block) pairs")
	case o.IdleTimeout <= 0 || o.AbsoluteTimeout <= 0 || o.LoginRatePerMinute <= 0 || o.WebhookRatePerSecond <= 0 ||
		o.WebhookBurst <= 0 || o.MailRatePerMinute <= 0 || o.CompanyName == "":
		return errors.New("handlers: timeouts, rates and the company name must be set")
	}
	if err := o.MailFrom.Check(); err != nil {
		return fmt.Errorf("handlers: MailFrom: %w", err)
	}
	return nil
}

// countryName is "Germany" for "DE", or the code when unknown.
func (a *app) countryName(code string) string {
	if n, ok := a.countryNames[code]; ok {
		return n + " (" + code + ")"
	}
	return code
}

// secure reports whether the public URL is https.
func (o *Options) secure() bool { return o.BaseURL.Scheme == "https" }

// cookieName prefixes names with __Host- under https (Secure, Path=/, no Domain).
func (o *Options) cookieName(base string) string {
	if o.secure() {
		return "__Host-" + base
	}
	return base
}

// app holds what handlers share; it has no per-request state.
type app struct {
	opts     Options
	log      *slog.Logger
	store    Store
	hasher   *auth.Hasher
	sessions *dbStore
	echo     *echo.Echo
	now      func() time.Time
	client   links.HostedSessions
	minter   *links.Minter
	mailer   *outbox.Mailer
	metrics  *metrics.Metrics
	// probe is the last readiness write probe (probeWrite).
	probe struct {
		sync.Mutex
		ok time.Time // when the last probe succeeded; zero after a failure
	}

	metricsHandler http.Handler

	sendLimits      *sendLimiter
	dash            dashboardCache
	exports         exportLimiter
	countryOptions  []views.Option
	currencyOptions []views.Option
	countryNames    map[string]string
	brandCache      brandCache // handlers/brand.go
	admission       *admission // handlers/admission.go
	qr              qrCache    // handlers/qr.go
}

// New builds the Echo instance with every route and middleware.
func New(opts Options) (*echo.Echo, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	a := &app{opts: opts, log: opts.Logger, store: opts.Store, hasher: opts.Hasher, now: opts.Now,
		client: opts.Client, minter: opts.Minter, countryNames: map[string]string{},
		mailer: opts.Mail, sendLimits: newSendLimiter(opts.MailBudget, opts.MailRatePerMinute), metrics: opts.Metrics,
		admission: newAdmission(opts.ExpensiveConcurrency)}
	a.initMetrics()
	for _, c := range stablemint.Countries() {
		a.countryOptions = append(a.countryOptions, views.Option{Value: c.Code, Label: c.Name + " (" + c.Code + ")"})
		a.countryNames[c.Code] = c.Name
	}
	for _, c := range stablemint.Currencies() {
		a.currencyOptions = append(a.currencyOptions, views.Option{Value: c.Code, Label: c.Code + " — " + c.Name})
	}
	a.sessions = newDBStore(opts.Store, sessions.Options{
		Path:     "/",
		MaxAge:   int(opts.AbsoluteTimeout / time.Second),
		Secure:   opts.secure(),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}, opts.SessionKeys...)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Debug = false
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
	e.HTTPErrorHandler = a.handleError
	a.echo = e
	if err := a.routes(e); err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return e, nil
}

// ipExtractor trusts X-Forwarded-For only from the configured proxies;
// otherwise the TCP peer is the client.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
