package handlers

// The admins' API keys page (/admin/api-keys) and the API reference
// (/api/docs), rendered from api/openapi.yaml.

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/views"
)

// Key form limits (own picks).
const (
	maxAPIKeyName = 100
	maxAPIKeyNets = 50
)

// newAPIToken is a new key's secret: its prefix (pl_test_ in sandbox
// mode) and 256 random bits, unpadded base64url.
func newAPIToken(sandbox bool) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	prefix := "pl_live_"
	if sandbox {
		prefix = "pl_test_"
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *apiServer) keysPage(c echo.Context) error {
	return s.renderKeys(c, http.StatusOK, views.APIKeyForm{Scopes: map[string]bool{ScopeLinksRead: true}}, nil, nil)
}

func (s *apiServer) renderKeys(c echo.Context, status int, form views.APIKeyForm, errs views.FieldErrors, secret *views.APIKeySecret) error {
	a := s.a
	keys, err := s.store.ListAPIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	now, loc := a.now(), viewerZone(c)
	p := views.APIKeysPage{Layout: a.layout(c, "API keys", "api-keys"), Form: form, Errors: errs, Secret: secret,
		Action: a.url(RouteAPIKeyCreate), Scopes: APIScopes, DocsURL: a.url(RouteAPIDocs)}
	for _, k := range keys {
		r := views.APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: strings.Join(k.Scopes, ", "),
			AllowedIPs: strings.Join(k.AllowedIPs, ", "), Expires: "never", State: "active",
			Created: when(loc, k.CreatedAt), CreatedBy: k.CreatedBy, LastUsed: "never", LastUsedFrom: k.LastUsedIP,
			RevokeURL:    a.url(RouteAPIKeyRevoke, k.ID),
			CreatorLinks: a.url(RouteLinks) + "?created_by=" + strconv.FormatInt(k.UserID, 10)}
		if r.AllowedIPs == "" {
			r.AllowedIPs = "any address"
		}
		if !k.ExpiresAt.IsZero() {
			r.Expires = when(loc, k.ExpiresAt)
			if !now.Before(k.ExpiresAt) {
				r.State = "expired"
			}
		}
		if !k.RevokedAt.IsZero() {
			r.State = "revoked"
		}
		if !k.LastUsedAt.IsZero() {
			r.LastUsed = when(loc, k.LastUsedAt)
		}
		p.Keys = append(p.Keys, r)
	}
	return a.render(c, status, views.APIKeys(p))
}

// createKey makes a key from the form and shows its token once.
func (s *apiServer) createKey(c echo.Context) error {
	a := s.a
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	in := views.APIKeyForm{Name: strings.TrimSpace(form.Get("name")), Expires: strings.TrimSpace(form.Get("expires")),
		AllowedIPs: strings.TrimSpace(form.Get("allowed_ips")), Scopes: map[string]bool{}}
	nk, errs := s.readKeyForm(in, form)
	if len(errs) > 0 {
		return s.renderKeys(c, http.StatusUnprocessableEntity, in, errs, nil)
	}
	token := newAPIToken(a.opts.SandboxMode)
	nk.Prefix, nk.SecretHash, nk.CreatedBy = token[:12], a.hashAPIToken(token), currentUser(c).ID
	if _, err := s.store.CreateAPIKey(c.Request().Context(), nk, a.auditEntry(c, "api_key.create")); err != nil {
		return err
	}
	return s.renderKeys(c, http.StatusOK, views.APIKeyForm{Scopes: map[string]bool{ScopeLinksRead: true}}, nil,
		&views.APIKeySecret{Name: nk.Name, Token: token})
}

// readKeyForm checks the new-key form; in gets the ticked scopes.
func (s *apiServer) readKeyForm(in views.APIKeyForm, form url.Values) (db.NewAPIKey, views.FieldErrors) {
	errs := views.FieldErrors{}
	nk := db.NewAPIKey{Name: in.Name}
	switch {
	case in.Name == "":
		errs["name"] = "Name the key after the system that uses it."
	case utf8.RuneCountInString(in.Name) > maxAPIKeyName || strings.ContainsAny(in.Name, "\r\n\t"):
		errs["name"] = "Keep the name on one line, under 100 characters."
	}
	for _, sc := range form["scopes"] {
		if slices.Contains(APIScopes, sc) && !in.Scopes[sc] {
			in.Scopes[sc] = true
			nk.Scopes = append(nk.Scopes, sc)
		}
	}
	if len(nk.Scopes) == 0 {
		errs["scopes"] = "Choose at least one scope."
	}
	sort.Slice(nk.Scopes, func(i, j int) bool {
		return slices.Index(APIScopes, nk.Scopes[i]) < slices.Index(APIScopes, nk.Scopes[j])
	})
	if in.Expires != "" {
		d, err := time.Parse(time.DateOnly, in.Expires)
		switch {
		case err != nil:
			errs["expires"] = "Enter a date like 2027-01-31, or leave it empty."
		case !d.After(s.a.now()):
			errs["expires"] = "Choose a day after today."
		default:
			nk.ExpiresAt = d.UTC()
		}
	}
	for _, f := range strings.FieldsFunc(in.AllowedIPs, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' }) {
		cidr := f
		if !strings.Contains(cidr, "/") { // one address
			if ip := net.ParseIP(cidr); ip != nil {
				if ip.To4() != nil {
					cidr += "/32"
				} else {
					cidr += "/128"
				}
			}
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			errs["allowed_ips"] = strconv.Quote(f) + " is not a network: write it like 203.0.113.0/24, 2001:db8::/48 or one address."
			break
		}
		nk.AllowedIPs = append(nk.AllowedIPs, n.String())
	}
	if len(nk.AllowedIPs) > maxAPIKeyNets {
		errs["allowed_ips"] = "At most 50 networks."
	}
	return nk, errs
}

func (s *apiServer) revokeKey(c echo.Context) error {
	a := s.a
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	k, err := s.store.APIKeyByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	e := a.auditEntry(c, "api_key.revoke")
	e.Details = "name " + k.Name + "; prefix " + k.Prefix
	if err := s.store.RevokeAPIKey(c.Request().Context(), id, currentUser(c).ID, e); err != nil && !errors.Is(err, db.ErrConflict) {
		return err
	}
	if err := a.flash(c, "ok", "Key \""+k.Name+"\" is revoked: it no longer opens the API."); err != nil {
		return err
	}
	return a.redirect(c, a.url(RouteAPIKeys))
}

// apiProblemTypes are the problems the API answers with, for the reference.
var apiProblemTypes = []views.APIProblemType{
	{Slug: "invalid-json", Status: "400", Title: "Invalid JSON", When: "The body is not one well-formed JSON value, repeats a field in one object, or nests deeper than 32 levels. The detail gives the byte offset."},
	{Slug: "invalid-request", Status: "400", Title: "Invalid request", When: "The request does not match the contract: an unknown field, a value of the wrong type (an amount as a number), a missing Idempotency-Key. errors names each field."},
	{Slug: "bad-request", Status: "400", Title: "Bad request", When: "A parameter could not be read."},
	{Slug: "unauthorized", Status: "401", Title: "Unauthorized", When: "No key, or one that is malformed, unknown, revoked or expired: one answer for all, with WWW-Authenticate."},
	{Slug: "missing-scope", Status: "403", Title: "Missing scope", When: "The key lacks the scope the operation needs; the detail names it."},
	{Slug: "ip-not-allowed", Status: "403", Title: "Address not allowed", When: "The key has an allow-list of networks and the call came from outside it."},
	{Slug: "not-found", Status: "404", Title: "Not found", When: "No such link (or route)."},
	{Slug: "method-not-allowed", Status: "405", Title: "Method not allowed", When: "The address does not take that method."},
	{Slug: "conflict", Status: "409", Title: "Conflict", When: "The change clashes with the link's state."},
	{Slug: "duplicate", Status: "409", Title: "Duplicate link", When: "An unfinished link has the same customer, website reference and amount; duplicates lists them. Send allowDuplicate: true to create another."},
	{Slug: "not-cancellable", Status: "409", Title: "Cannot be cancelled", When: "The link is paid, settled, failed, expired or still being created."},
	{Slug: "not-emailable", Status: "409", Title: "Cannot be emailed", When: "Only open links with a checkout link that has not expired can be emailed."},
	{Slug: "not-reissuable", Status: "409", Title: "Cannot be re-issued", When: "Only failed, expired, cancelled or errored links can be re-issued."},
	{Slug: "template-trouble", Status: "409", Title: "Template cannot be filled in", When: "The email template cannot be filled in for this link; an administrator must fix it."},
	{Slug: "idempotency-key-in-progress", Status: "409", Title: "Request in progress", When: "A request with this Idempotency-Key is still running; retry after Retry-After to get its answer."},
	{Slug: "too-large", Status: "413", Title: "Body too large", When: "The body is over 64 KiB."},
	{Slug: "unsupported-media-type", Status: "415", Title: "Unsupported media type", When: "The body is not application/json."},
	{Slug: "invalid-fields", Status: "422", Title: "Invalid fields", When: "The fields break the new-link form's (or the cancel or email form's) rules; errors holds each field's message as the form shows it."},
	{Slug: "idempotency-key-reused", Status: "422", Title: "Idempotency-Key reused", When: "The key was used before with another method, path or body."},
	{Slug: "rate-limited", Status: "429", Title: "Too many requests", When: "The key's request budget is spent; Retry-After says when to retry."},
	{Slug: "email-rate-limited", Status: "429", Title: "Too many emails", When: "The key's email budget (as each person's) is spent."},
	{Slug: "internal", Status: "500", Title: "Internal error", When: "Something failed inside paylinks; the detail carries the request id, the log the cause."},
	{Slug: "unavailable", Status: "503", Title: "Unavailable", When: "paylinks cannot store anything right now; nothing was sent to StableMint. Retry after Retry-After."},
}

// docs renders the API reference from the spec.
func (s *apiServer) docs(c echo.Context) error {
	a, doc := s.a, s.spec.doc
	p := views.APIDocsPage{Layout: a.layout(c, "API reference", "api-docs"), Title: doc.Info.Title, Version: doc.Info.Version,
		Description: paragraphs(doc.Info.Description), SpecURL: a.url(RouteAPISpec),
		BaseURL: strings.TrimSuffix(a.opts.BaseURL.String(), "/") + apiPrefix, Problems: apiProblemTypes}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			o := views.APIOperation{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary,
				Description: paragraphs(op.Description)}
			var scopes []string
			if route, ok := s.spec.routes[method+" "+apiPrefix+echoPathOf(path)]; ok {
				scopes = route.scopes
			}
			o.Scopes = strings.Join(scopes, " ")
			for _, pr := range op.Parameters {
				if pr.Value == nil {
					continue
				}
				o.Params = append(o.Params, views.APIField{Name: pr.Value.Name, In: pr.Value.In, Required: pr.Value.Required,
					Type: schemaType(pr.Value.Schema), Description: pr.Value.Description})
			}
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				if mt := rb.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
					o.Body = refName(mt.Schema.Ref)
				}
			}
			codes := slices.Sorted(mapKeysAny(op.Responses.Map()))
			for _, code := range codes {
				r := op.Responses.Value(code)
				if r == nil || r.Value == nil {
					continue
				}
				resp := views.APIResponse{Status: code}
				if r.Value.Description != nil {
					resp.Description = *r.Value.Description
				}
				for _, mt := range r.Value.Content {
					if mt.Schema != nil {
						resp.Schema = refName(mt.Schema.Ref)
					}
				}
				o.Responses = append(o.Responses, resp)
			}
			p.Operations = append(p.Operations, o)
		}
	}
	for _, name := range slices.Sorted(mapKeysAny(doc.Components.Schemas)) {
		sr := doc.Components.Schemas[name]
		if sr.Value == nil {
			continue
		}
		sc := views.APISchema{Name: name, Description: sr.Value.Description}
		for _, prop := range slices.Sorted(mapKeysAny(sr.Value.Properties)) {
			ps := sr.Value.Properties[prop]
			desc := ""
			if ps.Value != nil {
				desc = ps.Value.Description
			}
			sc.Fields = append(sc.Fields, views.APIField{Name: prop, Type: schemaType(ps), Description: desc,
				Required: slices.Contains(sr.Value.Required, prop)})
		}
		p.Schemas = append(p.Schemas, sc)
	}
	return a.render(c, http.StatusOK, views.APIDocs(p))
}

func echoPathOf(path string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(path, "/") {
		if part == "" {
			continue
		}
		b.WriteByte('/')
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			b.WriteString(":" + part[1:len(part)-1])
		} else {
			b.WriteString(part)
		}
	}
	return b.String()
}

func mapKeysAny[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func refName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// schemaType writes a schema's type as a reader wants it: a named schema,
// "array of X", or the type with its format.
func schemaType(sr *openapi3.SchemaRef) string {
	if sr == nil {
		return ""
	}
	if sr.Ref != "" {
		return refName(sr.Ref)
	}
	v := sr.Value
	if v == nil || v.Type == nil {
		return ""
	}
	t := strings.Join(v.Type.Slice(), " or ")
	switch {
	case v.Type.Is("array"):
		return "array of " + schemaType(v.Items)
	case len(v.Enum) > 0:
		var vals []string
		for _, e := range v.Enum {
			if s, ok := e.(string); ok {
				vals = append(vals, s)
			}
		}
		return t + ": " + strings.Join(vals, ", ")
	case v.Format != "":
		return t + " (" + v.Format + ")"
	}
	return t
}

func paragraphs(s string) []string {
	var out []string
	for p := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}
