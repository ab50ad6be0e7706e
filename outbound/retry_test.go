package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/paylink"
)

// The schedule: about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, then 24 h, each
// within ±20 %.
func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour,
		24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		for range 50 {
			got := outbound.DefaultBackoff(i + 1)
			if got < w-w/5 || got > w+w/5 {
				t.Fatalf("after attempt %d: wait %s, want %s ± 20 %%", i+1, got, w)
			}
		}
	}
}

// A failing receiver is tried again on the schedule, with the same
// webhook-id, until it answers 2xx; every attempt is in the log.
func TestRetriesKeepTheWebhookIDUntilDelivered(t *testing.T) {
	f := newFixture(t, t0)
	fails := 3
	rc := &receiver{}
	rc.status = func(received) int {
		if len(rc.got) <= fails { // called under no lock: the test's drains run one at a time
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep := f.endpoint(t, srv.URL, "link.created")
	f.link(t)
	w := f.worker(sandbox, outbound.Options{})

	steps := []time.Duration{0, 6 * time.Second, 36 * time.Second, 2*time.Minute + 24*time.Second}
	for i, step := range steps {
		f.clock.Advance(step)
		if n := drain(t, w); n != 1 {
			t.Fatalf("attempt %d: the worker made %d attempts", i+1, n)
		}
		// Before its time, nothing is sent again.
		if n := drain(t, w); n != 0 {
			t.Fatalf("after attempt %d: %d attempts before the next is due", i+1, n)
		}
	}
	got := rc.all()
	if len(got) != 4 {
		t.Fatalf("the receiver got %d requests", len(got))
	}
	for _, g := range got[1:] {
		if g.ID != got[0].ID || string(g.Body) != string(got[0].Body) {
			t.Errorf("a retry changed the message: %s %s, first %s %s", g.ID, g.Body, got[0].ID, got[0].Body)
		}
	}
	ms := f.messages(t, db.OutboundFilter{EndpointID: ep.ID})
	if len(ms) != 1 || ms[0].Status != db.OutboundDelivered || ms[0].Attempts != 4 {
		t.Fatalf("the message is %+v", ms)
	}
	log, err := f.st.OutboundAttempts(context.Background(), ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	codes := []int{}
	for _, a := range log {
		codes = append(codes, a.HTTPStatus)
	}
	if fmt.Sprint(codes) != "[503 503 503 200]" || !strings.HasPrefix(log[3].Response, "took msg_") {
		t.Errorf("the log says %v, last response %q", codes, log[3].Response)
	}
	if log[0].Error != "the endpoint answered 503" {
		t.Errorf("the first attempt's error reads %q", log[0].Error)
	}
}

// An endpoint that fails for 3 days is disabled: its messages fail, the
// store counts it for the dashboard, the audit log says so, and the
// Disabled hook hears of it.
func TestAnEndpointFailingForThreeDaysIsDisabled(t *testing.T) {
	f := newFixture(t, t0)
	srv := httptest.NewServer(&receiver{status: func(received) int { return http.StatusInternalServerError }})
	defer srv.Close()
	ep := f.endpoint(t, srv.URL, "link.created", "link.paid")
	l := f.link(t)
	var mu sync.Mutex
	var disabled []int64
	w := f.worker(sandbox, outbound.Options{Disabled: func(_ context.Context, ids []int64) {
		mu.Lock()
		disabled = append(disabled, ids...)
		mu.Unlock()
	}})
	attempts := 0
	for range 400 {
		attempts += drain(t, w)
		e, err := f.st.OutboundEndpointByID(context.Background(), ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !e.Enabled {
			break
		}
		f.clock.Advance(time.Hour)
		if f.clock.Now().Sub(t0) > 50*time.Hour && f.clock.Now().Sub(t0) < 51*time.Hour {
			f.event(t, l, paylink.EffectPaid, 1250) // a second message waits behind the first
		}
	}
	e, _ := f.st.OutboundEndpointByID(context.Background(), ep.ID)
	if e.Enabled || !strings.HasPrefix(e.DisabledReason, "every delivery failed since") {
		t.Fatalf("after %s the endpoint is enabled=%t (%q)", f.clock.Now().Sub(t0), e.Enabled, e.DisabledReason)
	}
	if d := e.DisabledAt.Sub(t0); d < 72*time.Hour || d > 73*time.Hour {
		t.Errorf("disabled %s after the first failure, want 3 days", d)
	}
	if attempts < 8 || attempts > 12 {
		t.Errorf("%d attempts over 3 days", attempts)
	}
	for _, m := range f.messages(t, db.OutboundFilter{EndpointID: ep.ID}) {
		if m.Status != db.OutboundFailed {
			t.Errorf("message %s is %s after the endpoint was disabled", m.Type, m.Status)
		}
	}
	if n, err := f.st.OutboundEndpointsFailing(context.Background()); err != nil || n != 1 {
		t.Errorf("OutboundEndpointsFailing = %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(disabled) != 1 || disabled[0] != ep.ID {
		t.Errorf("the Disabled hook heard %v", disabled)
	}
	audit, err := f.st.ListAudit(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range audit {
		found = found || a.Action == "webhook_endpoint.disable" && a.Target == fmt.Sprintf("webhook_endpoint:%d", ep.ID)
	}
	if !found {
		t.Error("the audit log does not record the disabling")
	}
}

// Messages of one link reach an endpoint in the order of the changes: a
// later one waits while an earlier one is retried; other links' messages
// go meanwhile.
func TestInOrderPerLinkPerEndpoint(t *testing.T) {
	f := newFixture(t, t0)
	var mu sync.Mutex
	failFirst := map[string]bool{}
	rc := &receiver{}
	rc.status = func(g received) int {
		mu.Lock()
		defer mu.Unlock()
		if g.Payload.Type == "link.processing" && !failFirst[g.ID] {
			failFirst[g.ID] = true
			return http.StatusBadGateway
		}
		return http.StatusOK
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f.endpoint(t, srv.URL, "link.processing", "link.paid", "link.settled")
	a, b := f.link(t), f.link(t)
	for _, e := range []paylink.Effect{paylink.EffectProcessing, paylink.EffectPaid, paylink.EffectSettled} {
		f.event(t, a, e, 1250)
	}
	f.event(t, b, paylink.EffectPaid, 1250)
	w := f.worker(sandbox, outbound.Options{Concurrency: 8})
	drain(t, w)
	got := payloads(t, rc.all())
	slices.Sort(got) // two links' messages go at once, in any order
	if len(got) != 2 || got[0] != fmt.Sprintf("link.paid %d", b.ID) || got[1] != fmt.Sprintf("link.processing %d", a.ID) {
		t.Fatalf("first turn: %v", got)
	}
	f.clock.Advance(10 * time.Second)
	drain(t, w)
	var order []string
	for _, g := range rc.all() {
		if linkID(t, g) == a.ID {
			order = append(order, g.Payload.Type)
		}
	}
	if fmt.Sprint(order) != "[link.processing link.processing link.paid link.settled]" {
		t.Errorf("link %d's messages arrived as %v", a.ID, order)
	}
}

// payloads names each message by its type and its link's id.
func payloads(t *testing.T, gs []received) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s %d", g.Payload.Type, linkID(t, g)))
	}
	return out
}

// linkID is the id of the link a message's data shows.
func linkID(t *testing.T, g received) int64 {
	t.Helper()
	var l struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(g.Payload.Data, &l); err != nil {
		t.Fatalf("%s: data %s: %v", g.Payload.Type, g.Payload.Data, err)
	}
	return l.ID
}

// A receiver that never answers, one that streams 10 MB and one that
// holds the connection open each fail their own attempt at the timeout or
// the size limit, keeping at most 1 KiB; the others are delivered in the
// same run.
func TestSlowHugeAndHangingReceiversFailCleanly(t *testing.T) {
	f := newFixture(t, t0)
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 160 { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select { // the body never ends
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(stop)
	good := &receiver{}
	gsrv := httptest.NewServer(good)
	defer gsrv.Close()

	eps := map[string]db.OutboundEndpoint{}
	for name, u := range map[string]string{"slow": slow.URL, "huge": huge.URL, "hang": hang.URL, "good": gsrv.URL} {
		eps[name] = f.endpoint(t, u, "link.created")
	}
	const links = 4
	for range links {
		f.link(t)
	}
	w := f.worker(sandbox, outbound.Options{Timeout: time.Second, Concurrency: 8, PerEndpoint: 2})
	drain(t, w)
	if got := len(good.all()); got != links {
		t.Errorf("the good receiver got %d of %d", got, links)
	}
	check := func(name, wantErr string) {
		t.Helper()
		ms := f.messages(t, db.OutboundFilter{EndpointID: eps[name].ID})
		if len(ms) != links {
			t.Fatalf("%s: %d messages", name, len(ms))
		}
		for _, m := range ms {
			if m.Status != db.OutboundPending || !strings.Contains(m.LastError, wantErr) || m.Attempts != 1 {
				t.Errorf("%s: message %d is %s after %d attempts: %q", name, m.ID, m.Status, m.Attempts, m.LastError)
			}
			log, err := f.st.OutboundAttempts(context.Background(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != 1 || len(log[0].Response) > outbound.ExcerptSize {
				t.Errorf("%s: the log keeps %d attempts, a response of %d bytes", name, len(log), len(log[0].Response))
			}
		}
	}
	check("slow", "no complete answer within 1s")
	check("huge", "larger than 64 KiB")
	check("hang", "no complete answer within 1s")
}
