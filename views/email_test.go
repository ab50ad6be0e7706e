package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/paylinks/paylinks/views"
)

func renderDoc(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, buf.String()
}

func TestLinkEmails(t *testing.T) {
	if _, html := renderDoc(t, views.LinkEmails("tok", nil)); html != "" {
		t.Fatalf("nil panel rendered %q", html)
	}
	p := &views.EmailPanel{
		ComposeURL:   "/links/7/email",
		LocalMailbox: true,
		Emails: []views.EmailRow{
			{ID: 3, State: views.EmailStateFailed, StateLabel: "failed", To: `"<b>Eve</b>" <eve@example.com>`, Subject: "<script>x</script>",
				Detail: "Failed: 550 5.1.1 no such user", ResendURL: "/links/7/emails/3/resend"},
			{ID: 2, State: views.EmailStateKept, StateLabel: "kept in the local mailbox", MailboxURL: "/admin/mailbox/2"},
			{ID: 1, State: views.EmailStateRetrying, StateLabel: "retrying", Detail: "Next attempt at 25 Nov 2026 09:05 UTC"},
		},
	}
	doc, html := renderDoc(t, views.LinkEmails("tok", p))
	if strings.Contains(html, "<script>") || strings.Contains(html, "<b>Eve") {
		t.Fatalf("values not escaped: %s", html)
	}
	if href, _ := doc.Find("[data-testid=email-compose]").Attr("href"); href != "/links/7/email" {
		t.Errorf("compose href %q", href)
	}
	if doc.Find("[data-testid=local-mailbox-notice]").Length() != 1 {
		t.Error("no local-mailbox notice")
	}
	rows := doc.Find("[data-testid=email-row]")
	if rows.Length() != 3 {
		t.Fatalf("%d rows", rows.Length())
	}
	failed := rows.Eq(0)
	if s, _ := failed.Attr("data-state"); s != "failed" || failed.Find("[data-testid=email-resend]").Length() != 1 ||
		failed.Find(`input[name=_csrf][value=tok]`).Length() != 1 || !strings.Contains(failed.Text(), "550 5.1.1") {
		t.Errorf("failed row: %s", failed.Text())
	}
	if rows.Eq(1).Find("[data-testid=email-resend]").Length() != 0 || rows.Eq(1).Find("[data-testid=email-mailbox]").Length() != 1 {
		t.Error("kept row offers resend or lacks its mailbox link")
	}
	if got := rows.Eq(2).Find("[data-testid=email-state]").Text(); got != "retrying" {
		t.Errorf("retrying badge %q", got)
	}

	// Without the right to send, only the reason shows.
	doc, _ = renderDoc(t, views.LinkEmails("tok", &views.EmailPanel{Unavailable: "This link is paid."}))
	if doc.Find("[data-testid=email-compose]").Length() != 0 || doc.Find("[data-testid=email-unavailable]").Text() != "This link is paid." {
		t.Error("unavailable panel")
	}
}

// TestEmailPreviewFrame: the HTML part is framed from its own address in a
// sandbox that grants nothing, never inlined into the page; the compose
// form carries the preview's digest, and a needed confirmation replaces
// Send with an explicit control.
func TestEmailPreviewFrame(t *testing.T) {
	prev := &views.EmailPreview{From: "Acme <a@acme.example>", To: "Zoë Ångström <z@example.com>", Subject: "Pay",
		Text: "Hello", HTML: `<p style="color:red">Hello <b>Zoë</b></p>`, HTMLURL: "/links/7/email/preview.html?to=z%40example.com"}
	p := views.EmailComposePage{LinkID: 7, LinkURL: "/links/7", Action: "/links/7/email", Values: map[string]string{"to": "z@example.com"},
		Preview: prev, Digest: "abc123"}
	doc, html := renderDoc(t, views.EmailCompose(p))
	frame := doc.Find("iframe[data-testid=preview-html]")
	if src, _ := frame.Attr("src"); src != prev.HTMLURL {
		t.Errorf("frame src %q", src)
	}
	if sb, ok := frame.Attr("sandbox"); !ok || sb != "" {
		t.Errorf("sandbox %q (present %v)", sb, ok)
	}
	if _, ok := frame.Attr("srcdoc"); ok || strings.Contains(html, `<p style="color:red">`) {
		t.Error("the email's HTML is inlined into the page")
	}
	if _, ok := frame.Attr("width"); ok {
		t.Error("frame has a width attribute")
	}
	if title, _ := frame.Attr("title"); title == "" {
		t.Error("frame has no title")
	}
	if d, _ := doc.Find("input[name=preview_digest]").Attr("value"); d != "abc123" {
		t.Errorf("digest %q", d)
	}
	if doc.Find("[data-testid=email-send]").Length() != 1 || doc.Find("[data-testid=email-confirm]").Length() != 0 {
		t.Error("plain compose: Send missing or a confirmation shown")
	}
	if strings.Contains(html, "{{") || strings.Contains(html, "PAYLINKS_") {
		t.Error("template syntax or a configuration name on the compose page")
	}

	p.Confirm = &views.EmailConfirm{Message: "Zoë was emailed about this link 2 hours ago by Ana (ana@example.com). Send again?", After: 41}
	doc, _ = renderDoc(t, views.EmailCompose(p))
	if doc.Find("[data-testid=email-send]").Length() != 0 {
		t.Error("Send is offered beside the confirmation")
	}
	c := doc.Find("form [data-testid=email-confirm]")
	if v, _ := c.Find("button[data-testid=email-confirm-send]").Attr("value"); v != "send-again" {
		t.Errorf("confirm button value %q", v)
	}
	if v, _ := c.Find("input[name=confirm_after]").Attr("value"); v != "41" {
		t.Errorf("confirm_after %q", v)
	}

	// An unsaved template draft is posted by the editor form into the
	// frame: never inlined either.
	doc, html = renderDoc(t, views.EmailTemplate(views.EmailTemplatePage{Preview: &views.EmailPreview{HTML: prev.HTML, DraftURL: "/admin/email-template/preview.html"}}))
	frame = doc.Find("iframe[data-testid=preview-html]")
	name, _ := frame.Attr("name")
	b := doc.Find("[data-testid=preview-draft-html]")
	if fa, _ := b.Attr("formaction"); fa != "/admin/email-template/preview.html" || attrOf(b, "formtarget") != name || name == "" ||
		attrOf(b, "form") != "template-form" || doc.Find("form#template-form").Length() != 1 {
		t.Errorf("draft button formaction %q formtarget %q form %q, frame name %q", fa, attrOf(b, "formtarget"), attrOf(b, "form"), name)
	}
	if _, ok := frame.Attr("srcdoc"); ok || strings.Contains(html, `<p style="color:red">`) {
		t.Error("the draft's HTML is inlined into the page")
	}
}

func attrOf(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}
