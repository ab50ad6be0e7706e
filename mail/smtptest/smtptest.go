// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests: it records what it receives and can refuse
// recipients or messages, stop listening and come back on the same port.
// Only tests import it.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Options configure the server. The zero value is a plain-text server
// without STARTTLS or AUTH.
type Options struct {
	// TLS offers STARTTLS with this configuration (or, with ImplicitTLS,
	// speaks TLS from the first byte).
	TLS         *tls.Config
	ImplicitTLS bool
	// Username and Password require AUTH PLAIN (over TLS only).
	Username, Password string
}

// Server is a running test server.
type Server struct {
	opts Options
	addr string

	mu        sync.Mutex
	srv       *smtp.Server
	ln        net.Listener
	messages  []Message
	rcptFault []*smtp.SMTPError
	dataFault []*smtp.SMTPError
	afterData func() // runs after a message is accepted, before the reply
}

// Start listens on a free loopback port.
func Start(opts Options) (*Server, error) {
	if opts.ImplicitTLS && opts.TLS == nil {
		return nil, errors.New("smtptest: ImplicitTLS needs TLS")
	}
	s := &Server{opts: opts, addr: "127.0.0.1:0"}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen() error {
	var ln net.Listener
	var err error
	for range 50 { // the port may still be held briefly after Stop
		ln, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.AllowInsecureAuth = false
	if s.opts.TLS != nil && !s.opts.ImplicitTLS {
		srv.TLSConfig = s.opts.TLS
	}
	if s.opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the listening port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Stop closes the listener and every connection: the server is down.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close() // Serve may not have registered it yet
	}
	if srv != nil {
		srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error { return s.listen() }

// Close stops the server for good.
func (s *Server) Close() { s.Stop() }

// Messages returns what the server accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor waits until the server holds at least n messages or timeout
// passes, and returns them.
func (s *Server) WaitFor(n int, timeout time.Duration) []Message {
	deadline := time.Now().Add(timeout)
	for {
		m := s.Messages()
		if len(m) >= n || time.Now().After(deadline) {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RefuseRecipients answers the next n RCPT TO commands with code and text,
// like 550 "5.1.1 No such user" or 450 "4.2.1 Mailbox busy".
func (s *Server) RefuseRecipients(n, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.rcptFault = append(s.rcptFault, smtpError(code, text))
	}
}

// RefuseData answers the next n messages, after their DATA, with code and text.
func (s *Server) RefuseData(n, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.dataFault = append(s.dataFault, smtpError(code, text))
	}
}

// AfterData sets a function that runs once a message is stored, before the
// server answers (to simulate a client that dies right then).
func (s *Server) AfterData(f func()) {
	s.mu.Lock()
	s.afterData = f
	s.mu.Unlock()
}

func smtpError(code int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: text}
}

type session struct {
	s      *Server
	from   string
	to     []string
	authed bool
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || se.s.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.opts.Username || pass != se.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if len(se.s.rcptFault) > 0 {
		f := se.s.rcptFault[0]
		se.s.rcptFault = se.s.rcptFault[1:]
		return f
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	if len(se.s.dataFault) > 0 {
		f := se.s.dataFault[0]
		se.s.dataFault = se.s.dataFault[1:]
		se.s.mu.Unlock()
		return f
	}
	se.s.messages = append(se.s.messages, Message{From: se.from, To: append([]string(nil), se.to...), Data: b})
	after := se.s.afterData
	se.s.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// NewTLS makes a self-signed certificate for 127.0.0.1 and localhost and
// returns the server's configuration and a pool that trusts it.
func NewTLS() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}, pool, nil
}
