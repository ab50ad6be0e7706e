package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// The crash test's outbound-webhook receiver: an endpoint on loopback,
// subscribed to every type, registered before the first start (the host
// allowed in the settings: serve runs in production mode here), verifying
// every delivery with the Standard Webhooks library.
type crashHooks struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []crashHook
	bad    []string
}

type crashHook struct {
	id, typ string
	link    int64
	body    string
}

func startCrashHooks(t *testing.T, dbPath string) *crashHooks {
	t.Helper()
	h := &crashHooks{secret: outbound.NewSecret()}
	wh, err := standardwebhooks.NewWebhook(h.secret)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			h.mu.Lock()
			h.bad = append(h.bad, err.Error())
			h.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Type string `json:"type"`
			Data struct {
				ID int64 `json:"id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		h.mu.Lock()
		h.got = append(h.got, crashHook{id: r.Header.Get("webhook-id"), typ: p.Type, link: p.Data.ID, body: string(body)})
		h.mu.Unlock()
		// A slow receiver (4 at once, 50 ms each: 80 a second) keeps
		// messages queued and in flight when serve is killed: some were
		// taken here but never recorded, and go again after the restart.
		time.Sleep(50 * time.Millisecond)
	}))
	t.Cleanup(h.srv.Close)
	ctx := context.Background()
	st, err := db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, _ := url.Parse(h.srv.URL)
	admin, err := st.UserByEmail(ctx, crashEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOutboundPrivateHosts(ctx, []string{u.Hostname()}, admin.ID, db.AuditEntry{Action: "settings.webhook_hosts"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateOutboundEndpoint(ctx, db.NewOutboundEndpoint{URL: h.srv.URL + "/hooks", Types: db.OutboundEventTypes,
		Secret: h.secret}, db.AuditEntry{Action: "webhook_endpoint.create"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitDelivered waits until no message is pending (those leased by the
// killed process wait out their lease first).
func (h *crashHooks) waitDelivered(t *testing.T, dbPath string, serve *crashProc) {
	t.Helper()
	r := openReader(t, dbPath)
	defer r.Close()
	deadline := time.Now().Add(outbound.DefaultLease + 60*time.Second)
	for {
		var n int
		if err := r.QueryRow("SELECT count(*) FROM outbound_messages WHERE status <> 'delivered'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbound webhooks still undelivered after the restart\nserve log:\n%s", n, serve.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check: every message paylinks stored reached the receiver (none lost),
// a repeat (sent again after the kill) carries the same webhook-id and
// body, nothing arrived that paylinks did not store, each link's messages
// first arrived in the order they were made, and each link's last event
// matches its final status.
func (h *crashHooks) check(t *testing.T, dbPath string) {
	t.Helper()
	r := openReader(t, dbPath)
	defer r.Close()
	rows, err := r.Query("SELECT msg_id, type, COALESCE(link_id, 0) FROM outbound_messages ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		id, typ string
		link    int64
	}
	var all []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.id, &s.typ, &s.link); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	rows.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Errorf("%d deliveries did not verify, first: %s", len(h.bad), h.bad[0])
	}
	first := map[string]int{}
	bodies := map[string]string{}
	repeats := 0
	for i, g := range h.got {
		if _, ok := first[g.id]; ok {
			repeats++
			if bodies[g.id] != g.body {
				t.Errorf("webhook %s was sent again with another body:\n%s\n%s", g.id, bodies[g.id], g.body)
			}
			continue
		}
		first[g.id], bodies[g.id] = i, g.body
	}
	lost := &limitedErrors{t: t, what: "outbound webhooks lost", limit: 5}
	byLink := map[int64][]stored{}
	ids := map[string]bool{}
	for _, s := range all {
		ids[s.id] = true
		if _, ok := first[s.id]; !ok {
			lost.add("%s %s (link %d) never reached the receiver", s.id, s.typ, s.link)
		}
		byLink[s.link] = append(byLink[s.link], s)
	}
	lost.done()
	for id := range first {
		if !ids[id] {
			t.Errorf("the receiver got %s, which paylinks never stored", id)
		}
	}
	order := &limitedErrors{t: t, what: "links whose webhooks arrived out of order", limit: 5}
	for link, ms := range byLink {
		if link == 0 {
			continue
		}
		pos := make([]int, len(ms))
		for i, m := range ms {
			pos[i] = first[m.id]
		}
		if !slices.IsSorted(pos) {
			var seq []string
			for _, m := range ms {
				seq = append(seq, fmt.Sprintf("%s@%d", m.typ, first[m.id]))
			}
			order.add("link %d: %v", link, seq)
		}
	}
	order.done()
	var finals []struct {
		id     int64
		status string
	}
	lrows, err := r.Query("SELECT id, status FROM links WHERE status NOT IN ('creating')")
	if err != nil {
		t.Fatal(err)
	}
	for lrows.Next() {
		var f struct {
			id     int64
			status string
		}
		if err := lrows.Scan(&f.id, &f.status); err != nil {
			t.Fatal(err)
		}
		finals = append(finals, f)
	}
	lrows.Close()
	missing := &limitedErrors{t: t, what: "links without the event of their final status", limit: 5}
	want := map[string]string{"open": "link.opened", "error": "link.needs_attention", "processing": "link.processing", "paid": "link.paid",
		"settled": "link.settled", "failed": "link.failed", "expired": "link.expired", "cancelled": "link.cancelled"}
	for _, f := range finals {
		found := false
		for _, m := range byLink[f.id] {
			found = found || m.typ == want[f.status]
		}
		if !found {
			missing.add("link %d is %s but no %s was stored", f.id, f.status, want[f.status])
		}
	}
	missing.done()
	t.Logf("outbound webhooks: %d stored, %d received, %d repeats after the kill (same webhook-id and body)", len(all), len(h.got), repeats)
}
