package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// In demo mode serve verifies webhooks with the sandbox's key, stores them
// through the ingester, and stops both cleanly.
func TestServeReceivesWebhooks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "paylinks.db")
	base, _, stop := startServe(t, map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": path})
	pem, err := os.ReadFile(filepath.Join(dir, "sandbox", "sandbox-private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := stablemint.ParseRSAPrivateKeyPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, sign bool) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stablemint", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sign {
			ts := stablemint.FormatWebhookTimestamp(time.Now())
			sig, err := stablemint.SignWebhook(key, ts, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(stablemint.HeaderWebhookTimestamp, ts)
			req.Header.Set(stablemint.HeaderWebhookSignature, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"eventId":"demo-1","data":{"eventType":"partner.customer.deposit.created","sessionId":"HS-NONE"}}`)
	if got := post(body, false); got != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d, want 401", got)
	}
	if got := post(body, true); got != http.StatusOK {
		t.Fatalf("signed: %d, want 200", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListWebhookDeliveries(context.Background(), db.WebhookFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 2 || page.Rows[0].Outcome != paylink.OutcomeUnmatched || page.Rows[1].Kind != db.DeliveryRejected {
		t.Fatalf("stored deliveries %+v, want the unmatched event after the refusal", page.Rows)
	}
}
