package handlers_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/mail/smtptest"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
)

// mailEnv is the full router with a mail worker the test drives by hand
// (Drain), a real SMTP server on loopback unless local is set, a finance
// user and an open link.
type mailEnv struct {
	*env
	worker *outbox.Mailer
	smtp   *smtptest.Server
	sender *mail.SMTP
	fin    db.User
	b      *browser
	link   db.Link
}

const testLease = time.Minute

func newMailEnv(t *testing.T, local bool, opts ...envOption) *mailEnv {
	t.Helper()
	m := &mailEnv{}
	if !local {
		srv, err := smtptest.Start(smtptest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		m.smtp = srv
		if m.sender, err = mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText,
			Timeout: 5 * time.Second, HELO: "paylinks.test"}); err != nil {
			t.Fatal(err)
		}
	}
	opts = append([]envOption{func(c *app.Config, _ *app.Parts) {
		c.Mail = outbox.Config{Lease: testLease, Backoff: func(int) time.Duration { return time.Minute }}
		if m.sender != nil {
			c.Mail.Sender = m.sender
		}
		c.MailFrom = mail.Address{Name: "Acme Billing", Email: "billing@acme.example"}
		c.CompanyName = "Acme Ltd"
	}}, opts...)
	m.env = newEnv(t, opts...)
	m.worker = m.app.Mailer
	m.fin = m.addUser("fin@example.com", paylink.RoleFinance)
	m.b = m.browser()
	m.b.login("fin@example.com")
	m.link = m.openLink(t, "INV-2026-0042", `<script>alert("ref")</script>`)
	return m
}

// openLink commits an open link with a checkout URL, as StableMint's
// answer would leave it, without going through the sandbox.
func (m *mailEnv) openLink(t *testing.T, ref, fullName string) db.Link {
	t.Helper()
	return m.openLinkUntil(t, ref, fullName, m.clock.Now().Add(72*time.Hour))
}

func (m *mailEnv) openLinkUntil(t *testing.T, ref, fullName string, expires time.Time) db.Link {
	t.Helper()
	ctx := context.Background()
	l, _, err := m.store.CreateLink(ctx, db.NewLink{
		IdempotencyKey: "key-" + ref, CustomerID: "CUST-42", CustomerEmail: "ada@example.com", Country: "DE",
		AmountMinor: 950, Currency: "EUR", WebsiteReference: ref, KYC: map[string]string{"fullName": fullName},
		SuccessURL: "https://shop.example/s", SupportURL: "https://shop.example/h", ExitURL: "https://shop.example/e",
		ErrorURL: "https://shop.example/r", CreatedBy: m.fin.ID, AllowDuplicate: true,
	}, db.AuditEntry{Action: "link.create"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.store.CompleteLinkCreation(ctx, l.ID, "SM-"+ref, "https://checkout.example/c/"+ref, expires); err != nil {
		t.Fatal(err)
	}
	l, _ = m.store.LinkByID(ctx, l.ID)
	return l
}

func linkPath(id int64) string { return "/links/" + strconv.FormatInt(id, 10) }

// composeForm GETs the compose page and returns its fields.
func (b *browser) composeForm(linkID int64) url.Values {
	b.t.Helper()
	p := b.get(linkPath(linkID) + "/email")
	if p.status() != http.StatusOK {
		b.t.Fatalf("GET compose: %d", p.status())
	}
	form := url.Values{}
	p.find(`[data-testid=email-form] input[name]`).Each(func(_ int, s *goquerySelection) {
		name, _ := s.Attr("name")
		v, _ := s.Attr("value")
		form.Set(name, v)
	})
	form.Set("message", p.find(`textarea[name=message]`).Text())
	form.Set("action", "send")
	return form
}

// send posts a compose form and expects the redirect to the link.
func (m *mailEnv) send(t *testing.T, b *browser, linkID int64, edit func(url.Values)) {
	t.Helper()
	form := b.composeForm(linkID)
	if edit != nil {
		edit(form)
	}
	p := b.post(linkPath(linkID)+"/email", form)
	if p.status() != http.StatusSeeOther || p.location() != linkPath(linkID)+"#emails" {
		t.Fatalf("send: %d %q; errors: %s", p.status(), p.location(), p.find("[data-testid=form-error]").Text())
	}
}

// sendAgain posts a compose form for a customer emailed in the last 24
// hours: the first Send must ask (409, nothing queued), and the
// confirmation it shows sends.
func (m *mailEnv) sendAgain(t *testing.T, b *browser, linkID int64) page {
	t.Helper()
	before := len(m.emails(t, linkID))
	form := b.composeForm(linkID)
	ask := b.post(linkPath(linkID)+"/email", form)
	if ask.status() != http.StatusConflict || ask.find("[data-testid=email-confirm]").Length() != 1 {
		t.Fatalf("send to a customer emailed already: %d, no confirmation; form error %q", ask.status(), ask.find("[data-field=form]").Text())
	}
	if n := len(m.emails(t, linkID)); n != before {
		t.Fatalf("queued before the confirmation: %d emails, had %d", n, before)
	}
	after, _ := ask.find(`input[name=confirm_after]`).Attr("value")
	form.Set("confirm_after", after)
	form.Set("action", "send-again")
	return b.post(linkPath(linkID)+"/email", form)
}

func (m *mailEnv) drain(t *testing.T) int {
	t.Helper()
	n, err := m.worker.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (m *mailEnv) emails(t *testing.T, linkID int64) []db.Email {
	t.Helper()
	list, err := m.store.LinkEmails(context.Background(), linkID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// emailState reads the state of email id on the link page.
func emailState(t *testing.T, b *browser, linkID, id int64) (state, detail string) {
	t.Helper()
	row := b.get(linkPath(linkID)).find(`[data-testid=email-row][data-id="` + strconv.FormatInt(id, 10) + `"]`)
	if row.Length() != 1 {
		t.Fatalf("email #%d not on the link page", id)
	}
	state, _ = row.Find("[data-testid=email-state]").Attr("data-state")
	return state, row.Find("[data-testid=email-detail]").Text() + " | " + row.Find("[data-testid=email-state]").Text()
}

// received is a message the SMTP server got, read back as a client would.
type received struct {
	header     netmail.Header
	text, html string
	types      []string
}

func readReceived(t *testing.T, raw []byte) received {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := received{header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		ct := part.Header.Get("Content-Type")
		r.types = append(r.types, ct)
		if strings.HasPrefix(ct, "text/html") {
			r.html = string(body)
		} else {
			r.text = string(body)
		}
	}
	return r
}

func TestEmailComposePrefillsAndPreviewsExactly(t *testing.T) {
	m := newMailEnv(t, false)
	linkPage := m.b.get(linkPath(m.link.ID))
	if href, _ := linkPage.find("[data-testid=email-compose]").Attr("href"); href != linkPath(m.link.ID)+"/email" {
		t.Fatalf("compose button %q", href)
	}
	p := m.b.get(linkPath(m.link.ID) + "/email")
	if p.status() != http.StatusOK {
		t.Fatalf("compose: %d", p.status())
	}
	val := func(name string) string { v, _ := p.find(`input[name="` + name + `"]`).Attr("value"); return v }
	if val("to") != "ada@example.com" || val("name") != `<script>alert("ref")</script>` {
		t.Errorf("prefill to=%q name=%q", val("to"), val("name"))
	}
	wantSubject := `Your payment link from Acme Ltd: €9.50 (INV-2026-0042)`
	if val("subject") != wantSubject {
		t.Errorf("subject %q, want %q", val("subject"), wantSubject)
	}
	if got := p.find("[data-testid=preview-from]").Text(); got != `Acme Billing <billing@acme.example>` {
		t.Errorf("preview From %q", got)
	}
	if got := p.find("[data-testid=preview-subject]").Text(); got != wantSubject {
		t.Errorf("preview Subject %q", got)
	}
	text := p.find("[data-testid=preview-text]").Text()
	for _, want := range []string{"€9.50", "https://checkout.example/c/INV-2026-0042", "28 Nov 2026 09:00 UTC", "INV-2026-0042", "Acme Ltd"} {
		if !strings.Contains(text, want) {
			t.Errorf("text preview lacks %q:\n%s", want, text)
		}
	}
	frame := p.find("[data-testid=preview-html]")
	src, _ := frame.Attr("src")
	if !strings.HasPrefix(src, linkPath(m.link.ID)+"/email/preview.html?") {
		t.Fatalf("preview frame src %q", src)
	}
	if _, has := frame.Attr("srcdoc"); has {
		t.Error("the page inlines the email as srcdoc (under its own CSP, which strips the email's styles)")
	}
	html := m.b.get(src).body
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt;") || strings.Contains(html, "<script") {
		t.Errorf("HTML preview does not escape the name:\n%s", html)
	}
	if strings.Contains(p.body, `<script>alert("ref")`) {
		t.Error("the page itself carries the live script")
	}
	// Update preview re-renders with the edits, sends nothing.
	form := m.b.composeForm(m.link.ID)
	form.Set("action", "preview")
	form.Set("name", "Ada Lovelace")
	form.Set("message", "Thanks for the order!")
	pv := m.b.post(linkPath(m.link.ID)+"/email", form)
	if pv.status() != http.StatusOK || !strings.Contains(pv.find("[data-testid=preview-text]").Text(), "Hello Ada Lovelace,") ||
		!strings.Contains(pv.find("[data-testid=preview-text]").Text(), "Thanks for the order!") {
		t.Fatalf("update preview: %d\n%s", pv.status(), pv.find("[data-testid=preview-text]").Text())
	}
	if n := len(m.emails(t, m.link.ID)); n != 0 {
		t.Fatalf("preview queued %d emails", n)
	}
}

func TestEmailSentOverRealSMTP(t *testing.T) {
	m := newMailEnv(t, false)
	m.send(t, m.b, m.link.ID, nil)
	rows := m.emails(t, m.link.ID)
	if len(rows) != 1 || rows[0].Status != db.EmailQueued {
		t.Fatalf("rows %+v", rows)
	}
	if state, _ := emailState(t, m.b, m.link.ID, rows[0].ID); state != "queued" {
		t.Errorf("state before the worker ran: %q", state)
	}
	if n := m.drain(t); n != 1 {
		t.Fatalf("worker handled %d", n)
	}
	got := m.smtp.Messages()
	if len(got) != 1 || got[0].From != "billing@acme.example" || strings.Join(got[0].To, ",") != "ada@example.com" {
		t.Fatalf("server received %+v", got)
	}
	r := readReceived(t, got[0].Data)
	if r.header.Get("Message-Id") != "<"+rows[0].MessageID+">" || !strings.HasPrefix(rows[0].MessageID, "outbox-"+strconv.FormatInt(rows[0].ID, 10)+".") ||
		!strings.HasSuffix(rows[0].MessageID, "@acme.example") {
		t.Errorf("Message-ID %q, row %q", r.header.Get("Message-Id"), rows[0].MessageID)
	}
	if from, _ := r.header.AddressList("From"); len(from) != 1 || from[0].Name != "Acme Billing" || from[0].Address != "billing@acme.example" {
		t.Errorf("From %q", r.header.Get("From"))
	}
	if to, _ := r.header.AddressList("To"); len(to) != 1 || to[0].Address != "ada@example.com" || to[0].Name != `<script>alert("ref")</script>` {
		t.Errorf("To %q", r.header.Get("To"))
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(r.header.Get("Subject")); subj != "Your payment link from Acme Ltd: €9.50 (INV-2026-0042)" {
		t.Errorf("Subject %q", subj)
	}
	if d, err := r.header.Date(); err != nil || !d.Equal(m.clock.Now()) {
		t.Errorf("Date %q", r.header.Get("Date"))
	}
	if len(r.types) != 2 || !strings.HasPrefix(r.types[0], "text/plain") || !strings.HasPrefix(r.types[1], "text/html") {
		t.Errorf("parts %v", r.types)
	}
	if !strings.Contains(r.text, "https://checkout.example/c/INV-2026-0042") || !strings.Contains(r.html, `href="https://checkout.example/c/INV-2026-0042"`) {
		t.Errorf("the link is missing:\n%s\n%s", r.text, r.html)
	}
	if strings.Contains(r.html, "<script") || !strings.Contains(r.html, "&lt;script&gt;") {
		t.Errorf("HTML part does not escape the customer's name:\n%s", r.html)
	}
	state, detail := emailState(t, m.b, m.link.ID, rows[0].ID)
	if state != "sent" || !strings.Contains(detail, "OK") {
		t.Errorf("link page: %q %q", state, detail)
	}
	timeline := m.b.get(linkPath(m.link.ID)).find(`[data-testid=timeline-entry][data-kind=email]`).Text()
	if !strings.Contains(timeline, "queued to") || !strings.Contains(timeline, "sent to") || !strings.Contains(timeline, "Test finance") {
		t.Errorf("timeline: %s", timeline)
	}
	entries, _ := m.store.ListAudit(context.Background(), 20)
	if !hasAudit(entries, "email.queue", "link:"+strconv.FormatInt(m.link.ID, 10)) {
		t.Error("email not audited")
	}
	if n := m.drain(t); n != 0 || len(m.smtp.Messages()) != 1 {
		t.Fatalf("a second pass sent again: %d", n)
	}
}

func TestEmailServerDownThenUpIsDeliveredOnce(t *testing.T) {
	m := newMailEnv(t, false)
	m.smtp.Stop()
	m.send(t, m.b, m.link.ID, nil)
	m.drain(t)
	id := m.emails(t, m.link.ID)[0].ID
	state, detail := emailState(t, m.b, m.link.ID, id)
	if state != "retrying" || !strings.Contains(detail, "could not be reached") || !strings.Contains(detail, "Next attempt at 25 Nov 2026, 09:01 UTC") {
		t.Fatalf("while down: %q %q", state, detail)
	}
	if n := m.drain(t); n != 0 {
		t.Fatalf("retried before its time: %d", n)
	}
	if err := m.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	m.clock.Advance(time.Minute)
	if n := m.drain(t); n != 1 {
		t.Fatalf("after recovery the worker handled %d", n)
	}
	m.clock.Advance(time.Hour)
	m.drain(t)
	if got := m.smtp.Messages(); len(got) != 1 {
		t.Fatalf("%d messages after recovery, want exactly 1", len(got))
	}
	e, _ := m.store.EmailByID(context.Background(), id)
	if e.Status != db.EmailSent || e.Attempts != 2 {
		t.Fatalf("row %s after %d attempts", e.Status, e.Attempts)
	}
}

func TestEmail550FailsVisiblyAndCanBeResent(t *testing.T) {
	m := newMailEnv(t, false)
	m.smtp.RefuseRecipients(1, 550, "5.1.1 <ada@example.com>: no such user here")
	m.send(t, m.b, m.link.ID, nil)
	m.drain(t)
	failed := m.emails(t, m.link.ID)[0]
	if failed.Status != db.EmailFailed || failed.Attempts != 1 {
		t.Fatalf("after 550: %s, %d attempts", failed.Status, failed.Attempts)
	}
	page := m.b.get(linkPath(m.link.ID))
	row := page.find(`[data-testid=email-row][data-state=failed]`)
	if !strings.Contains(row.Text(), "550 5.1.1 <ada@example.com>: no such user here") || !strings.Contains(row.Text(), "refused the recipient") {
		t.Fatalf("failure shown as %q", row.Text())
	}
	action, ok := row.Find("form").Attr("action")
	if !ok || row.Find("[data-testid=email-resend]").Length() != 1 {
		t.Fatal("no resend button on the failed email")
	}
	tok := m.b.csrf(linkPath(m.link.ID))
	for range 2 { // a double click resends once
		if p := m.b.post(action, url.Values{"_csrf": {tok}}); p.status() != http.StatusSeeOther {
			t.Fatalf("resend: %d", p.status())
		}
	}
	rows := m.emails(t, m.link.ID)
	if len(rows) != 2 || rows[0].ResendOf != failed.ID || rows[0].MessageID == failed.MessageID {
		t.Fatalf("rows after resend %+v", rows)
	}
	m.drain(t)
	got := m.smtp.Messages()
	if len(got) != 1 || !strings.Contains(string(got[0].Data), rows[0].MessageID) {
		t.Fatalf("resend delivered %d messages", len(got))
	}
	if state, _ := emailState(t, m.b, m.link.ID, rows[0].ID); state != "sent" {
		t.Fatalf("resend state %q", state)
	}
	entries, _ := m.store.ListAudit(context.Background(), 20)
	if !hasAudit(entries, "email.resend", "") {
		t.Error("resend not audited")
	}
	if failedList, _ := m.store.FailedEmails(context.Background(), 10); len(failedList) != 0 {
		t.Errorf("the resent failure still needs attention: %+v", failedList)
	}
}

func TestEmail4xxIsRetriedThenDelivered(t *testing.T) {
	m := newMailEnv(t, false)
	m.smtp.RefuseRecipients(2, 451, "4.3.0 Mailbox temporarily unavailable")
	m.send(t, m.b, m.link.ID, nil)
	for i := range 2 {
		m.drain(t)
		e := m.emails(t, m.link.ID)[0]
		if e.Status != db.EmailQueued || !strings.Contains(e.LastError, "451 4.3.0") {
			t.Fatalf("after attempt %d: %s %q", i+1, e.Status, e.LastError)
		}
		m.clock.Advance(time.Minute)
	}
	m.drain(t)
	e := m.emails(t, m.link.ID)[0]
	if e.Status != db.EmailSent || e.Attempts != 3 || len(m.smtp.Messages()) != 1 {
		t.Fatalf("after the 4xx cleared: %s, %d attempts, %d messages", e.Status, e.Attempts, len(m.smtp.Messages()))
	}
	events := 0
	for _, ev := range m.b.get(linkPath(m.link.ID)).find(`[data-testid=timeline-entry][data-kind=email]`).Nodes {
		_ = ev
		events++
	}
	if events != 4 { // queued, two failed attempts, sent
		t.Errorf("%d email timeline entries, want 4", events)
	}
}

func TestEmailGivesUpAfterEightAttempts(t *testing.T) {
	m := newMailEnv(t, false)
	m.smtp.Stop()
	m.send(t, m.b, m.link.ID, nil)
	for range 8 {
		m.drain(t)
		m.clock.Advance(time.Minute)
	}
	e := m.emails(t, m.link.ID)[0]
	if e.Status != db.EmailFailed || e.Attempts != 8 || !strings.Contains(e.LastError, "gave up after 8 attempts") {
		t.Fatalf("after 8 attempts: %s %d %q", e.Status, e.Attempts, e.LastError)
	}
}

func TestEmailWorkerKilledMidSendIsRetriedWithTheSameMessageID(t *testing.T) {
	m := newMailEnv(t, false)
	m.send(t, m.b, m.link.ID, nil)
	ctx := context.Background()
	// A worker claims the row and the server takes the message; then the
	// process dies before it records anything.
	claimed, err := m.store.ClaimEmail(ctx, testLease, outbox.DefaultAttempts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.sender.Send(ctx, mail.Message{
		MessageID: claimed.MessageID, From: mail.Address{Name: claimed.FromName, Email: claimed.FromAddr},
		To: mail.Address{Name: claimed.ToName, Email: claimed.ToAddr}, Subject: claimed.Subject,
		Text: claimed.Text, HTML: claimed.HTML, Date: m.clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	if state, _ := emailState(t, m.b, m.link.ID, claimed.ID); state != "sending" {
		t.Fatalf("state during the lease: %q", state)
	}
	if n := m.drain(t); n != 0 {
		t.Fatalf("another worker took a leased row: %d", n)
	}
	m.clock.Advance(testLease + time.Second)
	if n := m.drain(t); n != 1 {
		t.Fatalf("after the lease expired the worker handled %d", n)
	}
	got := m.smtp.Messages()
	if len(got) != 2 {
		t.Fatalf("%d messages, want the original and one retry", len(got))
	}
	a, b := readReceived(t, got[0].Data).header.Get("Message-Id"), readReceived(t, got[1].Data).header.Get("Message-Id")
	if a != b || a != "<"+claimed.MessageID+">" {
		t.Fatalf("Message-IDs %q and %q, want both %q", a, b, claimed.MessageID)
	}
	e, _ := m.store.EmailByID(ctx, claimed.ID)
	if e.Status != db.EmailSent || e.Attempts != 2 {
		t.Fatalf("row %s after %d attempts", e.Status, e.Attempts)
	}
	// The dead worker's outcome, arriving late, changes nothing.
	if err := m.store.MarkEmailSent(ctx, claimed, "late"); err == nil {
		t.Fatal("a lost lease recorded an outcome")
	}
}

func TestEmailHeaderInjectionRefusedBesideTheField(t *testing.T) {
	m := newMailEnv(t, false)
	inject := "\r\nBcc: victim@example.com"
	cases := []struct{ field, value, want string }{
		{"to", "ada@example.com" + inject, "Line breaks are not allowed"},
		{"to", "ada@example.com\nBcc: victim@example.com", "Line breaks are not allowed"},
		{"to", "Ada <ada@example.com>", "one email address"},
		{"to", "ada@example.com, victim@example.com", "one email address"},
		{"name", "Ada" + inject, "Line breaks are not allowed in the name"},
		{"name", "Ada\rLovelace", "Line breaks are not allowed in the name"},
		{"subject", "Your link" + inject, "Line breaks are not allowed in the subject"},
		{"subject", "", "Enter a subject"},
	}
	for _, c := range cases {
		t.Run(c.field+"="+strconv.Quote(c.value), func(t *testing.T) {
			form := m.b.composeForm(m.link.ID)
			form.Set(c.field, c.value)
			p := m.b.post(linkPath(m.link.ID)+"/email", form)
			if p.status() != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.status())
			}
			msg := p.find(`[data-testid=form-error][data-field="` + c.field + `"]`).Text()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("message beside %s: %q, want %q", c.field, msg, c.want)
			}
			typed := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(c.value) // as HTML parsing normalises it
			if v, _ := p.find(`input[name="` + c.field + `"]`).Attr("value"); v != typed {
				t.Errorf("typed value not kept: %q", v)
			}
			if p.find("[data-testid=email-preview]").Length() != 0 {
				t.Error("a preview was shown for an invalid form")
			}
		})
	}
	if n := len(m.emails(t, m.link.ID)); n != 0 {
		t.Fatalf("%d emails queued by refused forms", n)
	}
}

func TestEmailDoubleSubmitQueuesOnce(t *testing.T) {
	m := newMailEnv(t, false)
	form := m.b.composeForm(m.link.ID)
	for range 3 {
		if p := m.b.post(linkPath(m.link.ID)+"/email", form); p.status() != http.StatusSeeOther {
			t.Fatalf("send: %d", p.status())
		}
	}
	if n := len(m.emails(t, m.link.ID)); n != 1 {
		t.Fatalf("%d emails for one form", n)
	}
}

func TestEmailTemplateChangedAfterPreviewAsksAgain(t *testing.T) {
	m := newMailEnv(t, false)
	form := m.b.composeForm(m.link.ID)
	err := m.store.SaveEmailTemplate(context.Background(), db.EmailTemplate{Name: db.EmailTemplateName,
		Subject: "Pay {{.Amount}}", Text: "New text {{.Link}}", HTML: "<p>New {{.Link}}</p>"}, m.fin.ID, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	p := m.b.post(linkPath(m.link.ID)+"/email", form)
	if p.status() != http.StatusConflict || !strings.Contains(p.find(`[data-field=form]`).Text(), "template changed") ||
		!strings.Contains(p.find("[data-testid=preview-text]").Text(), "New text") {
		t.Fatalf("status %d: %s", p.status(), p.find(`[data-field=form]`).Text())
	}
	v, _ := p.find(`input[name=template_version]`).Attr("value")
	form.Set("template_version", v)
	d, _ := p.find(`input[name=preview_digest]`).Attr("value")
	form.Set("preview_digest", d)
	if p := m.b.post(linkPath(m.link.ID)+"/email", form); p.status() != http.StatusSeeOther {
		t.Fatalf("second send: %d", p.status())
	}
	if e := m.emails(t, m.link.ID); len(e) != 1 || !strings.Contains(e[0].Text, "New text") {
		t.Fatalf("queued %+v", e)
	}
}

func TestEmailTemplateAdmin(t *testing.T) {
	m := newMailEnv(t, false)
	if p := m.b.get("/admin/email-template"); p.status() != http.StatusForbidden {
		t.Fatalf("finance GET template: %d", p.status())
	}
	m.addUser("admin@example.com", paylink.RoleAdmin)
	a := m.browser()
	a.login("admin@example.com")
	p := a.get("/admin/email-template")
	if p.status() != http.StatusOK || p.find("[data-testid=template-default]").Length() != 1 ||
		!strings.Contains(p.find("[data-testid=preview-text]").Text(), "Hello Ada Lovelace") ||
		!strings.Contains(p.find("[data-testid=placeholders]").Text(), "{{.Amount}}") {
		t.Fatalf("template page: %d", p.status())
	}
	if p.find(`nav a[href="/admin/email-template"]`).Length() != 1 || p.find(`nav a[href="/admin/mailbox"]`).Length() != 1 {
		t.Error("admin navigation lacks Email templates or Mailbox")
	}
	tok := a.csrf("/admin/email-template")
	base := url.Values{"_csrf": {tok}, "subject": {"Pay {{.Amount}} to {{.CompanyName}}"},
		"text": {"Hi {{.CustomerName}}\n{{.Link}}"}, "html": {"<p>Hi {{.CustomerName}}</p><a href=\"{{.Link}}\">pay</a>"}}
	bad := url.Values{}
	for k, v := range base {
		bad[k] = v
	}
	bad.Set("text", "Hi {{.CustomerNmae}}")
	bad.Set("action", "save")
	r := a.post("/admin/email-template", bad)
	if r.status() != http.StatusUnprocessableEntity || !strings.Contains(r.find(`[data-field=text]`).Text(), "unknown placeholder {{.CustomerNmae}}") {
		t.Fatalf("unknown placeholder: %d %q", r.status(), r.find(`[data-field=text]`).Text())
	}
	bad.Set("text", "{{.Link}}")
	bad.Set("subject", "{{printf \"%s\" .Amount}}")
	if r := a.post("/admin/email-template", bad); r.status() != http.StatusUnprocessableEntity || r.find(`[data-field=subject]`).Length() != 1 {
		t.Fatalf("function call accepted: %d", r.status())
	}
	if _, err := m.store.EmailTemplate(context.Background(), db.EmailTemplateName); err == nil {
		t.Fatal("an invalid template was saved")
	}
	prev := url.Values{}
	for k, v := range base {
		prev[k] = v
	}
	prev.Set("action", "preview")
	pv := a.post("/admin/email-template", prev)
	if pv.status() != http.StatusOK || pv.find("[data-testid=preview-subject]").Text() != "Pay €1,250.00 to Acme Ltd" {
		t.Fatalf("preview: %d %q", pv.status(), pv.find("[data-testid=preview-subject]").Text())
	}
	save := prev
	save.Set("action", "save")
	if s := a.post("/admin/email-template", save); s.status() != http.StatusSeeOther {
		t.Fatalf("save: %d", s.status())
	}
	entries, _ := m.store.ListAudit(context.Background(), 20)
	if !hasAudit(entries, "email.template.change", "email_template:payment_link") {
		t.Error("template change not audited")
	}
	form := m.b.composeForm(m.link.ID)
	if form.Get("subject") != "Pay €9.50 to Acme Ltd" {
		t.Errorf("compose uses subject %q", form.Get("subject"))
	}
}

func TestEmailKeptInLocalMailboxWithoutSMTP(t *testing.T) {
	m := newMailEnv(t, true)
	page := m.b.get(linkPath(m.link.ID))
	if page.find("[data-testid=local-mailbox-notice]").Length() != 1 {
		t.Error("link page does not say that emails are not sent")
	}
	form := m.b.composeForm(m.link.ID)
	p := m.b.post(linkPath(m.link.ID)+"/email", form)
	if p.status() != http.StatusSeeOther {
		t.Fatalf("send: %d", p.status())
	}
	m.drain(t)
	e := m.emails(t, m.link.ID)[0]
	if e.Status != db.EmailKept {
		t.Fatalf("status %s, want kept", e.Status)
	}
	link := m.b.get(linkPath(m.link.ID))
	if got := link.find("[data-testid=flash]").Text(); !strings.Contains(got, "kept in the local mailbox, not sent") {
		t.Errorf("flash %q", got)
	}
	row := link.find(`[data-testid=email-row]`)
	if s, _ := row.Attr("data-state"); s != "kept" || !strings.Contains(row.Text(), "kept in the local mailbox") || strings.Contains(row.Find("[data-testid=email-state]").Text(), "sent") {
		t.Fatalf("link shows %q: %s", s, row.Text())
	}
	if p := m.b.get("/admin/mailbox"); p.status() != http.StatusForbidden {
		t.Fatalf("finance GET mailbox: %d", p.status())
	}
	m.addUser("admin@example.com", paylink.RoleAdmin)
	a := m.browser()
	a.login("admin@example.com")
	box := a.get("/admin/mailbox")
	if box.status() != http.StatusOK || !strings.Contains(box.find("[data-testid=mailbox-banner]").Text(), "Not sent — kept in the local mailbox") ||
		box.find("[data-testid=mailbox-row]").Length() != 1 {
		t.Fatalf("mailbox: %d", box.status())
	}
	href, _ := box.find("[data-testid=mailbox-row] a").First().Attr("href")
	msg := a.get(href)
	raw := msg.find("[data-testid=mailbox-raw]").Text()
	if msg.status() != http.StatusOK || !strings.Contains(raw, "Message-ID: <"+e.MessageID+">") || !strings.Contains(raw, "multipart/alternative") ||
		!strings.Contains(msg.find("[data-testid=mailbox-banner]").Text(), "Not sent") {
		t.Fatalf("kept message: %d\n%s", msg.status(), raw)
	}
	if html, _ := msg.find("[data-testid=preview-html]").Attr("srcdoc"); strings.Contains(html, "<script") {
		t.Error("kept HTML carries a live script")
	}
}

func TestEmailBatchQueuesOnePerOpenLinkAndShowsProgress(t *testing.T) {
	m := newMailEnv(t, false)
	ctx := context.Background()
	second := m.openLink(t, "INV-2", "Bob")
	expired := m.openLinkUntil(t, "INV-3", "", m.clock.Now().Add(time.Minute))
	creating, _, err := m.store.CreateLink(ctx, db.NewLink{IdempotencyKey: "key-c", CustomerID: "C9", CustomerEmail: "c@example.com",
		Country: "DE", AmountMinor: 100, Currency: "EUR", SuccessURL: "https://s.example/s", SupportURL: "https://s.example/h",
		ExitURL: "https://s.example/e", ErrorURL: "https://s.example/r", CreatedBy: m.fin.ID}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// The third link's expiry passes: it stops being emailable.
	m.clock.Advance(2 * time.Minute)
	tok := m.b.csrf("/links")
	ids := []string{strconv.FormatInt(m.link.ID, 10), strconv.FormatInt(second.ID, 10), strconv.FormatInt(expired.ID, 10),
		strconv.FormatInt(creating.ID, 10), "99999", strconv.FormatInt(m.link.ID, 10)}
	p := m.b.post("/links/email", url.Values{"_csrf": {tok}, "ids": ids, "form_token": {"batch-1"}})
	if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/links/email/batches/") {
		t.Fatalf("batch: %d %q", p.status(), p.location())
	}
	// The same form again queues nothing more.
	if again := m.b.post("/links/email", url.Values{"_csrf": {tok}, "ids": ids, "form_token": {"batch-1"}}); again.location() != p.location() {
		t.Fatalf("resubmitted batch went to %q", again.location())
	}
	progress := m.b.get(p.location())
	if progress.status() != http.StatusOK || progress.resp.Header.Get("Refresh") != "3" {
		t.Fatalf("progress: %d, Refresh %q", progress.status(), progress.resp.Header.Get("Refresh"))
	}
	states := map[string]int{}
	progress.find("[data-testid=batch-row]").Each(func(_ int, s *goquerySelection) {
		st, _ := s.Attr("data-state")
		states[st]++
	})
	if states["queued"] != 2 || states["skipped"] != 3 || len(states) != 2 {
		t.Fatalf("batch rows by state: %v", states)
	}
	if !strings.Contains(progress.body, "expired on") || !strings.Contains(progress.body, "is still being created") || !strings.Contains(progress.body, "no such link") {
		t.Errorf("skip reasons missing:\n%s", progress.find("[data-testid=email-batch]").Text())
	}
	if n := m.drain(t); n != 2 {
		t.Fatalf("worker handled %d", n)
	}
	got := m.smtp.Messages()
	if len(got) != 2 {
		t.Fatalf("%d messages, want one per open link", len(got))
	}
	if !strings.Contains(string(got[0].Data), "INV-2026-0042") || !strings.Contains(string(got[1].Data), "checkout.example/c/INV-2") {
		t.Error("each link did not get its own message")
	}
	done := m.b.get(p.location())
	if done.resp.Header.Get("Refresh") != "" || done.find("[data-testid=batch-done]").Length() != 1 ||
		done.find(`[data-testid=batch-row][data-state=sent]`).Length() != 2 {
		t.Fatalf("finished batch still refreshing or not sent")
	}
	if m.b.post("/links/email", url.Values{"_csrf": {tok}}).location() != "/links" {
		t.Error("an empty selection does not go back to the list")
	}
}

func TestEmailForAPaidOrExpiredLinkIsNotSent(t *testing.T) {
	m := newMailEnv(t, false)
	m.send(t, m.b, m.link.ID, nil)
	m.clock.Advance(73 * time.Hour) // past the link's expiry, before the worker ran
	m.drain(t)
	m.b = m.browser() // the session has expired too
	m.b.login("fin@example.com")
	e := m.emails(t, m.link.ID)[0]
	if e.Status != db.EmailCancelled || !strings.Contains(e.LastError, "expired") || len(m.smtp.Messages()) != 0 {
		t.Fatalf("row %s %q, %d messages", e.Status, e.LastError, len(m.smtp.Messages()))
	}
	page := m.b.get(linkPath(m.link.ID))
	if page.find("[data-testid=email-compose]").Length() != 0 || !strings.Contains(page.find("[data-testid=email-unavailable]").Text(), "expired") {
		t.Error("an expired link still offers emailing")
	}
	if c := m.b.get(linkPath(m.link.ID) + "/email"); c.status() != http.StatusConflict || c.find("[data-testid=email-form]").Length() != 0 {
		t.Errorf("compose on an expired link: %d", c.status())
	}
}

func TestViewerCannotEmail(t *testing.T) {
	m := newMailEnv(t, false)
	m.addUser("v@example.com", paylink.RoleViewer)
	v := m.browser()
	v.login("v@example.com")
	page := v.get(linkPath(m.link.ID))
	if page.find("[data-testid=email-compose]").Length() != 0 || page.find("[data-testid=email-resend]").Length() != 0 {
		t.Error("viewer offered email actions")
	}
	tok := v.csrf(linkPath(m.link.ID))
	if p := v.get(linkPath(m.link.ID) + "/email"); p.status() != http.StatusForbidden {
		t.Errorf("GET compose: %d", p.status())
	}
	for _, path := range []string{linkPath(m.link.ID) + "/email", "/links/email", linkPath(m.link.ID) + "/emails/1/resend"} {
		form := url.Values{"_csrf": {tok}, "to": {"x@example.com"}, "subject": {"x"}, "action": {"send"}, "ids": {strconv.FormatInt(m.link.ID, 10)}}
		if p := v.post(path, form); p.status() != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", path, p.status())
		}
	}
	if n := len(m.emails(t, m.link.ID)); n != 0 {
		t.Fatalf("%d emails queued by a viewer", n)
	}
}

func TestEmailRateLimitPerUser(t *testing.T) {
	m := newMailEnv(t, true, func(c *app.Config, _ *app.Parts) { c.MailRatePerMinute = 2 })
	m.send(t, m.b, m.link.ID, nil)
	if p := m.sendAgain(t, m.b, m.link.ID); p.status() != http.StatusSeeOther {
		t.Fatalf("second email: %d", p.status())
	}
	p := m.sendAgain(t, m.b, m.link.ID)
	if p.status() != http.StatusTooManyRequests || !strings.Contains(p.find(`[data-field=form]`).Text(), "more than 2 emails a minute") {
		t.Fatalf("third email: %d %q", p.status(), p.find(`[data-field=form]`).Text())
	}
	tok := m.b.csrf("/links")
	id := strconv.FormatInt(m.link.ID, 10)
	if b := m.b.post("/links/email", url.Values{"_csrf": {tok}, "ids": {id}, "confirm": {id}}); b.status() != http.StatusTooManyRequests {
		t.Fatalf("batch over the limit: %d", b.status())
	}
	entries, _ := m.store.ListAudit(context.Background(), 50)
	if !hasAudit(entries, "email.rate_limited", "") {
		t.Error("refusal not audited")
	}
	// Another user has their own budget; the first gets theirs back in time.
	m.addUser("fin2@example.com", paylink.RoleFinance)
	other := m.browser()
	other.login("fin2@example.com")
	if p := m.sendAgain(t, other, m.link.ID); p.status() != http.StatusSeeOther {
		t.Fatalf("other user's email: %d", p.status())
	}
	m.clock.Advance(30 * time.Second)
	if p := m.sendAgain(t, m.b, m.link.ID); p.status() != http.StatusSeeOther {
		t.Fatalf("email after the wait: %d", p.status())
	}
	if n := len(m.emails(t, m.link.ID)); n != 4 {
		t.Fatalf("%d emails, want 4", n)
	}
}

// TestListTicksOpenLinksForBatchEmail: on the list, finance staff tick the
// open links and email them in one go; links that cannot be emailed have no
// box, viewers get no form, and a double submit queues one batch.
func TestListTicksOpenLinksForBatchEmail(t *testing.T) {
	m := newMailEnv(t, false)
	second := m.openLink(t, "INV-2", "Bob")
	expired := m.openLinkUntil(t, "INV-3", "", m.clock.Now().Add(time.Minute))
	m.clock.Advance(2 * time.Minute)

	list := m.b.get("/links")
	form := list.find("form[data-testid=batch-email]")
	if form.Length() != 1 {
		t.Fatalf("no batch email form on the list for finance")
	}
	var boxes []string
	form.Find("input[name=ids]").Each(func(_ int, s *goquerySelection) {
		v, _ := s.Attr("value")
		boxes = append(boxes, v)
	})
	want := []string{strconv.FormatInt(second.ID, 10), strconv.FormatInt(m.link.ID, 10)}
	if strings.Join(boxes, ",") != strings.Join(want, ",") {
		t.Fatalf("checkboxes for links %v, want the open ones %v (not expired link %d)", boxes, want, expired.ID)
	}
	if rows := list.find("[data-testid=links-row]").Length(); rows != 3 {
		t.Fatalf("%d rows, want all 3 links listed", rows)
	}
	// Submit the form as the browser would, with both boxes ticked.
	vals := url.Values{"ids": boxes}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquerySelection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		vals.Set(n, v)
	})
	action, _ := form.Attr("action")
	first := m.b.post(action, vals)
	if first.status() != http.StatusSeeOther || !strings.HasPrefix(first.location(), "/links/email/batches/") {
		t.Fatalf("batch: %d %q", first.status(), first.location())
	}
	if again := m.b.post(action, vals); again.location() != first.location() {
		t.Fatalf("double submit made a second batch: %q then %q", first.location(), again.location())
	}
	if n := m.drain(t); n != 2 {
		t.Fatalf("worker sent %d emails, want 2", n)
	}
	if got := len(m.smtp.Messages()); got != 2 {
		t.Fatalf("%d messages, want one per ticked link", got)
	}

	m.addUser("viewer@example.com", paylink.RoleViewer)
	v := m.browser()
	v.login("viewer@example.com")
	vl := v.get("/links")
	if vl.find("form[data-testid=batch-email]").Length() != 0 || vl.find("input[name=ids]").Length() != 0 {
		t.Fatal("a viewer sees the batch email form")
	}
}
