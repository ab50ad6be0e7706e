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
