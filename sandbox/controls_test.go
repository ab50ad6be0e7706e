package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
)

// control calls an HTTP test control and decodes its JSON answer into out.
func control(t *testing.T, s *sandbox.Server, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func TestHTTPControls(t *testing.T) {
	s := newSandbox(t, withFamily("legacy"))
	rcv := newReceiver(t, s, nil)
	a, b := createValid(t, s), createValid(t, s)

	t.Run("public key", func(t *testing.T) {
		resp, err := http.Get(s.URL() + "/_sandbox/public-key.pem")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, s.PublicKeyPEM()) {
			t.Errorf("served key differs from PublicKeyPEM")
		}
	})

	t.Run("sessions", func(t *testing.T) {
		var list []sandbox.SessionInfo
		if st := control(t, s, "GET", "/_sandbox/sessions", "", &list); st != 200 || len(list) != 2 || list[0].Reference != a.Reference {
			t.Errorf("got %d %+v", st, list)
		}
		var one sandbox.SessionInfo
		if st := control(t, s, "GET", "/_sandbox/sessions/"+b.Reference, "", &one); st != 200 || one.Reference != b.Reference || one.Amount != "7.50" {
			t.Errorf("got %d %+v", st, one)
		}
		if st := control(t, s, "GET", "/_sandbox/sessions/HSNOPE", "", nil); st != 404 {
			t.Errorf("unknown session: %d, want 404", st)
		}
	})

	t.Run("outcome", func(t *testing.T) {
		if st := control(t, s, "POST", "/_sandbox/sessions/"+a.Reference+"/outcome", `{"outcome":"refund"}`, nil); st != 400 {
			t.Errorf("bad outcome: %d, want 400", st)
		}
		if st := control(t, s, "POST", "/_sandbox/sessions/HSNOPE/outcome", `{"outcome":"pay"}`, nil); st != 404 {
			t.Errorf("unknown session: %d, want 404", st)
		}
		var ok map[string]bool
		if st := control(t, s, "POST", "/_sandbox/sessions/"+a.Reference+"/outcome", `{"outcome":"pay"}`, &ok); st != 200 || !ok["ok"] {
			t.Errorf("pay: %d %v", st, ok)
		}
		if st := control(t, s, "POST", "/_sandbox/sessions/"+a.Reference+"/outcome", `{"outcome":"pay"}`, nil); st != 409 {
			t.Errorf("pay twice: %d, want 409", st)
		}
		rcv.waitCount(t, 1)
	})

	t.Run("events, duplicate, redeliver", func(t *testing.T) {
		var evs []sandbox.EventInfo
		control(t, s, "GET", "/_sandbox/events", "", &evs)
		if len(evs) != 1 || evs[0].Type != "InwardPaymentReconciled" || evs[0].SessionRef != a.Reference {
			t.Fatalf("events = %+v", evs)
		}
		if st := control(t, s, "POST", "/_sandbox/events/"+evs[0].ID+"/duplicate", "", nil); st != 200 {
			t.Errorf("duplicate: %d", st)
		}
		if st := control(t, s, "POST", "/_sandbox/events/"+evs[0].ID+"/redeliver", "", nil); st != 200 {
			t.Errorf("redeliver: %d", st)
		}
		if st := control(t, s, "POST", "/_sandbox/events/nope/redeliver", "", nil); st != 404 {
			t.Errorf("redeliver unknown: %d, want 404", st)
		}
		rcv.waitCount(t, 3)
	})

	t.Run("expire and send", func(t *testing.T) {
		if st := control(t, s, "POST", "/_sandbox/sessions/"+b.Reference+"/expire", "", nil); st != 200 {
			t.Errorf("expire: %d", st)
		}
		if st := control(t, s, "POST", "/_sandbox/sessions/"+a.Reference+"/expire", "", nil); st != 409 {
			t.Errorf("expire a paid session: %d, want 409", st)
		}
		if st := control(t, s, "POST", "/_sandbox/sessions/"+b.Reference+"/send", `{"events":["partner.customer.deposit.created"]}`, nil); st != 400 {
			t.Errorf("send another family's type: %d, want 400", st)
		}
		if st := control(t, s, "POST", "/_sandbox/sessions/"+b.Reference+"/send", `{"events":["InwardPaymentReconciled"]}`, nil); st != 200 {
			t.Errorf("send: %d", st)
		}
		rcv.waitCount(t, 4)
	})

	t.Run("injections", func(t *testing.T) {
		if st := control(t, s, "POST", "/_sandbox/fail-next-creates", `{"n":1,"status":200}`, nil); st != 400 {
			t.Errorf("fail-next-creates with 200: %d, want 400", st)
		}
		if st := control(t, s, "POST", "/_sandbox/fail-next-creates", `{"n":1,"status":429}`, nil); st != 200 {
			t.Errorf("fail-next-creates: %d", st)
		}
		body := mustJSON(t, validRequest())
		if st, _ := postCreate(t, s.URL(), signedHeaders("v1", time.Now(), body), body); st != 429 {
			t.Errorf("create after fail-next-creates: %d, want 429", st)
		}
		c := createValid(t, s)

		if st := control(t, s, "POST", "/_sandbox/fail-next-deliveries", `{"n":1}`, nil); st != 200 {
			t.Errorf("fail-next-deliveries: %d", st)
		}
		if st := control(t, s, "POST", "/_sandbox/corrupt-next-signature", "", nil); st != 200 {
			t.Errorf("corrupt-next-signature: %d", st)
		}
		before := len(s.Deliveries())
		control(t, s, "POST", "/_sandbox/sessions/"+c.Reference+"/outcome", `{"outcome":"fail"}`, nil)
		// attempt 1 injected, attempt 2 corrupt, attempt 3 good
		testkit.WaitFor(t, "three attempts", func() bool { return len(s.Deliveries()) >= before+3 })
		var all []sandbox.Delivery
		control(t, s, "GET", "/_sandbox/deliveries", "", &all)
		last := all[before:]
		if !last[0].InjectedFailure || !last[1].CorruptSignature || !last[2].Acknowledged || last[2].EventType != "InwardPaymentFailed" {
			t.Errorf("deliveries = %+v", last)
		}

		if st := control(t, s, "POST", "/_sandbox/drop-next-create", "", nil); st != 200 {
			t.Errorf("drop-next-create: %d", st)
		}
		n := len(s.Sessions())
		body = mustJSON(t, validRequest())
		req, _ := http.NewRequest("POST", s.URL()+"/session/hosted", bytes.NewReader(body))
		req.Header = signedHeaders("v1", time.Now(), body)
		if resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("dropped create answered %d", resp.StatusCode)
		}
		if len(s.Sessions()) != n+1 {
			t.Errorf("dropped create did not commit")
		}
	})

	t.Run("webhook url", func(t *testing.T) {
		if st := control(t, s, "POST", "/_sandbox/webhook-url", `{"url":"not a url"}`, nil); st != 400 {
			t.Errorf("bad url: %d, want 400", st)
		}
		if st := control(t, s, "POST", "/_sandbox/webhook-url", `{"url":""}`, nil); st != 200 {
			t.Errorf("clear url: %d", st)
		}
		if st := control(t, s, "POST", "/_sandbox/webhook-url", `{"url":"`+rcv.srv.URL+`"}`, nil); st != 200 {
			t.Errorf("set url: %d", st)
		}
	})

	t.Run("controls live only under /_sandbox/", func(t *testing.T) {
		for _, p := range []string{"/sessions", "/deliveries", "/public-key.pem", "/session/hosted/outcome"} {
			resp, err := http.Get(s.URL() + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET %s: %d, want 404/405", p, resp.StatusCode)
			}
		}
	})

	types := rcv.acked()
	if !slices.Contains(types, "InwardPaymentFailed") {
		t.Errorf("receiver acknowledged %v", types)
	}
}
