package links

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/stablemint"
)

func TestClassifyNamesEveryFailure(t *testing.T) {
	cases := map[string]error{
		"ok":               nil,
		"refused":          fmt.Errorf("mint: %w", &stablemint.RejectedError{Status: 400, Body: "bad"}),
		"unavailable":      &stablemint.UnavailableError{Attempts: 3, Status: 503, Err: errors.New("down")},
		"invalid-response": &stablemint.ResponseError{Status: 200, Reason: "no url"},
		"invalid":          stablemint.ValidationErrors{{Field: "amount", Message: "too small"}},
		"error":            errors.New("something else"),
	}
	for want, err := range cases {
		if got := Classify(err).Outcome; got != want {
			t.Errorf("Classify(%v).Outcome = %q, want %q", err, got, want)
		}
		if got := Classify(err).Sentence; (err == nil) != (got == "") {
			t.Errorf("Classify(%v).Sentence = %q", err, got)
		}
	}
	if got := Classify(fmt.Errorf("x: %w", stablemint.ErrCircuitOpen)); got.Outcome != "unavailable" || !strings.Contains(got.Sentence, "waiting before trying again") {
		t.Errorf("open breaker: %+v", got)
	}
	if got := Classify(&stablemint.RejectedError{Status: 422, Body: strings.Repeat("x", 2000)}).Sentence; len(got) > 600 ||
		!strings.HasPrefix(got, "StableMint refused the request (HTTP 422)") {
		t.Errorf("refusal sentence %q: want the status and a bounded body", got)
	}
	// Each fault its own sentence, saying it once.
	for _, c := range []struct {
		err  *stablemint.UnavailableError
		want string
	}{
		{&stablemint.UnavailableError{Attempts: 4, Status: 429, Err: errors.New("429")}, "StableMint was too busy and asked paylinks to slow down (HTTP 429); paylinks tried 4 times."},
		{&stablemint.UnavailableError{Attempts: 4, Status: 500, Err: errors.New("500")}, "StableMint had an error on its side (HTTP 500 Internal Server Error); paylinks tried 4 times."},
		{&stablemint.UnavailableError{Attempts: 2, Err: context.DeadlineExceeded}, "StableMint did not answer in time; paylinks tried 2 times."},
		{&stablemint.UnavailableError{Attempts: 1, Err: errors.New("dial tcp: connection refused")}, "StableMint could not be reached (the connection failed); paylinks tried once."},
	} {
		got := Classify(c.err).Sentence
		if !strings.HasPrefix(got, c.want) || strings.Count(got, "StableMint") != 2 || strings.Contains(got, "..") {
			t.Errorf("Classify(%v).Sentence = %q, want it to start %q and say it once", c.err, got, c.want)
		}
	}
	for _, o := range Outcomes {
		if o == "" {
			t.Error("empty outcome name")
		}
	}
}
