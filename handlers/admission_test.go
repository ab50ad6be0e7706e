package handlers_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
)

// heldCounts is the store with its counts held: each CountSearch says it
// started, then waits until released. Two of them fill the expensive
// class (two slots by default), deterministically.
type heldCounts struct {
	handlers.Store
	started chan struct{}
	release chan struct{}
}

func (h *heldCounts) CountSearch(ctx context.Context, q db.LinkQuery, upTo int) (int, error) {
	h.started <- struct{}{}
	<-h.release
	return h.Store.CountSearch(ctx, q, upTo)
}

// With the expensive class full (two deferred counts held inside the
// store), another expensive request is answered busy at once (a fragment
// in place for htmx, a 503 page with Retry-After otherwise), while cheap
// requests (the list's first page, a link page and its QR image, an exact
// reference, a webhook) are answered as usual. Once the counts finish, the same
// expensive request runs.
func TestExpensiveRequestsAreBusyWhileCheapOnesRun(t *testing.T) {
	held := &heldCounts{started: make(chan struct{}, 8), release: make(chan struct{})}
	w := newWebhookEnv(t, sandbox.FamilyV2, func(c *app.Config, _ *app.Parts) {
		c.Web = func(o *handlers.Options) { held.Store = o.Store; o.Store = held }
	})
	l := w.newLink(t, "INV-ADMIT-1")
	w.addUser("clerk@example.com", paylink.RoleViewer)
	b := w.browser()
	b.login("clerk@example.com")

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			p := b.get("/links/count?q=ada")
			if p.status() != http.StatusOK || p.find("[data-testid=total-count]").Text() != "1" {
				t.Errorf("a held count: status %d, body %q", p.status(), p.body)
			}
		})
	}
	<-held.started
	<-held.started // both slots taken

	htmx := func(path string) page {
		req, _ := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
		req.Header.Set("HX-Request", "true")
		return b.do(req)
	}
	t.Run("expensive requests are busy", func(t *testing.T) {
		p := htmx("/links/count?q=ada")
		if p.status() != http.StatusOK || p.find("[data-testid=total-count] [data-testid=busy]").Length() != 1 {
			t.Errorf("htmx total: status %d, want 200 with the busy total in place; body %q", p.status(), p.body)
		}
		if got, _ := p.find("[data-testid=total-count]").Attr("hx-get"); got != "/links/count?q=ada" {
			t.Errorf("the busy total asks again at %q, want /links/count?q=ada", got)
		}
		p = htmx("/links?q=ada&tab_counts=1")
		if p.status() != http.StatusOK || p.find("#tab-counts-loader[hx-swap-oob][data-testid=busy]").Length() != 1 {
			t.Errorf("htmx tab counts: status %d, body %q", p.status(), p.body)
		}
		// A substring search needs a slot too: it says so in the results.
		p = htmx("/links?q=lovelace")
		if p.status() != http.StatusOK || p.find("#results [data-testid=busy]").Length() != 1 {
			t.Errorf("htmx substring search: status %d, body %q", p.status(), p.body)
		}
		for _, path := range []string{"/links?q=ada&count=1", "/links/export.csv", "/links?q=lovelace"} {
			p = b.get(path)
			if p.status() != http.StatusServiceUnavailable || p.resp.Header.Get("Retry-After") == "" ||
				p.find("[data-testid=error-page] h1").Text() == "" {
				t.Errorf("GET %s: status %d, Retry-After %q; want 503 with Retry-After and a page saying busy",
					path, p.status(), p.resp.Header.Get("Retry-After"))
			}
		}
	})
	t.Run("cheap requests still run", func(t *testing.T) {
		if p := b.get("/links"); p.status() != http.StatusOK || p.find("[data-testid=links-row]").Length() != 1 {
			t.Errorf("the list: status %d, %d rows", p.status(), p.find("[data-testid=links-row]").Length())
		}
		if p := b.get("/links/" + strconv.FormatInt(l.ID, 10)); p.status() != http.StatusOK {
			t.Errorf("the link page: status %d", p.status())
		}
		if p := b.get("/links/" + strconv.FormatInt(l.ID, 10) + "/qr.png"); p.status() != http.StatusOK {
			t.Errorf("the link's QR image: status %d", p.status())
		}
		if p := b.get("/links?q=" + l.SMReference); p.status() != http.StatusSeeOther {
			t.Errorf("an exact reference: status %d, want 303 to the link", p.status())
		}
		_, sbk := testKeys(t)
		body := v2Body("evt-admission-1", "partner.customer.deposit.submitted", l, "9.50")
		resp, text := postWebhook(t, w.srv.URL, body, signed(t, sbk, time.Now(), body))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a webhook: status %d %s", resp.StatusCode, text)
		}
	})
	close(held.release)
	wg.Wait()
	if p := htmx("/links/count?q=ada"); p.find("[data-testid=busy]").Length() != 0 {
		t.Errorf("busy after the counts finished: %q", p.body)
	}
}
