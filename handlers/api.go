package handlers

// The JSON API's operations (api/openapi.yaml, docs/api.md): each one
// reads its request into what the pages' services take and calls them,
// the same links.Minter, links.Cancel, email flow and search the pages
// use. Refusals come back as *problem errors (handlers/api_middleware.go).

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	openapi_types "github.com/oapi-codegen/runtime/types"
	"golang.org/x/time/rate"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/views"
)

// apiStore is what the API and the API-keys page need beyond Store;
// *db.Store has it. Like the export's calls, it is found on the store by a
// type assertion when the routes are made.
type apiStore interface {
	CreateAPIKey(ctx context.Context, nk db.NewAPIKey, a db.AuditEntry) (db.APIKey, error)
	APIKeyByID(ctx context.Context, id int64) (db.APIKey, error)
	APIKeyByHash(ctx context.Context, hash string) (db.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]db.APIKey, error)
	RevokeAPIKey(ctx context.Context, id, actor int64, a db.AuditEntry) error
	TouchAPIKey(ctx context.Context, id int64, at time.Time, ip string) error
	ClaimIdempotency(ctx context.Context, keyID int64, idemKey, fingerprint string, staleAfter time.Duration) (string, db.IdemAnswer, error)
	PeekIdempotency(ctx context.Context, keyID int64, idemKey, fingerprint string, staleAfter time.Duration) (string, db.IdemAnswer, error)
	FinishIdempotency(ctx context.Context, c db.IdemClaim, ans db.IdemAnswer) error
	ReleaseIdempotency(ctx context.Context, keyID int64, idemKey string) error
	LinkBySMReference(ctx context.Context, ref string) (db.Link, error)
	LinksByWebsiteReference(ctx context.Context, ref string, limit int) ([]db.Link, error)
}

// apiServer implements api.StrictServerInterface over the app's services.
type apiServer struct {
	a     *app
	store apiStore
	spec  *apiSpec

	touchMu    sync.Mutex
	touched    map[int64]apiTouched
	limitMu    sync.Mutex
	limits     map[int64]*rate.Limiter
	limitedLog map[int64]limitedLog // apiAudit's rate-limit entries
}

var _ api.StrictServerInterface = (*apiServer)(nil)

// Route names of the API's own pages.
const (
	RouteAPISpec       = "api.spec"
	RouteAPIDocs       = "api.docs"
	RouteAPIKeys       = "api-keys"
	RouteAPIKeyCreate  = "api-keys.create"
	RouteAPIKeyRevoke  = "api-keys.revoke"
	RouteAPIKeyCreated = "api-keys.created"
)

// apiRoutes mounts /api/v1 (no session, no CSRF: sessionless) with its
// middleware, the spec, the reference at /api/docs and the admins' API-keys
// page.
func (a *app) apiRoutes(e *echo.Echo, admin *echo.Group) error {
	// A store without the API's calls (a test's decorator) serves the
	// pages; the API and the keys page then answer 503.
	st, _ := a.store.(apiStore)
	if len(a.opts.APIKeyHashKey) < 32 || a.opts.APIRatePerMinute <= 0 {
		return errors.New("handlers: the API needs a 32-byte key hash key and a rate")
	}
	spec, err := loadAPISpec()
	if err != nil {
		return err
	}
	s := &apiServer{a: a, store: st, spec: spec, touched: map[int64]apiTouched{}, limits: map[int64]*rate.Limiter{},
		limitedLog: map[int64]limitedLog{}}
	e.GET(apiPrefix+"/openapi.yaml", s.specFile).Name = RouteAPISpec
	g := e.Group(apiPrefix, s.apiProblems, s.needStore, middleware.BodyLimit("64KiB"), s.apiAuth, s.apiAudit, s.apiRateLimit,
		s.apiScopes, s.apiBody, s.apiValidate, s.apiIdempotency)
	api.RegisterHandlers(g, api.NewStrictHandler(s, nil))
	e.GET("/api/docs", s.docs).Name = RouteAPIDocs
	admin.GET("/api-keys", s.keysPage, s.needStore).Name = RouteAPIKeys
	admin.POST("/api-keys", s.createKey, s.needStore).Name = RouteAPIKeyCreate
	admin.POST("/api-keys/:id/revoke", s.revokeKey, s.needStore).Name = RouteAPIKeyRevoke
	return nil
}

// needStore answers 503 when the store has no API calls.
func (s *apiServer) needStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.store == nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable)
		}
		return next(c)
	}
}

// specFile serves api/openapi.yaml as embedded in the binary.
func (s *apiServer) specFile(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", api.Spec)
}

func linkLocation(id int64) string { return apiPrefix + "/links/" + strconv.FormatInt(id, 10) }

// fieldErrors lists a service's field errors in the form's order, with
// the form's messages, under the API's names.
func fieldErrors(errs map[string]string, rename map[string]string) []api.FieldError {
	var out []api.FieldError
	for _, el := range errorSummary(views.FieldErrors(errs)) {
		name := el.FieldID
		if name == "cf-key-0" {
			name = "customFields"
		}
		if r, ok := rename[name]; ok {
			name = r
		}
		out = append(out, api.FieldError{Field: name, Message: el.Message})
	}
	return out
}

func unprocessable(errs []api.FieldError) *problem {
	p := newProblem(http.StatusUnprocessableEntity, "invalid-fields", "Invalid fields", "Some fields break the rules; each one's message is in errors.")
	p.errors = errs
	return p
}

func notFound() *problem {
	return newProblem(http.StatusNotFound, "not-found", "Not found", "There is no such link.")
}

// draftValues writes a LinkDraft as the new-link form posts it, so that
// the form's reader (parseLinkInput: trimming, upper-casing) and then the
// form's rules (links.Draft.Validate) take it: one path for both.
func draftValues(b api.LinkDraft, st db.Settings) url.Values {
	v := url.Values{}
	set := func(k string, p *string) {
		if p != nil {
			v.Set(k, *p)
		}
	}
	set("userId", b.UserId)
	set("userEmail", b.UserEmail)
	set("userCountryCode", b.UserCountryCode)
	set("currency", b.Currency)
	set("amount", b.Amount)
	set("websiteReference", b.WebsiteReference)
	set("note", b.Note)
	// The redirect URLs the form starts with: the settings', else
	// paylinks' own customer pages.
	v.Set("successUrl", st.SuccessURL)
	v.Set("supportUrl", st.SupportURL)
	v.Set("exitUrl", st.ExitURL)
	v.Set("errorUrl", st.ErrorURL)
	set("successUrl", b.SuccessUrl)
	set("supportUrl", b.SupportUrl)
	set("exitUrl", b.ExitUrl)
	set("errorUrl", b.ErrorUrl)
	if k := b.UserKyc; k != nil {
		set("userKyc.fullName", k.FullName)
		set("userKyc.citizenshipCountryCode", k.CitizenshipCountryCode)
		set("userKyc.residenceAddress", k.ResidenceAddress)
		set("userKyc.dateOfBirth", k.DateOfBirth)
		set("userKyc.placeOfBirth", k.PlaceOfBirth)
		set("userKyc.gender", k.Gender)
		set("userKyc.mobilePhone", k.MobilePhone)
		set("userKyc.personalIdentificationNumber", k.PersonalIdentificationNumber)
	}
	if b.CustomFields != nil {
		for _, k := range slices.Sorted(mapKeys(*b.CustomFields)) {
			v.Add("customFields.key", k)
			v.Add("customFields.value", (*b.CustomFields)[k])
		}
	}
	return v
}

func (s *apiServer) CreateLink(ctx context.Context, req api.CreateLinkRequestObject) (api.CreateLinkResponseObject, error) {
	a, caller := s.a, callerFrom(ctx)
	st, err := a.store.GetSettings(ctx)
	if err != nil {
		return nil, err
	}
	in := parseLinkInput(draftValues(*req.Body, a.defaults(st)))
	d := in.draft()
	d.FormToken, d.Claim = caller.formToken(), caller.claim
	d.AllowDuplicate = req.Body.AllowDuplicate != nil && *req.Body.AllowDuplicate
	if r := req.Body.Reminders; r != nil {
		rule := db.ReminderRule{BeforeExpiry: r.BeforeOn, AfterEmail: r.AfterOn}
		if r.BeforeHours != nil {
			rule.BeforeHours = *r.BeforeHours
		}
		if r.AfterDays != nil {
			rule.AfterDays = *r.AfterDays
		}
		if r.Max != nil {
			rule.Max = *r.Max
		}
		d.Reminders = &rule
	}
	l, err := s.create(ctx, d, caller, "link.create")
	if err != nil {
		return nil, err
	}
	loc := linkLocation(l.ID)
	return api.CreateLink201JSONResponse{Body: api.LinkOf(l), Headers: api.CreateLink201ResponseHeaders{Location: &loc}}, nil
}

// create runs links.Minter.Create as the form does and turns its
// refusals into problems.
func (s *apiServer) create(ctx context.Context, d links.Draft, caller apiCaller, action string) (db.Link, error) {
	l, errs, err := s.a.minter.Create(ctx, d, caller.key.UserID, caller.audit(action))
	if len(errs) > 0 {
		return db.Link{}, unprocessable(fieldErrors(errs, nil))
	}
	var dup *db.DuplicateError
	if errors.As(err, &dup) {
		p := newProblem(http.StatusConflict, "duplicate", "Duplicate link",
			"An unfinished link has the same customer, website reference and amount. Send allowDuplicate: true to create another.")
		for _, x := range dup.Links {
			p.duplicates = append(p.duplicates, x.ID)
		}
		return db.Link{}, p
	}
	var unsaved *links.UnsavedError
	if errors.As(err, &unsaved) {
		return l, nil // StableMint answered; the minter saves the answer once the disk takes writes
	}
	var storage *db.StorageError
	if errors.As(err, &storage) && l.ID == 0 {
		p := newProblem(http.StatusServiceUnavailable, "unavailable", "Cannot store",
			"paylinks cannot save anything right now: "+storage.Reason+". Nothing was sent to StableMint.")
		p.header = http.Header{"Retry-After": {"60"}}
		return db.Link{}, p
	}
	if err != nil {
		return db.Link{}, err
	}
	return l, nil
}

func (s *apiServer) link(ctx context.Context, id int64) (db.Link, error) {
	l, err := s.a.store.LinkByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return l, notFound()
	}
	return l, err
}

func (s *apiServer) GetLink(ctx context.Context, req api.GetLinkRequestObject) (api.GetLinkResponseObject, error) {
	l, err := s.link(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetLink200JSONResponse(api.LinkOf(l)), nil
}

func (s *apiServer) GetLinkByReference(ctx context.Context, req api.GetLinkByReferenceRequestObject) (api.GetLinkByReferenceResponseObject, error) {
	l, err := s.store.LinkBySMReference(ctx, req.Reference)
	if errors.Is(err, db.ErrNotFound) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	return api.GetLinkByReference200JSONResponse(api.LinkOf(l)), nil
}

func (s *apiServer) GetLinksByWebsiteReference(ctx context.Context, req api.GetLinksByWebsiteReferenceRequestObject) (api.GetLinksByWebsiteReferenceResponseObject, error) {
	ls, err := s.store.LinksByWebsiteReference(ctx, req.Reference, 100)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, notFound()
	}
	out := api.LinkList{Data: make([]api.Link, 0, len(ls))}
	for _, l := range ls {
		out.Data = append(out.Data, api.LinkOf(l))
	}
	return api.GetLinksByWebsiteReference200JSONResponse(out), nil
}

// ListLinks is the Links page's search (parseLinkSearch: the same
// filters, term reading and sort) a page at a time.
func (s *apiServer) ListLinks(ctx context.Context, req api.ListLinksRequestObject) (api.ListLinksResponseObject, error) {
	p := req.Params
	v := url.Values{}
	set := func(k string, val *string) {
		if val != nil {
			v.Set(k, *val)
		}
	}
	set("q", p.Q)
	set("currency", p.Currency)
	set("after", p.After)
	for k, d := range map[string]*openapi_types.Date{"created_from": p.CreatedFrom, "created_to": p.CreatedTo,
		"expires_from": p.ExpiresFrom, "expires_to": p.ExpiresTo} {
		if d != nil {
			v.Set(k, d.String())
		}
	}
	if p.Status != nil {
		for _, st := range *p.Status {
			v.Add("status", string(st))
		}
	}
	if p.CreatedBy != nil {
		v.Set("created_by", strconv.FormatInt(*p.CreatedBy, 10))
	}
	if p.Attention != nil && *p.Attention {
		v.Set("attention", "1")
	}
	if p.Batch != nil {
		v.Set("batch", strconv.FormatInt(*p.Batch, 10))
	}
	if p.After != nil && !db.ValidCursor(*p.After) {
		pr := newProblem(http.StatusBadRequest, "invalid-request", "Invalid request", "after is not a cursor paylinks gave.")
		pr.errors = []api.FieldError{{Field: "after", Message: "Send the previous page's next_cursor as it came, or leave after out for the first page."}}
		return nil, pr
	}
	if p.Sort != nil {
		v.Set("sort", string(*p.Sort))
	}
	search := parseLinkSearch(v)
	if len(search.filter.Errors) > 0 {
		// A range that ends before it starts: named by the API's parameter.
		errs := fieldErrors(search.filter.Errors, map[string]string{"created_range": "created_to", "expires_range": "expires_to"})
		for i, fe := range errs {
			if k, ok := strings.CutSuffix(fe.Field, "_to"); ok && search.filter.Errors[k+"_range"] != "" {
				errs[i].Message = k + "_to is earlier than " + k + "_from. Swap the two dates, or change one of them."
			}
		}
		return nil, unprocessable(errs)
	}
	search.query.Limit = apiDefaultLimit
	if p.Limit != nil {
		search.query.Limit = *p.Limit
	}
	search.query.WalkBudget = searchWalkBudget
	page, err := s.a.store.SearchLinks(ctx, search.query)
	if errors.Is(err, db.ErrSearchTooBroad) {
		return nil, unprocessable([]api.FieldError{{Field: "q", Message: "More than 10,000 links match, spread through the whole list. Type more of the reference or email, or add a date range or status."}})
	}
	if err != nil {
		return nil, err
	}
	out := api.LinkPage{Data: make([]api.Link, 0, len(page.Links))}
	for _, l := range page.Links {
		out.Data = append(out.Data, api.LinkOf(l))
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	return api.ListLinks200JSONResponse(out), nil
}

func (s *apiServer) CancelLink(ctx context.Context, req api.CancelLinkRequestObject) (api.CancelLinkResponseObject, error) {
	a, caller := s.a, callerFrom(ctx)
	if _, err := s.link(ctx, req.Id); err != nil {
		return nil, err
	}
	cn := links.Cancellation{}
	if req.Body.Reason != nil {
		cn.Reason = *req.Body.Reason
	}
	if req.Body.Text != nil {
		cn.Text = *req.Body.Text
	}
	_, errs, err := links.Cancel(ctx, a.store, req.Id, caller.key.UserID, cn, caller.audit("link.cancel"))
	var refusal *links.Refusal
	switch {
	case errs != nil:
		return nil, unprocessable(fieldErrors(errs, map[string]string{"reasonText": "text"}))
	case errors.As(err, &refusal):
		return nil, newProblem(http.StatusConflict, "not-cancellable", "Cannot be cancelled", refusal.Reason)
	case err != nil:
		return nil, err
	}
	l, err := s.link(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return api.CancelLink200JSONResponse{Body: api.LinkOf(l)}, nil
}

// EmailLink queues the email the link page's Email sends: the same
// template, rendering (composeMessage), header checks (composeInput's
// validate), per-sender budget and outbox row. What the page asks staff
// to confirm (an email to the same customer in the last 24 hours) is not
// asked: the Idempotency-Key stops repeats.
func (s *apiServer) EmailLink(ctx context.Context, req api.EmailLinkRequestObject) (api.EmailLinkResponseObject, error) {
	a, caller := s.a, callerFrom(ctx)
	l, err := s.link(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	now := a.now()
	if why := outbox.Blocker(l, now); why != "" {
		return nil, newProblem(http.StatusConflict, "not-emailable", "Cannot be emailed",
			"Link #"+strconv.FormatInt(l.ID, 10)+" "+why+": only open links with a checkout link that has not expired can be emailed.")
	}
	tpl, _, err := a.emailTemplate(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := composeInput{To: l.CustomerEmail, Name: l.KYC["fullName"], FormToken: caller.formToken()}
	if b.To != nil {
		in.To = strings.Trim(*b.To, " \t")
	}
	if b.Name != nil {
		in.Name = strings.Trim(*b.Name, " \t")
	}
	if b.Message != nil {
		in.Note = strings.TrimSpace(*b.Message)
	}
	if b.Subject != nil {
		in.Subject = strings.Trim(*b.Subject, " \t")
	} else if in.Subject, err = tpl.RenderSubject(a.emailData(l, in.To, in.Name, "")); err != nil {
		logFrom(ctx, a.log).Warn("email template cannot be filled in", "link_id", l.ID, "err", err)
		return nil, unprocessable([]api.FieldError{{Field: "subject", Message: "The email template has no usable subject for this link. Type a subject."}})
	}
	if errs := in.validate(); len(errs) > 0 {
		return nil, unprocessable(fieldErrors(errs, map[string]string{}))
	}
	r, err := a.composeMessage(tpl, l, in)
	if err != nil {
		logFrom(ctx, a.log).Warn("email template cannot be filled in", "link_id", l.ID, "err", err)
		return nil, newProblem(http.StatusConflict, "template-trouble", "Template cannot be filled in", msgTemplateTrouble)
	}
	if !a.sendLimits.allow(caller.key.UserID, 1, now) {
		e := caller.audit("email.rate_limited")
		e.Outcome, e.Target = "denied", "link:"+strconv.FormatInt(l.ID, 10)
		e.Details = "1 email refused; limit " + strconv.Itoa(a.opts.MailRatePerMinute) + " a minute"
		if err := a.store.Audit(ctx, e); err != nil {
			logFrom(ctx, a.log).Error("audit rate limit", "err", err)
		}
		p := newProblem(http.StatusTooManyRequests, "email-rate-limited", "Too many emails", a.rateLimitMessage(1))
		p.header = http.Header{"Retry-After": {"60"}}
		return nil, p
	}
	ne := a.newEmail(l, in.To, in.Name, r, caller.key.UserID)
	ne.FormToken = in.FormToken
	em, created, err := a.store.QueueEmail(ctx, ne, caller.audit("email.queue"))
	if err != nil {
		return nil, err
	}
	if created {
		a.mailer.Wake()
	}
	return api.EmailLink202JSONResponse{Body: api.Email{Id: em.ID, LinkId: l.ID, To: mail.Address{Name: em.ToName, Email: em.ToAddr}.Display(),
		Subject: em.Subject, Status: string(em.Status)}}, nil
}

// ReissueLink makes a new link with the old one's details, as the link
// page's Re-issue prefills the form (inputFromLink) and the form creates it.
func (s *apiServer) ReissueLink(ctx context.Context, req api.ReissueLinkRequestObject) (api.ReissueLinkResponseObject, error) {
	caller := callerFrom(ctx)
	old, err := s.link(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	if !links.Reissuable(old) {
		return nil, newProblem(http.StatusConflict, "not-reissuable", "Cannot be re-issued",
			"Only failed, expired, cancelled or errored links can be re-issued; this one is "+string(old.Status)+".")
	}
	in := inputFromLink(old, linkInput{RemoveField: -1})
	d := in.draft()
	d.FormToken, d.Claim = caller.formToken(), caller.claim
	l, err := s.create(ctx, d, caller, "link.create")
	if err != nil {
		return nil, err
	}
	loc := linkLocation(l.ID)
	return api.ReissueLink201JSONResponse{Body: api.LinkOf(l), Headers: api.ReissueLink201ResponseHeaders{Location: &loc}}, nil
}

func (s *apiServer) GetLinkTimeline(ctx context.Context, req api.GetLinkTimelineRequestObject) (api.GetLinkTimelineResponseObject, error) {
	if _, err := s.link(ctx, req.Id); err != nil {
		return nil, err
	}
	events, err := s.a.store.LinkTimeline(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	out := api.Timeline{Data: make([]api.TimelineEntry, 0, len(events))}
	for _, e := range events {
		te := api.TimelineEntry{At: e.At.UTC(), Kind: e.Kind, Message: e.Message}
		if e.ActorName != "" {
			name := e.ActorName
			te.Actor = &name
		}
		out.Data = append(out.Data, te)
	}
	return api.GetLinkTimeline200JSONResponse(out), nil
}
