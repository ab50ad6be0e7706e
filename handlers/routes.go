package handlers

import (
	"context"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/static"
)

// Route names; URLs are always built from these with Echo's Reverse.
const (
	RouteHealth          = "health"
	RouteReady           = "ready"
	RouteHome            = "home"
	RouteLogin           = "login"
	RouteLoginPost       = "login.post"
	RouteLogout          = "logout"
	RouteSetup           = "setup"
	RouteSetupPost       = "setup.post"
	RouteAccount         = "account"
	RouteAccountPassword = "account.password"
	RouteUsers           = "users"
	RouteUserCreate      = "users.create"
	RouteUserRole        = "users.role"
	RouteUserDisable     = "users.disable"
	RouteUserEnable      = "users.enable"
	RouteUserReset       = "users.reset"
	RouteUserUnlock      = "users.unlock"
	RouteUserSessions    = "users.sessions"
	RouteLinks           = "links"
	RouteLinksCSV        = "links.csv"
	RouteLinksCount      = "links.count"
	RouteLinksLive       = "links.live"
	RouteSavedViewCreate = "links.views.create"
	RouteSavedViewDelete = "links.views.delete"
	RouteSavedViewShare  = "links.views.share"
	RouteLinksXLSX       = "links.xlsx"
	RouteLinkNew         = "links.new"
	RouteLinkCreate      = "links.create"
	RouteLink            = "link"
	RouteLinkRetry       = "link.retry"
	RouteLinkCancel      = "link.cancel"
	RouteLinksCancel     = "links.cancel"
	RouteLinkApproveHost = "link.approve-host"
	RouteLinkQR          = "link.qr"
	RouteSettings        = "settings"
	RouteSettingsSave    = "settings.save"
	RouteCustomer        = "customer"
	RouteLinkLive        = "link.live"
	RouteWebhook         = "webhooks.stablemint"
	RouteEvents          = "events"
	RouteEvent           = "event"
	RouteEventAssign     = "event.assign"
	RouteEventDismiss    = "event.dismiss"
	RouteEventReapply    = "event.reapply"
	RouteEventAccept     = "event.accept"
	RouteEventLeave      = "event.leave"
	RouteAudit           = "audit"
	RouteAuditCSV        = "audit.csv"
	RouteMetrics         = "metrics"
	RouteBrandLogo       = "brand.logo"
	RouteBrandTheme      = "brand.theme"
)

// Two-factor sign-in and session route names.
const (
	RouteLoginTOTP                = "login.2fa"
	RouteLoginTOTPPost            = "login.2fa.post"
	RouteTOTPStart                = "account.2fa.start"
	RouteTOTPSetup                = "account.2fa.setup"
	RouteTOTPQR                   = "account.2fa.qr"
	RouteTOTPConfirm              = "account.2fa.confirm"
	RouteTOTPDisable              = "account.2fa.disable"
	RouteTOTPRecovery             = "account.2fa.recovery"
	RouteAccountSessionEnd        = "account.sessions.end"
	RouteAccountSessionsEndOthers = "account.sessions.end_others"
	RouteUserReset2FA             = "users.reset_2fa"
	RouteRequire2FA               = "users.require_2fa"
)

// Email route names.
const (
	RouteLinkEmail         = "link.email"
	RouteLinkEmailSend     = "link.email.send"
	RouteLinkEmailResend   = "link.email.resend"
	RouteLinksEmail        = "links.email"
	RouteEmailBatch        = "links.email.batch"
	RouteEmailTemplate     = "email.template"
	RouteEmailTemplateSave = "email.template.save"
	RouteMailbox           = "mailbox"
	RouteMailboxMessage    = "mailbox.message"
	// The HTML parts shown in sandboxed preview frames (their own CSP).
	RouteLinkEmailPreviewHTML     = "link.email.preview-html"
	RouteMailboxMessageHTML       = "mailbox.message.html"
	RouteEmailTemplatePreviewHTML = "email.template.preview-html"
	RouteEmailTemplateDraftHTML   = "email.template.draft-html"
)

// Reminder and notification route names.
const (
	RouteLinkReminders = "link.reminders"
	RouteAccountNotify = "account.notify"
	RouteAccountZone   = "account.zone"
)

// Body limits (docs/security.md A6).
const (
	bodyLimitGlobal  = "1M"
	bodyLimitLogin   = "8K"
	bodyLimitWebhook = "256KiB"
)

// routes is the single route table: public, signed-in and admin groups,
// each with its middleware; access control is never an if in a handler.
func (a *app) routes(e *echo.Echo) error {
	e.Pre(middleware.RemoveTrailingSlash())
	e.Use(a.securityHeaders)
	e.Use(middleware.RequestID())
	e.Use(a.observeRequests) // outside the logger, which commits error responses
	e.Use(a.requestLogger)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{ // inside the logger: a panic still gets its request line
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			logFrom(c.Request().Context(), a.log).Error("panic", "err", err, "stack", string(stack))
			return err
		},
	}))
	// The import upload has its own, larger limit (handlers/imports.go).
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: bodyLimitGlobal, Skipper: importUploadPath}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: bodyLimitImport,
		Skipper: func(c echo.Context) bool { return !importUploadPath(c) }}))
	e.Use(middleware.ContextTimeout(requestTimeout))

	// Static assets: no session, no CSRF, cached for a year, gzip only here
	// (pages carry CSRF tokens beside reflected input: BREACH).
	assets := e.Group(strings.TrimSuffix(static.Prefix, "/"), middleware.Gzip(), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// A directory is not an asset: Echo's static handler would
			// redirect it to a trailing slash, which RemoveTrailingSlash
			// takes away again, forever.
			name := strings.Trim(strings.TrimPrefix(c.Request().URL.Path, strings.TrimSuffix(static.Prefix, "/")), "/")
			if fi, err := fs.Stat(static.FS, name); name == "" || (err == nil && fi.IsDir()) {
				return echo.ErrNotFound
			}
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			return next(c)
		}
	})
	assets.StaticFS("/", echo.MustSubFS(static.FS, "."))
	e.GET("/favicon.ico", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, static.URL("img/favicon.svg"))
	})

	e.GET("/healthz", a.health).Name = RouteHealth
	e.GET("/readyz", a.ready).Name = RouteReady
	// Prometheus: bearer token (PAYLINKS_METRICS_TOKEN), or 404 here.
	e.GET("/metrics", a.metricsEndpoint).Name = RouteMetrics

	// Everything but assets, the health check and webhooks knows
	// its user and checks CSRF; per-route middleware then decides access.
	// (Echo groups with an empty prefix would also catch every unknown
	// path and method, turning 404 and 405 into sign-in redirects.)
	csrf, err := a.csrf()
	if err != nil {
		return err
	}
	e.Use(skipFor(a.sameOrigin), skipFor(a.loadUser), skipFor(csrf), skipFor(a.bindCSRF))
	// Expensive searches, counts and exports share a few slots (handlers/admission.go).
	e.Use(a.admit)

	limiter := middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate:      rate.Limit(float64(a.opts.LoginRatePerMinute) / 60),
			Burst:     a.opts.LoginRatePerMinute,
			ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return echo.NewHTTPError(http.StatusTooManyRequests)
		},
	})
	// Signed-in pages that check the user's own password (or a code) get
	// the same budget per session: a borrowed session cannot guess freely.
	perSession := middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate:      rate.Limit(float64(a.opts.LoginRatePerMinute) / 60),
			Burst:     a.opts.LoginRatePerMinute,
			ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			if sess := currentSession(c); sess != nil {
				if row, ok := sessionRow(sess); ok {
					return "session:" + row.ID, nil
				}
			}
			return c.RealIP(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return echo.NewHTTPError(http.StatusTooManyRequests)
		},
	})
	loginLimit := middleware.BodyLimit(bodyLimitLogin)
	e.GET("/login", a.loginForm).Name = RouteLogin
	e.POST("/login", a.login, loginLimit, limiter).Name = RouteLoginPost
	e.GET("/setup", a.setupForm).Name = RouteSetup
	e.POST("/setup", a.setup, loginLimit, limiter).Name = RouteSetupPost
	// The code step after a correct password: no session yet, only the
	// pending sign-in's own cookie; same per-IP budget as /login.
	e.GET("/login/2fa", a.secondFactorForm).Name = RouteLoginTOTP
	e.POST("/login/2fa", a.secondFactor, loginLimit, limiter).Name = RouteLoginTOTPPost

	signedIn := a.requireSignedIn
	e.GET("/", a.dashboard, signedIn).Name = RouteHome
	e.POST("/logout", a.logout, signedIn).Name = RouteLogout
	e.GET("/account", a.account, signedIn).Name = RouteAccount
	e.POST("/account/password", a.changePassword, signedIn, loginLimit, perSession).Name = RouteAccountPassword
	e.POST("/account/2fa/start", a.startTOTP, signedIn).Name = RouteTOTPStart
	e.GET("/account/2fa/setup", a.totpSetup, signedIn).Name = RouteTOTPSetup
	e.GET("/account/2fa/qr.png", a.totpQR, signedIn).Name = RouteTOTPQR
	e.POST("/account/2fa/confirm", a.confirmTOTP, signedIn, loginLimit, perSession).Name = RouteTOTPConfirm
	e.POST("/account/2fa/disable", a.disableTOTP, signedIn, loginLimit, perSession).Name = RouteTOTPDisable
	e.POST("/account/2fa/recovery-codes", a.newRecoveryCodesHandler, signedIn, loginLimit, perSession).Name = RouteTOTPRecovery
	e.POST("/account/sessions/:sid/end", a.endSession, signedIn).Name = RouteAccountSessionEnd
	e.POST("/account/sessions/end-others", a.endOtherSessions, signedIn).Name = RouteAccountSessionsEndOthers
	e.POST("/account/notifications", a.saveNotify, signedIn).Name = RouteAccountNotify
	e.POST("/account/time-zone", a.saveTimeZone, signedIn).Name = RouteAccountZone

	finance := a.requireRole(paylink.RoleFinance)
	e.GET("/links", a.links, signedIn).Name = RouteLinks
	e.GET("/links/count", a.linksCount, signedIn).Name = RouteLinksCount
	e.GET("/links/live", a.linksLive, signedIn).Name = RouteLinksLive
	e.POST("/links/views", a.saveView, signedIn).Name = RouteSavedViewCreate
	e.POST("/links/views/:id/delete", a.deleteView, signedIn).Name = RouteSavedViewDelete
	e.POST("/links/views/:id/share", a.shareView, signedIn, a.requireRole(paylink.RoleAdmin)).Name = RouteSavedViewShare
	e.GET("/links/export.csv", a.exportCSV, signedIn).Name = RouteLinksCSV
	e.GET("/links/export.xlsx", a.exportXLSX, signedIn).Name = RouteLinksXLSX
	e.GET("/links/new", a.newLinkForm, signedIn, finance).Name = RouteLinkNew
	e.POST("/links", a.createLink, signedIn, finance).Name = RouteLinkCreate
	e.GET("/links/:id", a.link, signedIn).Name = RouteLink
	e.POST("/links/:id/retry", a.retryLink, signedIn, finance).Name = RouteLinkRetry
	e.POST("/links/:id/cancel", a.cancelLink, signedIn, finance).Name = RouteLinkCancel
	e.GET("/links/:id/qr.png", a.linkQR, signedIn).Name = RouteLinkQR
	e.GET("/links/:id/email", a.emailCompose, signedIn, finance).Name = RouteLinkEmail
	e.POST("/links/:id/email", a.emailSend, signedIn, finance).Name = RouteLinkEmailSend
	e.GET("/links/:id/email/preview.html", a.emailPreviewHTML, signedIn, finance).Name = RouteLinkEmailPreviewHTML
	e.POST("/links/:id/emails/:eid/resend", a.emailResend, signedIn, finance).Name = RouteLinkEmailResend
	e.POST("/links/email", a.emailBatch, signedIn, finance).Name = RouteLinksEmail
	e.POST("/links/cancel", a.cancelLinks, signedIn, finance).Name = RouteLinksCancel
	e.GET("/links/email/batches/:id", a.emailBatchPage, signedIn, finance).Name = RouteEmailBatch
	e.GET("/links/:id/live", a.linkLive, signedIn).Name = RouteLinkLive
	e.POST("/links/:id/reminders", a.saveLinkReminders, signedIn, finance).Name = RouteLinkReminders
	a.importRoutes(e, signedIn, finance)

	// StableMint's webhooks: no session, no CSRF (sessionless), their own
	// body limit and per-IP rate limit, then the signature check.
	wh := a.webhookReceiver()
	e.POST("/webhooks/stablemint", wh.receive, middleware.BodyLimit(bodyLimitWebhook), wh.rateLimit()).Name = RouteWebhook

	// Where StableMint sends customers back: public, no session needed.
	e.GET("/pay/:page", a.customerPage).Name = RouteCustomer
	// The merchant's logo and accent colour, for customer pages and the
	// staff header: public, sessionless, cacheable (handlers/brand.go).
	e.GET("/brand/logo", a.brandLogo).Name = RouteBrandLogo
	e.GET("/brand/theme.css", a.brandTheme).Name = RouteBrandTheme

	admin := e.Group("/admin", signedIn, a.requireRole(paylink.RoleAdmin))
	e.POST("/links/:id/approve-checkout-host", a.approveCheckoutHost, signedIn, a.requireRole(paylink.RoleAdmin)).Name = RouteLinkApproveHost
	admin.GET("/settings", a.settings).Name = RouteSettings
	admin.POST("/settings", a.saveSettings).Name = RouteSettingsSave
	admin.GET("/users", a.users).Name = RouteUsers
	admin.POST("/users", a.createUser).Name = RouteUserCreate
	admin.POST("/users/:id/role", a.changeRole).Name = RouteUserRole
	admin.POST("/users/:id/disable", a.disableUser).Name = RouteUserDisable
	admin.POST("/users/:id/enable", a.enableUser).Name = RouteUserEnable
	admin.POST("/users/:id/reset-password", a.resetPassword).Name = RouteUserReset
	admin.POST("/users/:id/unlock", a.unlockUser).Name = RouteUserUnlock
	admin.POST("/users/:id/end-sessions", a.endSessions).Name = RouteUserSessions
	admin.POST("/users/:id/reset-2fa", a.resetTOTP).Name = RouteUserReset2FA
	admin.POST("/users/require-2fa", a.setRequire2FA).Name = RouteRequire2FA
	admin.GET("/email-template", a.emailTemplateForm).Name = RouteEmailTemplate
	admin.POST("/email-template", a.saveEmailTemplate).Name = RouteEmailTemplateSave
	admin.GET("/mailbox", a.mailbox).Name = RouteMailbox
	admin.GET("/mailbox/:id", a.mailboxMessage).Name = RouteMailboxMessage
	admin.GET("/mailbox/:id/message.html", a.mailboxMessageHTML).Name = RouteMailboxMessageHTML
	admin.GET("/email-template/preview.html", a.emailTemplatePreviewHTML).Name = RouteEmailTemplatePreviewHTML
	admin.POST("/email-template/preview.html", a.emailTemplateDraftHTML).Name = RouteEmailTemplateDraftHTML
	admin.GET("/events", a.events).Name = RouteEvents
	admin.GET("/events/:id", a.event).Name = RouteEvent
	admin.POST("/events/:id/assign", a.assignEvent).Name = RouteEventAssign
	admin.POST("/events/:id/dismiss", a.dismissEvent).Name = RouteEventDismiss
	admin.POST("/events/:id/reapply", a.reapplyEvent).Name = RouteEventReapply
	admin.POST("/events/:id/accept", a.acceptEvent).Name = RouteEventAccept
	admin.POST("/events/:id/leave", a.leaveEvent).Name = RouteEventLeave
	admin.GET("/audit", a.auditLog).Name = RouteAudit
	admin.GET("/audit/export.csv", a.auditCSV).Name = RouteAuditCSV
	a.outboundRoutes(admin) // handlers/webhooks_out.go
	// The JSON API under /api/v1 (sessionless: a key, never a session or
	// CSRF), its reference and the admins' API keys (handlers/api.go).
	return a.apiRoutes(e, admin)
}

// sessionless reports paths that never use a session or CSRF: assets, the
// health checks, the metrics (bearer token instead), StableMint's webhooks
// (signed instead), the brand's logo and stylesheet (public) and the JSON
// API (an API key instead: a session cookie never authenticates it).
func sessionless(path string) bool {
	return strings.HasPrefix(path, static.Prefix) || path == "/healthz" || path == "/readyz" || path == "/favicon.ico" ||
		path == "/metrics" || strings.HasPrefix(path, "/webhooks/") || strings.HasPrefix(path, "/brand/") ||
		path == apiPrefix || strings.HasPrefix(path, apiPrefix+"/")
}

// skipFor wraps page middleware so sessionless paths bypass it.
func skipFor(m echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		wrapped := m(next)
		return func(c echo.Context) error {
			if sessionless(c.Request().URL.Path) {
				return next(c)
			}
			return wrapped(c)
		}
	}
}

// health pings the database: 200 when it answers, 503 otherwise.
// ready is readiness, beside /healthz's liveness: 503 naming the fault
// while the database cannot accept writes (the last write failed for a
// storage reason, or a tiny write probe fails now), 200 otherwise. A write
// that committed in the last 10 s answers for the probe, so a busy server
// is not probed under load.
func (a *app) ready(c echo.Context) error {
	reason, _ := a.store.WriteFault()
	if reason == "" && time.Since(a.store.LastWrite()) < 10*time.Second {
		return c.String(http.StatusOK, "ready\n")
	}
	if err := a.probeWrite(c.Request().Context(), reason != ""); err != nil {
		if reason, _ = a.store.WriteFault(); reason == "" {
			reason = "the database did not take a write in time"
		}
		logFrom(c.Request().Context(), a.log).Error("not ready", "reason", reason, "err", err)
		return c.String(http.StatusServiceUnavailable, "not ready: "+reason+"\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// probeWrite runs the store's write probe, one at a time and, after a
// success, at most once every 2 s however often /readyz is asked (it is
// public), unless a write failed since (faulted). A failed probe is tried again at the next call: a refused write
// costs little, and readiness must come back as soon as the disk does.
func (a *app) probeWrite(ctx context.Context, faulted bool) error {
	a.probe.Lock()
	defer a.probe.Unlock()
	if !faulted && !a.probe.ok.IsZero() && time.Since(a.probe.ok) < 2*time.Second {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.store.ProbeWrite(ctx); err != nil {
		a.probe.ok = time.Time{}
		return err
	}
	a.probe.ok = time.Now()
	return nil
}

func (a *app) health(c echo.Context) error {
	if err := a.store.Ping(c.Request().Context()); err != nil {
		logFrom(c.Request().Context(), a.log).Error("health check", "err", err)
		return c.String(http.StatusServiceUnavailable, "unavailable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
