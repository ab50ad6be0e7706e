package sandbox

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"
)

//go:embed checkout.html
var checkoutHTML string

var checkoutTemplate = template.Must(template.New("checkout").Parse(checkoutHTML))

// checkoutCSS is inlined in the page and allowed by hash in the CSP.
const checkoutCSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f9;color:#1c2430}
.banner{margin:0;padding:.5rem 1rem;background:#fff4d6;color:#5c4300;text-align:center;font-size:.9rem}
main{max-width:30rem;margin:2rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(20,30,50,.08)}
.brand{margin:0 0 1rem;font-weight:700;letter-spacing:.02em;color:#2450d6}
h1{margin:0 0 1rem;font-size:1.5rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:0 0 1.5rem}
dt{color:#5b6576}
dd{margin:0;font-weight:600;overflow-wrap:anywhere}
fieldset{border:0;margin:0;padding:0}
legend{font-weight:600;margin-bottom:.75rem}
.choice{margin-bottom:.75rem}
.choice p{margin:.25rem 0 0;font-size:.85rem;color:#5b6576}
button{width:100%;padding:.75rem 1rem;font:inherit;font-weight:600;border-radius:8px;border:2px solid transparent;cursor:pointer}
button:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.pay{background:#1f7a3d;color:#fff}
.fail{background:#b3261e;color:#fff}
.abandon{background:#fff;color:#1c2430;border-color:#c5ccd8}
.support{margin:1.5rem 0 0;font-size:.9rem}
a{color:#2450d6}
`

var checkoutCSP = "default-src 'none'; style-src 'sha256-" + cssHash() + "'; base-uri 'none'; frame-ancestors 'none'"

func cssHash() string {
	sum := sha256.Sum256([]byte(checkoutCSS))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// checkoutPage is the view model of every page under /checkout/.
type checkoutPage struct {
	Kind             string // "open" or "message"
	Title            string
	Heading, Message string
	Amount, Currency string
	Reference        string
	WebsiteReference string
	SupportURL       string
	ExpiresISO       string
	ExpiresText      string
	CSS              template.CSS
}

func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	s.mu.Lock()
	ss, ok := s.sessions[ref]
	var page checkoutPage
	status := http.StatusOK
	if ok {
		st := ss.statusAt(s.now())
		page, status = sessionPage(ss, st)
	}
	s.mu.Unlock()
	if !ok {
		s.renderNotFound(w)
		return
	}
	s.render(w, status, page)
}

// sessionPage is the page for a session in status st, and its HTTP status.
// Callers hold s.mu.
func sessionPage(ss *session, st string) (checkoutPage, int) {
	p := checkoutPage{
		Reference:  ss.ref,
		SupportURL: ss.req.SupportURL,
	}
	status := http.StatusOK
	switch st {
	case StatusOpen:
		p.Kind, p.Title = "open", "Pay "+string(ss.req.Amount)+" "+ss.req.Currency
		p.Amount, p.Currency = string(ss.req.Amount), ss.req.Currency
		p.WebsiteReference = ss.req.WebsiteReference
		p.ExpiresISO = ss.expiresAt.UTC().Format(time.RFC3339)
		p.ExpiresText = ss.expiresAt.UTC().Format("2 January 2006, 15:04 MST")
	case StatusExpired:
		p.Kind, p.Title = "message", "Payment link expired"
		p.Heading = "This payment link has expired"
		p.Message = "Nothing was paid. Ask the merchant for a new payment link."
		status = http.StatusGone
	case StatusPaid:
		p.Kind, p.Title = "message", "Already completed"
		p.Heading = "This payment has already been completed"
		p.Message = "The payment went through. You can close this page."
	case StatusFailed:
		p.Kind, p.Title = "message", "Already completed"
		p.Heading = "This payment has already been completed"
		p.Message = "The payment failed. Ask the merchant for a new payment link."
	default: // abandoned
		p.Kind, p.Title = "message", "Already completed"
		p.Heading = "This payment session has already been closed"
		p.Message = "It was left without paying. Ask the merchant for a new payment link."
	}
	return p, status
}

// handleCheckoutPost is a button press on the checkout page: 303 to the
// merchant's URL, or the page explaining why not.
func (s *Server) handleCheckoutPost(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	to, err := s.applyOutcome(ref, r.PostForm.Get("outcome"))
	if err == nil {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if errors.Is(err, ErrNotFound) {
		s.renderNotFound(w)
		return
	}
	s.mu.Lock()
	ss := s.sessions[ref]
	page, status := sessionPage(ss, ss.statusAt(s.now()))
	s.mu.Unlock()
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest // the page re-offers the buttons
	case errors.Is(err, ErrClosed):
		status = http.StatusConflict
	}
	s.render(w, status, page)
}

func (s *Server) renderNotFound(w http.ResponseWriter) {
	s.render(w, http.StatusNotFound, checkoutPage{
		Kind:    "message",
		Title:   "Not found",
		Heading: "Payment session not found",
		Message: "Check the link you were given, or ask the merchant for a new one.",
	})
}

// render executes the page into a buffer, then writes it.
func (s *Server) render(w http.ResponseWriter, status int, p checkoutPage) {
	p.CSS = template.CSS(checkoutCSS)
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, p); err != nil {
		s.log.Error("render checkout page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", checkoutCSP)
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
