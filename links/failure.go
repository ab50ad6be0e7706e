package links

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
		return Failure{"unavailable", unavailableSentence(un)}
	case errors.As(err, &resp):
		return Failure{"invalid-response", "StableMint answered with something paylinks cannot use: " + truncate(resp.Error(), 300)}
	case errors.As(err, &val), errors.As(err, &one):
		return Failure{"invalid", "The link did not pass validation: " + truncate(err.Error(), 300)}
	}
	return Failure{"error", "Creating the checkout session failed: " + truncate(err.Error(), 300)}
}

// retryHint ends every "StableMint did not answer" sentence: what Retry
// does, and why it cannot make two checkouts.
const retryHint = " The link has no checkout yet. Press Retry later: it asks again for this same link, so StableMint can never make two checkouts for it."

// unavailableSentence says, in one plain sentence per fault, why a call
// that StableMint never answered usefully failed: it was busy (429), had
// an error of its own (5xx), did not answer in time, or could not be
// reached at all.
func unavailableSentence(un *stablemint.UnavailableError) string {
	tries := fmt.Sprintf("; paylinks tried %d times.", un.Attempts)
	if un.Attempts == 1 {
		tries = "; paylinks tried once."
	}
	var ne net.Error
	switch {
	case un.Status == http.StatusTooManyRequests:
		return "StableMint was too busy and asked paylinks to slow down (HTTP 429)" + tries + retryHint
	case un.Status >= 500:
		return fmt.Sprintf("StableMint had an error on its side (HTTP %d %s)", un.Status, http.StatusText(un.Status)) + tries + retryHint
	case un.Status != 0:
		return fmt.Sprintf("StableMint kept answering HTTP %d %s", un.Status, http.StatusText(un.Status)) + tries + retryHint
	case errors.Is(un.Err, context.DeadlineExceeded) || errors.As(un.Err, &ne) && ne.Timeout():
		return "StableMint did not answer in time" + tries + retryHint
	}
	return "StableMint could not be reached (the connection failed)" + tries + retryHint
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
