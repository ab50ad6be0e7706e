package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// validLink is a form a finance user would submit.
func validLink() url.Values {
	return url.Values{
		"userId": {"CUST-42"}, "userEmail": {"ada@example.com"}, "userCountryCode": {"DE"},
		"currency": {"EUR"}, "amount": {"9,50"}, "websiteReference": {"INV-2026-0042"},
		"note":             {"first invoice"},
		"customFields.key": {"plan"}, "customFields.value": {"gold"},
		"userKyc.fullName": {"Ada Lovelace"}, "userKyc.mobilePhone": {"+44 20 7946 0958"},
		"successUrl": {"https://shop.example/thanks"}, "supportUrl": {"https://shop.example/help"},
		"exitUrl": {"https://shop.example/cart"}, "errorUrl": {"https://shop.example/oops"},
	}
}

// newLinkForm GETs the form and returns its token fields merged into form.
func (b *browser) fillLinkForm(form url.Values) url.Values {
	b.t.Helper()
	p := b.get("/links/new")
	if p.status() != http.StatusOK {
		b.t.Fatalf("GET /links/new: %d", p.status())
	}
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	for _, name := range []string{"_csrf", "form_token"} {
		v, _ := p.find(`input[name="` + name + `"]`).Attr("value")
		out.Set(name, v)
	}
	return out
}

func financeBrowser(t *testing.T, e *env) *browser {
	e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("fin@example.com")
	return b
}

func linkIDFrom(t *testing.T, location string) int64 {
	t.Helper()
	var id int64
	if _, err := fmtSscanf(location, "/links/%d", &id); err != nil {
		t.Fatalf("location %q is not a link page", location)
	}
	return id
}

func TestCreateLinkEndToEnd(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	p := b.post("/links", b.fillLinkForm(validLink()))
	if p.status() != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	id := linkIDFrom(t, p.location())
	page := b.get(p.location())
	if got := page.find("[data-testid=link-status]").First().Text(); got != "open" {
		t.Fatalf("status %q, want open; error: %s", got, page.find("[data-testid=link-error]").Text())
	}
	if got := page.find("[data-testid=link-amount]").Text(); got != "€9.50" {
		t.Errorf("amount %q, want €9.50", got)
	}
	checkout, _ := page.find("[data-testid=checkout-url]").Attr("value")
	if !strings.HasPrefix(checkout, e.sandbox.URL()+"/checkout/") {
		t.Errorf("checkout URL %q not on the sandbox", checkout)
	}
	if page.find("[data-testid=qr]").Length() != 1 || page.find("[data-testid=copy-url]").Length() != 1 {
		t.Error("QR code or copy button missing")
	}
	qrSrc, _ := page.find("[data-testid=qr]").Attr("src")
	if qr := b.get(qrSrc); qr.status() != http.StatusOK || !strings.HasPrefix(qr.body, "\x89PNG") {
		t.Errorf("QR image: %d", qr.status())
	}
	if n := page.find("[data-testid=timeline-entry]").Length(); n < 2 {
		t.Errorf("timeline has %d entries, want created and answered", n)
	}
	l, err := e.store.LinkByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if l.AmountMinor != 950 || l.Currency != "EUR" || l.CustomFields["plan"] != "gold" || l.KYC["fullName"] != "Ada Lovelace" {
		t.Errorf("stored link %+v", l)
	}
	sessions := e.sandbox.Sessions()
	if len(sessions) != 1 || sessions[0].IdempotencyKey != l.IdempotencyKey || sessions[0].Reference != l.SMReference {
		t.Fatalf("sandbox sessions %+v, want one with key %s", sessions, l.IdempotencyKey)
	}
	if sessions[0].Amount != "9.50" || sessions[0].WebsiteReference != "INV-2026-0042" {
		t.Errorf("sandbox got amount %q ref %q", sessions[0].Amount, sessions[0].WebsiteReference)
	}
	entries, _ := e.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "link.create", "link:"+itoa(int(id))) {
		t.Error("creation not audited")
	}
	// The list shows it and links to it.
	list := b.get("/links")
	if list.find("[data-testid=links-row]").Length() != 1 || !strings.Contains(list.body, "INV-2026-0042") {
		t.Errorf("list does not show the link")
	}
}

func hasAudit(entries []db.AuditEntry, action, target string) bool {
	for _, a := range entries {
		if a.Action == action && (target == "" || a.Target == target) {
			return true
		}
	}
	return false
}

func TestCreateLinkValidationKeepsEverything(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	cases := []struct {
		field, value, want string
	}{
		{"userId", "", "required"},
		{"userEmail", "ada@", "address"},
		{"userCountryCode", "ZZ", ""},
		{"amount", "10.555", "2 decimal places"},
		{"amount", "0.05", ""},
		{"amount", "eleven", "number"},
		{"amount", "11", ""},
		{"successUrl", "javascript:alert(1)", ""},
		{"exitUrl", "/relative", ""},
		{"userKyc.dateOfBirth", "1990-02-30", "YYYY-MM-DD"},
		{"userKyc.mobilePhone", "call me", "country code"},
		{"userKyc.citizenshipCountryCode", "XX", ""},
	}
	for _, c := range cases {
		t.Run(c.field+"="+c.value, func(t *testing.T) {
			form := validLink()
			form.Set(c.field, c.value)
			p := b.post("/links", b.fillLinkForm(form))
			if p.status() != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.status())
			}
			msg := p.find(`[data-testid=form-error][data-field="` + c.field + `"]`).Text()
			if msg == "" || !strings.Contains(msg, c.want) {
				t.Fatalf("message beside %s = %q, want one containing %q", c.field, msg, c.want)
			}
			// Everything typed is still there.
			for _, keep := range []string{"userId", "userEmail", "websiteReference", "userKyc.fullName", "userKyc.mobilePhone"} {
				if keep == c.field {
					continue
				}
				if v, _ := p.find(`input[name="` + keep + `"]`).Attr("value"); v != form.Get(keep) {
					t.Errorf("%s = %q after the error, want %q", keep, v, form.Get(keep))
				}
			}
			if v := p.find(`textarea[name="note"]`).Text(); v != "first invoice" {
				t.Errorf("note = %q", v)
			}
			if v, _ := p.find(`input[name="customFields.key"]`).First().Attr("value"); v != "plan" {
				t.Errorf("custom field lost: %q", v)
			}
			if _, open := p.find(`[data-testid=kyc-section]`).Attr("open"); !open {
				t.Error("KYC section collapsed although it holds values")
			}
		})
	}
	if n, _ := e.store.CountLinks(context.Background()); n != 0 {
		t.Fatalf("%d links created by invalid forms", n)
	}
	if len(e.sandbox.Sessions()) != 0 {
		t.Fatal("invalid forms reached StableMint")
	}
}

func TestAmountFormatsPeopleType(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	cases := []struct {
		amount, currency string
		minor            int64
	}{
		{"10", "EUR", 1000}, {"1,5", "EUR", 150}, {"0.10", "EUR", 10}, {"7", "JPY", 7},
		{"1.250", "KWD", 1250}, {"2,5", "KWD", 2500}, {" 3.005 ", "KWD", 3005},
	}
	for i, c := range cases {
		form := validLink()
		form.Set("amount", c.amount)
		form.Set("currency", c.currency)
		form.Set("websiteReference", "REF-"+itoa(i))
		p := b.post("/links", b.fillLinkForm(form))
		if p.status() != http.StatusSeeOther {
			t.Errorf("%s %s: status %d: %s", c.amount, c.currency, p.status(), p.find("[data-field=amount]").Text())
			continue
		}
		l, _ := e.store.LinkByID(context.Background(), linkIDFrom(t, p.location()))
		if l.AmountMinor != c.minor {
			t.Errorf("%s %s stored as %d minor units, want %d", c.amount, c.currency, l.AmountMinor, c.minor)
		}
	}
}

func TestCustomFieldRowsWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	form := b.fillLinkForm(validLink())
	form.Set("add_field", "1")
	p := b.post("/links", form)
	if p.status() != http.StatusOK || p.find(`input[name="customFields.key"]`).Length() != 2 {
		t.Fatalf("add row: %d, %d rows", p.status(), p.find(`input[name="customFields.key"]`).Length())
	}
	form.Del("add_field")
	form.Set("remove_field", "0")
	p = b.post("/links", form)
	if v, _ := p.find(`input[name="customFields.key"]`).First().Attr("value"); v == "plan" {
		t.Fatal("row 0 not removed")
	}
	if n, _ := e.store.CountLinks(context.Background()); n != 0 {
		t.Fatal("editing rows created a link")
	}
}

func TestDuplicateGuardAsksFirst(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	if p := b.post("/links", b.fillLinkForm(validLink())); p.status() != http.StatusSeeOther {
		t.Fatalf("first: %d", p.status())
	}
	form := b.fillLinkForm(validLink())
	p := b.post("/links", form)
	if p.status() != http.StatusConflict || p.find("[data-testid=duplicate-warning] a").Length() != 1 {
		t.Fatalf("duplicate: status %d", p.status())
	}
	if n, _ := e.store.CountLinks(context.Background()); n != 1 {
		t.Fatalf("%d links before confirming", n)
	}
	// The warning page keeps the values and carries the same form token.
	tok, _ := p.find(`input[name="form_token"]`).Attr("value")
	if tok != form.Get("form_token") {
		t.Error("form token changed across the warning")
	}
	form.Set("confirm_duplicate", "1")
	if p := b.post("/links", form); p.status() != http.StatusSeeOther {
		t.Fatalf("confirmed: %d", p.status())
	}
	if n, _ := e.store.CountLinks(context.Background()); n != 2 {
		t.Fatalf("%d links after confirming, want 2", n)
	}
}

func TestDoubleSubmitCreatesOneLink(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	form := b.fillLinkForm(validLink())
	var wg sync.WaitGroup
	locations := make([]string, 6)
	for i := range locations {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := b.post("/links", form)
			locations[i] = p.location() + " " + itoa(p.status())
		}(i)
	}
	wg.Wait()
	for _, l := range locations[1:] {
		if l != locations[0] || l == "" {
			t.Fatalf("submissions led to different places: %v", locations)
		}
	}
	if n, _ := e.store.CountLinks(context.Background()); n != 1 {
		t.Fatalf("%d links, want 1", n)
	}
	if n := len(e.sandbox.Sessions()); n != 1 {
		t.Fatalf("%d sandbox sessions, want 1", n)
	}
}

func TestStableMintDownThenRetrySameKey(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	e.sandbox.FailNextCreates(3, http.StatusServiceUnavailable) // every attempt of the first call
	p := b.post("/links", b.fillLinkForm(validLink()))
	if p.status() != http.StatusSeeOther {
		t.Fatalf("create: %d", p.status())
	}
	page := b.get(p.location())
	if s := page.find("[data-testid=link-status]").First().Text(); s != "error" {
		t.Fatalf("status %q, want error", s)
	}
	if msg := page.find("[data-testid=link-error]").Text(); !strings.Contains(msg, "StableMint had an error on its side (HTTP 503 Service Unavailable); paylinks tried 3 times.") {
		t.Errorf("error shown: %q", msg)
	}
	id := linkIDFrom(t, p.location())
	before, _ := e.store.LinkByID(context.Background(), id)
	if before.Attempts != 1 {
		t.Errorf("attempts after the create call %d, want 1 (counted when the link was created)", before.Attempts)
	}
	tok := b.csrf(p.location())
	r := b.post(p.location()+"/retry", url.Values{"_csrf": {tok}})
	if r.status() != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.status())
	}
	after, _ := e.store.LinkByID(context.Background(), id)
	if after.Status != paylink.StatusOpen || after.IdempotencyKey != before.IdempotencyKey || after.Attempts != 2 {
		t.Fatalf("after retry: status %s key %s (was %s), attempts %d (want 2)", after.Status, after.IdempotencyKey, before.IdempotencyKey, after.Attempts)
	}
	if n := len(e.sandbox.Sessions()); n != 1 {
		t.Fatalf("%d sandbox sessions, want 1", n)
	}
	timeline := b.get(p.location()).find("[data-testid=timeline-entry]")
	kinds := []string{}
	timeline.Each(func(_ int, s *goquerySelection) { k, _ := s.Attr("data-kind"); kinds = append(kinds, k) })
	if strings.Join(kinds, ",") != "created,error,retried,answered" {
		t.Errorf("timeline kinds %v", kinds)
	}
	entries, _ := e.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "link.retry", "") {
		t.Error("retry not audited")
	}
}

func TestRefusalIsShownAndNotRetried(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	e.sandbox.FailNextCreates(1, http.StatusBadRequest)
	p := b.post("/links", b.fillLinkForm(validLink()))
	page := b.get(p.location())
	if msg := page.find("[data-testid=link-error]").Text(); !strings.Contains(msg, "refused") || !strings.Contains(msg, "400") {
		t.Fatalf("refusal shown as %q", msg)
	}
}

func TestRecoveryAfterCrashCreatesExactlyOneSession(t *testing.T) {
	ctx := context.Background()
	for _, crashedAfterProvider := range []bool{false, true} {
		name := "crash before StableMint answered"
		if crashedAfterProvider {
			name = "crash after StableMint created the session"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.addUser("fin@example.com", paylink.RoleFinance)
			// The committed intent of a process that then died.
			l, _, err := e.store.CreateLink(ctx, db.NewLink{
				IdempotencyKey: "6f1c1f55-4b8c-4d7e-9a57-3b7d2f7f0a11", CustomerID: "C1", CustomerEmail: "c@example.com",
				Country: "FR", AmountMinor: 500, Currency: "EUR", SuccessURL: "https://x.example/s", SupportURL: "https://x.example/h",
				ExitURL: "https://x.example/e", ErrorURL: "https://x.example/r", CreatedBy: u.ID,
			}, db.AuditEntry{Action: "link.create"})
			if err != nil {
				t.Fatal(err)
			}
			if crashedAfterProvider {
				amt, _ := stablemint.NewAmount(500, "EUR")
				if _, err := e.client.CreateHostedSession(ctx, stablemint.Request{
					UserID: "C1", UserEmail: "c@example.com", UserCountryCode: "FR", Currency: "EUR", Amount: amt,
					SuccessURL: "https://x.example/s", SupportURL: "https://x.example/h", ExitURL: "https://x.example/e",
					ErrorURL: "https://x.example/r", IdempotencyKey: l.IdempotencyKey,
				}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := e.minter.Recover(ctx, e.clock.Now().Add(24*3600e9))
			if err != nil || n != 1 {
				t.Fatalf("recovered %d, err %v", n, err)
			}
			got, _ := e.store.LinkByID(ctx, l.ID)
			sessions := e.sandbox.Sessions()
			if got.Status != paylink.StatusOpen || len(sessions) != 1 || sessions[0].Reference != got.SMReference {
				t.Fatalf("link %s ref %s; sandbox %+v", got.Status, got.SMReference, sessions)
			}
			// A second recovery pass finds nothing to do.
			if n, _ := e.minter.Recover(ctx, e.clock.Now().Add(24*3600e9)); n != 0 {
				t.Fatalf("second pass recovered %d", n)
			}
		})
	}
}

func TestViewerCannotCreateLinks(t *testing.T) {
	e := newEnv(t)
	e.addUser("v@example.com", paylink.RoleViewer)
	b := e.browser()
	b.login("v@example.com")
	if p := b.get("/links/new"); p.status() != http.StatusForbidden {
		t.Fatalf("GET /links/new: %d", p.status())
	}
	list := b.get("/links")
	if list.status() != http.StatusOK || list.find("[data-testid=new-link]").Length() != 0 {
		t.Fatalf("viewer list: %d, New link button shown: %d", list.status(), list.find("[data-testid=new-link]").Length())
	}
	tok := b.csrf("/links")
	if p := b.post("/links", url.Values{"_csrf": {tok}}); p.status() != http.StatusForbidden {
		t.Fatalf("POST /links: %d", p.status())
	}
}

func TestKYCMaskedForViewers(t *testing.T) {
	e := newEnv(t)
	fin := financeBrowser(t, e)
	p := fin.post("/links", fin.fillLinkForm(validLink()))
	loc := p.location()
	if got := fin.get(loc).find("[data-testid=kyc]").Text(); !strings.Contains(got, "Ada Lovelace") {
		t.Fatalf("finance sees KYC %q", got)
	}
	e.addUser("v@example.com", paylink.RoleViewer)
	v := e.browser()
	v.login("v@example.com")
	page := v.get(loc)
	if got := page.find("[data-testid=kyc]").Text(); strings.Contains(got, "Lovelace") || strings.Contains(got, "7946") || !strings.Contains(got, "A•• L•••") {
		t.Fatalf("viewer sees KYC %q", got)
	}
	if page.find("[data-testid=retry]").Length() != 0 || page.find("[data-testid=reissue]").Length() != 0 {
		t.Error("viewer offered write actions")
	}
}

func TestReissueLinksBothWays(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	e.sandbox.FailNextCreates(1, http.StatusBadRequest)
	p := b.post("/links", b.fillLinkForm(validLink()))
	oldID := linkIDFrom(t, p.location())
	page := b.get(p.location())
	href, ok := page.find("[data-testid=reissue]").Attr("href")
	if !ok {
		t.Fatal("no re-issue button on an errored link")
	}
	form := b.get(href)
	if v, _ := form.find(`input[name="websiteReference"]`).Attr("value"); v != "INV-2026-0042" {
		t.Fatalf("re-issue form not prefilled: %q", v)
	}
	if v, _ := form.find(`input[name="amount"]`).Attr("value"); v != "9.50" {
		t.Fatalf("amount prefilled as %q", v)
	}
	values := url.Values{}
	form.find("input, textarea, select").Each(func(_ int, s *goquerySelection) {
		name, _ := s.Attr("name")
		if name == "" || s.Is("button") {
			return
		}
		switch {
		case s.Is("textarea"):
			values.Add(name, s.Text())
		case s.Is("select"):
			v, _ := s.Find("option[selected]").Attr("value")
			values.Add(name, v)
		default:
			v, _ := s.Attr("value")
			values.Add(name, v)
		}
	})
	r := b.post("/links", values)
	if r.status() != http.StatusSeeOther {
		t.Fatalf("re-issue create: %d %s", r.status(), r.find("[data-testid=form-error]").Text())
	}
	newID := linkIDFrom(t, r.location())
	nl, _ := e.store.LinkByID(context.Background(), newID)
	ol, _ := e.store.LinkByID(context.Background(), oldID)
	if nl.ReissueOf != oldID || ol.ReissuedAs != newID || nl.IdempotencyKey == ol.IdempotencyKey {
		t.Fatalf("new.ReissueOf=%d old.ReissuedAs=%d keys %s/%s", nl.ReissueOf, ol.ReissuedAs, nl.IdempotencyKey, ol.IdempotencyKey)
	}
	if a, _ := b.get(p.location()).find("[data-testid=reissued-as]").Attr("href"); a != r.location() {
		t.Errorf("old link does not point at the new one: %q", a)
	}
	entries, _ := e.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "link.reissue", "") {
		t.Error("re-issue not audited")
	}
}

func TestSettingsPrefillTheForm(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@example.com")
	bad := b.submit("/admin/settings", "/admin/settings", url.Values{"successUrl": {"nope"}, "supportUrl": {"https://s.example/h"},
		"exitUrl": {"https://s.example/e"}, "errorUrl": {"https://s.example/r"}, "defaultCurrency": {"GBP"}, "minAmount": {"5"}, "maxAmount": {"1"}})
	if bad.status() != http.StatusUnprocessableEntity || bad.find(`[data-field="successUrl"]`).Length() != 1 || bad.find(`[data-field="maxAmount"]`).Length() != 1 {
		t.Fatalf("invalid settings: %d", bad.status())
	}
	ok := b.submit("/admin/settings", "/admin/settings", url.Values{"successUrl": {"https://s.example/thanks"}, "supportUrl": {"https://s.example/h"},
		"exitUrl": {"https://s.example/e"}, "errorUrl": {"https://s.example/r"}, "defaultCurrency": {"GBP"}, "defaultCountry": {"GB"}, "maxAmount": {"5"}})
	if ok.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", ok.status())
	}
	form := b.get("/links/new")
	if v, _ := form.find(`input[name="successUrl"]`).Attr("value"); v != "https://s.example/thanks" {
		t.Errorf("success URL prefilled as %q", v)
	}
	if v, _ := form.find(`select[name="currency"] option[selected]`).Attr("value"); v != "GBP" {
		t.Errorf("currency prefilled as %q", v)
	}
	if !strings.Contains(form.find("#amount-hint").Text(), "0.1 to 5") {
		t.Errorf("limits hint %q", form.find("#amount-hint").Text())
	}
	f := validLink()
	f.Set("amount", "6")
	if p := b.post("/links", b.fillLinkForm(f)); p.status() != http.StatusUnprocessableEntity {
		t.Errorf("amount above the admin maximum: %d", p.status())
	}
	entries, _ := e.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "settings.change", "settings") {
		t.Error("settings change not audited")
	}
}

func TestUnknownLinkIs404(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	for _, path := range []string{"/links/999", "/links/abc", "/links/-1", "/links/999/qr.png"} {
		if p := b.get(path); p.status() != http.StatusNotFound {
			t.Errorf("%s: %d", path, p.status())
		}
	}
}

// TestAmountMessagesSayWhatIsWrong: each refused amount gets the message
// for its own fault beside the field, and the typed value stays.
func TestAmountMessagesSayWhatIsWrong(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	for _, c := range []struct{ currency, amount, says string }{
		{"EUR", "5.", "Write digits after the decimal point"},
		{"EUR", "1 25", "group thousands by three digits"},
		{"EUR", "1.2.3", "Use one decimal point at most"},
		{"EUR", "12.5.3", "Use one decimal point at most"},
		{"EUR", "9.505", "EUR has 2 decimal places at most."},
		{"JPY", "10.5", "JPY has no minor unit: enter a whole number."},
		{"EUR", ".50", "Write a 0 before the decimal point"},
		{"EUR", "ten", "Enter the amount as a number"},
		{"EUR", "99999999999999999999", "The amount is too large."},
		{"KWD", "2,005", "2,005 is ambiguous in KWD, which has 3 decimal places: write 2005 for the whole number, or 2.005 with a point"},
		{"BHD", "1,250", "1,250 is ambiguous in BHD, which has 3 decimal places: write 1250 for the whole number, or 1.250 with a point"},
		{"KWD", "1 000,250", "write 1000250 for the whole number, or 1000.250 with a point"},
		{"KWD", ",250", "write 250 for the whole number, or 0.250 with a point"},
		{"JPY", "10.", "JPY has no minor unit: enter a whole number."},
		{"JPY", ".5", "JPY has no minor unit: enter a whole number."},
		{"EUR", "10.5 0", "Write only digits after the decimal point"},
	} {
		t.Run(c.currency+" "+c.amount, func(t *testing.T) {
			form := validLink()
			form.Set("currency", c.currency)
			form.Set("amount", c.amount)
			p := b.post("/links", b.fillLinkForm(form))
			msg := p.find(`[data-field="amount"]`).Text()
			if p.status() != http.StatusUnprocessableEntity || !strings.Contains(msg, c.says) {
				t.Fatalf("%d %q, want it to say %q", p.status(), msg, c.says)
			}
			if v, _ := p.find(`input[name="amount"]`).Attr("value"); v != c.amount {
				t.Errorf("typed amount not kept: %q", v)
			}
		})
	}
}

func TestCountryIsNeverChosenSilently(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	form := b.get("/links/new")
	if v, _ := form.find(`select[name="userCountryCode"] option[selected]`).Attr("value"); v != "" {
		t.Fatalf("a country is preselected without a default: %q", v)
	}
	f := validLink()
	f.Del("userCountryCode")
	p := b.post("/links", b.fillLinkForm(f))
	if p.status() != http.StatusUnprocessableEntity || p.find(`[data-field="userCountryCode"]`).Length() != 1 {
		t.Fatalf("missing country: %d", p.status())
	}
}

// TestLinkWithUnknownExpirySaysSo: StableMint may answer without an
// expiry; the link page says it is unknown rather than inventing one.
func TestLinkWithUnknownExpirySaysSo(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	ctx := context.Background()
	l, _, err := e.store.CreateLink(ctx, db.NewLink{IdempotencyKey: "k-unknown", CustomerID: "C1", CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: "INV-U",
		SuccessURL: "https://x.example/s", SupportURL: "https://x.example/h", ExitURL: "https://x.example/e",
		ErrorURL: "https://x.example/r", CreatedBy: u.ID}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CompleteLinkCreation(ctx, l.ID, "SM-U", "https://checkout.example/u", time.Time{}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links/" + strconv.FormatInt(l.ID, 10))
	if !strings.Contains(p.body, "Expires <strong>unknown</strong>") || !strings.Contains(p.body, "will not expire this link") {
		t.Fatalf("the link page does not say the expiry is unknown")
	}
}

// TestPerCurrencyLimits: admins bound each currency on its own; the form
// says the limits beside the amount and refuses what is outside them;
// a bad row keeps what was typed with a message beside the cell.
func TestPerCurrencyLimits(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	b := e.browser()
	b.login("admin@example.com")
	base := url.Values{"successUrl": {"https://s.example/thanks"}, "supportUrl": {"https://s.example/h"},
		"exitUrl": {"https://s.example/e"}, "errorUrl": {"https://s.example/r"}, "defaultCurrency": {"EUR"}}
	with := func(rows ...[3]string) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		for i, r := range rows {
			n := strconv.Itoa(i)
			v.Set("limitCurrency."+n, r[0])
			v.Set("limitMin."+n, r[1])
			v.Set("limitMax."+n, r[2])
		}
		return v
	}
	bad := b.submit("/admin/settings", "/admin/settings", with([3]string{"EUR", "1", "5"}, [3]string{"EUR", "", "9"}, [3]string{"", "2", ""}, [3]string{"USD", "9", "3"}))
	if bad.status() != http.StatusUnprocessableEntity {
		t.Fatalf("bad rows saved: %d", bad.status())
	}
	for field, says := range map[string]string{"limitCurrency.1": "has a row above", "limitCurrency.2": "Choose the currency",
		"limitMax.3": "must not be below"} {
		if got := bad.find(`[data-field="` + field + `"]`).Text(); !strings.Contains(got, says) {
			t.Errorf("%s: %q, want %q", field, got, says)
		}
	}
	if v, _ := bad.find(`input[name="limitMin.3"]`).Attr("value"); v != "9" {
		t.Errorf("typed minimum not kept: %q", v)
	}
	ok := b.submit("/admin/settings", "/admin/settings", with([3]string{"EUR", "1", "5"}, [3]string{"JPY", "2", "8"}))
	if ok.status() != http.StatusSeeOther {
		t.Fatalf("save: %d %s", ok.status(), ok.find("[data-field]").Text())
	}
	again := b.get("/admin/settings")
	if v, _ := again.find(`select[name="limitCurrency.1"] option[selected]`).Attr("value"); v != "JPY" {
		t.Errorf("saved rows not shown: %q", v)
	}
	hint := b.get("/links/new").find("#amount-hint").Text()
	if !strings.Contains(hint, "Allowed in EUR: 1 to 5") || !strings.Contains(hint, "JPY 2 to 8") {
		t.Errorf("amount hint %q does not give the limits", hint)
	}
	for _, c := range []struct {
		currency, amount string
		refused          bool
	}{{"EUR", "6", true}, {"EUR", "4", false}, {"JPY", "1", true}, {"JPY", "5", false}} {
		f := validLink()
		f.Set("currency", c.currency)
		f.Set("amount", c.amount)
		f.Set("websiteReference", "INV-"+c.currency+"-"+c.amount)
		p := b.post("/links", b.fillLinkForm(f))
		if refused := p.status() == http.StatusUnprocessableEntity; refused != c.refused {
			t.Errorf("%s %s: status %d, refused=%v want %v (%q)", c.amount, c.currency, p.status(), refused, c.refused, p.find(`[data-field="amount"]`).Text())
		}
	}
}

// TestAmountWithItsCurrencyAndTheErrorSummary: an amount may carry its
// currency's sign or code before or after it; one that contradicts the
// currency picked is refused naming both; a refused form lists its
// problems in form order, each linking to its field; and the first submit
// button of the form is Create, so Enter in any field creates the link.
func TestAmountWithItsCurrencyAndTheErrorSummary(t *testing.T) {
	e := newEnv(t)
	b := financeBrowser(t, e)
	form := b.get("/links/new")
	if id, _ := form.find(`form.link-form button[type=submit]`).First().Attr("data-testid"); id != "create-link-top" {
		t.Fatalf("the form's first submit button is %q: Enter would not create the link", id)
	}
	for i, amount := range []string{"€9.50", "9,50 €", "9.50 EUR", "EUR 9.50", "eur 9,50"} {
		f := validLink()
		f.Set("amount", amount)
		f.Set("websiteReference", "INV-SIGN-"+strconv.Itoa(i))
		if p := b.post("/links", b.fillLinkForm(f)); p.status() != http.StatusSeeOther {
			t.Errorf("%q: %d %q", amount, p.status(), p.find(`[data-field="amount"]`).Text())
		}
	}
	f := validLink()
	f.Set("amount", "$9.50")
	f.Set("userEmail", "not-an-email")
	p := b.post("/links", b.fillLinkForm(f))
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.find(`[data-field="amount"]`).Text(), "is written in $") ||
		!strings.Contains(p.find(`[data-field="amount"]`).Text(), "the currency chosen is EUR") {
		t.Fatalf("a dollar amount for EUR: %d %q", p.status(), p.find(`[data-field="amount"]`).Text())
	}
	var hrefs []string
	p.find(`[data-testid=form-errors-summary] a`).Each(func(_ int, s *goquery.Selection) {
		h, _ := s.Attr("href")
		hrefs = append(hrefs, h)
	})
	if strings.Join(hrefs, " ") != "#userEmail #amount" {
		t.Fatalf("summary links %v, want the email then the amount", hrefs)
	}
	if v, _ := p.find(`input[name="amount"]`).Attr("value"); v != "$9.50" {
		t.Errorf("typed amount not kept: %q", v)
	}
}

// TestFinishedLinksDoNotSellThemselves: only an open link offers its
// checkout (URL with Copy and Open, QR code, expiry); a link being paid,
// paid, failed or expired keeps the URL readable under Details only.
func TestFinishedLinksDoNotSellThemselves(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("fin@example.com")
	ctx := context.Background()
	for i, status := range []paylink.Status{paylink.StatusOpen, paylink.StatusProcessing, paylink.StatusPaid, paylink.StatusFailed, paylink.StatusExpired} {
		ref := "INV-FIN-" + strconv.Itoa(i)
		l, _, err := e.store.CreateLink(ctx, db.NewLink{IdempotencyKey: "k-" + ref, CustomerID: "C1", CustomerEmail: "ada@example.com",
			Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: ref,
			SuccessURL: "https://x.example/s", SupportURL: "https://x.example/h", ExitURL: "https://x.example/e",
			ErrorURL: "https://x.example/r", CreatedBy: u.ID}, db.AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CompleteLinkCreation(ctx, l.ID, "SM-"+ref, "https://checkout.example/"+ref, e.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if status != paylink.StatusOpen {
			setStatus(t, e, l.ID, status)
		}
		p := b.get("/links/" + strconv.FormatInt(l.ID, 10))
		offered := p.find("[data-testid=checkout]").Length() == 1 && p.find("[data-testid=qr]").Length() == 1
		if offered != (status == paylink.StatusOpen) {
			t.Errorf("%s link: checkout offered = %v", status, offered)
		}
		if status != paylink.StatusOpen && p.find("[data-testid=record-url]").Text() != "https://checkout.example/"+ref {
			t.Errorf("%s link: the URL is not kept under Details", status)
		}
	}
}
