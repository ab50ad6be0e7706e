package stablemint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/paylinks/paylinks/stablemint"
)

const legacyReconciled = `{
  "notificationType": "InwardPaymentReconciled",
  "sessionId": "SES-1",
  "amount": 9.50,
  "currency": "EUR",
  "paymentMethod": "SEPA",
  "paymentReference": "PAY-77",
  "userId": "user-42",
  "userCountryCode": "DE",
  "idempotencyKey": "6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11",
  "websiteReference": "INV-2026-001",
  "customFields": {"orderId": "A-1"},
  "accountBicCode": "DEUTDEFF",
  "accountName": "Ana Diaz",
  "accountAddress": null,
  "accountIban": "DE89370400440532013000",
  "status": "RECONCILED"
}`

const partnerAccepted = `{"notificationType":"partner.customer.deposit.accepted","partnerId":"P-1","customerId":"C-9",` +
	`"reference":"DEP-123","amount":"9.50","currency":"EUR","sessionId":"SES-1","endToEndId":"E2E-1",` +
	`"externalPaymentId":null,"paymentCountry":"DE","paymentMethod":"SEPA","customerEmail":"ana@example.com",` +
	`"customerFullName":"Ana Diaz","idempotencyKey":"6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11","websiteReference":"INV-2026-001",` +
	`"customFields":{"orderId":"A-1","count":3,"none":null}}`

const v2Completed = `{"eventId":"0b6f3a4e-8f7c-4c1e-9d1a-2f4b5c6d7e8f","data":{"eventType":"partner.customer.deposit.completed",` +
	`"timestamp":"2026-11-25T09:59:58.250Z","sessionId":"SES-1","reference":"DEP-123",` +
	`"idempotencyKey":"6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11","websiteReference":null,"customFields":null,` +
	`"amount":9.5,"currency":"EUR","customerId":"C-9","customerEmail":"ana@example.com","endToEndId":null,` +
	`"paymentMethod":"SEPA","paymentCountryCode":null}}`

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestParseEventFamilies(t *testing.T) {
	tests := []struct {
		name string
		body string
		want stablemint.Event
	}{
		{"legacy reconciled", legacyReconciled, stablemint.Event{
			Key: sha(legacyReconciled), Family: stablemint.FamilyLegacy, Type: "InwardPaymentReconciled",
			Effect: stablemint.EffectPaid, SessionID: "SES-1", DepositReference: "PAY-77",
			IdempotencyKey: "6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11", WebsiteReference: "INV-2026-001",
			CustomFields: map[string]string{"orderId": "A-1"}, AmountRaw: "9.50", Currency: "EUR",
		}},
		{"partner accepted", partnerAccepted, stablemint.Event{
			Key: sha(partnerAccepted), Family: stablemint.FamilyPartner, Type: "partner.customer.deposit.accepted",
			Effect: stablemint.EffectPaid, SessionID: "SES-1", DepositReference: "DEP-123",
			IdempotencyKey: "6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11", WebsiteReference: "INV-2026-001",
			CustomFields: map[string]string{"orderId": "A-1", "count": "3", "none": ""}, AmountRaw: "9.50", Currency: "EUR",
		}},
		{"v2 completed with nulls", v2Completed, stablemint.Event{
			Key: "0b6f3a4e-8f7c-4c1e-9d1a-2f4b5c6d7e8f", Family: stablemint.FamilyV2, Type: "partner.customer.deposit.completed",
			Effect: stablemint.EffectSettled, SessionID: "SES-1", DepositReference: "DEP-123",
			IdempotencyKey: "6f1c1f9e-0c1a-4c55-9a55-3d1d2b8f0a11", AmountRaw: "9.5", Currency: "EUR",
			OccurredAt: time.Date(2026, 11, 25, 9, 59, 58, 250e6, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stablemint.ParseEvent([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if !bytes.Equal(got.Raw, []byte(tt.body)) {
				t.Errorf("Raw differs from the body")
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEvent =\n %+v\nwant\n %+v", got, tt.want)
			}
			amount, err := got.Amount()
			if err != nil || amount != (stablemint.Amount{Minor: 950, Currency: "EUR"}) {
				t.Errorf("Amount() = %+v, %v; want 9.50 EUR", amount, err)
			}
		})
	}
}

func TestParseEventEffects(t *testing.T) {
	tests := []struct {
		typ  string
		want stablemint.Effect
	}{
		{"partner.customer.deposit.created", stablemint.EffectProcessing},
		{"partner.customer.deposit.initiated", stablemint.EffectProcessing},
		{"partner.customer.deposit.submitted", stablemint.EffectProcessing},
		{"partner.customer.deposit.reconciled", stablemint.EffectPaid},
		{"partner.customer.deposit.accepted", stablemint.EffectPaid},
		{"partner.customer.deposit.completed", stablemint.EffectSettled},
		{"partner.customer.deposit.failed", stablemint.EffectFailed},
		{"InwardPaymentReconciled", stablemint.EffectPaid},
		{"InwardPaymentFailed", stablemint.EffectFailed},
		{"partner.customer.withdrawal.completed", stablemint.EffectNone},
		{"partner.customer.withdrawal.failed", stablemint.EffectNone},
		{"customer.token.transfer.in.initiated", stablemint.EffectNone},
		{"transaction.status.changed", stablemint.EffectNone},
		{"partner.customer.deposit.refunded", stablemint.EffectNone},
		{"partner.customer.deposit.", stablemint.EffectNone},
		{"PARTNER.CUSTOMER.DEPOSIT.COMPLETED", stablemint.EffectNone},
		{"deposit.completed", stablemint.EffectNone},
		{"", stablemint.EffectNone},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			if got := stablemint.EffectOf(tt.typ); got != tt.want {
				t.Errorf("EffectOf(%q) = %s, want %s", tt.typ, got, tt.want)
			}
			for _, body := range []string{
				fmt.Sprintf(`{"eventId":"e1","data":{"eventType":%q}}`, tt.typ),
				fmt.Sprintf(`{"notificationType":%q,"reference":"DEP-1"}`, tt.typ),
			} {
				ev, err := stablemint.ParseEvent([]byte(body))
				if err != nil || ev.Effect != tt.want || ev.Type != tt.typ {
					t.Errorf("ParseEvent(%s) = type %q effect %s, %v; want effect %s", body, ev.Type, ev.Effect, err, tt.want)
				}
			}
		})
	}
}

func TestParseEventShapes(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantFamily stablemint.Family
		wantKey    string
		wantRef    string
	}{
		{"v2 unknown type", `{"eventId":"e-1","data":{"eventType":"something.new","reference":"DEP-9"}}`, stablemint.FamilyV2, "e-1", "DEP-9"},
		{"v2 without eventId", `{"data":{"eventType":"partner.customer.deposit.created"}}`, stablemint.FamilyV2, "", ""},
		{"partner withdrawal", `{"notificationType":"partner.customer.withdrawal.created","reference":"WD-1"}`, stablemint.FamilyPartner, "", "WD-1"},
		{"flat unknown type with partner fields", `{"notificationType":"foo","partnerId":"P"}`, stablemint.FamilyPartner, "", ""},
		{"flat unknown type with legacy fields", `{"notificationType":"foo","paymentReference":"PAY-1"}`, stablemint.FamilyLegacy, "", "PAY-1"},
		{"flat unknown type, no clues", `{"notificationType":"foo"}`, stablemint.FamilyUnknown, "", ""},
		{"empty object", `{}`, stablemint.FamilyUnknown, "", ""},
		{"data is not an object", `{"eventId":"e-2","data":"x"}`, stablemint.FamilyUnknown, "e-2", ""},
		{"eventId null", `{"eventId":null,"data":{}}`, stablemint.FamilyV2, "", ""},
		{"eventId with newline is not a key", `{"eventId":"a\nb","data":{}}`, stablemint.FamilyV2, "", ""},
		{"eventId as number", `{"eventId":12345,"data":{}}`, stablemint.FamilyV2, "12345", ""},
		{"every field null", `{"notificationType":null,"sessionId":null,"amount":null,"currency":null,"customFields":null,"reference":null}`, stablemint.FamilyPartner, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := stablemint.ParseEvent([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseEvent(%s) error %v, want none", tt.body, err)
			}
			wantKey := tt.wantKey
			if wantKey == "" {
				wantKey = sha(tt.body)
			}
			if ev.Family != tt.wantFamily || ev.Key != wantKey || ev.DepositReference != tt.wantRef {
				t.Errorf("family %s key %q ref %q; want %s %q %q", ev.Family, ev.Key, ev.DepositReference, tt.wantFamily, wantKey, tt.wantRef)
			}
			if ev.Effect == "" || string(ev.Raw) != tt.body {
				t.Errorf("effect %q, raw %q", ev.Effect, ev.Raw)
			}
		})
	}
}

func TestParseEventUnparsableKeepsBody(t *testing.T) {
	for _, body := range []string{``, `not json`, `{"eventId":`, `[1,2]`, `"string"`, `null`, `42`, "{\"a\":1}\n{\"b\":2}", "\xff\xfe"} {
		t.Run(fmt.Sprintf("%q", body), func(t *testing.T) {
			ev, err := stablemint.ParseEvent([]byte(body))
			if !errors.Is(err, stablemint.ErrUnparsable) {
				t.Fatalf("error = %v, want ErrUnparsable", err)
			}
			if ev.Key != sha(body) || string(ev.Raw) != body || ev.Family != stablemint.FamilyUnknown || ev.Effect != stablemint.EffectNone {
				t.Errorf("event = %+v; want key = sha256, raw kept, unknown family, no effect", ev)
			}
		})
	}
}

func TestParseEventCopiesRaw(t *testing.T) {
	body := []byte(partnerAccepted)
	ev, _ := stablemint.ParseEvent(body)
	body[0] = 'X'
	if ev.Raw[0] != '{' {
		t.Error("Event.Raw aliases the caller's buffer")
	}
}

func TestEventAmountMismatchIsDetectable(t *testing.T) {
	link := stablemint.Amount{Minor: 950, Currency: "EUR"}
	tests := []struct {
		amount, currency string
		same             bool
	}{
		{`9.50`, `"EUR"`, true},
		{`"9.5"`, `"EUR"`, true},
		{`9.500`, `"EUR"`, true},
		{`9.51`, `"EUR"`, false},
		{`9.50`, `"USD"`, false},
		{`9.505`, `"EUR"`, false},
		{`null`, `"EUR"`, false},
		{`{"value":9.5}`, `"EUR"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.amount+" "+tt.currency, func(t *testing.T) {
			ev, err := stablemint.ParseEvent([]byte(`{"eventId":"e","data":{"amount":` + tt.amount + `,"currency":` + tt.currency + `}}`))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ev.Amount()
			if same := err == nil && got == link; same != tt.same {
				t.Errorf("Amount() = %+v, %v; same as the link: %v, want %v", got, err, same, tt.same)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{legacyReconciled, partnerAccepted, v2Completed, `{}`, `null`, `[]`, `{"data":{"eventType":7}}`,
		`{"eventId":"x","data":{"customFields":{"a":[1,{"b":null}]}}}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := stablemint.ParseEvent(body)
		if ev.Key == "" || !bytes.Equal(ev.Raw, body) {
			t.Fatalf("event lost its key or body: %+v", ev)
		}
		switch ev.Effect {
		case stablemint.EffectNone, stablemint.EffectProcessing, stablemint.EffectPaid, stablemint.EffectSettled, stablemint.EffectFailed:
		default:
			t.Fatalf("unknown effect %q", ev.Effect)
		}
		if err != nil {
			if !errors.Is(err, stablemint.ErrUnparsable) || ev.Family != stablemint.FamilyUnknown {
				t.Fatalf("error %v / family %s for an unparsable body", err, ev.Family)
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(body, &obj) == nil && obj != nil {
				t.Fatalf("a JSON object was reported unparsable: %v", err)
			}
			return
		}
		if ev.Effect != stablemint.EffectOf(ev.Type) {
			t.Fatalf("effect %s does not follow type %q", ev.Effect, ev.Type)
		}
		ev.Amount() // must not panic
	})
}
