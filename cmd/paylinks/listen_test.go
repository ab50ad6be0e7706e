package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/paylink"
)

// `paylinks listen` beside a demo-mode `paylinks serve` on the same
// database: it registers itself, the server's worker delivers a link's
// events to it, it verifies and prints them and forwards them, signature
// headers included, to the developer's app, which can verify them with
// the secret it printed. On exit the endpoint is gone.
func TestListenReceivesVerifiesAndForwards(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "paylinks.db")
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": path}
	_, _, stop := startServe(t, env)
	defer stop()

	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"paylinks", "listen", "--forward-to", app.URL + "/hooks", "--events", "link.created,link.opened"},
			envFrom(env), strings.NewReader(""), out, io.Discard)
	}()
	secretRE := regexp.MustCompile(`signing secret is (whsec_\S+)`)
	testkit.WaitFor(t, "listen to register", func() bool { return secretRE.MatchString(out.String()) })
	secret := secretRE.FindStringSubmatch(out.String())[1]

	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(context.Background(), db.NewUser{Email: "dev@acme.example", Name: "Dev", Role: paylink.RoleAdmin, PasswordHash: "x"},
		db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := st.CreateLink(context.Background(), db.NewLink{IdempotencyKey: "idem-listen", CustomerID: "C-1", CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 250, AmountText: "2.50", Currency: "EUR", SuccessURL: "https://x/s", SupportURL: "https://x/h",
		ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID, AllowDuplicate: true}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteLinkCreation(context.Background(), l.ID, "SM-L", "https://checkout.example/SM-L", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "two forwarded events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	testkit.WaitFor(t, "listen to print the second", func() bool { return strings.Count(out.String(), "verified -> [204]") == 2 })

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for i, h := range got {
		if err := wh.Verify(bodies[i], h); err != nil {
			t.Errorf("forwarded event %d does not verify: %v", i, err)
		}
	}
	mu.Unlock()
	printed := out.String()
	for _, want := range []string{"link.created link #", "link.opened link #", "verified -> [204]"} {
		if !strings.Contains(printed, want) {
			t.Errorf("listen printed no %q:\n%s", want, printed)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
	if eps, err := st.OutboundEndpoints(context.Background()); err != nil || len(eps) != 0 {
		t.Errorf("after listen stopped: %d endpoints (%v)", len(eps), err)
	}
}

// listen refuses to run against a production paylinks.
func TestListenRefusesProduction(t *testing.T) {
	env := map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "p.db"), "STABLEMINT_BASE_URL": "https://paymentinitiationservice-rest.stablemint.io"}
	err := run(context.Background(), []string{"paylinks", "listen"}, envFrom(env), strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sandbox mode") {
		t.Fatalf("listen in production: %v", err)
	}
}
