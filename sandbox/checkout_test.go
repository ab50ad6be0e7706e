package sandbox_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/sandbox"
)

// getPage fetches a checkout page and parses it.
func getPage(t *testing.T, url string) (*http.Response, *goquery.Document) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, doc
}

func TestCheckoutPageShowsSession(t *testing.T) {
	s := newSandbox(t)
	cr := createValid(t, s)
	resp, doc := getPage(t, cr.URL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The inline style is allowed by its hash, and nothing else is.
	sum := sha256.Sum256([]byte(doc.Find("style").Text()))
	styleSrc := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, styleSrc) {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none' and %s", csp, styleSrc)
	}
	text := func(sel string) string { return strings.TrimSpace(doc.Find(sel).Text()) }
	for sel, want := range map[string]string{
		"[data-testid=amount]":            "7.50",
		"[data-testid=currency]":          "EUR",
		"[data-testid=reference]":         cr.Reference,
		"[data-testid=website-reference]": "INV-1001",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := text("h1"); got != "Pay 7.50 EUR" {
		t.Errorf("h1 = %q", got)
	}
	form := doc.Find("form[data-testid=outcome-form]")
	if m, _ := form.Attr("method"); m != "post" {
		t.Errorf("form method = %q, want post", m)
	}
	if form.Find("legend").Text() == "" {
		t.Error("outcome fieldset has no legend")
	}
	for _, b := range []struct{ testid, label, value string }{
		{"pay", "Pay", "pay"}, {"fail", "Fail", "fail"}, {"abandon", "Abandon", "abandon"},
	} {
		btn := form.Find("button[data-testid=" + b.testid + "]")
		if btn.Length() != 1 {
			t.Errorf("button %s: found %d", b.testid, btn.Length())
			continue
		}
		typ, _ := btn.Attr("type")
		name, _ := btn.Attr("name")
		value, _ := btn.Attr("value")
		if typ != "submit" || name != "outcome" || value != b.value || strings.TrimSpace(btn.Text()) != b.label {
			t.Errorf("button %s: type=%q name=%q value=%q text=%q", b.testid, typ, name, value, btn.Text())
		}
		if id, ok := btn.Attr("aria-describedby"); !ok || doc.Find("#"+id).Length() != 1 {
			t.Errorf("button %s: aria-describedby %q does not name an element", b.testid, id)
		}
	}
	if href, _ := doc.Find("a[data-testid=support-link]").Attr("href"); href != "https://shop.example/support" {
		t.Errorf("support link = %q", href)
	}
	if doc.Find("script").Length() != 0 {
		t.Error("page has a script")
	}
}

func TestCheckoutUnknownSession(t *testing.T) {
	s := newSandbox(t)
	resp, doc := getPage(t, s.URL()+"/checkout/HSNOPE")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(doc.Find("h1").Text(), "not found") {
		t.Errorf("got %d %q, want 404 not found page", resp.StatusCode, doc.Find("h1").Text())
	}
	if resp := press(t, s.URL()+"/checkout/HSNOPE", "pay"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST: got %d, want 404", resp.StatusCode)
	}
}

func TestCheckoutButtons(t *testing.T) {
	tests := []struct {
		outcome  string
		location string
		status   string
		events   []string
	}{
		{"pay", "https://shop.example/pay/success", sandbox.StatusPaid,
			v2Types("created", "initiated", "submitted", "accepted", "completed")},
		{"fail", "https://shop.example/pay/error", sandbox.StatusFailed, v2Types("created", "failed")},
		{"abandon", "https://shop.example/pay/exit", sandbox.StatusAbandoned, nil},
	}
	for _, tt := range tests {
		t.Run(tt.outcome, func(t *testing.T) {
			s := newSandbox(t)
			rcv := newReceiver(t, s, nil)
			cr := createValid(t, s)

			resp := press(t, cr.URL, tt.outcome)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.location {
				t.Fatalf("got %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), tt.location)
			}
			info, _ := s.Session(cr.Reference)
			if info.Status != tt.status {
				t.Errorf("status = %q, want %q", info.Status, tt.status)
			}
			if len(info.EventIDs) != len(tt.events) {
				t.Fatalf("session has %d events, want %d", len(info.EventIDs), len(tt.events))
			}
			if len(tt.events) == 0 {
				if d := s.Deliveries(); len(d) != 0 {
					t.Errorf("abandon delivered %+v", d)
				}
			} else {
				got := rcv.waitCount(t, len(tt.events))
				for i, g := range got {
					if !g.Verified {
						t.Errorf("request %d (%s): signature does not verify", i, g.Type)
					}
				}
				if acked := rcv.acked(); !slices.Equal(acked, tt.events) {
					t.Errorf("received %v, want %v", acked, tt.events)
				}
			}

			// The session is finished now.
			resp2, doc := getPage(t, cr.URL)
			if resp2.StatusCode != http.StatusOK || !strings.Contains(doc.Find("h1").Text(), "already") {
				t.Errorf("GET after %s: got %d %q, want 200 'already …' page", tt.outcome, resp2.StatusCode, doc.Find("h1").Text())
			}
			if doc.Find("button").Length() != 0 {
				t.Error("finished session still offers buttons")
			}
			if resp := press(t, cr.URL, "pay"); resp.StatusCode != http.StatusConflict {
				t.Errorf("second press: got %d, want 409", resp.StatusCode)
			}
			if err := s.Outcome(cr.Reference, "pay"); !errors.Is(err, sandbox.ErrClosed) {
				t.Errorf("Outcome after %s = %v, want ErrClosed", tt.outcome, err)
			}
		})
	}
}

func TestCheckoutRefusesUnknownOutcome(t *testing.T) {
	s := newSandbox(t)
	cr := createValid(t, s)
	if resp := press(t, cr.URL, "refund"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("got %d, want 400", resp.StatusCode)
	}
	if err := s.Outcome(cr.Reference, "refund"); !errors.Is(err, sandbox.ErrInvalid) {
		t.Errorf("Outcome = %v, want ErrInvalid", err)
	}
	if info, _ := s.Session(cr.Reference); info.Status != sandbox.StatusOpen {
		t.Errorf("status = %q, want open", info.Status)
	}
}
