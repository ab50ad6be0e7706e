package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// The outbound-webhook pages (admins only): endpoints, their secrets, the
// delivery log, Resend, bulk replay and the test event. The storage calls
// are found on the store by a type assertion (OutboundStore), as the
// exports do, so that Store and server.go stay as they were.

// Outbound-webhook routes.
const (
	RouteWebhookEndpoints      = "webhook-endpoints"
	RouteWebhookEndpointCreate = "webhook-endpoints.create"
	RouteWebhookHosts          = "webhook-endpoints.hosts"
	RouteWebhookEndpoint       = "webhook-endpoint"
	RouteWebhookEndpointSave   = "webhook-endpoint.save"
	RouteWebhookEndpointRotate = "webhook-endpoint.rotate"
	RouteWebhookEndpointTest   = "webhook-endpoint.test"
	RouteWebhookEndpointDelete = "webhook-endpoint.delete"
	RouteWebhookEndpointReplay = "webhook-endpoint.replay"
	RouteWebhookMessageResend  = "webhook-message.resend"
	RouteWebhookDeliveries     = "webhook-deliveries"
)

// OutboundStore is the storage of the outbound-webhook pages; *db.Store
// is one.
type OutboundStore interface {
	CreateOutboundEndpoint(ctx context.Context, ne db.NewOutboundEndpoint, a db.AuditEntry) (db.OutboundEndpoint, error)
	OutboundEndpointByID(ctx context.Context, id int64) (db.OutboundEndpoint, error)
	OutboundEndpoints(ctx context.Context) ([]db.OutboundEndpoint, error)
	UpdateOutboundEndpoint(ctx context.Context, id int64, c db.OutboundEndpointChange, a db.AuditEntry) error
	RotateOutboundSecret(ctx context.Context, id int64, secret string, overlap time.Duration, a db.AuditEntry) error
	DeleteOutboundEndpoint(ctx context.Context, id int64, a db.AuditEntry) error
	OutboundPrivateHosts(ctx context.Context) ([]string, error)
	OutboundEndpointsFailing(ctx context.Context) (int, error)
	SetOutboundPrivateHosts(ctx context.Context, hosts []string, actor int64, a db.AuditEntry) error
	OutboundMessageByID(ctx context.Context, id int64) (db.OutboundMessage, error)
	OutboundMessages(ctx context.Context, f db.OutboundFilter) ([]db.OutboundMessage, error)
	OutboundAttemptsOf(ctx context.Context, messageIDs []int64) (map[int64][]db.OutboundAttempt, error)
	OutboundPendingFor(ctx context.Context, endpointID int64) (int, error)
	OutboundCountForLink(ctx context.Context, linkID int64) (int, error)
	ResendOutbound(ctx context.Context, id int64, a db.AuditEntry) error
	SendOutboundTest(ctx context.Context, endpointID int64, a db.AuditEntry) (db.OutboundMessage, error)
	ReplayOutbound(ctx context.Context, f db.OutboundFilter, dryRun bool, a db.AuditEntry) (db.ReplayPlan, error)
}

var _ OutboundStore = (*db.Store)(nil)

// outboundRoutes adds the pages to the admin group, when the app has an
// outbound worker and its store the calls.
func (a *app) outboundRoutes(admin *echo.Group) {
	if _, ok := a.store.(OutboundStore); !ok || a.opts.Outbound == nil {
		return
	}
	admin.GET("/webhook-endpoints", a.webhookEndpoints).Name = RouteWebhookEndpoints
	admin.POST("/webhook-endpoints", a.createWebhookEndpoint).Name = RouteWebhookEndpointCreate
	admin.POST("/webhook-endpoints/hosts", a.saveWebhookHosts).Name = RouteWebhookHosts
	admin.GET("/webhook-endpoints/:id", a.webhookEndpoint).Name = RouteWebhookEndpoint
	admin.POST("/webhook-endpoints/:id", a.saveWebhookEndpoint).Name = RouteWebhookEndpointSave
	admin.POST("/webhook-endpoints/:id/rotate", a.rotateWebhookSecret).Name = RouteWebhookEndpointRotate
	admin.POST("/webhook-endpoints/:id/test", a.testWebhookEndpoint).Name = RouteWebhookEndpointTest
	admin.POST("/webhook-endpoints/:id/delete", a.deleteWebhookEndpoint).Name = RouteWebhookEndpointDelete
	admin.POST("/webhook-endpoints/:id/replay", a.replayWebhooks).Name = RouteWebhookEndpointReplay
	admin.POST("/webhook-messages/:id/resend", a.resendWebhook).Name = RouteWebhookMessageResend
	admin.GET("/webhook-deliveries", a.webhookDeliveries).Name = RouteWebhookDeliveries
}

func (a *app) outStore() OutboundStore { return a.store.(OutboundStore) }

type webhookEndpointForm struct {
	URL         string   `form:"url"`
	Description string   `form:"description"`
	Types       []string `form:"types"`
	Enabled     string   `form:"enabled"`
}

func (f webhookEndpointForm) view() views.WebhookEndpointForm {
	v := views.WebhookEndpointForm{URL: strings.TrimSpace(f.URL), Description: strings.TrimSpace(f.Description),
		Types: map[string]bool{}, Enabled: f.Enabled == "on"}
	for _, t := range f.Types {
		v.Types[t] = true
	}
	return v
}

// endpoints is the admins' service: the pages and the API call it.
func (a *app) endpoints() *outbound.Endpoints {
	return outbound.NewEndpoints(a.outStore(), a.opts.Outbound)
}

// endpointInput is the form as the service takes it.
func endpointInput(f views.WebhookEndpointForm) outbound.EndpointInput {
	in := outbound.EndpointInput{URL: f.URL, Description: f.Description, Enabled: f.Enabled}
	for _, t := range db.OutboundEventTypes {
		if f.Types[t] {
			in.Types = append(in.Types, t)
		}
	}
	return in
}

func (a *app) endpointRow(ctx context.Context, loc *time.Location, e db.OutboundEndpoint) views.WebhookEndpointRow {
	r := views.WebhookEndpointRow{ID: e.ID, URL: e.URL, Description: e.Description, Types: e.Types, Enabled: e.Enabled,
		DisabledReason: e.DisabledReason, FailingSince: when(loc, e.FailingSince), Listener: e.Listener,
		ViewURL: a.url(RouteWebhookEndpoint, e.ID)}
	if e.OldSecret != "" && a.now().Before(e.OldSecretUntil) {
		r.Rotating = when(loc, e.OldSecretUntil)
	}
	if n, err := a.outStore().OutboundPendingFor(ctx, e.ID); err == nil {
		r.Pending = n
	}
	return r
}

func (a *app) endpointsPage(c echo.Context, form views.WebhookEndpointForm, errs views.FieldErrors, secret *views.WebhookSecret) (views.WebhookEndpointsPage, error) {
	ctx := c.Request().Context()
	eps, err := a.outStore().OutboundEndpoints(ctx)
	if err != nil {
		return views.WebhookEndpointsPage{}, err
	}
	hosts, err := a.outStore().OutboundPrivateHosts(ctx)
	if err != nil {
		return views.WebhookEndpointsPage{}, err
	}
	p := views.WebhookEndpointsPage{Layout: a.layout(c, "Webhook endpoints", "webhook-endpoints"), Form: form, Errors: errs,
		Types: db.OutboundEventTypes, Secret: secret, PrivateHosts: strings.Join(hosts, "\n"), Sandbox: a.opts.SandboxMode,
		Actions: views.WebhookEndpointsActions{Create: a.url(RouteWebhookEndpointCreate), Hosts: a.url(RouteWebhookHosts)}}
	for _, e := range eps {
		p.Endpoints = append(p.Endpoints, a.endpointRow(ctx, viewerZone(c), e))
	}
	return p, nil
}

func (a *app) webhookEndpoints(c echo.Context) error {
	form := views.WebhookEndpointForm{Types: map[string]bool{}}
	for _, t := range db.OutboundEventTypes {
		form.Types[t] = true
	}
	p, err := a.endpointsPage(c, form, nil, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.WebhookEndpoints(p))
}

// createWebhookEndpoint registers an endpoint and shows its secret on this
// response only (never stored in a flash).
func (a *app) createWebhookEndpoint(c echo.Context) error {
	var f webhookEndpointForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	form := f.view()
	ctx := c.Request().Context()
	e, secret, errs, err := a.endpoints().Create(ctx, endpointInput(form), currentUser(c).ID, a.auditEntry(c, outbound.ActionCreate))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		p, err := a.endpointsPage(c, form, views.FieldErrors(errs), nil)
		if err != nil {
			return err
		}
		return a.render(c, http.StatusUnprocessableEntity, views.WebhookEndpoints(p))
	}
	p, err := a.endpointsPage(c, views.WebhookEndpointForm{Types: map[string]bool{}}, nil, &views.WebhookSecret{URL: e.URL, Secret: secret})
	if err != nil {
		return err
	}
	p.Layout.Flashes = append(p.Layout.Flashes, views.Flash{Kind: "ok", Text: "Endpoint " + e.URL + " added."})
	return a.render(c, http.StatusCreated, views.WebhookEndpoints(p))
}

type webhookHostsForm struct {
	Hosts string `form:"hosts"`
}

func (a *app) saveWebhookHosts(c echo.Context) error {
	var f webhookHostsForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	var hosts []string
	for _, h := range strings.Fields(f.Hosts) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || strings.ContainsAny(h, "/:@?#[]") || len(h) > 253 {
			p, err := a.endpointsPage(c, views.WebhookEndpointForm{Types: map[string]bool{}}, nil, nil)
			if err != nil {
				return err
			}
			p.PrivateHosts = f.Hosts
			p.HostsErrors = views.FieldErrors{"hosts": "Write host names only (erp.internal), one a line: no scheme, port or path."}
			return a.render(c, http.StatusUnprocessableEntity, views.WebhookEndpoints(p))
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if err := a.outStore().SetOutboundPrivateHosts(c.Request().Context(), hosts, currentUser(c).ID,
		a.auditEntry(c, "settings.webhook_hosts")); err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Allowed hosts saved."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteWebhookEndpoints))
}

func (a *app) targetEndpoint(c echo.Context) (db.OutboundEndpoint, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.OutboundEndpoint{}, echo.NewHTTPError(http.StatusNotFound)
	}
	return a.outStore().OutboundEndpointByID(c.Request().Context(), id)
}

// messageRows builds log rows with each message's attempts.
func (a *app) messageRows(ctx context.Context, loc *time.Location, ms []db.OutboundMessage, endpoints map[int64]string) ([]views.WebhookMessageRow, error) {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	attempts, err := a.outStore().OutboundAttemptsOf(ctx, ids) // one read for the page
	if err != nil {
		return nil, err
	}
	rows := make([]views.WebhookMessageRow, 0, len(ms))
	for _, m := range ms {
		atts := attempts[m.ID]
		r := views.WebhookMessageRow{ID: m.ID, MsgID: m.MsgID, Type: m.Type, LinkID: m.LinkID, Status: m.Status, Replay: m.Replay,
			ReplayedAs: m.ReplayedAs, CreatedAt: when(loc, m.CreatedAt), LastError: m.LastError, Endpoint: endpoints[m.EndpointID]}
		if m.LinkID != 0 {
			r.LinkURL = a.url(RouteLink, m.LinkID)
		}
		if m.Status == db.OutboundPending {
			r.NextAt = when(loc, m.NextAt)
		} else {
			r.ResendURL = a.url(RouteWebhookMessageResend, m.ID)
		}
		for _, at := range atts {
			st := "no answer"
			if at.HTTPStatus != 0 {
				st = "HTTP " + strconv.Itoa(at.HTTPStatus)
			}
			r.Attempts = append(r.Attempts, views.WebhookAttemptRow{At: when(loc, at.At), Status: st,
				Duration: at.Duration.String(), Error: at.Error, Response: at.Response})
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (a *app) endpointPage(c echo.Context, e db.OutboundEndpoint, form *views.WebhookEndpointForm, errs views.FieldErrors) (views.WebhookEndpointPage, error) {
	ctx := c.Request().Context()
	p := views.WebhookEndpointPage{Layout: a.layout(c, "Webhook endpoint", "webhook-endpoints"), Endpoint: a.endpointRow(ctx, viewerZone(c), e),
		Errors: errs, Types: db.OutboundEventTypes,
		Actions: views.WebhookEndpointActions{Back: a.url(RouteWebhookEndpoints), Update: a.url(RouteWebhookEndpointSave, e.ID),
			Rotate: a.url(RouteWebhookEndpointRotate, e.ID), Test: a.url(RouteWebhookEndpointTest, e.ID),
			Delete: a.url(RouteWebhookEndpointDelete, e.ID), Replay: a.url(RouteWebhookEndpointReplay, e.ID)}}
	if form != nil {
		p.Form = *form
	} else {
		p.Form = views.WebhookEndpointForm{URL: e.URL, Description: e.Description, Types: map[string]bool{}, Enabled: e.Enabled}
		for _, t := range e.Types {
			p.Form.Types[t] = true
		}
	}
	ms, err := a.outStore().OutboundMessages(ctx, db.OutboundFilter{EndpointID: e.ID, Limit: 50})
	if err != nil {
		return p, err
	}
	p.Log, err = a.messageRows(ctx, viewerZone(c), ms, nil)
	return p, err
}

func (a *app) webhookEndpoint(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	p, err := a.endpointPage(c, e, nil, nil)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.WebhookEndpoint(p))
}

func (a *app) saveWebhookEndpoint(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	var f webhookEndpointForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	form := f.view()
	ctx := c.Request().Context()
	errs, err := a.endpoints().Update(ctx, e.ID, endpointInput(form), a.auditEntry(c, outbound.ActionUpdate))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		p, err := a.endpointPage(c, e, &form, views.FieldErrors(errs))
		if err != nil {
			return err
		}
		return a.render(c, http.StatusUnprocessableEntity, views.WebhookEndpoint(p))
	}
	if err := a.flash(c, "ok", "Endpoint saved."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteWebhookEndpoint, e.ID))
}

// rotateWebhookSecret makes a new secret, shown on this response only; the
// old one signs too for outbound.RotationOverlap.
func (a *app) rotateWebhookSecret(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	e, secret, err := a.endpoints().Rotate(c.Request().Context(), e.ID, a.auditEntry(c, outbound.ActionRotate))
	if err != nil {
		return err
	}
	p, err := a.endpointPage(c, e, nil, nil)
	if err != nil {
		return err
	}
	p.Secret = &views.WebhookSecret{URL: e.URL, Secret: secret, Rotated: true, OldUntil: when(viewerZone(c), e.OldSecretUntil)}
	return a.render(c, http.StatusOK, views.WebhookEndpoint(p))
}

func (a *app) testWebhookEndpoint(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	if _, err := a.endpoints().SendTest(c.Request().Context(), e.ID, a.auditEntry(c, outbound.ActionTest)); err != nil {
		return err
	}
	msg := "Test event queued; it appears in the delivery log below."
	if !e.Enabled {
		msg = "Test event queued; it goes once the endpoint is enabled."
	}
	if err := a.flash(c, "ok", msg); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteWebhookEndpoint, e.ID))
}

func (a *app) deleteWebhookEndpoint(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	if err := a.endpoints().Delete(c.Request().Context(), e.ID, a.auditEntry(c, outbound.ActionDelete)); err != nil {
		return err
	}
	if err := a.flash(c, "ok", "Endpoint "+e.URL+" deleted, with its delivery log."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteWebhookEndpoints))
}

type replayForm struct {
	Type    string `form:"type"`
	From    string `form:"from"`
	To      string `form:"to"`
	DryRun  string `form:"dry_run"`
	Confirm string `form:"confirm"`
}

// replayWebhooks counts (dry run) or queues a bulk replay of an
// endpoint's failed deliveries.
func (a *app) replayWebhooks(c echo.Context) error {
	e, err := a.targetEndpoint(c)
	if err != nil {
		return err
	}
	var f replayForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	filter := db.OutboundFilter{EndpointID: e.ID}
	errs := views.FieldErrors{}
	if f.Type != "" && f.Type != db.OutboundTest && !slices.Contains(db.OutboundEventTypes, f.Type) {
		errs["type"] = "Choose an event type."
	} else {
		filter.Type = f.Type
	}
	if f.From != "" {
		if t, err := time.Parse(time.DateOnly, f.From); err != nil {
			errs["from"] = "Enter a date."
		} else {
			filter.From = t
		}
	}
	if f.To != "" {
		if t, err := time.Parse(time.DateOnly, f.To); err != nil {
			errs["to"] = "Enter a date."
		} else {
			filter.To = t.AddDate(0, 0, 1)
		}
	}
	ctx := c.Request().Context()
	dry := f.Confirm != "1"
	plan, err := a.endpoints().Replay(ctx, filter, dry || len(errs) > 0, a.auditEntry(c, outbound.ActionReplay))
	if err != nil {
		return err
	}
	if dry || len(errs) > 0 {
		p, err := a.endpointPage(c, e, nil, errs)
		if err != nil {
			return err
		}
		p.Replay = views.WebhookReplayForm{Type: f.Type, From: f.From, To: f.To}
		status := http.StatusOK
		if len(errs) > 0 {
			status = http.StatusUnprocessableEntity
		} else {
			p.Plan = &views.WebhookReplayPlan{Failed: plan.Failed, Messages: plan.Messages, Links: plan.Links}
		}
		return a.render(c, status, views.WebhookEndpoint(p))
	}
	if err := a.flash(c, "ok", strconv.Itoa(plan.Messages)+" messages queued for replay."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteWebhookEndpoint, e.ID))
}

// resendWebhook sends one message again, as it was (same webhook-id).
func (a *app) resendWebhook(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	m, err := a.outStore().OutboundMessageByID(ctx, id)
	if err != nil {
		return err
	}
	err = a.endpoints().Resend(ctx, id, a.auditEntry(c, outbound.ActionResend))
	switch {
	case errors.Is(err, outbound.ErrPending):
		err = a.flash(c, "ok", "That delivery is waiting to be sent already.")
	case err == nil:
		err = a.flash(c, "ok", "Delivery queued to be sent again.")
	}
	if err != nil {
		return err
	}
	back := a.url(RouteWebhookEndpoint, m.EndpointID)
	if ref, err := url.Parse(c.Request().Referer()); err == nil && ref.Path == a.url(RouteWebhookDeliveries) {
		back = a.url(RouteWebhookDeliveries) + "?link=" + strconv.FormatInt(m.LinkID, 10)
	}
	return a.redirect(c, back)
}

// linkDeliveries is the link page's way to the link's delivery log:
// admins only, when this paylinks delivers outbound webhooks.
func (a *app) linkDeliveries(c echo.Context, linkID int64) (href string, n int, err error) {
	st, ok := a.store.(OutboundStore)
	if !ok || a.opts.Outbound == nil || !currentUser(c).Role.AtLeast(paylink.RoleAdmin) {
		return "", 0, nil
	}
	n, err = st.OutboundCountForLink(c.Request().Context(), linkID)
	return a.url(RouteWebhookDeliveries) + "?link=" + strconv.FormatInt(linkID, 10), n, err
}

// webhookDeliveries is the delivery log of one link, across endpoints.
func (a *app) webhookDeliveries(c echo.Context) error {
	id, err := strconv.ParseInt(c.QueryParam("link"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	if _, err := a.store.LinkByID(ctx, id); err != nil {
		return err
	}
	ms, err := a.outStore().OutboundMessages(ctx, db.OutboundFilter{LinkID: id, Limit: 200})
	if err != nil {
		return err
	}
	eps, err := a.outStore().OutboundEndpoints(ctx)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, e := range eps {
		names[e.ID] = e.URL
	}
	rows, err := a.messageRows(ctx, viewerZone(c), ms, names)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, views.WebhookDeliveries(views.WebhookDeliveriesPage{
		Layout: a.layout(c, "Webhooks about link #"+strconv.FormatInt(id, 10), "webhook-endpoints"), LinkID: id, Log: rows}))
}
