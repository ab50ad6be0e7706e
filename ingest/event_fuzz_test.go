package ingest

import (
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

// FuzzEventData: any verified body becomes something the store can keep:
// never a panic, always a key, and a body that is not a JSON object is kept
// as unparsable and acts on no link.
func FuzzEventData(f *testing.F) {
	for _, s := range []string{
		`{"eventId":"e1","data":{"eventType":"partner.customer.deposit.accepted","amount":9.50,"currency":"EUR"}}`,
		`{"notificationType":"InwardPaymentReconciled","amount":"1e3","currency":"JPY","idempotencyKey":"k"}`,
		`{"notificationType":"partner.customer.deposit.failed","amount":-1,"currency":"eur"}`,
		`{"data":null}`, `[]`, `null`, `"x"`, ``, `{"eventId":"` + string(make([]byte, 300)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev := EventData(body)
		if ev.Key == "" {
			t.Fatal("no key")
		}
		if !ev.Parsed && (ev.Effect != paylink.EffectNone || ev.Family != "unknown") {
			t.Fatalf("unparsable body with effect %q family %q", ev.Effect, ev.Family)
		}
		if ev.AmountKnown && ev.AmountMinor < 0 {
			t.Fatalf("negative amount %d", ev.AmountMinor)
		}
	})
}
