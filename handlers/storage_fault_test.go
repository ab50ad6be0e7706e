package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// TestDiskFullAtTheDesk: on a real disk that fills up, creating a link
// answers 503 saying nothing was saved, with every typed value kept and
// nothing sent to StableMint; readiness fails naming the fault; admins see
// a banner on every page. Once space returns, readiness recovers, the
// banner goes, and the same form creates the link once.
func TestDiskFullAtTheDesk(t *testing.T) {
	dir := testkit.SmallDisk(t, 16<<20)
	e := newEnvIn(t, dir)
	fin := financeBrowser(t, e)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	admin := e.browser()
	admin.login("admin@example.com")
	if p := fin.get("/readyz"); p.status() != http.StatusOK {
		t.Fatalf("readyz with room on the disk: %d %s", p.status(), p.body)
	}
	form := fin.fillLinkForm(validLink())
	sessionsBefore := len(e.sandbox.Sessions())

	free := testkit.FillDisk(t, dir)
	p := fin.post("/links", form)
	if p.status() != http.StatusServiceUnavailable || p.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("create on a full disk: %d (Retry-After %q)\n%s", p.status(), p.resp.Header.Get("Retry-After"), p.find("main").Text())
	}
	if msg := p.find("[data-testid=form-problem]").Text(); !strings.Contains(msg, "the disk is full") || !strings.Contains(msg, "Nothing was sent to StableMint") {
		t.Fatalf("the form does not say why nothing was saved: %q", msg)
	}
	if v, _ := p.find(`input[name="websiteReference"]`).Attr("value"); v != "INV-2026-0042" {
		t.Fatalf("the typed reference was lost: %q", v)
	}
	if n := len(e.sandbox.Sessions()); n != sessionsBefore {
		t.Fatalf("StableMint was asked for %d sessions while nothing could be saved", n-sessionsBefore)
	}
	if r := fin.get("/readyz"); r.status() != http.StatusServiceUnavailable || !strings.Contains(r.body, "the disk is full") {
		t.Fatalf("readyz on a full disk: %d %q", r.status(), r.body)
	}
	if b := admin.get("/links").find("[data-testid=storage-banner]").Text(); !strings.Contains(b, "the disk is full") {
		t.Fatalf("admins are not told: %q", b)
	}

	free()
	if r := fin.get("/readyz"); r.status() != http.StatusOK {
		t.Fatalf("readyz after space returned: %d %q", r.status(), r.body)
	}
	if admin.get("/links").find("[data-testid=storage-banner]").Length() != 0 {
		t.Fatal("the banner stays after writes succeed again")
	}
	done := fin.post("/links", form)
	if done.status() != http.StatusSeeOther {
		t.Fatalf("the same form once space returned: %d", done.status())
	}
	if n := len(e.sandbox.Sessions()); n != sessionsBefore+1 {
		t.Fatalf("%d StableMint sessions for one link", n-sessionsBefore)
	}
}

// fillAfterAnswer is a StableMint client that fills the disk once
// StableMint has answered, before paylinks saves the answer.
type fillAfterAnswer struct {
	links.HostedSessions
	fill func()
}

func (f fillAfterAnswer) CreateHostedSession(ctx context.Context, req stablemint.Request) (stablemint.Session, error) {
	s, err := f.HostedSessions.CreateHostedSession(ctx, req)
	f.fill()
	return s, err
}

// TestDiskFullBetweenStableMintsAnswerAndTheSave: the checkout exists at
// StableMint but the disk refuses to save it. The request says so on the
// link's page (not a silent "creating"), and the link opens by itself
// within seconds of space returning, with the one session StableMint made.
func TestDiskFullBetweenStableMintsAnswerAndTheSave(t *testing.T) {
	dir := testkit.SmallDisk(t, 16<<20)
	var free func()
	e := newEnvIn(t, dir, func(_ *app.Config, p *app.Parts) {
		p.StableMint = fillAfterAnswer{HostedSessions: p.StableMint, fill: func() { free = testkit.FillDisk(t, dir) }}
	})
	fin := financeBrowser(t, e)
	form := fin.fillLinkForm(validLink())
	created := fin.post("/links", form)
	if created.status() != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", created.status(), created.find("main").Text())
	}
	if free == nil {
		t.Fatal("StableMint was not asked")
	}
	page := fin.get(created.location())
	msg := page.find("[data-testid=actions-unsaved]").Text()
	sessions := e.sandbox.Sessions()
	if len(sessions) != 1 || !strings.Contains(msg, "StableMint created the checkout ("+sessions[0].Reference+")") ||
		!strings.Contains(msg, "the disk is full") || !strings.Contains(msg, "saved automatically") {
		t.Fatalf("the link page does not say the checkout exists but is not saved: %q", msg)
	}
	id := linkIDFrom(t, created.location())
	if l, _ := e.store.LinkByID(context.Background(), id); l.Status != paylink.StatusCreating {
		t.Fatalf("link is %s on a full disk", l.Status)
	}

	free()
	testkit.WaitFor(t, "the link to open once the disk has room", func() bool {
		l, err := e.store.LinkByID(context.Background(), id)
		return err == nil && l.Status == paylink.StatusOpen
	})
	l, _ := e.store.LinkByID(context.Background(), id)
	if l.SMReference != sessions[0].Reference || len(e.sandbox.Sessions()) != 1 {
		t.Fatalf("opened with %q; StableMint holds %d sessions", l.SMReference, len(e.sandbox.Sessions()))
	}
	if fin.get(created.location()).find("[data-testid=checkout-url]").Length() != 1 {
		t.Fatal("the opened link does not offer its checkout")
	}
}
