package handlers_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// fzWebhookEnv is the full router with webhooks on (verifier with the
// sandbox's key, group-committing ingester) and no rate limit, plus a
// function that makes a fresh open (minted) link.
func fzWebhookEnv(tb testing.TB) (*env, *rsa.PrivateKey, func() db.Link) {
	tb.Helper()
	_, sbk := testKeys(tb)
	verifier, err := stablemint.NewVerifier([]*rsa.PublicKey{&sbk.PublicKey}, 4*time.Hour, 5*time.Minute, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e := newEnv(tb, func(c *app.Config, p *app.Parts) {
		p.Verifier = verifier
		c.WebhookRatePerSecond, c.WebhookBurst = 1e9, 1<<30
	})
	u := e.addUser("fuzz-maker@example.com", paylink.RoleFinance)
	ctx := context.Background()
	n := 0
	newLink := func() db.Link {
		n++
		l, _, err := e.store.CreateLink(ctx, db.NewLink{
			IdempotencyKey: uuid.NewString(), CustomerID: "CUST-7", CustomerEmail: "ada@example.com", Country: "DE",
			AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: fmt.Sprintf("INV-FZ-%d", n),
			SuccessURL: "https://shop.example/ok", SupportURL: "https://shop.example/help", ExitURL: "https://shop.example/exit",
			ErrorURL: "https://shop.example/err", CreatedBy: u.ID, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.minter.Mint(ctx, l.ID); err != nil {
			tb.Fatal(err)
		}
		if l, err = e.store.LinkByID(ctx, l.ID); err != nil || l.Status != paylink.StatusOpen {
			tb.Fatalf("link after minting: %+v, %v", l, err)
		}
		return l
	}
	return e, sbk, newLink
}

// fzBind fills a fuzzed body's placeholders with a link's references, so
// mutations of a seed still reach that link: $SESSION, $IDEM, $REF, $CUST
// and $EVENT (a fresh event id).
func fzBind(body []byte, l db.Link) []byte {
	r := strings.NewReplacer("$SESSION", l.SMReference, "$IDEM", l.IdempotencyKey, "$REF", l.WebsiteReference,
		"$CUST", l.CustomerID, "$EVENT", uuid.NewString())
	return []byte(r.Replace(string(body)))
}

var fzRank = map[paylink.Status]int{paylink.StatusOpen: 1, paylink.StatusProcessing: 2, paylink.StatusPaid: 3, paylink.StatusSettled: 4}

// FuzzWebhookDelivery posts two validly signed bodies (any bytes, seeded
// with every payload family, their placeholders bound to a fresh link) to
// the real endpoint and checks what StableMint and staff rely on:
//
//   - a verified delivery is acknowledged with 200, whatever it holds (an
//     unknown type, no matching link, not JSON): never 4xx, never 5xx;
//   - the link never moves backwards: open < processing < paid < settled,
//     failed only before paid, and failed stays failed;
//   - replaying the first delivery byte for byte is acknowledged (200) and
//     changes nothing;
//   - the first body with a trailing newline and the original signature is
//     refused with 401 and changes nothing.
func FuzzWebhookDelivery(f *testing.F) {
	common := `"sessionId":"$SESSION","idempotencyKey":"$IDEM","websiteReference":"$REF","amount":9.50,"currency":"EUR","customFields":null`
	v2 := func(typ, amount string) string {
		return `{"eventId":"$EVENT","data":{"eventType":"` + typ + `","reference":"DEP-$SESSION","timestamp":"2026-11-25T10:00:00Z",` +
			`"sessionId":"$SESSION","idempotencyKey":"$IDEM","websiteReference":"$REF","amount":` + amount + `,"currency":"EUR","customerId":"$CUST"}}`
	}
	partner := func(typ string) string {
		return `{"notificationType":"` + typ + `","reference":"DEP-$SESSION","partnerId":"PARTNER-SANDBOX","customerId":"$CUST",` + common + `}`
	}
	legacy := func(typ string) string {
		return `{"notificationType":"` + typ + `","paymentReference":"DEP-$SESSION","accountIban":"DE89370400440532013000",` + common + `}`
	}
	pairs := [][2]string{
		{v2("partner.customer.deposit.accepted", "9.50"), v2("partner.customer.deposit.completed", "9.50")},
		{v2("partner.customer.deposit.completed", "9.50"), v2("partner.customer.deposit.failed", "9.50")},
		{v2("partner.customer.deposit.failed", "9.50"), v2("partner.customer.deposit.accepted", "9.50")},
		{v2("partner.customer.deposit.submitted", "9.50"), v2("partner.customer.deposit.created", "9.50")},
		{v2("partner.customer.deposit.accepted", "9.05"), v2("partner.customer.deposit.accepted", `"9.50"`)},
		{v2("partner.customer.deposit.accepted", "-9.50"), v2("partner.customer.deposit.accepted", "1e400")},
		{partner("partner.customer.deposit.reconciled"), partner("partner.customer.deposit.accepted")},
		{partner("partner.customer.deposit.accepted"), partner("partner.customer.deposit.failed")},
		{legacy("InwardPaymentReconciled"), legacy("InwardPaymentFailed")},
		{legacy("InwardPaymentFailed"), legacy("InwardPaymentReconciled")},
		{`<xml>surprise</xml>`, ``},
		{`{"eventId":"$EVENT","data":null}`, `[]`},
		{`{"eventId":"$EVENT","data":{"eventType":"partner.customer.deposit.accepted","sessionId":"$SESSION","sessionId":"other"}}`, `null`},
	}
	for _, p := range pairs {
		if p[0] != `<xml>surprise</xml>` && !json.Valid([]byte(fzBind([]byte(p[0]), db.Link{}))) {
			f.Fatalf("seed is not JSON: %s", p[0])
		}
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	e, sbk, newLink := fzWebhookEnv(f)
	ctx := context.Background()
	status := func(t *testing.T, id int64) paylink.Status {
		l, err := e.store.LinkByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return l.Status
	}
	f.Fuzz(func(t *testing.T, rawA, rawB []byte) {
		if len(rawA) > 64<<10 || len(rawB) > 64<<10 {
			return // the 256 KiB limit has its own test
		}
		l := newLink()
		a, b := fzBind(rawA, l), fzBind(rawB, l)
		headA := signed(t, sbk, time.Now(), a)
		post := func(what string, body []byte, h http.Header, want int) {
			t.Helper()
			resp, answer := postWebhook(t, e.srv.URL, body, h)
			if resp.StatusCode != want {
				t.Fatalf("%s: status %d (%s), want %d\nbody: %q", what, resp.StatusCode, answer, want, body)
			}
		}
		post("first delivery", a, headA, http.StatusOK)
		s1 := status(t, l.ID)
		post("second delivery", b, signed(t, sbk, time.Now(), b), http.StatusOK)
		s2 := status(t, l.ID)
		r1, ranked1 := fzRank[s1]
		r2, ranked2 := fzRank[s2]
		switch {
		case !ranked1 && s1 != paylink.StatusFailed, !ranked2 && s2 != paylink.StatusFailed:
			t.Fatalf("open link went to %s, then %s", s1, s2)
		case s1 == paylink.StatusFailed && s2 != paylink.StatusFailed:
			t.Fatalf("failed link moved to %s\nfirst: %q\nsecond: %q", s2, a, b)
		case ranked1 && ranked2 && r2 < r1:
			t.Fatalf("link moved backwards: %s then %s\nfirst: %q\nsecond: %q", s1, s2, a, b)
		case r1 >= fzRank[paylink.StatusPaid] && s2 == paylink.StatusFailed:
			t.Fatalf("a failure undid a payment: %s then %s\nfirst: %q\nsecond: %q", s1, s2, a, b)
		}
		post("replay of the first delivery", a, headA, http.StatusOK)
		if s := status(t, l.ID); s != s2 {
			t.Fatalf("replay moved the link from %s to %s", s2, s)
		}
		post("first body plus a newline, original signature", append(bytes.Clone(a), '\n'), headA, http.StatusUnauthorized)
		if s := status(t, l.ID); s != s2 {
			t.Fatalf("a tampered delivery moved the link from %s to %s", s2, s)
		}
	})
}
