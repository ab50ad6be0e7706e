package stablemint

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrCircuitOpen is wrapped by the UnavailableError returned while the
// circuit breaker refuses calls after repeated failures.
var ErrCircuitOpen = errors.New("circuit breaker open")

// maxErrorBody is how much of a refused response body is kept (2 KiB).
const maxErrorBody = 2 << 10

// ValidationError is one invalid request field, found before anything is
// sent. Field is the JSON name ("userCountryCode", "userKyc.dateOfBirth");
// Message is a sentence for staff, shown beside that field.
type ValidationError struct {
	Field   string
	Message string
}

// Error returns the message, which already names the field in plain words.
func (e *ValidationError) Error() string { return e.Message }

// ValidationErrors is every invalid field of a request, in field order, so a
// form can show each beside its input. errors.As finds the first as a
// *ValidationError.
type ValidationErrors []*ValidationError

// Error joins the messages.
func (es ValidationErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, " ")
}

// Unwrap exposes each *ValidationError to errors.Is and errors.As.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// ByField maps each field name to its message, the first one if a field has
// several, for templates that look errors up by field.
func (es ValidationErrors) ByField() map[string]string {
	m := make(map[string]string, len(es))
	for _, e := range es {
		if _, seen := m[e.Field]; !seen {
			m[e.Field] = e.Message
		}
	}
	return m
}

// RejectedError is a final refusal from StableMint: a 4xx other than 429, or
// a 3xx (redirects are never followed). Retrying the same request cannot
// help. Body is the raw response body truncated to 2 KiB, for staff to read
// (escape it when rendering).
type RejectedError struct {
	Status int
	Body   string
}

// Error says what happened and what staff can do about it.
func (e *RejectedError) Error() string {
	what := fmt.Sprintf("StableMint refused the request (HTTP %d %s)", e.Status, http.StatusText(e.Status))
	switch {
	case e.Status >= 300 && e.Status < 400:
		return fmt.Sprintf("StableMint answered with a redirect (HTTP %d), which paylinks never follows; check STABLEMINT_BASE_URL.", e.Status)
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return what + ": check the StableMint API key, secret and private key in the configuration."
	case e.Status == http.StatusConflict:
		return what + ": this idempotency key was already used with different details; create a new link."
	default:
		return what + ": check the link details; StableMint's answer is kept with the link."
	}
}

// UnavailableError means StableMint could not be used right now: network
// errors, timeouts, 5xx or 429 on every attempt, or the circuit breaker is
// open (Err wraps ErrCircuitOpen, Attempts is 0). The same request, with the
// same idempotency key, may be retried later. Status is the last HTTP status
// seen, 0 if none.
type UnavailableError struct {
	Attempts int
	Status   int
	Err      error
}

// Error says StableMint is unavailable and that the link can be retried.
func (e *UnavailableError) Error() string {
	if errors.Is(e.Err, ErrCircuitOpen) {
		return "StableMint is unavailable: calls are paused for a short while after repeated failures; retry the link in a minute."
	}
	cause := "could not be reached"
	if e.Status != 0 {
		cause = fmt.Sprintf("kept failing (last answer HTTP %d %s)", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("StableMint %s after %d attempt%s; the link was not created and can be retried later.",
		cause, e.Attempts, plural(e.Attempts))
}

// Unwrap returns the last underlying error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// ResponseError is a 2xx answer paylinks cannot use: a missing or malformed
// checkout URL (not an absolute https URL, or http off loopback, user info,
// control characters), a missing or malformed reference, a body that is not
// a JSON object. Nothing from it is stored. (A well-formed URL on a host
// that is not allowed is an *UntrustedCheckoutError instead, and an
// unreadable expiresAt is "expiry unknown", not an error.)
type ResponseError struct {
	Status int
	Reason string
}

// Error names the problem.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("StableMint's answer could not be used (%s); nothing was stored.", e.Reason)
}

// UntrustedCheckoutError means StableMint created the session, but its
// checkout URL, otherwise well formed, points to a host that is not an
// allowed checkout host (Config.CheckoutHosts). CreateHostedSession returns
// it together with the complete Session (Reference, URL, ExpiresAt): the
// session exists; record it, and do not send anyone to its URL until its
// host is approved. Sending the same request again returns the same
// session, so it is not retryable. Host is the URL's host, lower case, with
// its port if it has one. CheckCheckoutURL returns it too.
type UntrustedCheckoutError struct {
	Host string
}

// Error says what happened and what to do.
func (e *UntrustedCheckoutError) Error() string {
	return fmt.Sprintf("StableMint created the session, but its checkout page is on %q, which is not an allowed checkout host; "+
		"nobody is sent there until the host is approved (STABLEMINT_CHECKOUT_HOSTS).", truncate(e.Host, 64))
}

// IsRetryable reports whether the same request, with the same idempotency
// key, may succeed later: true for *UnavailableError (network, timeouts, 5xx,
// 429, circuit open), false for validation errors, refusals and unusable
// answers.
func IsRetryable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
