package handlers

// The JSON API's middleware (docs/api.md): RFC 9457 problems for every
// refusal, the key check, the source-address allow-list, the per-key rate
// limit, the scope check, the body checks (type, size, strict JSON), the
// validation of each request against api/openapi.yaml, and Idempotency-Key.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/db"
)

// API limits (docs/api.md).
const (
	apiPrefix       = "/api/v1"
	apiMaxBody      = 64 << 10 // bytes of a request body
	apiMaxDepth     = 32       // nesting of a request body's JSON
	apiIdemKeep     = 48 * time.Hour
	apiIdemStale    = 2 * time.Minute // a claim older than this belongs to a dead process
	apiTouchEvery   = time.Minute     // last used at/from is stored at most this often per key
	apiWWWAuth      = `Bearer realm="paylinks API"`
	apiDefaultLimit = 50
)

// API scopes.
const (
	ScopeLinksRead      = "links:read"
	ScopeLinksWrite     = "links:write"
	ScopeLinksEmail     = "links:email"
	ScopeWebhooksManage = "webhooks:manage"
)

// APIScopes are every scope a key may hold, in the order the admin page lists them.
var APIScopes = []string{ScopeLinksRead, ScopeLinksWrite, ScopeLinksEmail, ScopeWebhooksManage}

// apiTokenRE is the shape of a token: its prefix and 256 random bits,
// unpadded base64url.
var apiTokenRE = regexp.MustCompile(`^pl_(live|test)_[A-Za-z0-9_-]{43}$`)

// problem is an RFC 9457 problem: returned by API handlers and middleware
// as an error, written by writeProblem.
type problem struct {
	status     int
	slug       string // the type URI's fragment
	title      string
	detail     string
	errors     []api.FieldError
	duplicates []int64
	header     http.Header
	// audited: the refusal has its audit entry already (api.denied).
	audited bool
}

func (p *problem) Error() string { return p.title + ": " + p.detail }

func newProblem(status int, slug, title, detail string) *problem {
	return &problem{status: status, slug: slug, title: title, detail: detail}
}

// unauthorized is the one answer to every request without a usable key:
// missing, malformed, unknown, revoked or expired look the same.
func unauthorized() *problem {
	p := newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
		"Send a valid, unrevoked, unexpired API key as Authorization: Bearer <key>.")
	p.header = http.Header{"Www-Authenticate": {apiWWWAuth}}
	return p
}

// problemOf turns any error an API route returns into a problem.
func problemOf(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	var he *echo.HTTPError
	status := statusFor(err)
	detail := ""
	if errors.As(err, &he) {
		if s, ok := he.Message.(string); ok && status < 500 {
			detail = s
		}
	}
	switch status {
	case http.StatusNotFound:
		return newProblem(status, "not-found", "Not found", "There is no such link or route.")
	case http.StatusMethodNotAllowed:
		return newProblem(status, "method-not-allowed", "Method not allowed", "This address does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return newProblem(status, "too-large", "Body too large", "The body is over 64 KiB.")
	case http.StatusConflict:
		return newProblem(status, "conflict", "Conflict", "That change clashes with the link's state.")
	case http.StatusServiceUnavailable:
		p := newProblem(status, "unavailable", "Unavailable", "paylinks is busy or cannot store anything right now. Try again in a minute.")
		p.header = http.Header{"Retry-After": {"60"}}
		return p
	}
	if status >= 500 {
		return newProblem(http.StatusInternalServerError, "internal", "Internal error",
			"paylinks could not complete the request; the error is logged with the request id.")
	}
	if detail == "" {
		detail = http.StatusText(status)
	}
	return newProblem(status, "bad-request", http.StatusText(status), detail)
}

// problemType is the type URI of a problem: its section of the API reference.
func (a *app) problemType(slug string) string {
	return strings.TrimSuffix(a.opts.BaseURL.String(), "/") + "/api/docs#problem-" + slug
}

// writeProblem answers with err as application/problem+json, logging 5xx.
func (a *app) writeProblem(c echo.Context, err error) error {
	p := problemOf(err)
	if p.status >= 500 {
		logFrom(c.Request().Context(), a.log).Error("api", "err", err)
	}
	body := api.Problem{Type: a.problemType(p.slug), Title: p.title, Status: p.status, Instance: &[]string{c.Request().URL.Path}[0]}
	if p.detail != "" {
		body.Detail = &p.detail
	}
	if p.status >= 500 {
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		d := p.detail + " Request id: " + id + "."
		body.Detail = &d
	}
	if len(p.errors) > 0 {
		body.Errors = &p.errors
	}
	if len(p.duplicates) > 0 {
		body.Duplicates = &p.duplicates
	}
	for k, v := range p.header {
		c.Response().Header()[k] = v
	}
	b, merr := json.Marshal(body)
	if merr != nil {
		return merr
	}
	c.Set(problemWritten, p) // for apiAudit
	return c.Blob(p.status, "application/problem+json", b)
}

// problemWritten is the echo.Context key of the problem writeProblem sent.
const problemWritten = "api.problem"

// apiCaller is the key a request authenticated with, carried in the
// request's context to the strict handlers.
type apiCaller struct {
	key       db.APIKey
	ip        string
	requestID string
	idemKey   string
	// claim is set while this request's Idempotency-Key is to be claimed
	// in the transaction of the link it creates (apiIdempotency).
	claim *db.IdemClaim
}

type apiCallerKey struct{}

func callerFrom(ctx context.Context) apiCaller {
	c, _ := ctx.Value(apiCallerKey{}).(apiCaller)
	return c
}

// audit is an audit entry with the key as the actor.
func (k apiCaller) audit(action string) db.AuditEntry {
	return db.AuditEntry{Action: action, ActorID: k.key.UserID, ActorEmail: "api-key:" + k.key.Prefix, IP: k.ip, RequestID: k.requestID}
}

// formToken is the form token of the operation this request runs: one per
// key and Idempotency-Key, so even a claim taken over from a dead process
// finds the link the first attempt made.
func (k apiCaller) formToken() string {
	return "api:" + strconv.FormatInt(k.key.ID, 10) + ":" + k.idemKey
}

// hashAPIToken is the stored form of a token: HMAC-SHA256 under the
// server's key (docs/security.md, API keys).
func (a *app) hashAPIToken(token string) string {
	m := hmac.New(sha256.New, a.opts.APIKeyHashKey)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// apiRoute is one operation of the spec, as Echo routes it.
type apiRoute struct {
	route  *routers.Route
	scopes []string
}

// apiSpec is the loaded contract and its operations by method and Echo path.
type apiSpec struct {
	doc    *openapi3.T
	routes map[string]apiRoute
	paths  []apiPath // for 405: the methods each path takes
}

// apiPath is a spec path as a pattern over request paths, with its methods.
type apiPath struct {
	re      *regexp.Regexp
	methods []string
}

// allowed lists the methods the spec takes at a request path (nil: no
// such path).
func (s *apiSpec) allowed(path string) []string {
	for _, p := range s.paths {
		if p.re.MatchString(path) {
			return p.methods
		}
	}
	return nil
}

func loadAPISpec() (*apiSpec, error) {
	doc, err := api.GetSwagger()
	if err != nil {
		return nil, err
	}
	s := &apiSpec{doc: doc, routes: map[string]apiRoute{}}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths.Map() {
		echoPath := apiPrefix + param.ReplaceAllString(path, ":$1")
		parts := strings.Split(path, "/")
		for i, part := range parts {
			if param.MatchString(part) {
				parts[i] = "[^/]+"
			} else {
				parts[i] = regexp.QuoteMeta(part)
			}
		}
		ap := apiPath{re: regexp.MustCompile("^" + regexp.QuoteMeta(apiPrefix) + strings.Join(parts, "/") + "$")}
		for method := range item.Operations() {
			ap.methods = append(ap.methods, method)
		}
		slices.Sort(ap.methods)
		s.paths = append(s.paths, ap)
		for method, op := range item.Operations() {
			var scopes []string
			if raw, ok := op.Extensions["x-scopes"]; ok {
				b, _ := json.Marshal(raw)
				if err := json.Unmarshal(b, &scopes); err != nil {
					return nil, fmt.Errorf("%s %s: x-scopes: %w", method, path, err)
				}
			}
			if len(scopes) == 0 {
				return nil, fmt.Errorf("%s %s has no x-scopes", method, path)
			}
			s.routes[method+" "+echoPath] = apiRoute{route: &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}, scopes: scopes}
		}
	}
	return s, nil
}

// apiProblems answers every error below it as a problem.
func (s *apiServer) apiProblems(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		if err := next(c); err != nil {
			if c.Response().Committed {
				return err
			}
			return a.writeProblem(c, err)
		}
		return nil
	}
}

// apiAuth finds the request's key: a bearer token of the right shape whose
// keyed hash is stored, not revoked, not expired. Sessions never count.
// Then the key's source-address allow-list applies.
func (s *apiServer) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	return func(c echo.Context) error {
		r := c.Request()
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || !apiTokenRE.MatchString(token) {
			return unauthorized()
		}
		ctx := r.Context()
		key, err := s.store.APIKeyByHash(ctx, a.hashAPIToken(token))
		if errors.Is(err, db.ErrNotFound) {
			return unauthorized()
		}
		if err != nil {
			return err
		}
		caller := apiCaller{key: key, ip: c.RealIP(), requestID: c.Response().Header().Get(echo.HeaderXRequestID),
			idemKey: r.Header.Get("Idempotency-Key")}
		now := a.now()
		refuse := func(p *problem, why string) error {
			e := caller.audit("api.denied")
			e.Outcome, e.Target, e.Details = "denied", r.Method+" "+r.URL.Path, why
			if err := a.store.Audit(ctx, e); err != nil {
				logFrom(ctx, a.log).Error("audit api refusal", "err", err)
			}
			p.audited = true
			return p
		}
		switch {
		case !key.RevokedAt.IsZero():
			return refuse(unauthorized(), "revoked key")
		case !key.ExpiresAt.IsZero() && !now.Before(key.ExpiresAt):
			return refuse(unauthorized(), "expired key")
		case !ipAllowed(key.AllowedIPs, caller.ip):
			return refuse(newProblem(http.StatusForbidden, "ip-not-allowed", "Address not allowed",
				"This key may not be used from "+caller.ip+"."), "address "+caller.ip+" outside the allow-list")
		}
		s.apiTouch(ctx, key, now, caller.ip)
		c.SetRequest(r.WithContext(context.WithValue(ctx, apiCallerKey{}, caller)))
		return next(c)
	}
}

// ipAllowed reports whether ip is inside one of cidrs (any, when none).
func ipAllowed(cidrs []string, ip string) bool {
	if len(cidrs) == 0 {
		return true
	}
	addr := net.ParseIP(ip)
	if addr == nil {
		return false
	}
	for _, s := range cidrs {
		if _, n, err := net.ParseCIDR(s); err == nil && n.Contains(addr) {
			return true
		}
	}
	return false
}

// apiTouch stores when and from where key was used, at most once a minute
// per key (and at once when the address changed).
func (s *apiServer) apiTouch(ctx context.Context, key db.APIKey, now time.Time, ip string) {
	a := s.a
	s.touchMu.Lock()
	last, seen := s.touched[key.ID]
	due := !seen || now.Sub(last.at) >= apiTouchEvery || last.ip != ip
	if due {
		s.touched[key.ID] = apiTouched{at: now, ip: ip}
	}
	s.touchMu.Unlock()
	if due {
		if err := s.store.TouchAPIKey(ctx, key.ID, now, ip); err != nil {
			logFrom(ctx, a.log).Warn("api key last use", "err", err)
		}
	}
}

type apiTouched struct {
	at time.Time
	ip string
}

// apiRateLimit spends one request of the key's budget (a token bucket of
// APIRatePerMinute a minute, as large a burst) and says what is left in
// RateLimit-* headers; an empty bucket is 429 with Retry-After.
func (s *apiServer) apiRateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	perMin := a.opts.APIRatePerMinute
	return func(c echo.Context) error {
		key := callerFrom(c.Request().Context()).key
		s.limitMu.Lock()
		lim, ok := s.limits[key.ID]
		if !ok {
			lim = rate.NewLimiter(rate.Limit(float64(perMin)/60), perMin)
			s.limits[key.ID] = lim
		}
		now := a.now()
		allowed := lim.AllowN(now, 1)
		tokens := lim.TokensAt(now)
		s.limitMu.Unlock()
		perSec := float64(perMin) / 60
		h := c.Response().Header()
		h.Set("RateLimit-Limit", strconv.Itoa(perMin))
		h.Set("RateLimit-Remaining", strconv.Itoa(max(0, int(math.Floor(tokens)))))
		h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((float64(perMin)-tokens)/perSec))))
		if !allowed {
			wait := int(math.Ceil((1 - tokens) / perSec))
			p := newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests",
				fmt.Sprintf("This key may make %d requests a minute. Retry after %d s.", perMin, max(1, wait)))
			p.header = http.Header{"Retry-After": {strconv.Itoa(max(1, wait))}}
			return p
		}
		return next(c)
	}
}

// apiRouteOf is the spec's operation for the request, or nil (no route).
func (s *apiServer) apiRouteOf(c echo.Context) (apiRoute, bool) {
	r, ok := s.spec.routes[c.Request().Method+" "+c.Path()]
	return r, ok
}

// apiScopes refuses a key without the operation's scopes (x-scopes in the
// spec), naming the one missing.
func (s *apiServer) apiScopes(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	return func(c echo.Context) error {
		route, ok := s.apiRouteOf(c)
		if !ok {
			// A path of the spec with another method is 405 with Allow
			// (Echo's group catch-all would answer 404); others are 404.
			if m := s.spec.allowed(c.Request().URL.Path); m != nil {
				p := newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
					"This address takes "+strings.Join(m, ", ")+".")
				p.header = http.Header{"Allow": {strings.Join(m, ", ")}}
				return p
			}
			return next(c)
		}
		caller := callerFrom(c.Request().Context())
		for _, s := range route.scopes {
			if !slices.Contains(caller.key.Scopes, s) {
				ctx := c.Request().Context()
				e := caller.audit("api.denied")
				e.Outcome, e.Target, e.Details = "denied", c.Request().Method+" "+c.Request().URL.Path, "missing scope "+s
				if err := a.store.Audit(ctx, e); err != nil {
					logFrom(ctx, a.log).Error("audit api refusal", "err", err)
				}
				p := newProblem(http.StatusForbidden, "missing-scope", "Missing scope",
					"This key lacks the scope "+s+", which this operation needs.")
				p.audited = true
				return p
			}
		}
		return next(c)
	}
}

// apiBody checks a request body before anything reads it: JSON only
// (415), at most 64 KiB (413), well-formed (400 with the byte offset),
// no key twice in one object and no deeper than apiMaxDepth (400). The
// body is then put back for the validator and the handler.
func (s *apiServer) apiBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
			return next(c)
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"Send the body as application/json.")
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, apiMaxBody+1))
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The body could not be read.").WithInternal(err)
		}
		if len(b) > apiMaxBody {
			return newProblem(http.StatusRequestEntityTooLarge, "too-large", "Body too large", "The body is over 64 KiB.")
		}
		if err := checkJSON(b); err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		return next(c)
	}
}

// checkJSON refuses what encoding/json would take silently (a key twice,
// the later one winning) or chokes on late (deep nesting), and reports a
// syntax error with its byte offset.
func checkJSON(b []byte) error {
	bad := func(detail string) error {
		return newProblem(http.StatusBadRequest, "invalid-json", "Invalid JSON", detail)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return bad("The body is empty: send one JSON value, such as {}.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		path   string
		expect bool // in an object: the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 {
				return bad(fmt.Sprintf("The body ends early, at byte %d.", len(b)))
			}
			return nil
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return bad(fmt.Sprintf("The body is not valid JSON at byte %d: %s.", se.Offset, se.Error()))
			}
			return bad(fmt.Sprintf("The body is not valid JSON at byte %d.", dec.InputOffset()))
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return bad(fmt.Sprintf("The field %q appears twice in one object (at byte %d).", joinPath(top.path, k), dec.InputOffset()))
				}
				top.keys[k] = true
				top.expect = false
				continue
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= apiMaxDepth {
					return bad(fmt.Sprintf("The body nests deeper than %d levels (at byte %d).", apiMaxDepth, dec.InputOffset()))
				}
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, expect: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expect = true
				}
			}
		default:
			if top != nil && top.object {
				top.expect = true
			}
		}
		if len(stack) == 0 && dec.More() {
			return bad(fmt.Sprintf("The body holds more than one JSON value (at byte %d).", dec.InputOffset()))
		}
	}
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// apiValidate checks the request against its operation in api/openapi.yaml
// (kin-openapi's request validator): parameters, headers and the body's
// types, unknown fields included. Each problem becomes one field error.
func (s *apiServer) apiValidate(next echo.HandlerFunc) echo.HandlerFunc {
	opts := &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	return func(c echo.Context) error {
		route, ok := s.apiRouteOf(c)
		if !ok {
			return next(c)
		}
		params := map[string]string{}
		for i, n := range c.ParamNames() {
			params[n] = c.ParamValues()[i]
		}
		in := &openapi3filter.RequestValidationInput{Request: c.Request(), PathParams: params, Route: route.route, Options: opts}
		if err := openapi3filter.ValidateRequest(c.Request().Context(), in); err != nil {
			return validationProblem(err)
		}
		return next(c)
	}
}

var unsupportedRE = regexp.MustCompile(`^property "(.+)" is unsupported$`)

// validationProblem turns the validator's errors into a 400 naming each
// field (by the request's names, nested ones joined with dots).
func validationProblem(err error) *problem {
	p := newProblem(http.StatusBadRequest, "invalid-request", "Invalid request", "The request does not match the API's contract.")
	var walk func(err error, field string)
	walk = func(err error, field string) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, x := range e {
				walk(x, field)
			}
		case *openapi3filter.RequestError:
			f := field
			if e.Parameter != nil {
				f = e.Parameter.Name
			}
			if e.Err == nil {
				p.errors = append(p.errors, api.FieldError{Field: f, Message: clearReason(f, e.Reason)})
				return
			}
			walk(e.Err, f)
		case *openapi3.SchemaError:
			path := strings.Join(e.JSONPointer(), ".")
			msg := e.Reason
			if m := unsupportedRE.FindStringSubmatch(e.Reason); m != nil {
				path = joinPath(path, m[1])
				msg = "Unknown field: this API does not read it."
			}
			if path == "" {
				path = field
			} else if field != "" && field != "body" {
				path = joinPath(field, path)
			}
			p.errors = append(p.errors, api.FieldError{Field: path, Message: clearReason(path, msg)})
		default:
			if u := errors.Unwrap(err); u != nil {
				walk(u, field)
				return
			}
			p.errors = append(p.errors, api.FieldError{Field: field, Message: clearReason(field, err.Error())})
		}
	}
	walk(err, "")
	if len(p.errors) > 0 {
		names := make([]string, 0, len(p.errors))
		for _, e := range p.errors {
			if e.Field != "" && !slices.Contains(names, e.Field) {
				names = append(names, e.Field)
			}
		}
		if len(names) > 0 {
			p.detail = "The request does not match the API's contract: " + strings.Join(names, ", ") + "."
		}
	}
	return p
}

var (
	maxLengthRE = regexp.MustCompile(`^maximum string length is (\d+)$`)
	minLengthRE = regexp.MustCompile(`^minimum string length is (\d+)$`)
	allowedRE   = regexp.MustCompile(`^value is not one of the allowed values (.*)$`)
)

// clearReason is the validator's reason for field in an integrator's
// words, saying what to send instead; a reason it does not know is kept.
func clearReason(field, reason string) string {
	name := field[strings.LastIndex(field, ".")+1:]
	switch {
	case name == "amount" && strings.HasPrefix(reason, "value must be"):
		return `Send the amount as a decimal string, such as "1250.00", never as a JSON number.`
	case name == "Idempotency-Key" && reason == openapi3filter.ErrInvalidRequired.Error():
		return "Send an Idempotency-Key header: a new value (a UUID is right) for each operation you mean to do once."
	case reason == openapi3filter.ErrInvalidRequired.Error():
		return "Required."
	case reason == "Value is not nullable":
		return "null is not accepted here: leave the field out instead."
	case reason == "value must be a string":
		return "Send this as a JSON string."
	case reason == "value must be an integer":
		return "Send a whole number."
	case reason == "value must be a boolean":
		return "Send true or false."
	case reason == "value must be an object":
		return "Send a JSON object."
	}
	if m := maxLengthRE.FindStringSubmatch(reason); m != nil {
		return "Too long: at most " + m[1] + " characters are read."
	}
	if m := minLengthRE.FindStringSubmatch(reason); m != nil {
		return "Too short: at least " + m[1] + " characters."
	}
	if m := allowedRE.FindStringSubmatch(reason); m != nil {
		return "Not one of the accepted values " + m[1] + "."
	}
	return reason
}

// apiIdempotency runs a POST at most once per key and Idempotency-Key: a
// repeat with the same request gets the stored answer with
// Idempotent-Replayed: true; another request under the key gets 422; a
// repeat while the first still runs gets 409 and Retry-After: 1. A 5xx is
// not stored, so the key may be sent again. The fingerprint is the method,
// the path and the body with its keys sorted (whitespace and key order do
// not matter).
//
// The claim is a pending row. For the operations that create a link
// (claimsWithLink) it is inserted in the link's own creating transaction,
// after a read finds no record: the API then commits as often as the form
// does. Of concurrent requests with one key exactly one stores its link;
// the others' transactions find its claim (db.ErrIdemTaken) and answer as
// a repeat would. Every other POST claims in a transaction of its own
// before it runs.
func (s *apiServer) apiIdempotency(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost {
			return next(c)
		}
		ctx := r.Context()
		caller := callerFrom(ctx)
		if caller.idemKey == "" {
			return next(c) // the validator refuses it first; a route with no body schema would come here
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var v any
		canonical := body
		if json.Unmarshal(body, &v) == nil {
			canonical, _ = json.Marshal(v)
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s\n%s\n", r.Method, r.URL.Path)
		h.Write(canonical)
		claim := db.IdemClaim{KeyID: caller.key.ID, Key: caller.idemKey, Fingerprint: hex.EncodeToString(h.Sum(nil))}
		st := s.store
		var state string
		var ans db.IdemAnswer
		var err error
		withLink := false
		if route, ok := s.apiRouteOf(c); ok && claimsWithLink[route.route.Operation.OperationID] {
			state, ans, err = st.PeekIdempotency(ctx, claim.KeyID, claim.Key, claim.Fingerprint, apiIdemStale)
			withLink = err == nil && state == ""
		}
		if err == nil && !withLink && state != db.IdemMismatch && state != db.IdemReplay && state != db.IdemBusy {
			state, ans, err = st.ClaimIdempotency(ctx, claim.KeyID, claim.Key, claim.Fingerprint, apiIdemStale)
		}
		if err != nil {
			return err
		}
		if !withLink && state != db.IdemClaimed {
			return idemRefusal(c, state, ans)
		}
		if withLink {
			caller.claim = &claim
			c.SetRequest(r.WithContext(context.WithValue(ctx, apiCallerKey{}, caller)))
		}
		// Claimed, or to be claimed with the link: run it, capturing the answer.
		rec := &captureWriter{ResponseWriter: c.Response().Writer}
		c.Response().Writer = rec
		err = next(c)
		if withLink && errors.Is(err, db.ErrIdemTaken) && !c.Response().Committed {
			// Another request with the key stored its link first.
			c.Response().Writer = rec.ResponseWriter
			state, ans, err = st.PeekIdempotency(ctx, claim.KeyID, claim.Key, claim.Fingerprint, apiIdemStale)
			if err != nil {
				return err
			}
			return idemRefusal(c, state, ans)
		}
		if err != nil && !c.Response().Committed {
			err = a.writeProblem(c, err)
		}
		c.Response().Writer = rec.ResponseWriter
		// The outcome is stored even if the client went away meanwhile.
		bg := context.WithoutCancel(ctx)
		status := c.Response().Status
		if err != nil || status >= 500 || status == http.StatusTooManyRequests {
			if rerr := st.ReleaseIdempotency(bg, claim.KeyID, claim.Key); rerr != nil {
				logFrom(ctx, a.log).Error("release idempotency key", "err", rerr)
			}
			return err
		}
		hd := c.Response().Header()
		if ferr := st.FinishIdempotency(bg, claim, db.IdemAnswer{Status: status,
			ContentType: hd.Get("Content-Type"), Location: hd.Get("Location"), Body: rec.buf.Bytes()}); ferr != nil {
			logFrom(ctx, a.log).Error("store idempotent answer", "err", ferr)
		}
		return nil
	}
}

// claimsWithLink are the operations whose Idempotency-Key claim is stored
// in the transaction of the link they create (links.Draft.Claim).
var claimsWithLink = map[string]bool{"createLink": true, "reissueLink": true}

// idemRefusal answers a request whose Idempotency-Key has a record: the
// stored answer again, 422 for another request under the key, or 409
// while the first still runs.
func idemRefusal(c echo.Context, state string, ans db.IdemAnswer) error {
	switch state {
	case db.IdemMismatch:
		p := newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			"This Idempotency-Key was used with a different request (another method, path or body). Use a new key for a new request.")
		p.errors = []api.FieldError{{Field: "Idempotency-Key", Message: "Already used with a different request."}}
		return p
	case db.IdemReplay:
		hd := c.Response().Header()
		hd.Set("Idempotent-Replayed", "true")
		if ans.Location != "" {
			hd.Set("Location", ans.Location)
		}
		return c.Blob(ans.Status, ans.ContentType, ans.Body)
	}
	p := newProblem(http.StatusConflict, "idempotency-key-in-progress", "Request in progress",
		"A request with this Idempotency-Key is still running. Retry in a second to get its answer.")
	p.header = http.Header{"Retry-After": {"1"}}
	return p
}

// captureWriter copies what is written through it.
type captureWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

// apiAudit records every call with the key as the actor, except those
// audited already: a change by the service that made it, in its own
// transaction, and a refusal of the key (api.denied) by apiAuth or
// apiScopes before the answer. It records reads (api.read), every other
// refusal (api.refused: bad input, a conflict, the rate limit) and a
// repeat answered from the Idempotency-Key's record (api.replayed).
// These go through the group-commit writer (db.AuditWriter) when there is
// one: the answer does not wait for the disk, and a crash can lose the
// last moment's entries (docs/api.md, Audit), never a change's. A key over
// its rate limit is recorded once a minute, with the count since.
func (s *apiServer) apiAudit(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.a
	return func(c echo.Context) error {
		err := next(c)
		r := c.Request()
		ctx := r.Context()
		caller := callerFrom(ctx)
		status := c.Response().Status
		p, _ := c.Get(problemWritten).(*problem)
		if err != nil {
			p = problemOf(err)
			status = p.status
		}
		var e db.AuditEntry
		switch {
		case p != nil && p.audited:
			return err
		case status == http.StatusTooManyRequests:
			more, due := s.limitedEntry(caller.key.ID, a.now())
			if !due {
				return err
			}
			e = caller.audit("api.refused")
			e.Outcome, e.Target = "failed", r.Method+" "+r.URL.Path
			e.Details = "429 Too many requests: over the key's rate limit"
			if more > 0 {
				e.Details += fmt.Sprintf(" (and %d more refused for it since the last such entry)", more)
			}
		case r.Method == http.MethodGet:
			e = caller.audit("api.read")
			e.Target = r.URL.Path
			if status >= 400 {
				e.Outcome = "failed"
			}
			if q := r.URL.RawQuery; q != "" {
				e.Details = truncate(q, 500)
			}
		case status >= 400:
			e = caller.audit("api.refused")
			e.Outcome, e.Target = "failed", r.Method+" "+r.URL.Path
			e.Details = strconv.Itoa(status)
			if p != nil {
				e.Details += " " + p.title + ": " + p.detail
			}
			e.Details = truncate(e.Details, 500)
		case c.Response().Header().Get("Idempotent-Replayed") == "true":
			e = caller.audit("api.replayed")
			e.Target = r.Method + " " + r.URL.Path
			e.Details = "the first answer (" + strconv.Itoa(status) + ") again, for Idempotency-Key " + truncate(caller.idemKey, 255)
		default:
			return err // a change: its service audited it
		}
		var aerr error
		if w := a.opts.ReadAudits; w != nil {
			aerr = w.Add(context.WithoutCancel(ctx), e)
		} else {
			aerr = a.store.Audit(context.WithoutCancel(ctx), e)
		}
		if aerr != nil {
			logFrom(ctx, a.log).Error("audit api call", "err", aerr)
		}
		return err
	}
}

// limitedEntry reports whether a rate-limit refusal of key is due an
// audit entry (the first in a minute) and how many went unrecorded since
// the last one.
func (s *apiServer) limitedEntry(key int64, now time.Time) (more int, due bool) {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	l := s.limitedLog[key]
	if !l.at.IsZero() && now.Sub(l.at) < time.Minute {
		l.more++
		s.limitedLog[key] = l
		return 0, false
	}
	s.limitedLog[key] = limitedLog{at: now}
	return l.more, true
}

// limitedLog is when a key's last rate-limit refusal was recorded, and
// how many followed unrecorded.
type limitedLog struct {
	at   time.Time
	more int
}
