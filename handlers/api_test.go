package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// apiEnv is the full application with an admin signed in to make keys.
type apiEnv struct {
	*env
	admin *browser
	spec  *openapi3.T
}

func newAPIEnv(t testing.TB, opts ...envOption) *apiEnv {
	t.Helper()
	e := newEnv(t, opts...)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@example.com")
	spec, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	return &apiEnv{env: e, admin: b, spec: spec}
}

// key makes an API key through the admin page and returns its token.
func (e *apiEnv) key(name string, scopes []string, allowedIPs string) string {
	e.t.Helper()
	p := e.admin.submit("/admin/api-keys", "/admin/api-keys", url.Values{"name": {name}, "scopes": scopes, "allowed_ips": {allowedIPs}})
	tok := strings.TrimSpace(p.find("[data-testid=api-key-secret] [data-testid=secret]").Text())
	if p.status() != http.StatusOK || tok == "" {
		e.t.Fatalf("create key: status %d, no token; errors: %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	return tok
}

var allScopes = []string{"links:read", "links:write", "links:email"}

// client is the generated client with token (if any) as the bearer; every
// answer it gets is validated against the spec.
func (e *apiEnv) client(token string, headers ...string) *api.ClientWithResponses {
	e.t.Helper()
	c, err := api.NewClientWithResponses(e.srv.URL+"/api/v1", api.WithHTTPClient(&validatingDoer{t: e.t, spec: e.spec}),
		api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			for i := 0; i+1 < len(headers); i += 2 {
				r.Header.Set(headers[i], headers[i+1])
			}
			return nil
		}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// validatingDoer sends a request and checks the answer against the spec
// with kin-openapi's response validator (status documented, headers and
// body matching their schemas).
type validatingDoer struct {
	t    testing.TB
	spec *openapi3.T
}

func (d *validatingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, params := d.route(req)
	if route == nil {
		d.t.Errorf("%s %s: no operation in the spec", req.Method, req.URL.Path)
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		d.t.Errorf("%s %s → %d does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

func (d *validatingDoer) route(req *http.Request) (*routers.Route, map[string]string) {
	path := strings.TrimPrefix(req.URL.Path, "/api/v1")
	for tmpl, item := range d.spec.Paths.Map() {
		names := regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(tmpl, -1)
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), "([^/]+)") + "$")
		m := re.FindStringSubmatch(path)
		if m == nil || item.GetOperation(req.Method) == nil {
			continue
		}
		params := map[string]string{}
		for i, n := range names {
			params[n[1]], _ = url.PathUnescape(m[i+1])
		}
		return &routers.Route{Spec: d.spec, Path: tmpl, PathItem: item, Method: req.Method, Operation: item.GetOperation(req.Method)}, params
	}
	return nil, nil
}

func str(s string) *string { return &s }

// draft is a valid new link as the API takes it.
func draft(ref string) api.LinkDraft {
	return api.LinkDraft{UserId: str("cust-42"), UserEmail: str("ada@example.com"), UserCountryCode: str("de"),
		Amount: str("9.50"), Currency: str("eur"), WebsiteReference: str(ref), Note: str("Invoice " + ref)}
}

func idem(k string) *api.CreateLinkParams { return &api.CreateLinkParams{IdempotencyKey: k} }

func (e *apiEnv) linkCount() int {
	e.t.Helper()
	page, err := e.store.SearchLinks(context.Background(), db.LinkQuery{Limit: 1, CountUpTo: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Total
}

// problemOf reads a problem body.
func problemOf(t *testing.T, body []byte) api.Problem {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem: %v: %s", err, body)
	}
	return p
}

func fieldMessages(p api.Problem) map[string]string {
	out := map[string]string{}
	if p.Errors != nil {
		for _, fe := range *p.Errors {
			out[fe.Field] = fe.Message
		}
	}
	return out
}

func TestAPICreateFindListAndTimeline(t *testing.T) {
	e := newAPIEnv(t)
	tok := e.key("ERP", allScopes, "")
	if !strings.HasPrefix(tok, "pl_live_") || len(tok) != len("pl_live_")+43 {
		t.Fatalf("token %q: want pl_live_ and 43 characters", tok)
	}
	c := e.client(tok)
	ctx := context.Background()

	res, err := c.CreateLinkWithResponse(ctx, idem("create-1"), draft("INV-1001"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusCreated || res.JSON201 == nil {
		t.Fatalf("create: %d %s", res.StatusCode(), res.Body)
	}
	l := *res.JSON201
	if l.Amount != "9.50" || l.Currency != "EUR" || l.Status != api.LinkStatus("open") || l.CheckoutUrl == nil || l.StablemintReference == nil {
		t.Fatalf("created link: %+v", l)
	}
	if !strings.Contains(string(res.Body), `"amount":"9.50"`) {
		t.Errorf("amount is not a decimal string in %s", res.Body)
	}
	if got, want := res.HTTPResponse.Header.Get("Location"), fmt.Sprintf("/api/v1/links/%d", l.Id); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if l.CreatedBy != "API key ERP" {
		t.Errorf("created_by %q, want API key ERP", l.CreatedBy)
	}

	byID, err := c.GetLinkWithResponse(ctx, l.Id)
	if err != nil || byID.JSON200 == nil || byID.JSON200.Id != l.Id {
		t.Fatalf("by id: %v %d %s", err, byID.StatusCode(), byID.Body)
	}
	byRef, err := c.GetLinkByReferenceWithResponse(ctx, *l.StablemintReference)
	if err != nil || byRef.JSON200 == nil || byRef.JSON200.Id != l.Id {
		t.Fatalf("by reference: %v %d %s", err, byRef.StatusCode(), byRef.Body)
	}
	byWeb, err := c.GetLinksByWebsiteReferenceWithResponse(ctx, "INV-1001")
	if err != nil || byWeb.JSON200 == nil || len(byWeb.JSON200.Data) != 1 || byWeb.JSON200.Data[0].Id != l.Id {
		t.Fatalf("by website reference: %v %d %s", err, byWeb.StatusCode(), byWeb.Body)
	}
	if r, _ := c.GetLinkByReferenceWithResponse(ctx, "no-such-ref"); r.StatusCode() != http.StatusNotFound || r.ApplicationproblemJSON404 == nil {
		t.Errorf("unknown reference: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := c.GetLinkWithResponse(ctx, 999999); r.StatusCode() != http.StatusNotFound {
		t.Errorf("unknown id: %d %s", r.StatusCode(), r.Body)
	}

	// Two more links, one by a person through the form; then the list.
	for i, ref := range []string{"INV-1002", "INV-1003"} {
		if r, _ := c.CreateLinkWithResponse(ctx, idem(fmt.Sprintf("create-more-%d", i)), draft(ref)); r.StatusCode() != http.StatusCreated {
			t.Fatalf("create %s: %d %s", ref, r.StatusCode(), r.Body)
		}
	}
	e.addUser("fin@example.com", paylink.RoleFinance)
	fin := e.browser()
	fin.login("fin@example.com")
	form := url.Values{"userId": {"cust-7"}, "userEmail": {"bo@example.com"}, "userCountryCode": {"DE"}, "currency": {"EUR"},
		"amount": {"8.00"}, "websiteReference": {"INV-2001"}}
	for _, f := range []string{"success", "support", "exit", "error"} {
		form.Set(f+"Url", e.srv.URL+"/pay/"+f)
	}
	if p := fin.submit("/links/new", "/links", form); p.status() != http.StatusSeeOther {
		t.Fatalf("form create: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}

	limit := 2
	page1, err := c.ListLinksWithResponse(ctx, &api.ListLinksParams{Limit: &limit})
	if err != nil || page1.JSON200 == nil || len(page1.JSON200.Data) != 2 || page1.JSON200.NextCursor == nil {
		t.Fatalf("page 1: %v %d %s", err, page1.StatusCode(), page1.Body)
	}
	page2, err := c.ListLinksWithResponse(ctx, &api.ListLinksParams{Limit: &limit, After: page1.JSON200.NextCursor})
	if err != nil || page2.JSON200 == nil || len(page2.JSON200.Data) != 2 || page2.JSON200.NextCursor != nil {
		t.Fatalf("page 2: %v %d %s", err, page2.StatusCode(), page2.Body)
	}
	seen := map[int64]bool{}
	for _, x := range append(page1.JSON200.Data, page2.JSON200.Data...) {
		seen[x.Id] = true
	}
	if len(seen) != 4 {
		t.Errorf("two pages list %d distinct links, want 4", len(seen))
	}
	// The creator filter: the key's links only.
	mine, err := c.ListLinksWithResponse(ctx, &api.ListLinksParams{CreatedBy: &l.CreatorId})
	if err != nil || mine.JSON200 == nil || len(mine.JSON200.Data) != 3 {
		t.Fatalf("created_by filter: %v %d %s", err, mine.StatusCode(), mine.Body)
	}
	// The search box's semantics: a reference prefix, an amount with its currency.
	q := "INV-100"
	found, _ := c.ListLinksWithResponse(ctx, &api.ListLinksParams{Q: &q})
	if found.JSON200 == nil || len(found.JSON200.Data) != 3 {
		t.Errorf("q=%s: %d %s", q, found.StatusCode(), found.Body)
	}
	q = "€8.00"
	found, _ = c.ListLinksWithResponse(ctx, &api.ListLinksParams{Q: &q})
	if found.JSON200 == nil || len(found.JSON200.Data) != 1 || found.JSON200.Data[0].WebsiteReference != "INV-2001" {
		t.Errorf("q=%s: %d %s", q, found.StatusCode(), found.Body)
	}
	// The links page lists the key as a creator to filter by.
	lp := fin.get(fmt.Sprintf("/links?created_by=%d", l.CreatorId))
	if n := lp.find("[data-testid=links-row]").Length(); n != 3 {
		t.Errorf("links page filtered by the key: %d rows, want 3", n)
	}
	if opt := lp.find(fmt.Sprintf(`select[name=created_by] option[value="%d"]`, l.CreatorId)).Text(); opt != "API key ERP" {
		t.Errorf("the creator filter offers %q for the key, want API key ERP", opt)
	}

	tl, err := c.GetLinkTimelineWithResponse(ctx, l.Id)
	if err != nil || tl.JSON200 == nil || len(tl.JSON200.Data) == 0 {
		t.Fatalf("timeline: %v %d %s", err, tl.StatusCode(), tl.Body)
	}
	if first := tl.JSON200.Data[0]; first.Kind != "created" || first.Actor == nil || *first.Actor != "API key ERP" {
		t.Errorf("first timeline line: %+v", first)
	}
	// The link page says who made it.
	if p := fin.get(fmt.Sprintf("/links/%d", l.Id)); !strings.Contains(p.body, "API key ERP") {
		t.Errorf("link page does not name the key")
	}
	// Every call is audited with the key as the actor (reads committed
	// in groups: flushed here, as at shutdown).
	e.app.ReadAudits.Flush()
	entries, err := e.store.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, a := range entries {
		if a.ActorID == l.CreatorId {
			actions[a.Action] = true
			if strings.Contains(a.Details+a.ActorEmail+a.Target, tok) {
				t.Errorf("the token appears in the audit log: %+v", a)
			}
		}
	}
	if !actions["link.create"] || !actions["api.read"] {
		t.Errorf("audit actions by the key: %v, want link.create and api.read", actions)
	}
	// The admin page shows when and from where the key was last used.
	if row := e.admin.get("/admin/api-keys").find(`[data-testid=api-key-row][data-name="ERP"]`).Text(); !strings.Contains(row, "127.0.0.1") {
		t.Errorf("key row does not say where it was last used from: %q", row)
	}
}

func TestAPICreateRefusesWithTheFormsMessages(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(e.key("ERP", allScopes, ""))
	bad := api.LinkDraft{UserId: str("cust-1"), UserEmail: str("not-an-email"), UserCountryCode: str("DE"),
		Amount: str("12.345"), Currency: str("EUR"), WebsiteReference: str("INV-1")}
	res, err := c.CreateLinkWithResponse(context.Background(), idem("bad-1"), bad)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusUnprocessableEntity || res.ApplicationproblemJSON422 == nil {
		t.Fatalf("status %d %s, want 422 problem", res.StatusCode(), res.Body)
	}
	if ct := res.HTTPResponse.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	got := fieldMessages(*res.ApplicationproblemJSON422)
	// The same input through the new-link form.
	e.addUser("fin@example.com", paylink.RoleFinance)
	fin := e.browser()
	fin.login("fin@example.com")
	p := fin.submit("/links/new", "/links", url.Values{"userId": {"cust-1"}, "userEmail": {"not-an-email"}, "userCountryCode": {"DE"},
		"currency": {"EUR"}, "amount": {"12.345"}, "websiteReference": {"INV-1"}})
	if p.status() != http.StatusUnprocessableEntity {
		t.Fatalf("form: %d", p.status())
	}
	want := map[string]string{}
	p.find("[data-testid=form-error]").Each(func(_ int, s *goquerySelection) {
		if f, ok := s.Attr("data-field"); ok {
			want[f] = strings.TrimSpace(s.Text())
		}
	})
	for _, f := range []string{"amount", "userEmail"} {
		if want[f] == "" || got[f] != want[f] {
			t.Errorf("%s: API says %q, the form %q", f, got[f], want[f])
		}
	}
	if n := e.linkCount(); n != 0 {
		t.Errorf("%d links stored, want 0", n)
	}
	if n := len(e.sandbox.Sessions()); n != 0 {
		t.Errorf("%d StableMint sessions, want 0", n)
	}
}

func TestAPIIdempotencyKey(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(e.key("ERP", allScopes, ""))
	ctx := context.Background()
	first, err := c.CreateLinkWithResponse(ctx, idem("order-77"), draft("INV-77"))
	if err != nil || first.JSON201 == nil {
		t.Fatalf("first: %v %d %s", err, first.StatusCode(), first.Body)
	}
	if first.HTTPResponse.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a first answer says it is replayed")
	}
	// The same body again, its keys in another order and spaced out.
	raw := `{ "websiteReference": "INV-77", "note": "Invoice INV-77", "currency": "eur", "amount": "9.50",
		"userCountryCode": "de", "userEmail": "ada@example.com", "userId": "cust-42" }`
	again, err := c.CreateLinkWithBodyWithResponse(ctx, idem("order-77"), "application/json", strings.NewReader(raw))
	if err != nil || again.JSON201 == nil {
		t.Fatalf("replay: %v %d %s", err, again.StatusCode(), again.Body)
	}
	if again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" || again.JSON201.Id != first.JSON201.Id ||
		again.HTTPResponse.Header.Get("Location") != first.HTTPResponse.Header.Get("Location") {
		t.Errorf("replay: Idempotent-Replayed %q, id %d (first %d)", again.HTTPResponse.Header.Get("Idempotent-Replayed"), again.JSON201.Id, first.JSON201.Id)
	}
	// Another body under the same key.
	other := draft("INV-78")
	conflict, err := c.CreateLinkWithResponse(ctx, idem("order-77"), other)
	if err != nil {
		t.Fatal(err)
	}
	if conflict.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(*conflict.ApplicationproblemJSON422)["Idempotency-Key"] == "" {
		t.Errorf("another body under the key: %d %s, want 422 naming Idempotency-Key", conflict.StatusCode(), conflict.Body)
	}
	// Another API key has its own key space: the same key and body make its own link.
	c2 := e.client(e.key("CRM", allScopes, ""))
	second, err := c2.CreateLinkWithResponse(ctx, idem("order-77"), func() api.LinkDraft {
		d := draft("INV-77")
		d.AllowDuplicate = new(bool)
		*d.AllowDuplicate = true
		return d
	}())
	if err != nil || second.JSON201 == nil || second.JSON201.Id == first.JSON201.Id || second.HTTPResponse.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another API key: %v %d %s", err, second.StatusCode(), second.Body)
	}
	if n := e.linkCount(); n != 2 {
		t.Errorf("%d links, want 2", n)
	}
	// Kept at least 24 hours: a day later the key still replays.
	e.clock.Advance(25 * time.Hour)
	later, _ := c.CreateLinkWithResponse(ctx, idem("order-77"), draft("INV-77"))
	if later.StatusCode() != http.StatusCreated || later.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("25 h later: %d replayed=%q", later.StatusCode(), later.HTTPResponse.Header.Get("Idempotent-Replayed"))
	}
	// The prune job forgets keys past 48 hours.
	e.clock.Advance(24 * time.Hour)
	for _, j := range e.app.Jobs(e.clock.Now()) {
		if j.Name == "api-idempotency" {
			if err := j.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	fresh, _ := c.CreateLinkWithResponse(ctx, idem("order-77"), other)
	if fresh.StatusCode() != http.StatusCreated || fresh.HTTPResponse.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after pruning, the key is new again: %d %s", fresh.StatusCode(), fresh.Body)
	}
}

// TestAPIRefusedCreateIsAnsweredAgain: a create refused before any link
// is stored (here an amount the form refuses) keeps its answer under its
// Idempotency-Key like any other, although no link carried its claim.
func TestAPIRefusedCreateIsAnsweredAgain(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(e.key("ERP", allScopes, ""))
	ctx := context.Background()
	d := draft("INV-90")
	d.Amount = str("-5.00")
	first, err := c.CreateLinkWithResponse(ctx, idem("order-90"), d)
	if err != nil || first.StatusCode() != http.StatusUnprocessableEntity {
		t.Fatalf("first: %v %d %s", err, first.StatusCode(), first.Body)
	}
	again, err := c.CreateLinkWithResponse(ctx, idem("order-90"), d)
	if err != nil || again.StatusCode() != http.StatusUnprocessableEntity ||
		again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
		t.Errorf("again: %v %d replayed=%q %s", err, again.StatusCode(), again.HTTPResponse.Header.Get("Idempotent-Replayed"), again.Body)
	}
	if n := e.linkCount(); n != 0 {
		t.Errorf("%d links, want 0", n)
	}
}

func TestAPIConcurrentRequestsWithOneKeyMakeOneLink(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(e.key("ERP", allScopes, ""))
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	ids := make([]int64, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := c.CreateLinkWithResponse(ctx, idem("same-key"), draft("INV-500"))
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.StatusCode()
			if r.JSON201 != nil {
				ids[i] = r.JSON201.Id
			}
			if r.StatusCode() == http.StatusConflict && r.HTTPResponse.Header.Get("Retry-After") == "" {
				t.Errorf("409 in progress without Retry-After")
			}
		})
	}
	close(start)
	wg.Wait()
	var created int64
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			if created != 0 && ids[i] != created {
				t.Errorf("two links: %d and %d", created, ids[i])
			}
			created = ids[i]
		case http.StatusConflict:
		default:
			t.Errorf("request %d: status %d, want 201 or 409", i, s)
		}
	}
	if created == 0 {
		t.Fatalf("no request created the link: %v", statuses)
	}
	// Once it is done, the key answers with the link.
	r, _ := c.CreateLinkWithResponse(ctx, idem("same-key"), draft("INV-500"))
	if r.JSON201 == nil || r.JSON201.Id != created {
		t.Errorf("after: %d %s", r.StatusCode(), r.Body)
	}
	if got := e.linkCount(); got != 1 {
		t.Errorf("%d links, want 1", got)
	}
	if got := len(e.sandbox.Sessions()); got != 1 {
		t.Errorf("%d StableMint sessions, want 1", got)
	}
}

func TestAPIRefusesBadInput(t *testing.T) {
	e := newAPIEnv(t)
	tok := e.key("ERP", allScopes, "")
	c := e.client(tok)
	ctx := context.Background()
	valid, _ := json.Marshal(draft("INV-9"))
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	cases := []struct {
		name, ctype, body string
		idemKey           string
		status            int
		inDetail          string // the problem's detail says this
		field             string // the problem's errors name this field
		fieldSays         string // and its message says this
	}{
		{"invalid JSON names the offset", "application/json", `{"amount": "1.00",}`, "k1", 400, "byte 18", "", ""},
		{"truncated JSON", "application/json", `{"amount": "1.00"`, "k2", 400, "byte", "", ""},
		{"unknown field named", "application/json", `{"amount": "1.00", "status": "paid"}`, "k3", 400, "status", "status", ""},
		{"unknown nested field named", "application/json", `{"userKyc": {"fullName": "A", "role": "admin"}}`, "k4", 400, "userKyc.role", "userKyc.role", ""},
		{"amount as a number", "application/json", `{"amount": 12.5, "currency": "EUR"}`, "k5", 400, "amount", "amount", `a decimal string, such as "1250.00"`},
		{"amount 1e400", "application/json", `{"amount": 1e400, "currency": "EUR"}`, "k6", 400, "amount", "amount", ""},
		{"a field twice", "application/json", `{"amount": "1.00", "amount": "9999.00"}`, "k7", 400, `"amount" appears twice`, "", ""},
		{"10,000 levels deep", "application/json", deep, "k8", 400, "deeper", "", ""},
		{"form-encoded", "application/x-www-form-urlencoded", "amount=1.00", "k9", 415, "application/json", "", ""},
		{"no content type", "", string(valid), "k10", 415, "application/json", "", ""},
		{"64 KiB + 1", "application/json", `{"note": "` + strings.Repeat("x", 64<<10) + `"}`, "k11", 413, "64 KiB", "", ""},
		{"no Idempotency-Key", "application/json", string(valid), "", 400, "Idempotency-Key", "Idempotency-Key", "a new value (a UUID is right)"},
		{"null where a string goes", "application/json", `{"note": null}`, "k14", 400, "note", "note", "leave the field out"},
		{"two JSON values", "application/json", `{} {}`, "k12", 400, "more than one", "", ""},
		{"empty body", "application/json", "", "k13", 400, "empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/links", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.idemKey != "" {
				req.Header.Set("Idempotency-Key", tc.idemKey)
			}
			resp, err := (&validatingDoer{t: t, spec: e.spec}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			p := problemOf(t, body)
			if p.Detail == nil || !strings.Contains(*p.Detail, tc.inDetail) {
				t.Errorf("detail %v does not say %q", p.Detail, tc.inDetail)
			}
			if tc.field != "" {
				if _, ok := fieldMessages(p)[tc.field]; !ok {
					t.Errorf("errors %v do not name %s", p.Errors, tc.field)
				}
			}
			// The field's message says what to send instead.
			if tc.fieldSays != "" && !strings.Contains(fieldMessages(p)[tc.field], tc.fieldSays) {
				t.Errorf("%s: %q does not say %q", tc.field, fieldMessages(p)[tc.field], tc.fieldSays)
			}
		})
	}
	if n := e.linkCount(); n != 0 {
		t.Errorf("%d links, want 0", n)
	}
	// Parameters too: a limit outside 1..100, a malformed date.
	bad := 500
	if r, _ := c.ListLinksWithResponse(ctx, &api.ListLinksParams{Limit: &bad}); r.StatusCode() != http.StatusBadRequest || fieldMessages(*r.ApplicationproblemJSON400)["limit"] == "" {
		t.Errorf("limit=500: %d %s", r.StatusCode(), r.Body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/links?created_from=31/12/2026", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, _ := (&validatingDoer{t: t, spec: e.spec}).Do(req); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed date: %d", resp.StatusCode)
	}
	// A reversed range is refused as the Links page refuses it, named by
	// the API's parameter.
	from, to := "2026-12-31", "2026-01-01"
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/links?created_from="+from+"&created_to="+to, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ := (&validatingDoer{t: t, spec: e.spec}).Do(req)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"field":"created_to"`) {
		t.Errorf("reversed range: %d %s", resp.StatusCode, body)
	}
}

func TestAPIRefusesWithoutAValidKey(t *testing.T) {
	e := newAPIEnv(t, func(cfg *app.Config, _ *app.Parts) {})
	live := e.key("live", allScopes, "")
	revoked := e.key("revoked", allScopes, "")
	keys, err := e.store.ListAPIKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "revoked" {
			if p := e.admin.submit("/admin/api-keys", fmt.Sprintf("/admin/api-keys/%d/revoke", k.ID), url.Values{}); p.status() != http.StatusSeeOther {
				t.Fatalf("revoke: %d", p.status())
			}
		}
	}
	// The secret is shown once: the page afterwards names the key by its prefix only.
	if page := e.admin.get("/admin/api-keys"); strings.Contains(page.body, live) || strings.Contains(page.body, live[12:]) ||
		!strings.Contains(page.body, live[:12]) {
		t.Errorf("the keys page shows a token again, or not its prefix")
	}
	p := e.admin.submit("/admin/api-keys", "/admin/api-keys", url.Values{"name": {"short-lived"}, "scopes": {"links:read"},
		"expires": {e.clock.Now().AddDate(0, 0, 1).Format(time.DateOnly)}})
	expiring := strings.TrimSpace(p.find("[data-testid=api-key-secret] [data-testid=secret]").Text())
	if r, _ := e.client(expiring).ListLinksWithResponse(context.Background(), nil); r.StatusCode() != http.StatusOK {
		t.Fatalf("the expiring key before its day: %d", r.StatusCode())
	}
	e.clock.Advance(48 * time.Hour)

	var bodies []string
	for name, auth := range map[string]string{
		"none": "", "malformed": "Bearer nope", "basic": "Basic " + live, "unknown": "Bearer pl_live_" + strings.Repeat("A", 43),
		"revoked": "Bearer " + revoked, "expired": "Bearer " + expiring,
	} {
		c := e.client("", "Authorization", auth)
		r, err := c.ListLinksWithResponse(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode() != http.StatusUnauthorized || r.HTTPResponse.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d WWW-Authenticate %q", name, r.StatusCode(), r.HTTPResponse.Header.Get("WWW-Authenticate"))
		}
		var pr api.Problem
		_ = json.Unmarshal(r.Body, &pr)
		pr.Instance = nil
		b, _ := json.Marshal(pr)
		bodies = append(bodies, string(b))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(bodies)))) != 1 {
		t.Errorf("401 bodies differ (an oracle): %q", bodies)
	}
	// A signed-in session opens no API call, and a key opens no page.
	if r, _ := e.client("", "Cookie", e.admin.cookieHeader()).ListLinksWithResponse(context.Background(), nil); r.StatusCode() != http.StatusUnauthorized {
		t.Errorf("session cookie on the API: %d, want 401", r.StatusCode())
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/links", nil)
	req.Header.Set("Authorization", "Bearer "+live)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("a key on a page: %d %s, want the sign-in redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A POST with a session cookie and no key is 401, not a CSRF refusal,
	// and creates nothing; the pages still need their token.
	r, _ := e.client("", "Cookie", e.admin.cookieHeader()).CreateLinkWithResponse(context.Background(), idem("x"), draft("INV-1"))
	if r.StatusCode() != http.StatusUnauthorized || e.linkCount() != 0 {
		t.Errorf("cookie POST to the API: %d", r.StatusCode())
	}
	if p := e.admin.post("/links", url.Values{"amount": {"1.00"}}); p.status() != http.StatusBadRequest {
		t.Errorf("a page POST without a CSRF token: %d, want 400", p.status())
	}
}

func TestAPIScopesAndAllowList(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	reader := e.client(e.key("reader", []string{"links:read"}, ""))
	r, err := reader.CreateLinkWithResponse(ctx, idem("r1"), draft("INV-1"))
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode() != http.StatusForbidden || r.ApplicationproblemJSON403 == nil || !strings.Contains(*r.ApplicationproblemJSON403.Detail, "links:write") {
		t.Errorf("read-only key creating: %d %s", r.StatusCode(), r.Body)
	}
	if e.linkCount() != 0 || len(e.sandbox.Sessions()) != 0 {
		t.Errorf("a refused create left a link or a StableMint session")
	}
	writer := e.client(e.key("writer", []string{"links:write"}, ""))
	if r, _ := writer.ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusForbidden || !strings.Contains(string(r.Body), "links:read") {
		t.Errorf("write-only key listing: %d %s", r.StatusCode(), r.Body)
	}
	created, _ := writer.CreateLinkWithResponse(ctx, idem("w1"), draft("INV-2"))
	if created.JSON201 == nil {
		t.Fatalf("writer: %d %s", created.StatusCode(), created.Body)
	}
	if r, _ := writer.EmailLinkWithResponse(ctx, created.JSON201.Id, &api.EmailLinkParams{IdempotencyKey: "e1"}, api.EmailRequest{}); r.StatusCode() != http.StatusForbidden || !strings.Contains(string(r.Body), "links:email") {
		t.Errorf("emailing without links:email: %d %s", r.StatusCode(), r.Body)
	}

	// The allow-list: the test client calls from 127.0.0.1.
	elsewhere := e.key("office", allScopes, "10.0.0.0/8")
	for name, hdr := range map[string][]string{"direct": nil, "X-Forwarded-For from an untrusted peer": {"X-Forwarded-For", "10.1.2.3"}} {
		r, _ := e.client(elsewhere, hdr...).ListLinksWithResponse(ctx, nil)
		if r.StatusCode() != http.StatusForbidden || r.ApplicationproblemJSON403 == nil || !strings.Contains(r.ApplicationproblemJSON403.Type, "ip-not-allowed") {
			t.Errorf("%s: %d %s", name, r.StatusCode(), r.Body)
		}
	}
	here := e.key("loopback", allScopes, "127.0.0.1\n::1")
	if r, _ := e.client(here).ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusOK {
		t.Errorf("allowed address: %d %s", r.StatusCode(), r.Body)
	}
}

func TestAPIRateLimitPerKey(t *testing.T) {
	e := newAPIEnv(t, func(cfg *app.Config, _ *app.Parts) { cfg.APIRatePerMinute = 3 })
	ctx := context.Background()
	c := e.client(e.key("busy", allScopes, ""))
	for i, want := range []string{"2", "1", "0"} {
		r, _ := c.ListLinksWithResponse(ctx, nil)
		if r.StatusCode() != http.StatusOK || r.HTTPResponse.Header.Get("RateLimit-Remaining") != want || r.HTTPResponse.Header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d remaining %q", i+1, r.StatusCode(), r.HTTPResponse.Header.Get("RateLimit-Remaining"))
		}
	}
	r, _ := c.ListLinksWithResponse(ctx, nil)
	if r.StatusCode() != http.StatusTooManyRequests || r.HTTPResponse.Header.Get("Retry-After") != "20" {
		t.Errorf("fourth: %d Retry-After %q, want 429 and 20 (3 a minute)", r.StatusCode(), r.HTTPResponse.Header.Get("Retry-After"))
	}
	// Another key is not slowed, nor are the pages.
	if r, _ := e.client(e.key("calm", allScopes, "")).ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusOK {
		t.Errorf("another key: %d", r.StatusCode())
	}
	if p := e.admin.get("/links"); p.status() != http.StatusOK {
		t.Errorf("the links page: %d", p.status())
	}
	e.clock.Advance(20 * time.Second)
	if r, _ := c.ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusOK {
		t.Errorf("after Retry-After: %d", r.StatusCode())
	}
}

func TestAPICancelEmailReissue(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	c := e.client(e.key("ERP", allScopes, ""))
	res, _ := c.CreateLinkWithResponse(ctx, idem("c1"), draft("INV-300"))
	if res.JSON201 == nil {
		t.Fatalf("create: %d %s", res.StatusCode(), res.Body)
	}
	id := res.JSON201.Id

	em, err := c.EmailLinkWithResponse(ctx, id, &api.EmailLinkParams{IdempotencyKey: "e1"}, api.EmailRequest{Message: str("Thanks!")})
	if err != nil || em.JSON202 == nil || em.JSON202.LinkId != id || !strings.Contains(em.JSON202.To, "ada@example.com") {
		t.Fatalf("email: %v %d %s", err, em.StatusCode(), em.Body)
	}
	emails, err := e.store.LinkEmails(ctx, id)
	if err != nil || len(emails) != 1 || emails[0].Subject != em.JSON202.Subject {
		t.Fatalf("queued emails: %v %+v", err, emails)
	}
	if r, _ := c.EmailLinkWithResponse(ctx, id, &api.EmailLinkParams{IdempotencyKey: "e2"}, api.EmailRequest{To: str("two@example.com, three@example.com")}); r.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(*r.ApplicationproblemJSON422)["to"] == "" {
		t.Errorf("two recipients: %d %s", r.StatusCode(), r.Body)
	}

	if r, _ := c.CancelLinkWithResponse(ctx, id, &api.CancelLinkParams{IdempotencyKey: "x0"}, api.Cancellation{Reason: str("other")}); r.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(*r.ApplicationproblemJSON422)["text"] != "Say why the link is cancelled." {
		t.Errorf("cancel without text: %d %s", r.StatusCode(), r.Body)
	}
	cn, err := c.CancelLinkWithResponse(ctx, id, &api.CancelLinkParams{IdempotencyKey: "x1"}, api.Cancellation{Reason: str("paid_another_way")})
	if err != nil || cn.JSON200 == nil || cn.JSON200.Status != "cancelled" || cn.JSON200.CheckoutUrl != nil {
		t.Fatalf("cancel: %v %d %s", err, cn.StatusCode(), cn.Body)
	}
	if r, _ := c.EmailLinkWithResponse(ctx, id, &api.EmailLinkParams{IdempotencyKey: "e3"}, api.EmailRequest{}); r.StatusCode() != http.StatusConflict {
		t.Errorf("emailing a cancelled link: %d %s", r.StatusCode(), r.Body)
	}

	re, err := c.ReissueLinkWithResponse(ctx, id, &api.ReissueLinkParams{IdempotencyKey: "r1"}, api.ReissueRequest{})
	if err != nil || re.JSON201 == nil || re.JSON201.ReissueOf == nil || *re.JSON201.ReissueOf != id || re.JSON201.Amount != "9.50" || re.JSON201.Status != "open" {
		t.Fatalf("reissue: %v %d %s", err, re.StatusCode(), re.Body)
	}
	old, _ := c.GetLinkWithResponse(ctx, id)
	if old.JSON200 == nil || old.JSON200.ReissuedAs == nil || *old.JSON200.ReissuedAs != re.JSON201.Id {
		t.Errorf("old link after reissue: %s", old.Body)
	}
	if r, _ := c.ReissueLinkWithResponse(ctx, re.JSON201.Id, &api.ReissueLinkParams{IdempotencyKey: "r2"}, api.ReissueRequest{}); r.StatusCode() != http.StatusConflict {
		t.Errorf("reissuing an open link: %d %s", r.StatusCode(), r.Body)
	}
	if n := len(e.sandbox.Sessions()); n != 2 {
		t.Errorf("%d StableMint sessions, want 2", n)
	}
}

func TestAPISpecAndReference(t *testing.T) {
	e := newAPIEnv(t)
	resp, err := http.Get(e.srv.URL + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, api.Spec) {
		t.Errorf("spec: %d, %d bytes", resp.StatusCode, len(body))
	}
	p := e.admin.get("/api/docs")
	if p.status() != http.StatusOK || p.find("[data-testid=api-operation]").Length() != 17 || p.find("#problem-idempotency-key-reused").Length() != 1 {
		t.Errorf("reference: %d, %d operations", p.status(), p.find("[data-testid=api-operation]").Length())
	}
	// An integrator without a staff account opens a problem's type URI:
	// the reference, as the spec itself, needs no sign-in, and shows no
	// staff page's menu.
	anon := e.browser().get("/api/docs")
	if anon.status() != http.StatusOK || anon.find("#problem-invalid-fields").Length() != 1 || anon.find("[data-testid=api-operation]").Length() != 17 {
		t.Errorf("the reference without signing in: %d", anon.status())
	}
	if anon.find(`a[href="/links"]`).Length() != 0 {
		t.Errorf("the reference shows staff pages to a visitor")
	}
	// The spec's Markdown marks are set as code and bold, not shown.
	if text := anon.find("main").Text(); strings.Contains(text, "`") || strings.Contains(text, "**") {
		t.Errorf("the reference shows Markdown marks")
	}
	if anon.find("main p strong").Length() == 0 || anon.find("main p code").Length() < 5 {
		t.Errorf("the reference sets no code or bold in its prose")
	}
	if strings.Contains(p.body, "cdn") || strings.Contains(p.body, "unpkg") {
		t.Errorf("the reference loads something from elsewhere")
	}
	// A method the path does not take is a 405 problem naming the ones it
	// does; an unknown path a 404 problem, not a page.
	key := e.key("k", allScopes, "")
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/api/v1/links/1", http.StatusMethodNotAllowed, "GET"},
		{http.MethodPut, "/api/v1/links", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/api/v1/links/1/nothing", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"))
		}
	}
}

// cookieHeader is the browser's cookies as a Cookie header.
func (b *browser) cookieHeader() string {
	u, _ := url.Parse(b.e.srv.URL)
	var parts []string
	for _, c := range b.c.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// TestAPIEveryCallIsAudited: every call of a known key leaves an audit
// entry with the key as the actor: a change its service's, a read
// api.read, and each refusal the service never saw (bad JSON, a wrong
// content type, the form's refusal) and each repeat answered from the
// Idempotency-Key's record their own. A key over its rate limit is
// recorded once a minute, with the count of refusals since.
func TestAPIEveryCallIsAudited(t *testing.T) {
	e := newAPIEnv(t, func(cfg *app.Config, _ *app.Parts) { cfg.APIRatePerMinute = 8 })
	ctx := context.Background()
	tok := e.key("ERP", allScopes, "")
	c := e.client(tok)
	post := func(body, ctype, key string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/links", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(`{"amount": "1.00",}`, "application/json", "a1"); s != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d", s)
	}
	if s := post("amount=1.00", "application/x-www-form-urlencoded", "a2"); s != http.StatusUnsupportedMediaType {
		t.Fatalf("form-encoded: %d", s)
	}
	bad := draft("INV-A3")
	bad.Amount = str("-5.00")
	if r, _ := c.CreateLinkWithResponse(ctx, idem("a3"), bad); r.StatusCode() != http.StatusUnprocessableEntity {
		t.Fatalf("refused amount: %d", r.StatusCode())
	}
	first, _ := c.CreateLinkWithResponse(ctx, idem("a4"), draft("INV-A4"))
	again, _ := c.CreateLinkWithResponse(ctx, idem("a4"), draft("INV-A4"))
	if first.JSON201 == nil || again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("create and repeat: %d, %d", first.StatusCode(), again.StatusCode())
	}
	if r, _ := c.GetLinkWithResponse(ctx, first.JSON201.Id); r.JSON200 == nil {
		t.Fatalf("read: %d", r.StatusCode())
	}
	// Six calls so far: two more within the limit of 8, then four over it.
	for range 2 {
		if r, _ := c.ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("within the limit: %d", r.StatusCode())
		}
	}
	for range 4 {
		if r, _ := c.ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d", r.StatusCode())
		}
	}
	e.clock.Advance(61 * time.Second)
	for range 8 {
		c.ListLinksWithResponse(ctx, nil)
	}
	if r, _ := c.ListLinksWithResponse(ctx, nil); r.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("over the limit again: %d", r.StatusCode())
	}
	e.app.ReadAudits.Flush()

	var refused []string
	for _, a := range auditEntries(t, e.env, "api.refused") {
		if a.ActorID != first.JSON201.CreatorId || a.Outcome != "failed" || a.Target != "POST /api/v1/links" && a.Target != "GET /api/v1/links" {
			t.Errorf("refusal entry: %+v", a)
		}
		refused = append(refused, a.Details)
	}
	// Each refusal once: bad JSON, the content type, the form's refusal,
	// and the rate limit twice (a minute apart).
	count := map[string]int{}
	for _, d := range refused {
		code, _, _ := strings.Cut(d, " ")
		count[code]++
	}
	if want := map[string]int{"400": 1, "415": 1, "422": 1, "429": 2}; !maps.Equal(count, want) {
		t.Errorf("api.refused entries by status %v, want %v:\n%s", count, want, strings.Join(refused, "\n"))
	}
	if !slices.ContainsFunc(refused, func(d string) bool { return strings.Contains(d, "and 3 more refused") }) {
		t.Errorf("the second rate-limit entry does not count the 3 refusals not recorded:\n%s", strings.Join(refused, "\n"))
	}
	if got := auditEntries(t, e.env, "api.replayed"); len(got) != 1 || !strings.Contains(got[0].Details, "a4") {
		t.Errorf("api.replayed: %+v, want the repeat of a4", got)
	}
	if got := auditEntries(t, e.env, "link.create"); len(got) != 1 {
		t.Errorf("link.create: %d entries, want the one link made", len(got))
	}
	if got := auditEntries(t, e.env, "api.read"); len(got) < 9 {
		t.Errorf("api.read: %d entries, want the read and the eight lists", len(got))
	}
}

// TestAPIListRefusesWhatItCannotRead: a cursor paylinks never gave is
// refused (a client looping on pages must not get the first page again
// and again), a date range that ends before it starts is named by the
// API's parameter, and batch lists one import's links, as the Links page's
// filter does.
func TestAPIListRefusesWhatItCannotRead(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	c := e.client(e.key("ERP", allScopes, ""))
	garbage := "garbage"
	r, _ := c.ListLinksWithResponse(ctx, &api.ListLinksParams{After: &garbage})
	if r.StatusCode() != http.StatusBadRequest || !strings.Contains(fieldMessages(*r.ApplicationproblemJSON400)["after"], "next_cursor") {
		t.Errorf("after=garbage: %d %s", r.StatusCode(), r.Body)
	}
	from, to := openapi_types.Date{Time: time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)}, openapi_types.Date{Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	r, _ = c.ListLinksWithResponse(ctx, &api.ListLinksParams{CreatedFrom: &from, CreatedTo: &to})
	if r.StatusCode() != http.StatusUnprocessableEntity || fieldMessages(*r.ApplicationproblemJSON422)["created_to"] != "created_to is earlier than created_from. Swap the two dates, or change one of them." {
		t.Errorf("reversed range: %d %s", r.StatusCode(), r.Body)
	}

	// One import of two rows beside a link made through the API.
	if res, _ := c.CreateLinkWithResponse(ctx, idem("b0"), draft("INV-B0")); res.JSON201 == nil {
		t.Fatalf("create: %d", res.StatusCode())
	}
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login(fin.Email)
	up := b.upload("f.csv", []byte("userId,userEmail,userCountryCode,currency,amount,websiteReference\nA,a@example.com,DE,EUR,1,R-1\nB,b@example.com,DE,EUR,2,R-2\n"))
	preview := b.get(up.location())
	action, _ := preview.find(`[data-testid="confirm-form"]`).Attr("action")
	tok, _ := preview.find(`[data-testid="confirm-form"] input[name="_csrf"]`).Attr("value")
	done := b.post(action, url.Values{"_csrf": {tok}})
	id, err := strconv.ParseInt(done.location()[strings.LastIndex(done.location(), "/")+1:], 10, 64)
	if done.status() != http.StatusSeeOther || err != nil {
		t.Fatalf("confirm: %d %q", done.status(), done.location())
	}
	r, _ = c.ListLinksWithResponse(ctx, &api.ListLinksParams{Batch: &id})
	if r.JSON200 == nil || len(r.JSON200.Data) != 2 {
		t.Fatalf("batch=%d: %d %s", id, r.StatusCode(), r.Body)
	}
	for _, l := range r.JSON200.Data {
		if l.WebsiteReference != "R-1" && l.WebsiteReference != "R-2" {
			t.Errorf("batch lists %s", l.WebsiteReference)
		}
	}
	// A page's own cursor still works.
	one := 1
	r, _ = c.ListLinksWithResponse(ctx, &api.ListLinksParams{Limit: &one})
	if r.JSON200 == nil || r.JSON200.NextCursor == nil {
		t.Fatalf("first page: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ = c.ListLinksWithResponse(ctx, &api.ListLinksParams{Limit: &one, After: r.JSON200.NextCursor}); r.JSON200 == nil || len(r.JSON200.Data) != 1 {
		t.Errorf("second page: %d %s", r.StatusCode(), r.Body)
	}
}
