package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/paylink"
)

const zoe = "Zoë Ångström"

// TestEmailPreviewFrameIsTheSentHTMLPart: the bytes the preview frame is
// served are byte for byte the HTML part the SMTP server receives (once
// decoded from quoted-printable), for a template with inline styles and a
// customer name that is not ASCII; the frame is sandboxed and its own
// policy lets the styles show and nothing run.
func TestEmailPreviewFrameIsTheSentHTMLPart(t *testing.T) {
	m := newMailEnv(t, false)
	l := m.openLink(t, "INV-ZOE", zoe)
	if !strings.Contains(mail.DefaultTemplate.HTML, `style="background:{{.AccentColor}};color:#ffffff`) {
		t.Fatal("the built-in template no longer has the inline-styled Pay button this test is about")
	}
	form := m.b.composeForm(l.ID)
	form.Set("message", "Merci, Zoë — à bientôt.")
	form.Set("action", "preview")
	p := m.b.post(linkPath(l.ID)+"/email", form)
	if p.status() != http.StatusOK {
		t.Fatalf("preview: %d %s", p.status(), p.find("[data-testid=form-error]").Text())
	}
	frame := p.find("iframe[data-testid=preview-html]")
	if frame.Length() != 1 {
		t.Fatal("no preview frame")
	}
	if sb, ok := frame.Attr("sandbox"); !ok || sb != "" {
		t.Errorf("frame sandbox=%q (present %v), want present and empty: no scripts, no same origin", sb, ok)
	}
	if title, _ := frame.Attr("title"); title == "" {
		t.Error("frame has no title")
	}
	if h, _ := frame.Attr("height"); h == "" {
		t.Error("frame has no height")
	}
	if _, ok := frame.Attr("width"); ok {
		t.Error("frame has a width attribute; the width belongs in CSS")
	}
	src, _ := frame.Attr("src")
	served := m.b.get(src)
	if served.status() != http.StatusOK || !strings.HasPrefix(served.resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("frame source: %d %q", served.status(), served.resp.Header.Get("Content-Type"))
	}
	csp := served.resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'self'", "sandbox"} {
		if !strings.Contains(csp, want) {
			t.Errorf("frame CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "allow-scripts") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("frame CSP %q lets something run", csp)
	}
	if xfo := served.resp.Header.Get("X-Frame-Options"); xfo != "SAMEORIGIN" {
		t.Errorf("frame X-Frame-Options %q", xfo)
	}
	if !strings.Contains(served.body, `style="background:#0b57d0`) || !strings.Contains(served.body, "Hello "+zoe+",") {
		t.Errorf("frame lacks the styled button or the name:\n%s", served.body)
	}
	// The page itself keeps its strict policy.
	if pc := p.resp.Header.Get("Content-Security-Policy"); !strings.Contains(pc, "style-src 'self'") || strings.Contains(pc, "unsafe-inline") {
		t.Errorf("page CSP changed: %q", pc)
	}

	form.Set("action", "send")
	form.Set("preview_digest", attr(p, `input[name=preview_digest]`, "value"))
	if s := m.b.post(linkPath(l.ID)+"/email", form); s.status() != http.StatusSeeOther {
		t.Fatalf("send: %d %s", s.status(), s.find("[data-field=form]").Text())
	}
	m.drain(t)
	got := m.smtp.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	r := readReceived(t, got[0].Data)
	if r.html != served.body {
		t.Fatalf("the HTML part sent differs from the preview:\nsent    %q\npreview %q", r.html, served.body)
	}
	if to, _ := r.header.AddressList("To"); len(to) != 1 || to[0].Name != zoe {
		t.Errorf("To on the wire %q", r.header.Get("To"))
	}
}

// relogin signs the finance user in again after the clock moved past the
// session's idle limit.
func (m *mailEnv) relogin() {
	m.b = m.browser()
	m.b.login("fin@example.com")
}

func attr(p page, sel, name string) string {
	v, _ := p.find(sel).Attr(name)
	return v
}

// TestEmailChangedAfterPreviewIsNotSent: Send with a field edited since the
// preview sends nothing, shows the new preview, asks again and keeps every
// typed value; the next Send sends exactly that.
func TestEmailChangedAfterPreviewIsNotSent(t *testing.T) {
	m := newMailEnv(t, false)
	for _, c := range []struct{ field, value string }{
		{"subject", "Edited subject, never previewed"},
		{"name", zoe},
		{"to", "zoe@example.com"},
		{"message", "A note typed after the preview."},
	} {
		t.Run(c.field, func(t *testing.T) {
			form := m.b.composeForm(m.link.ID)
			form.Set(c.field, c.value)
			p := m.b.post(linkPath(m.link.ID)+"/email", form)
			if p.status() != http.StatusConflict {
				t.Fatalf("send after an edit: %d, want 409", p.status())
			}
			if got := p.find("[data-field=form]").Text(); got != "You changed the message after the preview. Check the new preview, then send." {
				t.Errorf("message %q", got)
			}
			if n := len(m.emails(t, m.link.ID)); n != 0 {
				t.Fatalf("%d emails queued", n)
			}
			for _, k := range []string{"to", "name", "subject"} {
				if got := attr(p, `input[name="`+k+`"]`, "value"); got != form.Get(k) {
					t.Errorf("%s kept as %q, typed %q", k, got, form.Get(k))
				}
			}
			if got := p.find("textarea[name=message]").Text(); got != form.Get("message") {
				t.Errorf("note kept as %q, typed %q", got, form.Get("message"))
			}
			if c.field == "subject" && p.find("[data-testid=preview-subject]").Text() != c.value {
				t.Errorf("the new preview shows subject %q", p.find("[data-testid=preview-subject]").Text())
			}
			if c.field == "message" && !strings.Contains(p.find("[data-testid=preview-text]").Text(), c.value) {
				t.Error("the new preview lacks the new note")
			}
		})
	}
	// Sending what the last preview showed goes; a missing digest asks.
	form := m.b.composeForm(m.link.ID)
	form.Set("subject", "Edited subject, never previewed")
	p := m.b.post(linkPath(m.link.ID)+"/email", form)
	form.Set("preview_digest", attr(p, `input[name=preview_digest]`, "value"))
	if s := m.b.post(linkPath(m.link.ID)+"/email", form); s.status() != http.StatusSeeOther {
		t.Fatalf("send of the new preview: %d", s.status())
	}
	if e := m.emails(t, m.link.ID); len(e) != 1 || e[0].Subject != "Edited subject, never previewed" {
		t.Fatalf("queued %+v", e)
	}
	form = m.b.composeForm(m.link.ID)
	form.Del("preview_digest")
	if p := m.b.post(linkPath(m.link.ID)+"/email", form); p.status() != http.StatusConflict || p.find("[data-testid=preview-html]").Length() != 1 {
		t.Errorf("send without a preview: %d", p.status())
	}
}

// TestEmailAgainWithin24HoursAsksFirst: a second email about a link to the
// same customer within 24 hours says when and by whom, sends nothing until
// confirmed, then sends once (a double click included); after 24 hours it
// no longer asks.
func TestEmailAgainWithin24HoursAsksFirst(t *testing.T) {
	m := newMailEnv(t, false)
	l := m.openLink(t, "INV-ZOE", zoe)
	m.send(t, m.b, l.ID, nil)
	m.drain(t)
	m.clock.Advance(2 * time.Hour)
	m.relogin()

	form := m.b.composeForm(l.ID)
	ask := m.b.post(linkPath(l.ID)+"/email", form)
	if ask.status() != http.StatusConflict {
		t.Fatalf("second email: %d, want 409", ask.status())
	}
	want := zoe + " was emailed about this link 2 hours ago by Test finance (fin@example.com). Send again?"
	if got := ask.find("[data-testid=email-confirm-message]").Text(); got != want {
		t.Errorf("confirmation %q, want %q", got, want)
	}
	if ask.find("[data-testid=email-confirm-send]").Length() != 1 || ask.find("[data-testid=email-send]").Length() != 0 {
		t.Error("no explicit confirm control (or the plain Send is still offered)")
	}
	if n := len(m.emails(t, l.ID)); n != 1 {
		t.Fatalf("%d emails before confirming", n)
	}
	// Send again without the confirmation still asks.
	if p := m.b.post(linkPath(l.ID)+"/email", form); p.status() != http.StatusConflict || len(m.emails(t, l.ID)) != 1 {
		t.Fatalf("unconfirmed resubmit: %d", p.status())
	}
	form.Set("confirm_after", attr(ask, `input[name=confirm_after]`, "value"))
	form.Set("action", "send-again")
	for range 2 {
		if p := m.b.post(linkPath(l.ID)+"/email", form); p.status() != http.StatusSeeOther {
			t.Fatalf("confirmed send: %d %s", p.status(), p.find("[data-field=form]").Text())
		}
	}
	m.drain(t)
	if n := len(m.emails(t, l.ID)); n != 2 || len(m.smtp.Messages()) != 2 {
		t.Fatalf("%d emails, %d messages after confirming, want 2 and 2", n, len(m.smtp.Messages()))
	}
	// Another address is another customer; a day later nobody is asked.
	other := m.b.composeForm(l.ID)
	other.Set("to", "billing@zoe.example")
	p := m.b.post(linkPath(l.ID)+"/email", url.Values(other))
	other.Set("preview_digest", attr(p, `input[name=preview_digest]`, "value"))
	if s := m.b.post(linkPath(l.ID)+"/email", other); s.status() != http.StatusSeeOther {
		t.Fatalf("email to another address: %d", s.status())
	}
	m.clock.Advance(24*time.Hour + time.Minute)
	m.relogin()
	m.send(t, m.b, l.ID, nil)
}

// TestEmailResendWithin24HoursAsksFirst: resending a failed email while an
// earlier one to the customer went out in the last 24 hours asks first.
func TestEmailResendWithin24HoursAsksFirst(t *testing.T) {
	m := newMailEnv(t, false)
	l := m.openLink(t, "INV-ZOE", zoe)
	m.send(t, m.b, l.ID, nil)
	m.drain(t)
	m.smtp.RefuseRecipients(1, 550, "5.1.1 mailbox full")
	if p := m.sendAgain(t, m.b, l.ID); p.status() != http.StatusSeeOther {
		t.Fatalf("second email: %d", p.status())
	}
	m.drain(t)
	m.clock.Advance(3 * time.Hour)
	m.relogin()
	page := m.b.get(linkPath(l.ID))
	action := attr(page, `[data-testid=email-row][data-state=failed] form`, "action")
	if action == "" {
		t.Fatal("no resend form on the failed email")
	}
	tok := m.b.csrf(linkPath(l.ID))
	ask := m.b.post(action, url.Values{"_csrf": {tok}})
	want := zoe + " was emailed about this link 3 hours ago by Test finance (fin@example.com). Send again?"
	if ask.status() != http.StatusConflict || ask.find("[data-testid=email-confirm-message]").Text() != want {
		t.Fatalf("resend: %d %q", ask.status(), ask.find("[data-testid=email-confirm-message]").Text())
	}
	if n := len(m.emails(t, l.ID)); n != 2 {
		t.Fatalf("%d emails before confirming", n)
	}
	confirm := ask.find("[data-testid=email-confirm] form")
	vals := url.Values{}
	confirm.Find("input[type=hidden]").Each(func(_ int, s *goquerySelection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		vals.Set(n, v)
	})
	to, _ := confirm.Attr("action")
	for range 2 {
		if p := m.b.post(to, vals); p.status() != http.StatusSeeOther {
			t.Fatalf("confirmed resend: %d %v %s", p.status(), vals, p.body[:min(len(p.body), 300)])
		}
	}
	m.drain(t)
	if n := len(m.emails(t, l.ID)); n != 3 || len(m.smtp.Messages()) != 2 {
		t.Fatalf("%d emails, %d messages, want 3 rows and 2 delivered", n, len(m.smtp.Messages()))
	}
}

// TestEmailBatchSkipsCustomersEmailedWithin24Hours: the batch skips a link
// whose customer was emailed in the last 24 hours, names them in the
// result, and offers to email them again.
func TestEmailBatchSkipsCustomersEmailedWithin24Hours(t *testing.T) {
	m := newMailEnv(t, false)
	l := m.openLink(t, "INV-ZOE", zoe)
	second := m.openLink(t, "INV-2", "Bob")
	m.send(t, m.b, l.ID, nil)
	m.drain(t)
	m.clock.Advance(time.Hour)
	m.relogin()
	tok := m.b.csrf("/links")
	ids := []string{strconv.FormatInt(l.ID, 10), strconv.FormatInt(second.ID, 10)}
	p := m.b.post("/links/email", url.Values{"_csrf": {tok}, "ids": ids, "form_token": {"b1"}})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("batch: %d", p.status())
	}
	res := m.b.get(p.location())
	skipped := res.find(`[data-testid=batch-row][data-state=skipped]`)
	if skipped.Length() != 1 || !strings.Contains(skipped.Text(), zoe+" was emailed about this link 1 hour ago by Test finance (fin@example.com)") {
		t.Fatalf("skipped rows: %q", skipped.Text())
	}
	if n := len(m.emails(t, l.ID)); n != 1 {
		t.Fatalf("%d emails for the skipped link", n)
	}
	again := res.find("form[data-testid=batch-again]")
	vals := url.Values{}
	again.Find("input[type=hidden]").Each(func(_ int, s *goquerySelection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		vals.Add(n, v)
	})
	if strings.Join(vals["ids"], ",") != ids[0] || strings.Join(vals["confirm"], ",") != ids[0] {
		t.Fatalf("email-again form ids %v confirm %v", vals["ids"], vals["confirm"])
	}
	action, _ := again.Attr("action")
	for range 2 {
		if p := m.b.post(action, vals); p.status() != http.StatusSeeOther {
			t.Fatalf("email again: %d", p.status())
		}
	}
	if n := len(m.emails(t, l.ID)); n != 2 {
		t.Fatalf("%d emails after confirming, want 2", n)
	}
}

// TestEmailNamesShownDecoded: a name that is not ASCII is RFC 2047-encoded
// on the wire only; the preview, the link's email history, the timeline,
// the mailbox and its message page show it as typed.
func TestEmailNamesShownDecoded(t *testing.T) {
	m := newMailEnv(t, true)
	l := m.openLink(t, "INV-ZOE", zoe)
	p := m.b.get(linkPath(l.ID) + "/email")
	if got := p.find("[data-testid=preview-to]").Text(); got != zoe+" <ada@example.com>" {
		t.Errorf("preview To %q", got)
	}
	m.send(t, m.b, l.ID, nil)
	m.drain(t)
	e := m.emails(t, l.ID)[0]
	link := m.b.get(linkPath(l.ID))
	if got := link.find("[data-testid=email-row]").Text(); !strings.Contains(got, "to "+zoe+" <ada@example.com>") {
		t.Errorf("email history: %q", got)
	}
	for name, pg := range map[string]page{"compose": p, "link": link} {
		if strings.Contains(pg.body, "=?") {
			t.Errorf("%s page shows an encoded word", name)
		}
	}
	m.addUser("admin@example.com", paylink.RoleAdmin)
	a := m.browser()
	a.login("admin@example.com")
	box := a.get("/admin/mailbox")
	if got := box.find("[data-testid=mailbox-row]").Text(); !strings.Contains(got, zoe+" <ada@example.com>") || strings.Contains(got, "=?") {
		t.Errorf("mailbox row %q", got)
	}
	msg := a.get("/admin/mailbox/" + strconv.FormatInt(e.ID, 10))
	if got := msg.find("[data-testid=preview-to]").Text(); got != zoe+" <ada@example.com>" {
		t.Errorf("kept message To %q", got)
	}
	if !strings.Contains(msg.find("[data-testid=mailbox-raw]").Text(), "=?") {
		t.Error("the raw message is expected to keep the encoded header (it is the wire form)")
	}
	// The kept message's frame is the HTML part as it would have gone.
	frame := msg.find("iframe[data-testid=preview-html]")
	src, _ := frame.Attr("src")
	served := a.get(src)
	if served.status() != http.StatusOK || served.body != mail.HTMLPart(e.HTML) || !strings.Contains(served.resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("kept message frame: %d", served.status())
	}
}

// TestEmailPagesSpeakPlainly: finance users see neither configuration
// names nor template syntax on the compose page, the link's email panel or
// a batch.
func TestEmailPagesSpeakPlainly(t *testing.T) {
	m := newMailEnv(t, true)
	pages := map[string]string{
		"compose": m.b.get(linkPath(m.link.ID) + "/email").body,
		"link":    m.b.get(linkPath(m.link.ID)).body,
	}
	m.send(t, m.b, m.link.ID, nil)
	pages["queued"] = m.b.get(linkPath(m.link.ID)).body
	m.drain(t)
	pages["kept"] = m.b.get(linkPath(m.link.ID)).body
	pages["again"] = m.b.post(linkPath(m.link.ID)+"/email", m.b.composeForm(m.link.ID)).body
	for name, body := range pages {
		for _, bad := range []string{"PAYLINKS_", "{{", "SMTP"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s page shows %q", name, bad)
			}
		}
	}
}

// TestEmailTemplateEditorFrames: the editor shows the saved template's
// HTML part from its own address, and posts an unsaved draft into the
// frame; both under the frame's own policy, neither inlined.
func TestEmailTemplateEditorFrames(t *testing.T) {
	m := newMailEnv(t, false)
	m.addUser("admin@example.com", paylink.RoleAdmin)
	a := m.browser()
	a.login("admin@example.com")
	p := a.get("/admin/email-template")
	src := attr(p, "iframe[data-testid=preview-html]", "src")
	served := a.get(src)
	if served.status() != http.StatusOK || !strings.Contains(served.body, `style="background:#0b57d0`) ||
		!strings.Contains(served.resp.Header.Get("Content-Security-Policy"), "style-src 'unsafe-inline'") {
		t.Fatalf("saved template frame %q: %d", src, served.status())
	}
	if m.b.get(src).status() != http.StatusForbidden {
		t.Error("a finance user reads the template frame")
	}
	draft := url.Values{"_csrf": {a.csrf("/admin/email-template")}, "subject": {"Pay {{.Amount}}"}, "text": {"Hi {{.Link}}"},
		"html": {`<p style="color:#b00">Draft for {{.CustomerName}}</p>`}, "action": {"preview"}}
	pv := a.post("/admin/email-template", draft)
	btn := pv.find("[data-testid=preview-draft-html]")
	action, _ := btn.Attr("formaction")
	if pv.status() != http.StatusOK || action == "" || pv.find("iframe[data-testid=preview-html]").Length() != 1 {
		t.Fatalf("draft preview: %d, button %q", pv.status(), action)
	}
	d := a.post(action, draft)
	if d.status() != http.StatusOK || d.body != mail.HTMLPart(`<p style="color:#b00">Draft for Ada Lovelace</p>`) ||
		!strings.Contains(d.resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("draft frame: %d %q", d.status(), d.body)
	}
	if _, err := m.store.EmailTemplate(context.Background(), "payment_link"); err == nil {
		t.Error("showing a draft saved it")
	}
}
