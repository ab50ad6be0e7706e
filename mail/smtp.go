package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds connecting and every SMTP command (docs/security.md A11).
const DefaultTimeout = 15 * time.Second

// Security is how the connection to the SMTP server is protected.
type Security int

const (
	// STARTTLS upgrades a plain connection and refuses a server that does
	// not offer it (go-mail TLSMandatory; never TLSOpportunistic, which
	// falls back to plain text).
	STARTTLS Security = iota
	// ImplicitTLS speaks TLS from the first byte (smtps, port 465).
	ImplicitTLS
	// PlainText sends everything, unencrypted: for local test servers
	// only, and only when the URL asks for it with ?tls=none.
	PlainText
)

func (s Security) String() string {
	switch s {
	case STARTTLS:
		return "STARTTLS required"
	case ImplicitTLS:
		return "implicit TLS"
	case PlainText:
		return "plain text, unencrypted"
	}
	return "unknown"
}

// SMTPConfig is where and how to send.
type SMTPConfig struct {
	Host     string
	Port     int
	Security Security
	Username string // empty: no SMTP AUTH
	Password string
	// Timeout bounds the connection and each command; 0 means 15 s.
	Timeout time.Duration
	// RootCAs verifies the server certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// HELO is the name paylinks greets with; empty means the host name.
	HELO string
}

// String describes the server without the password, for logs.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.Security == ImplicitTLS {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	return u.String() + " (" + c.Security.String() + ")"
}

// ParseSMTPURL reads PAYLINKS_SMTP_URL:
//
//	smtp://user:pass@host:587        STARTTLS required (port 587 by default)
//	smtps://user:pass@host:465       implicit TLS (port 465 by default)
//	smtp://host:1025?tls=none        plain text, for local test servers
//
// User and password are optional and URL-encoded. A password is refused
// over plain text. Errors never repeat the password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, errors.New("not a URL (smtp://user:pass@host:587, smtps://user:pass@host:465 or smtp://host:1025?tls=none)")
	}
	shown := u.Redacted()
	c := SMTPConfig{Host: u.Hostname(), Timeout: DefaultTimeout}
	switch u.Scheme {
	case "smtp":
		c.Security, c.Port = STARTTLS, 587
	case "smtps":
		c.Security, c.Port = ImplicitTLS, 465
	default:
		return SMTPConfig{}, fmt.Errorf("%s: the scheme must be smtp or smtps", shown)
	}
	if c.Host == "" {
		return SMTPConfig{}, fmt.Errorf("%s: no host", shown)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("%s: bad port", shown)
		}
		c.Port = n
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" || u.Opaque != "" {
		return SMTPConfig{}, fmt.Errorf("%s: no path or fragment allowed", shown)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("%s: bad query", shown)
	}
	for k, v := range q {
		if k != "tls" || len(v) != 1 {
			return SMTPConfig{}, fmt.Errorf("%s: unknown parameter %q (only tls=none is understood)", shown, k)
		}
	}
	switch tlsMode := q.Get("tls"); {
	case tlsMode == "":
	case tlsMode == "none" && u.Scheme == "smtp":
		c.Security = PlainText
		if u.Port() == "" {
			c.Port = 25
		}
	default:
		return SMTPConfig{}, fmt.Errorf("%s: tls=%s is not understood (only smtp://…?tls=none)", shown, tlsMode)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if c.Security == PlainText && (c.Username != "" || c.Password != "") {
		return SMTPConfig{}, fmt.Errorf("%s: refusing to send credentials over plain text; use smtp:// (STARTTLS) or smtps://", shown)
	}
	return c, nil
}

// SMTP sends messages through one SMTP server, one connection per message.
// It is safe for concurrent use.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP checks the configuration and builds the sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 {
		return nil, errors.New("mail: SMTP host and port are required")
	}
	if cfg.Security == PlainText && cfg.Username != "" {
		return nil, errors.New("mail: refusing to send credentials over plain text")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &SMTP{cfg: cfg}, nil
}

// String describes the server, without the password.
func (s *SMTP) String() string { return s.cfg.String() }

func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: s.cfg.RootCAs}),
	}
	switch s.cfg.Security {
	case STARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.TLSMandatory))
	case PlainText:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// Send delivers m and returns the server's reply to the message (such as
// "250 2.0.0 Ok: queued as 4F2A"). A failure is a *DeliveryError that
// says whether trying again can help.
func (s *SMTP) Send(ctx context.Context, m Message) (string, error) {
	msg, err := Build(m)
	if err != nil {
		return "", &DeliveryError{Permanent: true, Reason: "the message is invalid: " + err.Error(), Err: err}
	}
	c, err := s.client()
	if err != nil {
		return "", &DeliveryError{Reason: "the mail client could not be configured: " + err.Error(), Err: err}
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// The server took the message; an error now (RSET, QUIT) must not
		// make it go again.
		return msg.ServerResponse(), nil
	}
	if err == nil {
		return "", &DeliveryError{Reason: "the mail server did not confirm the message"}
	}
	return "", classify(err)
}

// DeliveryError is a failed attempt. Permanent failures (a 5xx reply to the
// sender, recipient or message) must not be retried; everything else
// (network, timeouts, 4xx, TLS or sign-in problems that an admin can fix)
// may be.
type DeliveryError struct {
	Permanent bool
	Code      int    // the SMTP reply code, 0 when the server said nothing
	Reason    string // one sentence for staff, with the server's words
	Err       error
}

func (e *DeliveryError) Error() string { return e.Reason }
func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery failure that retrying
// cannot fix.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// classify turns a go-mail error into a DeliveryError.
func classify(err error) *DeliveryError {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		d := &DeliveryError{Code: code, Err: err, Permanent: code >= 500 && code <= 599}
		what := "sending failed"
		switch se.Reason {
		case gomail.ErrSMTPMailFrom:
			what = "the mail server refused the sender"
		case gomail.ErrSMTPRcptTo:
			what = "the mail server refused the recipient"
		case gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			what = "the mail server refused the message"
			// go-mail's SendError does not unwrap: the words are all there is.
			if words := serverWords(se); code == 0 && (strings.HasSuffix(words, "EOF") || strings.Contains(words, "connection reset")) {
				// No reply at all: the server dropped the connection while
				// the message was going; it may or may not have kept it.
				d.Reason = "the mail server closed the connection before it confirmed the message; it will be tried again"
				return d
			}
		case gomail.ErrWriteContent:
			what = "the connection broke while the message was being sent"
		case gomail.ErrConnCheck:
			what = "the connection to the mail server failed"
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			what, d.Permanent = "the message could not be sent as built", true
		}
		d.Reason = what + ": " + serverWords(se)
		return d
	}
	d := &DeliveryError{Err: err}
	var te *textproto.Error
	var ne net.Error
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &te):
		// A refusal while connecting, greeting or signing in is about the
		// server or our configuration, not this message: retried, so the
		// queue drains once an admin fixes it.
		d.Code = te.Code
		d.Reason = fmt.Sprintf("the mail server refused the connection setup: %03d %s", te.Code, oneLine(te.Msg))
	case errors.As(err, &ce):
		d.Reason = "the mail server's TLS certificate was not accepted: " + oneLine(ce.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		d.Reason = "the mail server did not answer in time: " + oneLine(err.Error())
	case strings.Contains(err.Error(), "STARTTLS"): // go-mail has no sentinel; this only picks the wording

		d.Reason = "the mail server does not offer STARTTLS, so nothing was sent (encryption is required): " + oneLine(err.Error())
	default:
		d.Reason = "the mail server could not be reached: " + oneLine(err.Error())
	}
	return d
}

// serverWords is the reply text inside a SendError, without go-mail's
// prefix and its list of recipients and message ids.
func serverWords(se *gomail.SendError) string {
	s := strings.TrimPrefix(se.Error(), se.Reason.String())
	s = strings.TrimPrefix(s, ":")
	if i := strings.Index(s, ", affected "); i >= 0 {
		s = s[:i]
	}
	return oneLine(unquoteReply(strings.TrimSpace(s)))
}

// unquoteReply undoes net/textproto's quoting of the reply text
// (`550 "5.1.1 No such user"` since Go 1.26) so staff read the server's
// words as sent.
func unquoteReply(s string) string {
	code, text, ok := strings.Cut(s, " ")
	if !ok || len(code) != 3 || !strings.HasPrefix(text, `"`) {
		return s
	}
	if u, err := strconv.Unquote(text); err == nil {
		return code + " " + u
	}
	return s
}

// oneLine keeps a reason on one line and under 500 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= 500 {
		return s
	}
	cut := 500
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
