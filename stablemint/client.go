package stablemint

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxAttempts            = 4
	DefaultBackoffBase            = 500 * time.Millisecond
	DefaultBackoffCap             = 30 * time.Second
	DefaultRetryAfterMax          = 30 * time.Second
	DefaultDialTimeout            = 5 * time.Second
	DefaultTLSHandshakeTimeout    = 5 * time.Second
	DefaultResponseHeaderTimeout  = 10 * time.Second
	DefaultCallTimeout            = 15 * time.Second
	DefaultBreakerThreshold       = 5
	DefaultBreakerCooldown        = 30 * time.Second
	DefaultWebhookTolerancePast   = 4 * time.Hour
	DefaultWebhookToleranceFuture = 5 * time.Minute
)

// maxAttemptsLimit bounds Config.MaxAttempts; the default is in
// docs/security.md A10.
const maxAttemptsLimit = 10

// sessionPath is the create endpoint, appended to the base URL.
const sessionPath = "/session/hosted"

// maxResponseBody bounds how much of a response is read (64 KiB).
const maxResponseBody = 64 << 10

const userAgent = "paylinks-stablemint/1"

// minRSABits is the smallest RSA key accepted anywhere (own floor).
const minRSABits = 2048

// Config configures a Client. cmd/paylinks fills it from the environment;
// tests build it by hand. Zero durations and counts take the Default*
// values; a zero MinAmount or MaxAmount is no limit on that side.
type Config struct {
	// BaseURL is StableMint's API base, e.g.
	// https://paymentinitiationservice-rest.stablemint.io. https, or http on
	// a loopback host (our sandbox).
	BaseURL    string
	APIKey     string
	APISecret  string          // signed, never sent
	PrivateKey *rsa.PrivateKey // the partner key, at least 2048 bits
	Scheme     Scheme          // SchemeV1 (default) or SchemeV2
	// CheckoutHosts lists the hosts a checkout URL may point to: "host" or
	// "host:port" (exactly), or "*.domain" (any host under domain, no
	// port); empty means DefaultCheckoutHosts(BaseURL). A URL elsewhere
	// gives the session with an *UntrustedCheckoutError.
	CheckoutHosts []string
	// MinAmount and MaxAmount bound request amounts in major units of the
	// request's currency. Zero is no bound on that side: StableMint
	// documents limits for its sandbox only (SandboxLimits), so none is
	// assumed.
	MinAmount, MaxAmount Decimal
	// CustomFieldsAs is how customFields is sent: CustomFieldsObject (the
	// default, also for "") or CustomFieldsString.
	CustomFieldsAs CustomFieldsFormat

	// Webhook verification (used by Config.Verifier, not by the Client);
	// zero tolerances mean the defaults, 4h and 5m.
	WebhookKeys            []*rsa.PublicKey
	WebhookTolerancePast   time.Duration
	WebhookToleranceFuture time.Duration

	// Retries: at most MaxAttempts attempts per call; between them a full
	// jitter backoff, uniform in [0, min(BackoffCap, BackoffBase×2^(n-1))],
	// or the server's Retry-After when it is at most RetryAfterMax.
	MaxAttempts   int
	BackoffBase   time.Duration
	BackoffCap    time.Duration
	RetryAfterMax time.Duration

	// Timeouts. CallTimeout bounds a whole CreateHostedSession call,
	// retries and waits included.
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	CallTimeout           time.Duration

	// Circuit breaker: open after BreakerThreshold consecutive failed calls,
	// half-open after BreakerCooldown.
	BreakerThreshold int
	BreakerCooldown  time.Duration

	// Now is the clock for signatures, the breaker and webhook windows
	// (default time.Now).
	Now func() time.Time
	// Sleep waits between attempts (default: a timer that honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter picks a backoff in [0, ceiling] (default: uniform random).
	Jitter func(ceiling time.Duration) time.Duration
	// Logger receives one line per failed attempt and per call; nil
	// discards. The client adds component=stablemint itself, so pass a
	// logger without a "component". Secrets, bodies and personal data are
	// never logged.
	Logger *slog.Logger
}

// Limits returns the configured amount limits; a zero bound is none.
func (c Config) Limits() Limits { return Limits{Min: c.MinAmount, Max: c.MaxAmount} }

// String describes the configuration without its secrets, so that a stray
// %v or log line cannot leak them.
func (c Config) String() string {
	return fmt.Sprintf("stablemint.Config{BaseURL: %q, Scheme: %q, APIKey: %s, APISecret: %s, PrivateKey: %s, CheckoutHosts: %q, Limits: %s, CustomFieldsAs: %q}",
		c.BaseURL, c.Scheme, redacted(c.APIKey), redacted(c.APISecret), keyInfo(c.PrivateKey),
		c.CheckoutHosts, c.Limits(), c.CustomFieldsAs)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("scheme", string(c.Scheme)),
		slog.Any("checkout_hosts", c.CheckoutHosts),
		slog.String("custom_fields_as", string(c.CustomFieldsAs)),
		slog.String("min_amount", c.Limits().Min.String()),
		slog.String("max_amount", c.Limits().Max.String()),
		slog.Int("webhook_keys", len(c.WebhookKeys)),
	)
}

func redacted(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "(redacted)"
}

func keyInfo(k *rsa.PrivateKey) string {
	if k == nil {
		return "(unset)"
	}
	return fmt.Sprintf("(RSA %d bits)", k.N.BitLen())
}

// Verifier builds the webhook Verifier from the configuration.
func (c Config) Verifier() (*Verifier, error) {
	past, future := c.WebhookTolerancePast, c.WebhookToleranceFuture
	if past == 0 {
		past = DefaultWebhookTolerancePast
	}
	if future == 0 {
		future = DefaultWebhookToleranceFuture
	}
	return NewVerifier(c.WebhookKeys, past, future, c.Now)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Scheme == "" {
		c.Scheme = SchemeV1
	}
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.BackoffBase, DefaultBackoffBase)
	setDefault(&c.BackoffCap, DefaultBackoffCap)
	setDefault(&c.RetryAfterMax, DefaultRetryAfterMax)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	setDefault(&c.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	setDefault(&c.CallTimeout, DefaultCallTimeout)
	setDefault(&c.BreakerThreshold, DefaultBreakerThreshold)
	setDefault(&c.BreakerCooldown, DefaultBreakerCooldown)
	if c.CustomFieldsAs == "" {
		c.CustomFieldsAs = CustomFieldsObject
	}
	if len(c.CheckoutHosts) == 0 {
		c.CheckoutHosts = DefaultCheckoutHosts(c.BaseURL)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepContext
	}
	if c.Jitter == nil {
		c.Jitter = fullJitter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// check reports every problem of a defaulted configuration.
func (c *Config) check() error {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	add("BaseURL", checkBaseURL(c.BaseURL))
	add("APIKey", checkCredential(c.APIKey))
	add("APISecret", checkCredential(c.APISecret))
	add("PrivateKey", checkPrivateKey(c.PrivateKey))
	_, err := ParseScheme(string(c.Scheme))
	add("Scheme", err)
	hosts, err := normaliseHosts(c.CheckoutHosts)
	add("CheckoutHosts", err)
	c.CheckoutHosts = hosts
	add("MinAmount", checkLimits(c.MinAmount, c.MaxAmount))
	_, err = ParseCustomFieldsFormat(string(c.CustomFieldsAs))
	add("CustomFieldsAs", err)
	if c.MaxAttempts < 1 || c.MaxAttempts > maxAttemptsLimit {
		add("MaxAttempts", fmt.Errorf("must be 1 to %d", maxAttemptsLimit))
	}
	if c.BreakerThreshold < 1 {
		add("BreakerThreshold", errors.New("must be at least 1"))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"BackoffBase", c.BackoffBase}, {"BackoffCap", c.BackoffCap}, {"RetryAfterMax", c.RetryAfterMax},
		{"DialTimeout", c.DialTimeout}, {"TLSHandshakeTimeout", c.TLSHandshakeTimeout},
		{"ResponseHeaderTimeout", c.ResponseHeaderTimeout}, {"CallTimeout", c.CallTimeout},
		{"BreakerCooldown", c.BreakerCooldown},
	} {
		if d.d < 0 {
			add(d.name, errors.New("must not be negative"))
		}
	}
	return errors.Join(errs...)
}

// checkBaseURL wants an absolute https URL (http only on loopback) with no
// user info, query or fragment.
func checkBaseURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || u.Host == "" || hasControl(s):
		return errors.New("is not an absolute URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry user info, a query or a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("must use https (plain http only on a loopback host)")
	default:
		return errors.New("must be an https URL")
	}
}

func checkCredential(s string) error {
	switch {
	case s == "":
		return errors.New("is required")
	case hasControl(s) || !isVisibleText(s):
		return errors.New("contains control characters or surrounding spaces")
	}
	return nil
}

func isVisibleText(s string) bool { return strings.TrimSpace(s) == s }

func checkPrivateKey(k *rsa.PrivateKey) error {
	switch {
	case k == nil:
		return errors.New("is required")
	case k.N == nil || k.N.BitLen() < minRSABits:
		return fmt.Errorf("RSA key must have at least %d bits", minRSABits)
	}
	return nil
}

// checkLimits wants the minimum at most the maximum, when both are set.
func checkLimits(lo, hi Decimal) error {
	if !hi.IsZero() && lo.Cmp(hi) > 0 {
		return fmt.Errorf("minimum %s is above maximum %s", lo, hi)
	}
	return nil
}

func normaliseHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no checkout host")
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n, err := normaliseHost(h)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return slices.Compact(slices.Sorted(slices.Values(out))), nil
}

// Client calls StableMint. It is safe for concurrent use; share one per
// process so its circuit breaker sees every call.
type Client struct {
	cfg      Config
	endpoint string
	http     *http.Client
	breaker  *breaker
	log      *slog.Logger
}

// New checks cfg, applies defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("stablemint: invalid configuration: %w", err)
	}
	return &Client{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + sessionPath,
		http:     newHTTPClient(cfg),
		breaker:  newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown),
		log:      cfg.Logger.With("component", "stablemint"),
	}, nil
}

// newHTTPClient builds a client with explicit timeouts, verified TLS ≥ 1.2,
// no proxy, and no redirects: a 3xx comes back as a response.
func newHTTPClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
			ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
			MaxIdleConns:           8,
			MaxIdleConnsPerHost:    8,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Limits returns the amount limits requests are validated against; a zero
// bound is none.
func (c *Client) Limits() Limits { return c.cfg.Limits() }

// CheckoutHosts returns the allowed checkout hosts.
func (c *Client) CheckoutHosts() []string { return slices.Clone(c.cfg.CheckoutHosts) }

// CheckCheckoutURL checks a (stored) checkout URL against this client's
// allowed hosts; see the package function.
func (c *Client) CheckCheckoutURL(raw string) error {
	return CheckCheckoutURL(raw, c.cfg.CheckoutHosts)
}

// BreakerState reports the circuit breaker: "closed", "open" or
// "half-open", for metrics and the admin page.
func (c *Client) BreakerState() string { return c.breaker.current(c.cfg.Now()) }

// CreateHostedSession validates req, then POSTs it to /session/hosted,
// signed with the configured scheme, retrying network errors, timeouts, 429
// and 5xx with the same body and idempotency key until MaxAttempts or
// CallTimeout. The error is a ValidationErrors (nothing sent), a
// *RejectedError, a *ResponseError or an *UnavailableError, and the Session
// is then empty; or an *UntrustedCheckoutError, and the Session is then
// complete: the session exists at StableMint, but nobody may be sent to its
// URL until the URL's host is approved.
func (c *Client) CreateHostedSession(ctx context.Context, req Request) (Session, error) {
	if err := c.validate(req); err != nil {
		return Session{}, err
	}
	body, err := req.marshal(c.cfg.CustomFieldsAs == CustomFieldsString)
	if err != nil {
		return Session{}, fmt.Errorf("stablemint: encoding the request: %w", err)
	}
	ok, probe := c.breaker.allow(c.cfg.Now())
	if !ok {
		c.log.WarnContext(ctx, "stablemint call refused: circuit open", "idempotency_key", req.IdempotencyKey)
		return Session{}, &UnavailableError{Err: ErrCircuitOpen}
	}
	sess, err := c.call(ctx, req.UserID, body, req.IdempotencyKey)
	c.record(ctx, err, probe)
	return sess, err
}

// validate is Request.Validate plus a required idempotency key: without
// one, a retry could create a second session.
func (c *Client) validate(req Request) error {
	var errs ValidationErrors
	if err := req.Validate(c.Limits()); err != nil {
		if !errors.As(err, &errs) {
			return err
		}
	}
	if req.IdempotencyKey == "" {
		errs = append(errs, &ValidationError{Field: "idempotencyKey",
			Message: "An idempotency key is required, so that a retry can never create a second session."})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// record feeds a call's outcome to the breaker. Any final HTTP answer proves
// StableMint is up; an unavailable outcome counts as a failure unless the
// caller's own context ended it.
func (c *Client) record(ctx context.Context, err error, probe bool) {
	switch {
	case err == nil, errorsAsAny[*RejectedError](err), errorsAsAny[*ResponseError](err), errorsAsAny[*UntrustedCheckoutError](err):
		c.breaker.success()
	case errorsAsAny[*UnavailableError](err) && ctx.Err() == nil:
		c.breaker.failure(c.cfg.Now(), probe)
		if state := c.breaker.current(c.cfg.Now()); state != BreakerClosed {
			c.log.WarnContext(ctx, "stablemint circuit breaker", "state", state)
		}
	default:
		c.breaker.abandon(probe)
	}
}

func errorsAsAny[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// attemptResult is the outcome of one HTTP exchange.
type attemptResult struct {
	session       Session
	expiryErr     error // why a present expiresAt was not read, for the log
	err           error
	retryable     bool
	status        int
	retryAfter    time.Duration
	hasRetryAfter bool
}

// call runs the attempts of one call within CallTimeout.
func (c *Client) call(parent context.Context, userID string, body []byte, key string) (Session, error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	var last attemptResult
	n := 0
	for n < c.cfg.MaxAttempts {
		n++
		res := c.attempt(ctx, userID, body)
		if !res.retryable {
			c.logOutcome(ctx, key, n, start, res)
			return res.session, res.err
		}
		last = res
		delay, retry := time.Duration(0), false
		if n < c.cfg.MaxAttempts {
			delay, retry = c.retryDelay(ctx, n, res)
		}
		c.log.WarnContext(ctx, "stablemint attempt failed", "idempotency_key", key, "attempt", n,
			"status", res.status, "error", res.err.Error(), "retry", retry, "retry_in", delay)
		if !retry {
			break
		}
		if err := c.cfg.Sleep(ctx, delay); err != nil {
			break
		}
	}
	err := &UnavailableError{Attempts: n, Status: last.status, Err: last.err}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(last.err, ctxErr) {
		err.Err = fmt.Errorf("%w (then %w)", last.err, ctxErr)
	}
	c.log.WarnContext(ctx, "stablemint unavailable", "idempotency_key", key, "attempts", n,
		"status", last.status, "duration", time.Since(start))
	return Session{}, err
}

func (c *Client) logOutcome(ctx context.Context, key string, n int, start time.Time, res attemptResult) {
	if res.expiryErr != nil {
		c.log.WarnContext(ctx, "stablemint expiry unreadable; the session's expiry is unknown", "idempotency_key", key,
			"reference", res.session.Reference, "error", res.expiryErr.Error())
	} else if exp := res.session.ExpiresAt; !exp.IsZero() && exp.Before(c.cfg.Now()) {
		c.log.WarnContext(ctx, "stablemint session expires in the past", "idempotency_key", key,
			"reference", res.session.Reference, "expires_at", exp)
	}
	var untrusted *UntrustedCheckoutError
	if errors.As(res.err, &untrusted) {
		c.log.WarnContext(ctx, "stablemint session created on an untrusted checkout host", "idempotency_key", key, "attempts", n,
			"reference", res.session.Reference, "host", untrusted.Host, "duration", time.Since(start))
		return
	}
	if res.err != nil {
		c.log.WarnContext(ctx, "stablemint call failed", "idempotency_key", key, "attempts", n,
			"status", res.status, "error", res.err.Error(), "duration", time.Since(start))
		return
	}
	c.log.InfoContext(ctx, "stablemint session created", "idempotency_key", key, "attempts", n,
		"reference", res.session.Reference, "duration", time.Since(start))
}

// attempt signs and sends the request once and classifies the answer.
func (c *Client) attempt(ctx context.Context, userID string, body []byte) attemptResult {
	hdr, err := SignedHeaders(c.cfg.Scheme, c.cfg.PrivateKey, c.cfg.APIKey, c.cfg.APISecret, c.cfg.Now(), userID, body)
	if err != nil {
		return attemptResult{err: fmt.Errorf("stablemint: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return attemptResult{err: fmt.Errorf("stablemint: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	maps.Copy(req.Header, hdr) // documented case kept: no canonicalisation
	resp, err := c.http.Do(req)
	if err != nil {
		return attemptResult{err: err, retryable: true}
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	return c.classify(resp, data, readErr)
}

// classify maps a response to an attempt result.
func (c *Client) classify(resp *http.Response, data []byte, readErr error) attemptResult {
	status := resp.StatusCode
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
		return attemptResult{err: fmt.Errorf("HTTP %d", status), status: status, retryable: true,
			retryAfter: ra, hasRetryAfter: ok}
	case status < 200 || status >= 300:
		return attemptResult{err: &RejectedError{Status: status, Body: errorBody(data)}, status: status}
	case readErr != nil:
		return attemptResult{err: fmt.Errorf("reading the response: %w", readErr), status: status, retryable: true}
	case len(data) > maxResponseBody:
		return attemptResult{err: &ResponseError{Status: status, Reason: "its body is larger than 64 KiB"}, status: status}
	}
	sess, expiryErr, err := parseSession(data, c.cfg.CheckoutHosts)
	var untrusted *UntrustedCheckoutError
	switch {
	case errors.As(err, &untrusted):
		return attemptResult{session: sess, expiryErr: expiryErr, err: err, status: status}
	case err != nil:
		return attemptResult{err: &ResponseError{Status: status, Reason: err.Error()}, status: status}
	}
	return attemptResult{session: sess, expiryErr: expiryErr, status: status}
}

// errorBody keeps at most 2 KiB of a refusal, as valid UTF-8.
func errorBody(data []byte) string {
	if len(data) > maxErrorBody {
		data = data[:maxErrorBody]
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// retryDelay says how long to wait before attempt n+1, and whether to try
// at all: not when the server asks for more than RetryAfterMax, nor when the
// wait would outlast the call's deadline.
func (c *Client) retryDelay(ctx context.Context, n int, res attemptResult) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	d := c.backoff(n)
	if res.hasRetryAfter {
		if res.retryAfter > c.cfg.RetryAfterMax {
			return res.retryAfter, false
		}
		d = res.retryAfter
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return d, false
	}
	return d, true
}

// backoff is full jitter over min(cap, base×2^(n-1)).
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.cfg.BackoffCap
	if shift := n - 1; shift < 30 {
		if d := c.cfg.BackoffBase << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return min(max(c.cfg.Jitter(ceiling), 0), ceiling)
}

// parseRetryAfter reads delta-seconds or an HTTP date; ok is false when the
// header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if allDigits(v) {
		if len(v) > 9 {
			return 0, false
		}
		secs, _ := strconv.Atoi(v)
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
