package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// vuser is one signed-in member of staff: a browser with its own cookie
// jar, signing in through the real form, then browsing until the window
// ends.
type vuser struct {
	email, password string
	base            *url.URL
	client          *http.Client
	rng             *rand.Rand
	rec             *recorder
	sample          []link
	end             time.Time // no request starts after this
	timeout         time.Duration
	thinkMin        time.Duration
	thinkMax        time.Duration
	withDashboard   bool          // the dashboard is part of the mix
	lastRows        []string      // link paths of the last list or search page
	pendingTotal    string        // the total the last list page deferred, for htmx to load
	signedIn        chan struct{} // closed at the first sign-in (its open lists wait for it)
}

func newVUser(email, password string, base *url.URL, tr http.RoundTripper, rng *rand.Rand, rec *recorder,
	sample []link, end time.Time, cfg config) *vuser {
	jar, _ := cookiejar.New(nil) // no error without options
	return &vuser{
		email: email, password: password, base: base, rng: rng, rec: rec, sample: sample, end: end,
		timeout: cfg.RequestTimeout, thinkMin: cfg.ThinkMin, thinkMax: cfg.ThinkMax, withDashboard: !cfg.NoDashboard,
		signedIn: make(chan struct{}),
		client: &http.Client{Transport: tr, Jar: jar,
			// Redirects are requests of their own, measured and checked.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// response is what a request got back.
type response struct {
	status int
	loc    string // Location, for a redirect
	body   []byte
}

var (
	errWindowOver = errors.New("window over")
	errSignedOut  = errors.New("signed out")
)

// do sends one request and records it under route (and search kind).
// check, if set, inspects a 2xx/3xx response and says what is wrong with
// it, or "". It returns the response, or an error if there was none or the
// window is over.
func (u *vuser) do(ctx context.Context, route, kind, method, path string, form url.Values, hdr http.Header,
	check func(response) string) (response, error) {
	if !time.Now().Before(u.end) {
		return response{}, errWindowOver
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base.String()+path, body)
	if err != nil {
		u.rec.add(route, kind, 0, 0, err, "")
		return response{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "paylinks-load/1")
	// Go's transport, like a browser, silently resends an idempotent
	// request when a reused connection closes before any answer: count
	// the connections a request took to see that.
	var conns atomic.Int32
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { conns.Add(1) },
	}))
	start := time.Now()
	resp, err := u.client.Do(req)
	if n := int(conns.Load()); n > 1 {
		u.rec.retried(route, n-1)
	}
	if err != nil {
		u.rec.add(route, kind, time.Since(start), 0, err, "")
		return response{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		u.rec.add(route, kind, d, 0, err, "")
		return response{}, err
	}
	r := response{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: b}
	// Busy on purpose: an expensive request refused while others ran.
	if (r.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && bytes.Contains(b, []byte(`data-testid="error-page"`))) ||
		(r.status == http.StatusOK && bytes.Contains(b, []byte(`data-testid="busy"`))) {
		u.rec.add(route, kind, d, r.status, nil, whyBusy)
		if r.status != http.StatusOK {
			return r, fmt.Errorf("%s %s: busy", method, path)
		}
		return r, nil
	}
	why := ""
	if r.status >= 200 && r.status < 400 {
		if r.status >= 300 && strings.HasPrefix(r.loc, "/login") {
			why = "signed out: redirected to " + r.loc
		} else if check != nil {
			why = check(r)
		} else if r.status >= 300 {
			why = "unexpected redirect to " + r.loc
		}
	}
	u.rec.add(route, kind, d, r.status, nil, why)
	switch {
	case r.status >= 300 && r.status < 400 && strings.HasPrefix(r.loc, "/login"):
		return r, fmt.Errorf("%s %s: %w", method, path, errSignedOut)
	case why != "" || r.status >= 400:
		return r, fmt.Errorf("%s %s: status %d %s", method, path, r.status, why)
	}
	return r, nil
}

// think pauses like a person reading, or returns false when the window
// ends (or ctx does) first.
func (u *vuser) think(ctx context.Context) bool {
	d := u.thinkMin
	if u.thinkMax > u.thinkMin {
		d += time.Duration(u.rng.Int64N(int64(u.thinkMax - u.thinkMin)))
	}
	return u.pause(ctx, d)
}

// pause waits d, or returns false when the window ends (or ctx does) first.
func (u *vuser) pause(ctx context.Context, d time.Duration) bool {
	if time.Now().Add(d).After(u.end) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run signs in, tours every kind of page once, then browses at random
// until the window ends. A failed sign-in is retried after a pause.
func (u *vuser) run(ctx context.Context) {
	toured, announced := false, false
	for signedIn := false; ctx.Err() == nil && time.Now().Before(u.end); {
		if !signedIn {
			if err := u.signIn(ctx); err != nil {
				if !u.pause(ctx, time.Second) { // then try again
					return
				}
				continue
			}
			signedIn = true
			if !announced {
				close(u.signedIn)
				announced = true
			}
			// The redirect lands on the dashboard; whatever it answers,
			// the user goes on.
			if err := u.dashboard(ctx); errors.Is(err, errSignedOut) {
				signedIn = false
				continue
			}
		}
		var err error
		if !toured {
			err, toured = u.tour(ctx), true
		} else if !u.think(ctx) {
			return
		} else {
			err = u.action(ctx)
		}
		if errors.Is(err, errSignedOut) {
			signedIn = false
		}
	}
}

// signIn is GET /login and POST /login with the form's CSRF token. A
// browser then follows the redirect to the dashboard: run does that.
func (u *vuser) signIn(ctx context.Context) error {
	var token string
	r, err := u.do(ctx, rLoginForm, "", http.MethodGet, "/login", nil, nil, func(r response) string {
		if r.status == http.StatusSeeOther && r.loc == "/" {
			return "" // still signed in
		}
		if r.status != http.StatusOK {
			return fmt.Sprintf("want 200, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable page"
		}
		token, _ = doc.Find(`form[method=post] input[name=_csrf]`).First().Attr("value")
		if token == "" {
			return "no CSRF token in the sign-in form"
		}
		return ""
	})
	if err != nil || r.status == http.StatusSeeOther {
		return err
	}
	if !u.think(ctx) { // typing
		return errWindowOver
	}
	form := url.Values{"_csrf": {token}, "email": {u.email}, "password": {u.password}}
	_, err = u.do(ctx, rLogin, "", http.MethodPost, "/login", form, nil, func(r response) string {
		if r.status != http.StatusSeeOther || r.loc != "/" {
			return fmt.Sprintf("want 303 to /, got %d to %q", r.status, r.loc)
		}
		return ""
	})
	return err
}

// dashboard opens the dashboard, if the mix has it.
func (u *vuser) dashboard(ctx context.Context) error {
	if !u.withDashboard {
		return nil
	}
	_, err := u.do(ctx, rDashboard, "", http.MethodGet, "/", nil, nil, wantPage(`[data-testid=attention]`))
	return err
}

// wantPage checks for a 200 whose HTML has an element matching sel.
func wantPage(sel string) func(response) string {
	return func(r response) string {
		if r.status != http.StatusOK {
			return fmt.Sprintf("want 200, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable page"
		}
		if doc.Find(sel).Length() == 0 {
			return "no " + sel + " in the page"
		}
		return ""
	}
}

// tour visits every kind of page once, so that even a short run covers
// every route: the list and its next page, a search of each kind (with
// and without htmx, typed), a link and its QR code.
func (u *vuser) tour(ctx context.Context) error {
	steps := []func() error{
		func() error { return u.browse(ctx, 1) },
		func() error { return u.search(ctx, qReference, false, false) },
		func() error { return u.search(ctx, qInvoice, true, true) },
		func() error { return u.search(ctx, qEmail, true, false) },
		func() error { return u.search(ctx, qAmount, false, false) },
		func() error { return u.openPath(ctx, u.pickLink()) },
	}
	for _, step := range steps {
		if !u.think(ctx) {
			return nil
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// action is one thing a member of staff does: browse the list (and page
// on), search, open a link, or look at the dashboard.
func (u *vuser) action(ctx context.Context) error {
	switch x := u.rng.IntN(100); {
	case x < 30:
		return u.browse(ctx, u.rng.IntN(4))
	case x < 65:
		htmx := u.rng.IntN(3) > 0
		return u.search(ctx, "", htmx, htmx && u.rng.IntN(2) == 0)
	case x < 90:
		return u.openPath(ctx, u.pickLink())
	case u.withDashboard:
		return u.dashboard(ctx)
	default:
		return u.openPath(ctx, u.pickLink())
	}
}

// listPage checks a list or search page and remembers its rows and the
// next page.
func (u *vuser) listPage(next *string, fragment bool) func(response) string {
	return func(r response) string {
		if r.status != http.StatusOK {
			return fmt.Sprintf("want 200, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable page"
		}
		if doc.Find(`[data-testid=results]`).Length() == 0 {
			return "no results section"
		}
		if !fragment && doc.Find(`[data-testid=search-form]`).Length() == 0 {
			return "no search form in the full page"
		}
		rows := u.lastRows[:0]
		doc.Find(`tr[data-testid=links-row] a[href]`).Each(func(_ int, s *goquery.Selection) {
			if h, _ := s.Attr("href"); strings.HasPrefix(h, "/links/") && (len(rows) == 0 || rows[len(rows)-1] != h) {
				rows = append(rows, h)
			}
		})
		u.lastRows = rows
		u.pendingTotal, _ = doc.Find(`[data-testid=total-count]`).Attr("hx-get")
		if next != nil {
			*next, _ = doc.Find(`a[data-testid=next-page]`).Attr("href")
		}
		return ""
	}
}

// htmxHeader is what htmx sends with a request from the links page.
func (u *vuser) htmxHeader() http.Header {
	return http.Header{"Hx-Request": {"true"}, "Hx-Current-Url": {u.base.String() + "/links"}}
}

// loadTotal loads the total the last list page deferred, as htmx does as
// soon as the page is shown.
func (u *vuser) loadTotal(ctx context.Context) error {
	path := u.pendingTotal
	if path == "" {
		return nil
	}
	u.pendingTotal = ""
	_, err := u.do(ctx, rCount, "", http.MethodGet, path, nil, u.htmxHeader(), func(r response) string {
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`data-testid="total-count"`)) {
			return fmt.Sprintf("want the total, got %d", r.status)
		}
		return ""
	})
	return err
}

// browse opens the list and follows "Next" pages times, then perhaps
// opens a link from the last page.
func (u *vuser) browse(ctx context.Context, pages int) error {
	var next string
	if _, err := u.do(ctx, rLinks, "", http.MethodGet, "/links", nil, nil, u.listPage(&next, false)); err != nil {
		return err
	}
	if err := u.loadTotal(ctx); err != nil {
		return err
	}
	for ; pages > 0 && next != ""; pages-- {
		if !u.think(ctx) {
			return nil
		}
		path := next
		if _, err := u.do(ctx, rLinksNext, "", http.MethodGet, path, nil, nil, u.listPage(&next, false)); err != nil {
			return err
		}
		if err := u.loadTotal(ctx); err != nil {
			return err
		}
	}
	if u.rng.IntN(2) == 0 && len(u.lastRows) > 0 && u.think(ctx) {
		return u.openPath(ctx, u.lastRows[u.rng.IntN(len(u.lastRows))])
	}
	return nil
}

// searchTerm is what staff type for a search of kind: an exact
// StableMint reference, the start of an invoice number, part of an email,
// or an amount. "" picks a kind at random.
func (u *vuser) searchTerm(kind string) (string, string) {
	if kind == "" {
		kind = []string{qReference, qInvoice, qEmail, qAmount}[u.rng.IntN(4)]
	}
	l := u.sample[u.rng.IntN(len(u.sample))]
	for range 20 { // a link that has the field
		if (kind != qReference || l.SMRef != "") && (kind != qInvoice || len(l.WebsiteRef) > 4) {
			break
		}
		l = u.sample[u.rng.IntN(len(u.sample))]
	}
	switch kind {
	case qReference:
		if l.SMRef != "" {
			return qReference, l.SMRef
		}
	case qInvoice:
		if len(l.WebsiteRef) > 4 {
			// "INV-2026-0001234" → "INV-2026-00012": up to a hundred matches
			return qInvoice, l.WebsiteRef[:len(l.WebsiteRef)-2]
		}
	case qEmail:
		local, _, _ := strings.Cut(l.Email, "@")
		if _, last, ok := strings.Cut(local, "."); ok && u.rng.IntN(2) == 0 {
			return qEmail, strings.TrimRight(last, "0123456789") // a surname: thousands of matches
		}
		return qEmail, local // "ada.lovelace12"
	}
	return qAmount, l.AmountText
}

// search looks for a term of kind ("" for any) as the live search sends
// it (htmx: the results fragment, perhaps after a partial term while
// typing), or submitted without htmx, where a single exact reference hit
// redirects to the link. Then it may open a result.
func (u *vuser) search(ctx context.Context, kind string, htmx, typing bool) error {
	kind, term := u.searchTerm(kind)
	hdr := u.htmxHeader()
	if htmx && typing && len(term) > 4 {
		partial := term[:3+u.rng.IntN(len(term)-3)]
		if _, err := u.do(ctx, rSearch, qTyping, http.MethodGet, "/links?q="+url.QueryEscape(partial), nil, hdr, u.listPage(nil, true)); err != nil {
			return err
		}
		if err := u.loadTotal(ctx); err != nil {
			return err
		}
		if !u.think(ctx) {
			return nil
		}
	}
	path := "/links?q=" + url.QueryEscape(term)
	if htmx {
		if _, err := u.do(ctx, rSearch, kind, http.MethodGet, path, nil, hdr, u.listPage(nil, true)); err != nil {
			return err
		}
		if err := u.loadTotal(ctx); err != nil {
			return err
		}
	} else {
		var hit string
		_, err := u.do(ctx, rSearch, kind, http.MethodGet, path, nil, nil, func(r response) string {
			// A unique exact reference goes straight to its link.
			switch {
			case kind == qReference && (r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/links/")):
				return fmt.Sprintf("want 303 to the link, got %d to %q", r.status, r.loc)
			case kind == qReference:
				hit = r.loc
				return ""
			}
			return u.listPage(nil, false)(r)
		})
		if err != nil {
			return err
		}
		if hit != "" { // the browser follows the redirect
			return u.openPath(ctx, hit)
		}
		if err := u.loadTotal(ctx); err != nil {
			return err
		}
	}
	if u.rng.IntN(2) == 0 && len(u.lastRows) > 0 && u.think(ctx) {
		return u.openPath(ctx, u.lastRows[u.rng.IntN(len(u.lastRows))])
	}
	return nil
}

// pickLink is a link from the last page seen, or any sampled link.
func (u *vuser) pickLink() string {
	if len(u.lastRows) > 0 && u.rng.IntN(2) == 0 {
		return u.lastRows[u.rng.IntN(len(u.lastRows))]
	}
	return "/links/" + strconv.FormatInt(u.sample[u.rng.IntN(len(u.sample))].ID, 10)
}

// openPath opens a link's page and, as a browser does, its QR code image.
func (u *vuser) openPath(ctx context.Context, path string) error {
	var qr string
	check := func(r response) string {
		if r.status != http.StatusOK {
			return fmt.Sprintf("want 200, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable page"
		}
		if doc.Find(`[data-testid=link-status]`).Length() == 0 {
			return "no link status in the page"
		}
		qr, _ = doc.Find(`img[data-testid=qr]`).Attr("src")
		return ""
	}
	if _, err := u.do(ctx, rLink, "", http.MethodGet, path, nil, nil, check); err != nil {
		return err
	}
	if qr == "" {
		return nil
	}
	_, err := u.do(ctx, rLinkQR, "", http.MethodGet, qr, nil, nil, func(r response) string {
		if r.status != http.StatusOK || !bytes.HasPrefix(r.body, []byte("\x89PNG")) {
			return "want a PNG"
		}
		return ""
	})
	return err
}
