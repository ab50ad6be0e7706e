package views_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/views"
)

func TestAuditRowsAreInertAndMarked(t *testing.T) {
	xss := `"><script>alert(1)</script><img src=x onerror=alert(1)>`
	p := views.AuditPage{
		Layout: views.Layout{Title: "Audit log", User: &views.Viewer{Name: "Ada", Role: "admin"}, Active: "audit",
			Nav: views.Nav{Audit: "/admin/audit"}},
		Action: "/admin/audit", ExportURL: "/admin/audit/export.csv?action=login", NextURL: "/admin/audit?after=5",
		Filter: views.AuditFilter{Actor: xss, Errors: views.FieldErrors{"from": "Use a date like 2026-11-25."}},
		Rows: []views.AuditRow{
			{ID: 6, At: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), Actor: xss, ActorID: 3, Action: "user.role",
				Target: xss, Outcome: "denied", Details: xss, IP: "192.0.2.1", RequestID: "req-1", Hash: "abcdef012345"},
			{ID: 5, Actor: "system", Action: "webhook.rejected", Outcome: "denied"},
		},
	}
	doc, html := renderDoc(t, views.Audit(p))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img src=x") {
		t.Fatal("input rendered as markup")
	}
	rows := doc.Find("[data-testid=audit-row]")
	if rows.Length() != 2 {
		t.Fatalf("%d rows, want 2", rows.Length())
	}
	if id, _ := rows.First().Attr("data-id"); id != "6" {
		t.Errorf("first row id %q", id)
	}
	if got := rows.First().Find("time").AttrOr("datetime", ""); got != "2026-11-25T09:00:00Z" {
		t.Errorf("datetime %q", got)
	}
	if rows.First().Find("[data-testid=audit-outcome]").Text() != "denied" {
		t.Error("outcome missing")
	}
	if doc.Find(`[data-testid=audit-export]`).AttrOr("href", "") != "/admin/audit/export.csv?action=login" {
		t.Error("export link")
	}
	if doc.Find(`[data-testid=next-page]`).Length() != 1 || doc.Find(`[data-testid=prev-page]`).Length() != 0 {
		t.Error("pager")
	}
	if doc.Find(`[data-field="from"]`).Length() != 1 {
		t.Error("date error not beside its field")
	}
	if doc.Find(`nav a[href="/admin/audit"][aria-current=page]`).Length() != 1 {
		t.Error("Audit nav item missing for an admin")
	}
	p.Rows = nil
	if doc, _ := renderDoc(t, views.Audit(p)); doc.Find("[data-testid=audit-empty]").Length() != 1 {
		t.Error("no empty state")
	}
}
