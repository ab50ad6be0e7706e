package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/importer"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// upload posts a file to /links/import as the upload form does.
func (b *browser) upload(name string, data []byte) page {
	b.t.Helper()
	tok := b.csrf("/links/import")
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", tok)
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+"/links/import", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

const monthEnd = "Customer,Customer email,Country,Currency,Total,Invoice,Send email\n" +
	"C-1,ann@example.com,DE,EUR,\"9,50\",INV-1,no\n" +
	"C-2,bob@example.com,FR,EUR,5,INV-2,yes\n" +
	"C-3,cy@example.com,XX,EUR,5,INV-3,no\n" +
	"C-1,ann@example.com,DE,EUR,\"9,50\",INV-1,no\n"

// TestImportUploadCheckConfirmMint walks a month-end file through the
// pages: upload, the check (bad rows first with the message in the cell,
// totals, the duplicate row), confirm, the import job, the progress page,
// the result download, the audit entry, the Links filter, and the same
// file uploaded again.
func TestImportUploadCheckConfirmMint(t *testing.T) {
	e := newEnv(t)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login(fin.Email)
	ctx := context.Background()

	// A link made with the form, which the batch filter leaves out.
	if p := b.submit("/links/new", "/links", validLink()); p.status() != http.StatusSeeOther {
		t.Fatalf("form link: %d", p.status())
	}
	up := b.upload("month-end.csv", []byte(monthEnd))
	if up.status() != http.StatusSeeOther || !strings.HasPrefix(up.location(), "/links/import/files/") {
		t.Fatalf("upload: %d %q, want 303 to the check", up.status(), up.location())
	}
	preview := b.get(up.location())
	if preview.status() != http.StatusOK {
		t.Fatalf("check: %d", preview.status())
	}
	rows := preview.find(`[data-testid="preview-row"]`)
	if rows.Length() != 4 {
		t.Fatalf("%d rows in the check, want 4", rows.Length())
	}
	first := rows.First()
	if line, _ := first.Attr("data-line"); line != "4" || !strings.Contains(first.Find(`[data-testid="cell-error"]`).Text(), "ISO 3166-1") {
		t.Errorf("first row %s: %q, want row 4 with the country's message in its cell", line, first.Find(`[data-testid="cell-error"]`).Text())
	}
	if d := preview.find(`[data-testid="duplicate"]`).Text(); !strings.Contains(d, "as row 2") {
		t.Errorf("duplicate note %q", d)
	}
	if tot := preview.find(`[data-testid="import-totals"]`).Text(); !strings.Contains(tot, "in 3 rows") {
		t.Errorf("totals %q", tot)
	}
	if btn := strings.TrimSpace(preview.find(`[data-testid="confirm"]`).Text()); btn != "Create 3 links" {
		t.Errorf("button %q", btn)
	}
	if n := len(e.sandbox.Sessions()); n != 1 {
		t.Fatalf("%d StableMint sessions before confirming, want the form link's one", n)
	}
	if n, _ := e.store.CountLinks(ctx); n != 1 {
		t.Fatalf("%d links before confirming, want the form's one", n)
	}

	action, _ := preview.find(`[data-testid="confirm-form"]`).Attr("action")
	tok, _ := preview.find(`[data-testid="confirm-form"] input[name="_csrf"]`).Attr("value")
	done := b.post(action, url.Values{"_csrf": {tok}, "dup.5": {"skip"}})
	if done.status() != http.StatusSeeOther || !strings.HasPrefix(done.location(), "/links/import/batches/") {
		t.Fatalf("confirm: %d %q", done.status(), done.location())
	}
	// A second confirmation (two tabs): the same batch, nothing more.
	again := b.post(action, url.Values{"_csrf": {tok}})
	if again.status() != http.StatusSeeOther || again.location() != done.location() {
		t.Errorf("second confirmation: %d %q, want 303 to the first batch %q", again.status(), again.location(), done.location())
	}
	if n, _ := e.store.CountLinks(ctx); n != 3 {
		t.Fatalf("%d links after confirming, want 1+2 (a bad row and a duplicate skipped)", n)
	}
	if err := e.app.Imports.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sandbox.Sessions()); n != 3 {
		t.Fatalf("%d sessions, want 1+2", n)
	}
	// Row 3 asked to email its customer once the link is made: queued
	// once through the outbox, never twice.
	if n, err := e.app.ImportEmails.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("import emails queued %d (err %v), want 1", n, err)
	}
	if n, err := e.app.ImportEmails.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("a second run queued %d (err %v), want none", n, err)
	}
	rowsNow, _ := e.store.ImportRows(ctx, 1)
	if ems, _ := e.store.LinkEmails(ctx, rowsNow[1].LinkID); len(ems) != 1 || ems[0].ToAddr != "bob@example.com" {
		t.Errorf("row 3's link emails: %+v", ems)
	}
	if ems, _ := e.store.LinkEmails(ctx, rowsNow[0].LinkID); len(ems) != 0 {
		t.Errorf("row 2 said no, yet %d emails", len(ems))
	}
	prog := b.get(done.location())
	for id, want := range map[string]string{"count-rows": "4", "count-minted": "2", "count-skipped": "2", "count-queued": "0", "count-failed": "0"} {
		if got := prog.find(`[data-testid="` + id + `"]`).Text(); got != want {
			t.Errorf("%s = %q, want %s", id, got, want)
		}
	}
	if s := prog.find(`[data-testid="import-state"]`).Text(); !strings.Contains(s, "Finished") {
		t.Errorf("state %q", s)
	}
	live := b.get(done.location() + "/live")
	v, _ := live.find("[data-live-version]").Attr("data-live-version")
	if live.status() != http.StatusOK || v == "" {
		t.Fatalf("live: %d version %q", live.status(), v)
	}
	if same := b.get(done.location() + "/live?v=" + url.QueryEscape(v)); same.status() != http.StatusNoContent {
		t.Errorf("live with the same version: %d, want 204", same.status())
	}

	res := b.get(done.location() + "/result.csv")
	if res.status() != http.StatusOK || !strings.Contains(res.resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("result: %d %q", res.status(), res.resp.Header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil || len(recs) != 5 {
		t.Fatalf("result rows %d err %v", len(recs), err)
	}
	head := recs[0]
	if !slices.Equal(head[len(head)-5:], []string{"linkId", "checkoutUrl", "stableMintReference", "status", "error"}) {
		t.Errorf("result header %q", head)
	}
	if r := recs[1]; r[len(r)-2] != "Link made" || !strings.HasPrefix(r[len(r)-4], "http") || r[len(r)-5] == "" {
		t.Errorf("row 2 in the result: %q", r)
	}
	if r := recs[3]; !strings.Contains(r[len(r)-1], "Country") {
		t.Errorf("row 4 in the result: %q, want its problem", r)
	}
	if x := b.get(done.location() + "/result.xlsx"); x.status() != http.StatusOK {
		t.Errorf("result.xlsx: %d", x.status())
	}

	page, err := e.store.SearchAudit(ctx, db.AuditQuery{Action: "import.create"})
	if err != nil || len(page.Entries) != 1 || !strings.Contains(page.Entries[0].Details, "month-end.csv") ||
		!strings.Contains(page.Entries[0].Details, "rows 4") {
		t.Errorf("audit %+v err %v", page.Entries, err)
	}
	rows2, _ := e.store.ImportRows(ctx, 1)
	tl, _ := e.store.LinkTimeline(ctx, rows2[0].LinkID)
	if len(tl) == 0 || !strings.Contains(tl[0].Message, "Created by import month-end.csv row 2") {
		t.Errorf("timeline %+v", tl)
	}

	list := b.get("/links?batch=1")
	if n := list.find(`[data-testid="links-row"]`).Length(); n != 2 {
		t.Errorf("links filtered by the batch: %d rows, want 2", n)
	}
	// The batch stays through a tab, a typed term and the search form, and
	// the page says the list is narrowed to it.
	if note := list.find(`[data-testid="batch-note"]`).Text(); !strings.Contains(note, "import #1") {
		t.Errorf("batch note: %q", note)
	}
	if v, _ := list.find(`[data-testid="search-form"] input[name="batch"]`).Attr("value"); v != "1" {
		t.Errorf("the search form does not carry the batch: %q", v)
	}
	tabs := list.find(`[data-testid="status-tabs"] a`)
	if tabs.Length() == 0 {
		t.Fatal("no status tabs found")
	}
	tabs.Each(func(_ int, a *goquerySelection) {
		if href, _ := a.Attr("href"); !strings.Contains(href, "batch=1") {
			t.Errorf("tab %q drops the batch: %s", a.Text(), href)
		}
	})

	// The same file again: a warning naming the first import.
	up2 := b.upload("month-end (1).csv", []byte(monthEnd))
	warn := b.get(up2.location()).find(`[data-testid="already-imported"]`)
	if warn.Length() != 1 || !strings.Contains(warn.Text(), "2 links made") {
		t.Errorf("already-imported warning: %q", warn.Text())
	}
}

func TestImportRefusesBadFilesBesideTheField(t *testing.T) {
	e := newEnv(t)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login(fin.Email)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":       {nil, "The file is empty."},
		"header only": {[]byte("userId,amount\n"), "no rows below it"},
		"a picture":   {[]byte("\x89PNG\r\n\x1a\n\x00\x00"), "neither CSV nor an Excel workbook"},
	} {
		t.Run(name, func(t *testing.T) {
			p := b.upload("x.csv", tc.data)
			if p.status() != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.status())
			}
			if msg := p.find(`[data-field="file"]`).Text(); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
	t.Run("over 10 MiB", func(t *testing.T) {
		p := b.upload("big.csv", bytes.Repeat([]byte("a"), importer.MaxBytes+1))
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.find(`[data-field="file"]`).Text(), "10 MiB") {
			t.Errorf("status %d, message %q", p.status(), p.find(`[data-field="file"]`).Text())
		}
	})
}

func TestImportIsForFinance(t *testing.T) {
	e := newEnv(t)
	v := e.addUser("viewer@example.com", paylink.RoleViewer)
	b := e.browser()
	b.login(v.Email)
	if p := b.get("/links/import"); p.status() != http.StatusForbidden {
		t.Errorf("viewer: %d, want 403", p.status())
	}
	anon := e.browser()
	if p := anon.get("/links/import"); p.status() != http.StatusSeeOther {
		t.Errorf("signed out: %d, want the login redirect", p.status())
	}
}

// TestImportAndFormGiveTheSameVerdicts runs the same values through the
// new-link form and through the import's check and wants the same
// problems, field by field, in the same words.
func TestImportAndFormGiveTheSameVerdicts(t *testing.T) {
	e := newEnv(t)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login(fin.Email)
	ctx := context.Background()
	cases := map[string]map[string]string{
		"good":                   {},
		"lower-case codes":       {"userCountryCode": "de", "currency": "eur"},
		"unknown country":        {"userCountryCode": "ZZ"},
		"unknown currency":       {"currency": "EUX"},
		"no amount":              {"amount": ""},
		"ambiguous in KWD":       {"currency": "KWD", "amount": "1,250"},
		"too many decimals":      {"amount": "10.505"},
		"negative":               {"amount": "-5"},
		"amount in another code": {"amount": "10 USD"},
		"bad email":              {"userEmail": "nope"},
		"no customer":            {"userId": ""},
		"future birth date":      {"userKyc.dateOfBirth": "2999-01-01"},
		"bad phone":              {"userKyc.mobilePhone": "12"},
		"long note":              {"note": strings.Repeat("n", links.MaxNoteLength+1)},
		"spaces around":          {"userId": "  C-9  ", "amount": " 12.00 "},
	}
	base := map[string]string{"userId": "CUST-42", "userEmail": "ada@example.com", "userCountryCode": "DE", "currency": "EUR",
		"amount": "9.50", "websiteReference": "INV-1", "note": "", "userKyc.dateOfBirth": "", "userKyc.mobilePhone": "",
		"successUrl": "https://shop.example/thanks", "supportUrl": "https://shop.example/help",
		"exitUrl": "https://shop.example/cart", "errorUrl": "https://shop.example/oops"}
	st, err := e.store.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			vals := map[string]string{}
			for k, v := range base {
				vals[k] = v
			}
			vals["websiteReference"] = "INV-" + strings.ReplaceAll(name, " ", "-")
			for k, v := range change {
				vals[k] = v
			}
			// The form.
			form := url.Values{}
			for k, v := range vals {
				form.Set(k, v)
			}
			p := b.submit("/links/new", "/links", form)
			formErrs := map[string]string{}
			p.find(`[data-testid="form-error"]`).Each(func(_ int, s *goquerySelection) {
				f, _ := s.Attr("data-field")
				formErrs[f] = strings.TrimSpace(s.Text())
			})
			// The import: the same values as one row of a file.
			var headers, row []string
			for k, v := range vals {
				headers, row = append(headers, k), append(row, v)
			}
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			_ = w.Write(headers)
			_ = w.Write(row)
			w.Flush()
			tb, err := importer.Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			res := importer.Check(tb, importer.AutoMap(tb.Headers), importer.Options{Now: e.clock.Now(),
				Limits: func(cur string) stablemint.Limits { return e.minter.Limits(st, cur) }})
			impErrs := map[string]string(res.Rows[0].Errors)
			if len(formErrs) != len(impErrs) {
				t.Fatalf("form %v\nimport %v", formErrs, impErrs)
			}
			for f, msg := range formErrs {
				if impErrs[f] != msg {
					t.Errorf("%s: form says %q, import says %q", f, msg, impErrs[f])
				}
			}
			if len(formErrs) == 0 && p.status() != http.StatusSeeOther {
				t.Errorf("the form refused a row the import accepts: %d", p.status())
			}
		})
	}
}

// TestImportActionsThroughThePages: Pause holds the batch (the job sends
// nothing), Resume lets it go on, Cancel the rest cancels what was not
// sent, each audited; an upload left a day is gone.
func TestImportActionsThroughThePages(t *testing.T) {
	e := newEnv(t)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login(fin.Email)
	ctx := context.Background()
	confirm := func(file string) string {
		up := b.upload("f.csv", []byte(file))
		preview := b.get(up.location())
		action, _ := preview.find(`[data-testid="confirm-form"]`).Attr("action")
		tok, _ := preview.find(`[data-testid="confirm-form"] input[name="_csrf"]`).Attr("value")
		done := b.post(action, url.Values{"_csrf": {tok}})
		if done.status() != http.StatusSeeOther {
			t.Fatalf("confirm: %d", done.status())
		}
		return done.location()
	}
	batch := confirm("userId,userEmail,userCountryCode,currency,amount,websiteReference\nA,a@example.com,DE,EUR,1,R-1\nB,b@example.com,DE,EUR,2,R-2\n")
	act := func(what string) {
		t.Helper()
		if p := b.submit(batch, batch+"/"+what, url.Values{}); p.status() != http.StatusSeeOther || p.location() != batch {
			t.Fatalf("%s: %d %q", what, p.status(), p.location())
		}
	}
	act("pause")
	if err := e.app.Imports.Run(ctx); err != nil || len(e.sandbox.Sessions()) != 0 {
		t.Fatalf("paused: err %v, %d sessions", err, len(e.sandbox.Sessions()))
	}
	if got := b.get(batch).find(`[data-testid="import-state"]`).Text(); !strings.Contains(got, "Paused") {
		t.Errorf("state %q", got)
	}
	act("resume")
	if err := e.app.Imports.Run(ctx); err != nil || len(e.sandbox.Sessions()) != 2 {
		t.Fatalf("resumed: err %v, %d sessions", err, len(e.sandbox.Sessions()))
	}

	batch = confirm("userId,userEmail,userCountryCode,currency,amount,websiteReference\nC,c@example.com,DE,EUR,3,R-3\n")
	act("cancel")
	p := b.get(batch)
	if got := p.find(`[data-testid="count-cancelled"]`).Text(); got != "1" {
		t.Errorf("cancelled count %q", got)
	}
	if err := e.app.Imports.Run(ctx); err != nil || len(e.sandbox.Sessions()) != 2 {
		t.Errorf("after cancel: err %v, %d sessions, want still 2", err, len(e.sandbox.Sessions()))
	}
	for _, action := range []string{"import.pause", "import.resume", "import.cancel"} {
		if page, err := e.store.SearchAudit(ctx, db.AuditQuery{Action: action}); err != nil || len(page.Entries) != 1 {
			t.Errorf("audit %s: %d entries, err %v", action, len(page.Entries), err)
		}
	}

	old := b.upload("old.csv", []byte("userId,amount\nA,1\n"))
	e.clock.Advance(db.ImportUploadMaxAge + time.Minute)
	b.login(fin.Email) // the session ended meanwhile
	b.upload("new.csv", []byte("userId,amount\nB,1\n"))
	if p := b.get(old.location()); p.status() != http.StatusNotFound {
		t.Errorf("a day-old upload: %d, want 404", p.status())
	}
}

// TestImportEmailsTakeTheSameBudgetAsSend: an import's customer emails
// come out of the confirming person's email budget (PAYLINKS_MAIL_RATE,
// 2 a minute here), the one their own Send takes from. Past it they wait,
// the progress page says so, and the person's own Send is refused as
// usual; once the minute has passed the rest go, each customer emailed
// exactly once and none left out.
func TestImportEmailsTakeTheSameBudgetAsSend(t *testing.T) {
	m := newMailEnv(t, true, func(c *app.Config, _ *app.Parts) { c.MailRatePerMinute = 2 })
	ctx := context.Background()
	file := "Customer,Customer email,Country,Currency,Total,Invoice,Send email\n" +
		"C-1,ann@example.com,DE,EUR,5,INV-E1,yes\n" +
		"C-2,bob@example.com,DE,EUR,5,INV-E2,yes\n" +
		"C-3,cy@example.com,DE,EUR,5,INV-E3,yes\n" +
		"C-4,di@example.com,DE,EUR,5,INV-E4,yes\n"
	up := m.b.upload("emails.csv", []byte(file))
	preview := m.b.get(up.location())
	action, _ := preview.find(`[data-testid="confirm-form"]`).Attr("action")
	tok, _ := preview.find(`[data-testid="confirm-form"] input[name="_csrf"]`).Attr("value")
	done := m.b.post(action, url.Values{"_csrf": {tok}})
	if done.status() != http.StatusSeeOther {
		t.Fatalf("confirm: %d", done.status())
	}
	if err := m.app.Imports.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := m.app.ImportEmails.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("first run queued %d (err %v), want the budget's 2", n, err)
	}
	if n, err := m.app.ImportEmails.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("a run in the same minute queued %d (err %v), want none", n, err)
	}
	prog := m.b.get(done.location())
	w := prog.find(`[data-testid="import-emails-waiting"]`).Text()
	if !strings.Contains(w, "2 customer emails wait for the sending limit") || !strings.Contains(w, "at most 2 customer emails a minute") {
		t.Errorf("progress page: %q, want it to say 2 emails wait for the limit", w)
	}
	// The same person's own Send takes from the same budget: refused.
	p := m.b.post(linkPath(m.link.ID)+"/email", m.b.composeForm(m.link.ID))
	if p.status() != http.StatusTooManyRequests {
		t.Errorf("the person's own Send after the import used their budget: %d, want 429", p.status())
	}
	if n := m.drain(t); n != 2 {
		t.Errorf("sent %d, want 2", n)
	}
	m.clock.Advance(time.Minute)
	if n, err := m.app.ImportEmails.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("after a minute queued %d (err %v), want the other 2", n, err)
	}
	if n, err := m.app.ImportEmails.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("then %d more (err %v), want none", n, err)
	}
	if n := m.drain(t); n != 2 {
		t.Errorf("sent %d, want 2", n)
	}
	b, _ := m.store.ImportBatchByUploadToken(ctx, strings.TrimPrefix(up.location(), "/links/import/files/"))
	rows, _ := m.store.ImportRows(ctx, b)
	for _, r := range rows {
		if ems := m.emails(t, r.LinkID); len(ems) != 1 {
			t.Errorf("row %d: %d emails, want exactly 1", r.Line, len(ems))
		}
	}
	prog = m.b.get(done.location())
	if prog.find(`[data-testid="import-emails-waiting"]`).Length() != 0 || prog.find(`[data-testid="count-emailed"]`).Text() != "4" {
		t.Errorf("progress page after: waiting %q, emailed %q; want none waiting, 4 emailed",
			prog.find(`[data-testid="import-emails-waiting"]`).Text(), prog.find(`[data-testid="count-emailed"]`).Text())
	}
}
