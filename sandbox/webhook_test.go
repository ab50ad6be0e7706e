package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// The keys of each family's payload, as docs/stablemint.md lists them from
// StableMint's published payloads (issue #16: the sandbox used to leave out
// partnerName, the customer's KYC fields and the blockchain destination).
var (
	documentedV2Keys = []string{"amount", "currency", "customFields", "customerCitizenshipCountryCode", "customerEmail",
		"customerFullName", "customerId", "customerResidenceAddress", "endToEndId", "eventType", "idempotencyKey",
		"partnerName", "paymentCountryCode", "paymentMethod", "reference", "sessionId", "timestamp", "websiteReference"}
	documentedPartnerKeys = []string{"amount", "blockchainDestinationAddress", "blockchainDestinationNetwork", "currency",
		"customFields", "customerCitizenshipCountryCode", "customerEmail", "customerFullName", "customerId",
		"customerResidenceAddress", "endToEndId", "externalPaymentId", "idempotencyKey", "notificationType", "partnerId",
		"partnerName", "paymentCountry", "paymentMethod", "reference", "sessionId", "websiteReference"}
	documentedLegacyKeys = []string{"accountAddress", "accountBicCode", "accountIban", "accountName", "amount", "currency",
		"customFields", "idempotencyKey", "notificationType", "paymentMethod", "paymentReference", "sessionId",
		"status", "userCountryCode", "userId", "websiteReference"}
)

func TestWebhookPayloads(t *testing.T) {
	tests := []struct {
		family  string
		outcome string
		types   []string
	}{
		{"v2", "pay", v2Types("created", "initiated", "submitted", "accepted", "completed")},
		{"v2", "fail", v2Types("created", "failed")},
		{"partner", "pay", v2Types("created", "submitted", "reconciled", "accepted")},
		{"partner", "fail", v2Types("created", "failed")},
		{"legacy", "pay", []string{"InwardPaymentReconciled"}},
		{"legacy", "fail", []string{"InwardPaymentFailed"}},
	}
	for _, tt := range tests {
		t.Run(tt.family+" "+tt.outcome, func(t *testing.T) {
			s := newSandbox(t, withFamily(tt.family))
			rcv := newReceiver(t, s, nil)
			req := validRequest()
			req["userKyc"] = map[string]any{"fullName": "Ada Lovelace", "dateOfBirth": "1815-12-10",
				"citizenshipCountryCode": "GB", "residenceAddress": "12 St James's Square, London"}
			cr := create(t, s, "v1", mustJSON(t, req))
			if err := s.Outcome(cr.Reference, tt.outcome); err != nil {
				t.Fatal(err)
			}
			got := rcv.waitCount(t, len(tt.types))
			if acked := rcv.acked(); !slices.Equal(acked, tt.types) {
				t.Fatalf("received %v, want %v", acked, tt.types)
			}
			events := s.Events()
			info, _ := s.Session(cr.Reference)
			if !strings.HasPrefix(info.DepositReference, "DEP") {
				t.Errorf("deposit reference %q, want DEP…", info.DepositReference)
			}
			var endToEnd any
			for i, g := range got {
				if !bytes.Equal(g.Body, events[i].Body) {
					t.Errorf("event %d: sent body differs from the stored event", i)
				}
				if !bytes.Contains(g.Body, []byte(`"amount":7.50`)) {
					t.Errorf("event %d: amount not sent as the number 7.50 as received: %s", i, g.Body)
				}
				m := decodeBody(t, g.Body)
				var data map[string]any
				var wantKeys []string
				switch tt.family {
				case "v2":
					if keysOf(m)[0] != "data" || len(m) != 2 || m["eventId"] != events[i].ID || !uuidRE.MatchString(events[i].ID) {
						t.Errorf("event %d: envelope %v, want {eventId: %s, data}", i, keysOf(m), events[i].ID)
					}
					data, _ = m["data"].(map[string]any)
					wantKeys = documentedV2Keys
					if _, err := time.Parse(time.RFC3339, data["timestamp"].(string)); err != nil {
						t.Errorf("data.timestamp: %v", err)
					}
					check(t, data, "eventType", tt.types[i])
					check(t, data, "sessionId", cr.Reference)
					check(t, data, "reference", info.DepositReference)
					check(t, data, "customerId", "cust-42")
					check(t, data, "customerEmail", "ada@example.com")
					check(t, data, "paymentCountryCode", "DE")
					// The document has a string here: one per session, on every event.
					if e2e, ok := data["endToEndId"].(string); !ok || e2e == "" {
						t.Errorf("%s: endToEndId = %#v, want a string", tt.types[i], data["endToEndId"])
					} else if endToEnd != nil && endToEnd != e2e {
						t.Errorf("%s: endToEndId %s, earlier events %s: want one per session", tt.types[i], e2e, endToEnd)
					}
					endToEnd = data["endToEndId"]
				case "partner":
					data, wantKeys = m, documentedPartnerKeys
					check(t, data, "notificationType", tt.types[i])
					check(t, data, "sessionId", cr.Reference)
					check(t, data, "reference", info.DepositReference)
					check(t, data, "customerId", "cust-42")
					check(t, data, "paymentCountry", "DE")
					for _, k := range []string{"blockchainDestinationAddress", "blockchainDestinationNetwork"} {
						if v, ok := data[k].(string); !ok || v == "" {
							t.Errorf("%s = %#v, want a string", k, data[k])
						}
					}
					typ := tt.types[i]
					wantNull := strings.HasSuffix(typ, ".created") || strings.HasSuffix(typ, ".failed")
					if (data["endToEndId"] == nil) != wantNull || (data["externalPaymentId"] == nil) != wantNull {
						t.Errorf("%s: endToEndId = %v, externalPaymentId = %v, want null: %v", typ, data["endToEndId"], data["externalPaymentId"], wantNull)
					}
				case "legacy":
					data, wantKeys = m, documentedLegacyKeys
					check(t, data, "notificationType", tt.types[i])
					check(t, data, "sessionId", cr.Reference)
					check(t, data, "paymentReference", info.DepositReference)
					check(t, data, "userId", "cust-42")
					check(t, data, "userCountryCode", "DE")
					check(t, data, "status", map[string]string{"pay": "reconciled", "fail": "failed"}[tt.outcome])
					check(t, data, "accountName", "Ada Lovelace")
					check(t, data, "accountAddress", "12 St James's Square, London")
				}
				if !slices.Equal(keysOf(data), wantKeys) {
					t.Errorf("event %d keys:\n got %v\nwant %v", i, keysOf(data), wantKeys)
				}
				if tt.family != "legacy" {
					check(t, data, "partnerName", "Sandbox Partner")
					check(t, data, "customerFullName", "Ada Lovelace")
					check(t, data, "customerCitizenshipCountryCode", "GB")
					check(t, data, "customerResidenceAddress", "12 St James's Square, London")
				}
				check(t, data, "amount", json.Number("7.50"))
				check(t, data, "currency", "EUR")
				check(t, data, "idempotencyKey", req["idempotencyKey"])
				check(t, data, "websiteReference", "INV-1001")
				if cf, _ := data["customFields"].(map[string]any); cf["invoice"] != "1001" {
					t.Errorf("customFields = %v", data["customFields"])
				}
			}
		})
	}
}

// Without KYC, the customer's fields carry plausible fixed values (the
// citizenship is the userCountryCode), never null: the published payloads
// have strings there.
func TestWebhookCustomerFieldsWithoutKyc(t *testing.T) {
	want := map[string]map[string]any{
		"v2": {"customerFullName": "Sandbox Customer", "customerCitizenshipCountryCode": "DE",
			"customerResidenceAddress": "1 Sandbox Street, 10115 Berlin"},
		"partner": {"customerFullName": "Sandbox Customer", "customerCitizenshipCountryCode": "DE",
			"customerResidenceAddress": "1 Sandbox Street, 10115 Berlin"},
		"legacy": {"accountName": "Sandbox Customer", "accountAddress": "1 Sandbox Street, 10115 Berlin"},
	}
	for family, fields := range want {
		t.Run(family, func(t *testing.T) {
			s := newSandbox(t, withFamily(family))
			rcv := newReceiver(t, s, nil)
			req := validRequest()
			delete(req, "userKyc")
			cr := create(t, s, "v1", mustJSON(t, req))
			if err := s.Outcome(cr.Reference, "fail"); err != nil {
				t.Fatal(err)
			}
			got := rcv.waitCount(t, 1)
			data := decodeBody(t, got[0].Body)
			if family == "v2" {
				data = data["data"].(map[string]any)
			}
			for k, v := range fields {
				check(t, data, k, v)
			}
		})
	}
}

// check compares m[key] with want.
func check(t *testing.T, m map[string]any, key string, want any) {
	t.Helper()
	if m[key] != want {
		t.Errorf("%s = %#v, want %#v", key, m[key], want)
	}
}

func TestWebhookNullsForMissingOptionalFields(t *testing.T) {
	s := newSandbox(t)
	rcv := newReceiver(t, s, nil)
	req := validRequest()
	for _, k := range []string{"idempotencyKey", "websiteReference", "customFields", "userKyc"} {
		delete(req, k)
	}
	cr := create(t, s, "v1", mustJSON(t, req))
	if err := s.Outcome(cr.Reference, "fail"); err != nil {
		t.Fatal(err)
	}
	got := rcv.waitCount(t, 2)
	data := decodeBody(t, got[0].Body)["data"].(map[string]any)
	for _, k := range []string{"idempotencyKey", "websiteReference", "customFields"} {
		if v, ok := data[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
}

func TestWebhookRetriesUntilReceiverRecovers(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	rcv := newReceiver(t, s, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s, 1)
	got := rcv.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	for i, g := range got {
		if !g.Verified || !bytes.Equal(g.Body, got[0].Body) {
			t.Errorf("request %d: verified %v, same body %v", i, g.Verified, bytes.Equal(g.Body, got[0].Body))
		}
	}
	d := s.Deliveries()
	if len(d) != 3 {
		t.Fatalf("got %d delivery records, want 3: %+v", len(d), d)
	}
	for i, a := range d {
		if a.Attempt != i+1 || a.DeliveryID != d[0].DeliveryID || a.EventType != "InwardPaymentReconciled" || a.SessionRef != cr.Reference {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	for i, wantDelay := range []time.Duration{5 * time.Minute, 10 * time.Minute} {
		a := d[i]
		if a.Acknowledged || a.Status != 500 || a.NextRetryAt.Sub(a.Time) != time.Duration(float64(wantDelay)*0.0001) {
			t.Errorf("attempt %d: acknowledged %v status %d next retry in %v, want 500 and %v",
				i+1, a.Acknowledged, a.Status, a.NextRetryAt.Sub(a.Time), time.Duration(float64(wantDelay)*0.0001))
		}
	}
	if !d[2].Acknowledged || d[2].Status != 200 || !d[2].NextRetryAt.IsZero() {
		t.Errorf("attempt 3: %+v, want acknowledged 200 without retry", d[2])
	}
}

func TestWebhookRetriesKeepEverySequenceEvent(t *testing.T) {
	s := newSandbox(t)
	rcv := newReceiver(t, s, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	want := v2Types("created", "initiated", "submitted", "accepted", "completed")
	testkit.WaitFor(t, "all five events acknowledged", func() bool { return len(rcv.acked()) == len(want) })
	if got := slices.Sorted(slices.Values(rcv.acked())); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("acknowledged %v, want each of %v once", rcv.acked(), want)
	}
}

func TestWebhookGivesUpAfterSixAttempts(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"), func(c *sandbox.Config) { c.TimeScale = 0.00001 })
	rcv := newReceiver(t, s, func(int) int { return http.StatusBadGateway })
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "give up", func() bool {
		d := s.Deliveries()
		return len(d) > 0 && d[len(d)-1].GaveUp
	})
	d := s.Deliveries()
	if len(d) != 6 || len(rcv.received()) != 6 {
		t.Fatalf("got %d attempts, %d requests; want 6", len(d), len(rcv.received()))
	}
	for i, a := range d {
		if a.Attempt != i+1 || a.Acknowledged || a.Status != http.StatusBadGateway {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
		if (i < 5) == a.NextRetryAt.IsZero() || (i == 5) != a.GaveUp {
			t.Errorf("attempt %d: nextRetryAt %v gaveUp %v", i+1, a.NextRetryAt, a.GaveUp)
		}
	}
}

func TestFailNextDeliveries(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	rcv := newReceiver(t, s, nil)
	s.FailNextDeliveries(2)
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s, 1)
	if n := len(rcv.received()); n != 1 {
		t.Errorf("receiver got %d requests, want 1 (two failures not sent)", n)
	}
	d := s.Deliveries()
	if len(d) != 3 || !d[0].InjectedFailure || !d[1].InjectedFailure || d[2].InjectedFailure || !d[2].Acknowledged {
		t.Errorf("deliveries = %+v, want two injected failures then an acknowledged attempt", d)
	}
	if d[0].NextRetryAt.IsZero() || d[1].NextRetryAt.IsZero() {
		t.Error("injected failures were not scheduled for retry")
	}
}

func TestCorruptNextSignature(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	rcv := newReceiver(t, s, nil)
	s.CorruptNextSignature()
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s, 1)
	got := rcv.received()
	if len(got) != 2 || got[0].Verified || !got[1].Verified || !bytes.Equal(got[0].Body, got[1].Body) {
		t.Fatalf("got %d requests (verified: %v), want one bad signature then a good one with the same body", len(got), verifiedOf(got))
	}
	d := s.Deliveries()
	if !d[0].CorruptSignature || d[0].Status != http.StatusUnauthorized || d[1].CorruptSignature || !d[1].Acknowledged {
		t.Errorf("deliveries = %+v", d)
	}
}

func verifiedOf(rs []received) []bool {
	out := make([]bool, len(rs))
	for i, r := range rs {
		out[i] = r.Verified
	}
	return out
}

func TestDuplicateAndRedeliver(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	rcv := newReceiver(t, s, nil)
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	first := rcv.waitCount(t, 1)[0]
	id := s.Events()[0].ID

	if err := s.Duplicate(id); err != nil {
		t.Fatal(err)
	}
	dup := rcv.waitCount(t, 2)[1]
	if !bytes.Equal(dup.Body, first.Body) || dup.Timestamp != first.Timestamp || dup.Signature != first.Signature || !dup.Verified {
		t.Errorf("duplicate is not the identical request: %+v vs %+v", dup, first)
	}

	if err := s.Redeliver(id); err != nil {
		t.Fatal(err)
	}
	re := rcv.waitCount(t, 3)[2]
	waitAcked(t, s, 3)
	if !bytes.Equal(re.Body, first.Body) || !re.Verified {
		t.Errorf("redelivery: same body %v, verified %v", bytes.Equal(re.Body, first.Body), re.Verified)
	}

	d := s.Deliveries()
	kinds := []string{d[0].Kind, d[1].Kind, d[2].Kind}
	if !slices.Equal(kinds, []string{sandbox.KindOriginal, sandbox.KindDuplicate, sandbox.KindRedeliver}) {
		t.Errorf("kinds = %v", kinds)
	}
	if d[0].DeliveryID == d[1].DeliveryID || d[1].DeliveryID == d[2].DeliveryID {
		t.Error("duplicate and redelivery share a delivery id with another delivery")
	}
	for _, a := range d {
		if a.EventID != id {
			t.Errorf("delivery of event %s, want %s", a.EventID, id)
		}
	}
	if err := s.Redeliver("nope"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Redeliver unknown = %v, want ErrNotFound", err)
	}
	if err := s.Duplicate("nope"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Duplicate unknown = %v, want ErrNotFound", err)
	}
}

func TestSendInOrder(t *testing.T) {
	s := newSandbox(t)
	rcv := newReceiver(t, s, nil)
	cr := createValid(t, s)
	order := v2Types("completed", "submitted", "created", "accepted")
	if err := s.SendInOrder(cr.Reference, order); err != nil {
		t.Fatal(err)
	}
	got := rcv.waitCount(t, len(order))
	if acked := rcv.acked(); !slices.Equal(acked, order) {
		t.Errorf("received %v, want %v", acked, order)
	}
	if info, _ := s.Session(cr.Reference); info.Status != sandbox.StatusPaid {
		t.Errorf("status = %q, want paid", info.Status)
	}

	// A type the session already has is sent again as the same event.
	if err := s.SendInOrder(cr.Reference, v2Types("created")); err != nil {
		t.Fatal(err)
	}
	again := rcv.waitCount(t, len(order)+1)[len(order)]
	if !bytes.Equal(again.Body, got[2].Body) {
		t.Errorf("re-sent created event has a different body")
	}
	if n := len(s.Events()); n != len(order) {
		t.Errorf("got %d events, want %d", n, len(order))
	}

	if err := s.SendInOrder(cr.Reference, []string{"InwardPaymentReconciled"}); !errors.Is(err, sandbox.ErrInvalid) {
		t.Errorf("type of another family: %v, want ErrInvalid", err)
	}
	if err := s.SendInOrder("HSNOPE", v2Types("created")); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
}

func TestSendInOrderFailureOnExpiredSession(t *testing.T) {
	s := newSandbox(t, withFamily("partner"))
	rcv := newReceiver(t, s, nil)
	cr := createValid(t, s)
	if err := s.ExpireSession(cr.Reference); err != nil {
		t.Fatal(err)
	}
	if err := s.SendInOrder(cr.Reference, v2Types("failed")); err != nil {
		t.Fatal(err)
	}
	rcv.waitCount(t, 1)
	if info, _ := s.Session(cr.Reference); info.Status != sandbox.StatusFailed {
		t.Errorf("status = %q, want failed", info.Status)
	}
}

func TestExpireSession(t *testing.T) {
	s := newSandbox(t)
	body := mustJSON(t, validRequest())
	cr := create(t, s, "v1", body)
	if err := s.ExpireSession(cr.Reference); err != nil {
		t.Fatal(err)
	}
	resp, doc := getPage(t, cr.URL)
	if resp.StatusCode != http.StatusGone || !strings.Contains(doc.Find("h1").Text(), "expired") || doc.Find("button").Length() != 0 {
		t.Errorf("got %d %q, want 410 expiry page without buttons", resp.StatusCode, doc.Find("h1").Text())
	}
	if err := s.Outcome(cr.Reference, "pay"); !errors.Is(err, sandbox.ErrExpired) {
		t.Errorf("Outcome = %v, want ErrExpired", err)
	}
	if resp := press(t, cr.URL, "pay"); resp.StatusCode != http.StatusGone {
		t.Errorf("press: got %d, want 410", resp.StatusCode)
	}
	if info, _ := s.Session(cr.Reference); info.Status != sandbox.StatusExpired || len(info.EventIDs) != 0 {
		t.Errorf("session %+v, want expired without events", info)
	}
	if again := create(t, s, "v1", body); again != cr {
		t.Errorf("replay of an expired session = %+v, want %+v", again, cr)
	}
	if err := s.ExpireSession("HSNOPE"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

func TestSessionExpiresWithTheClock(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	s := newSandbox(t, func(c *sandbox.Config) { c.Now = clock.Now; c.SessionTTL = time.Hour })
	cr := createValid(t, s) // signed with the real clock, which equals the fake one now
	if want := clock.Now().Add(time.Hour).Unix(); cr.ExpiresAt != want {
		t.Errorf("expiresAt = %d, want %d", cr.ExpiresAt, want)
	}
	clock.Advance(time.Hour + time.Second)
	if resp, _ := getPage(t, cr.URL); resp.StatusCode != http.StatusGone {
		t.Errorf("after TTL: got %d, want 410", resp.StatusCode)
	}
	if info, _ := s.Session(cr.Reference); info.Status != sandbox.StatusExpired {
		t.Errorf("status = %q, want expired", info.Status)
	}
}

func TestNoWebhookURLRecordsWithoutSending(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	cr := createValid(t, s)
	if err := s.Outcome(cr.Reference, "pay"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "a delivery record", func() bool { return len(s.Deliveries()) == 1 })
	d := s.Deliveries()[0]
	if d.Acknowledged || d.URL != "" || d.Error == "" || !d.NextRetryAt.IsZero() {
		t.Errorf("delivery = %+v, want a not-delivered record without retry", d)
	}
	rcv := newReceiver(t, s, nil)
	if err := s.Redeliver(d.EventID); err != nil {
		t.Fatal(err)
	}
	if got := rcv.waitCount(t, 1); !got[0].Verified {
		t.Error("redelivery after setting the URL does not verify")
	}
}

// waitAcked waits until the sandbox has recorded n acknowledged attempts.
func waitAcked(t *testing.T, s *sandbox.Server, n int) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%d acknowledged deliveries", n), func() bool {
		c := 0
		for _, d := range s.Deliveries() {
			if d.Acknowledged {
				c++
			}
		}
		return c >= n
	})
}
