package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzCheckJSON: the API's body check never panics, accepts only what
// encoding/json takes as one value, and refuses every refusal as a 400
// problem.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"amount":"1.00","currency":"EUR"}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":null}]}}`,
		`[` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `]`, `{"a":"1.00",}`, `{} {}`, `"x"`, `1e400`, "", `{"a`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSON(b)
		if err == nil {
			if !json.Valid(b) {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		var p *problem
		if !errors.As(err, &p) || p.status != http.StatusBadRequest {
			t.Fatalf("refusal %v is not a 400 problem", err)
		}
	})
}
