package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/outbound"
	"github.com/paylinks/paylinks/paylink"
)

var seq atomic.Int64

// fixture is a migrated store on a file, on a settable clock, with a
// finance user who creates links.
type fixture struct {
	st    *db.Store
	clock *testkit.Clock
	user  db.User
}

func newFixture(t testing.TB, start time.Time) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "hooks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(start)
	st.Now = clock.Now
	u, err := st.CreateUser(ctx, db.NewUser{Email: fmt.Sprintf("staff%d@acme.example", seq.Add(1)), Name: "Staff",
		Role: paylink.RoleAdmin, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, clock: clock, user: u}
}

// endpoint registers url for types (every type when none) and returns it
// with its secret.
func (f *fixture) endpoint(t testing.TB, url string, types ...string) db.OutboundEndpoint {
	t.Helper()
	if len(types) == 0 {
		types = db.OutboundEventTypes
	}
	e, err := f.st.CreateOutboundEndpoint(context.Background(), db.NewOutboundEndpoint{URL: url, Types: types,
		Secret: outbound.NewSecret(), CreatedBy: f.user.ID}, db.AuditEntry{Action: "webhook_endpoint.create", ActorID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// link creates a link and opens it (link.created, link.opened).
func (f *fixture) link(t testing.TB) db.Link {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	ref := fmt.Sprintf("SM-%d", n)
	l, _, err := f.st.CreateLink(ctx, db.NewLink{
		IdempotencyKey: fmt.Sprintf("idem-%d", n), CustomerID: fmt.Sprintf("CUST-%d", n), CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 1250, AmountText: "12.50", Currency: "EUR", WebsiteReference: fmt.Sprintf("INV-%d", n),
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: f.user.ID, AllowDuplicate: true,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CompleteLinkCreation(ctx, l.ID, ref, "https://checkout.example/"+ref, f.clock.Now().Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l, err = f.st.LinkByID(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	return l
}

// event applies a verified StableMint event with effect to l, as the
// webhook ingest does.
func (f *fixture) event(t testing.TB, l db.Link, effect paylink.Effect, minor int64) {
	t.Helper()
	key := fmt.Sprintf("ev-%d", seq.Add(1))
	_, err := f.st.IngestWebhooks(context.Background(), []db.WebhookDelivery{{
		IP: "192.0.2.7", RequestID: "req-" + key, BodySHA256: "sha-" + key, BodySize: 42, SigTimestamp: "t", Signature: "s",
		Event: db.WebhookEventData{Key: key, Parsed: true, Family: "v2", Type: "partner.customer.deposit." + string(effect),
			Effect: effect, IdempotencyKey: l.IdempotencyKey, AmountRaw: fmt.Sprintf("%d.%02d", minor/100, minor%100),
			Currency: "EUR", AmountMinor: minor, AmountKnown: true, Exponent: 2, Body: []byte(`{"eventId":"` + key + `"}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) messages(t testing.TB, filter db.OutboundFilter) []db.OutboundMessage {
	t.Helper()
	ms, err := f.st.OutboundMessages(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

func types(ms []db.OutboundMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type
	}
	return out
}

func (f *fixture) worker(g *outbound.Guard, o outbound.Options) *outbound.Worker {
	o.Guard = g
	if o.Now == nil {
		o.Now = f.clock.Now
	}
	return outbound.New(f.st, o)
}

func drain(t testing.TB, w *outbound.Worker) int {
	t.Helper()
	n, err := w.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// received is one request a receiver took.
type received struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Payload                  struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Replay    bool            `json:"replay"`
		Data      json.RawMessage `json:"data"`
	}
}

// receiver records what it is sent and answers with status (200 unless
// set).
type receiver struct {
	mu     sync.Mutex
	got    []received
	status func(r received) int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g := received{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: b}
	_ = json.Unmarshal(b, &g.Payload)
	rc.mu.Lock()
	rc.got = append(rc.got, g)
	rc.mu.Unlock()
	code := http.StatusOK
	if rc.status != nil {
		code = rc.status(g)
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "took %s", g.ID)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// names is a Resolver over a fixed table (names that change, for DNS
// rebinding, through set).
type names struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

func newNames(kv map[string]string) *names {
	n := &names{m: map[string][]netip.Addr{}}
	for k, v := range kv {
		n.set(k, v)
	}
	return n
}

func (n *names) set(host, ip string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m[host] = []netip.Addr{netip.MustParseAddr(ip)}
}

func (n *names) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ips, ok := n.m[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return ips, nil
}
