package links

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/paylinks/paylinks/stablemint"
)

// Outcomes names every outcome of one StableMint call, as Classify gives
// them; metrics starts a series for each.
var Outcomes = []string{"ok", "refused", "unavailable", "invalid-response", "invalid", "held", "error"}

// Failure is what one StableMint call's error means: an outcome name for
// metrics and logs, and the sentence staff read on the link page.
type Failure struct {
	Outcome  string // one of Outcomes
	Sentence string // "" for a call that succeeded
}

// Classify is the one place that reads a StableMint error: the minter
// records its sentence on the link and metrics counts its outcome.
func Classify(err error) Failure {
	var rej *stablemint.RejectedError
	var un *stablemint.UnavailableError
	var resp *stablemint.ResponseError
	var val stablemint.ValidationErrors
	var one *stablemint.ValidationError
	var untrusted *stablemint.UntrustedCheckoutError
	switch {
	case err == nil:
		return Failure{Outcome: "ok"}
	case errors.As(err, &untrusted):
		return Failure{"held", "StableMint created the checkout session, but its page is on " + truncate(untrusted.Host, 100) +
			", a host paylinks does not know. An admin must approve that host before anyone is sent to the link."}
	case errors.As(err, &rej):
		return Failure{"refused", fmt.Sprintf("StableMint refused the request (HTTP %d): %s", rej.Status, truncate(rej.Body, 500))}
	case errors.Is(err, stablemint.ErrCircuitOpen):
		return Failure{"unavailable", "StableMint is unavailable (several calls in a row failed); paylinks is waiting before trying again. Retry in a minute."}
	case errors.As(err, &un):
		return Failure{"unavailable", "StableMint could not be reached: " + truncate(un.Error(), 300) +
			". Retry when it is back; the same idempotency key is reused."}
	case errors.As(err, &resp):
		return Failure{"invalid-response", "StableMint answered with something paylinks cannot use: " + truncate(resp.Error(), 300)}
	case errors.As(err, &val), errors.As(err, &one):
		return Failure{"invalid", "The link did not pass validation: " + truncate(err.Error(), 300)}
	}
	return Failure{"error", "Creating the checkout session failed: " + truncate(err.Error(), 300)}
}

// truncate cuts s to at most n bytes, never inside a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
