package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// LogComponent is the "component" attribute the sandbox puts on each of its
// log records.
const LogComponent = "stablemint-sandbox"

// Defaults written in one place.
const (
	DefaultAddr        = "127.0.0.1:9090"
	DefaultSessionTTL  = 24 * time.Hour
	defaultHTTPTimeout = 10 * time.Second
	keyBits            = 2048
)

// Errors returned by the test controls. They are wrapped with detail; test
// with errors.Is.
var (
	ErrNotFound = errors.New("sandbox: not found")
	ErrExpired  = errors.New("sandbox: session expired")
	ErrClosed   = errors.New("sandbox: session already completed")
	ErrInvalid  = errors.New("sandbox: invalid argument")
	ErrStopped  = errors.New("sandbox: server closed")
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	Addr             string          // listen address; "127.0.0.1:0" for tests; default DefaultAddr
	PublicURL        string          // base of checkout URLs; "" = the listener's URL (or the request's Host when serving through Handler only)
	APIKey           string          // required
	APISecret        string          // required
	PartnerPublicKey *rsa.PublicKey  // required: verifies the partner's request signatures
	Scheme           string          // "v1" (default) | "v2"
	WebhookURL       string          // where webhooks go; "" = record but don't deliver
	Family           string          // "v2" (default) | "partner" | "legacy"
	PrivateKey       *rsa.PrivateKey // webhook signing key; nil = generate a 2048-bit key in memory
	TimeScale        float64         // retry delays are multiplied by this; 0 => 1
	SessionTTL       time.Duration   // default DefaultSessionTTL
	Now              func() time.Time
	HTTPClient       *http.Client // webhook delivery; default: 10 s timeout, redirects not followed
	Logger           *slog.Logger // optional; never given secrets or webhook bodies; the sandbox adds component=LogComponent, so pass one without a component
	Strict           bool         // also apply paylinks' own stricter conventions to POST /session/hosted (see the package documentation)
}

// Server is a fake StableMint: the hosted-session API, the hosted checkout
// page, signed webhook delivery and the /_sandbox/ test controls.
type Server struct {
	addr       string
	apiKey     string
	apiSecret  string
	partnerKey *rsa.PublicKey
	scheme     string
	strict     bool
	family     family
	privKey    *rsa.PrivateKey
	pubPEM     []byte
	timeScale  float64
	ttl        time.Duration
	now        func() time.Time
	client     *http.Client
	ownClient  bool
	log        *slog.Logger
	handler    http.Handler
	page       *template.Template

	ctx    context.Context // cancelled by Close; aborts in-flight deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery pumps and pending retry timers

	mu         sync.Mutex
	publicURL  string
	listenURL  string
	webhookURL string
	started    bool
	closed     bool
	httpSrv    *http.Server
	serveDone  chan struct{}

	sessions   map[string]*session // by reference
	sessOrder  []*session
	byIdemKey  map[string]*session
	events     map[string]*event // by id
	eventOrder []*event
	queues     map[string]*queue // by session reference
	timers     map[int]*time.Timer
	timerSeq   int
	jobSeq     int
	deliveries []Delivery

	failCreates      int
	failCreateStatus int
	slowCreates      int
	slowCreateDelay  time.Duration
	dropNextCreate   bool
	failDeliveries   int
	corruptNext      bool
}

// New checks cfg and builds a Server. It does not listen: call Start, or
// serve Handler yourself.
func New(cfg Config) (*Server, error) {
	var problems []string
	if cfg.APIKey == "" {
		problems = append(problems, "APIKey is required")
	}
	if cfg.APISecret == "" {
		problems = append(problems, "APISecret is required")
	}
	if cfg.PartnerPublicKey == nil {
		problems = append(problems, "PartnerPublicKey is required")
	}
	scheme := orDefault(cfg.Scheme, "v1")
	if scheme != "v1" && scheme != "v2" {
		problems = append(problems, fmt.Sprintf("Scheme %q: want v1 or v2", cfg.Scheme))
	}
	fam, ok := families[orDefault(cfg.Family, "v2")]
	if !ok {
		problems = append(problems, fmt.Sprintf("Family %q: want v2, partner or legacy", cfg.Family))
	}
	if cfg.TimeScale < 0 {
		problems = append(problems, "TimeScale must not be negative")
	}
	if cfg.SessionTTL < 0 {
		problems = append(problems, "SessionTTL must not be negative")
	}
	if cfg.PublicURL != "" && !absoluteHTTPURL(cfg.PublicURL) {
		problems = append(problems, fmt.Sprintf("PublicURL %q: want an absolute http(s) URL", cfg.PublicURL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sandbox: %s", strings.Join(problems, "; "))
	}

	s := &Server{
		addr:       orDefault(cfg.Addr, DefaultAddr),
		apiKey:     cfg.APIKey,
		apiSecret:  cfg.APISecret,
		partnerKey: cfg.PartnerPublicKey,
		scheme:     scheme,
		strict:     cfg.Strict,
		family:     fam,
		privKey:    cfg.PrivateKey,
		timeScale:  cfg.TimeScale,
		ttl:        cfg.SessionTTL,
		now:        cfg.Now,
		client:     cfg.HTTPClient,
		log:        cfg.Logger,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		webhookURL: cfg.WebhookURL,
		sessions:   make(map[string]*session),
		byIdemKey:  make(map[string]*session),
		events:     make(map[string]*event),
		queues:     make(map[string]*queue),
		timers:     make(map[int]*time.Timer),
		page:       checkoutTemplate,
	}
	if s.timeScale == 0 {
		s.timeScale = 1
	}
	if s.ttl == 0 {
		s.ttl = DefaultSessionTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// The sandbox names its own component, as the client does; callers pass
	// a logger without one (cmd/paylinks/provider.go), so a record carries it
	// once.
	s.log = s.log.With("component", LogComponent)
	if s.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		s.client = &http.Client{
			Transport:     t,
			Timeout:       defaultHTTPTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		s.ownClient = true
	}
	if s.privKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, keyBits)
		if err != nil {
			return nil, fmt.Errorf("sandbox: generate signing key: %w", err)
		}
		s.privKey = k
	}
	der, err := x509.MarshalPKIXPublicKey(&s.privKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode public key: %w", err)
	}
	s.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Start binds Addr and serves in a goroutine until Close.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStopped
	}
	if s.started {
		return errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", s.addr, err)
	}
	s.started = true
	s.listenURL = listenerURL(ln.Addr())
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}(s.httpSrv, s.serveDone)
	s.log.Info("listening", "url", s.listenURL)
	return nil
}

// listenerURL names a listener; an unspecified address (0.0.0.0, ::) is
// reached through loopback.
func listenerURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// URL is the base URL the API is served on: the listener's after Start,
// otherwise the configured PublicURL (possibly "").
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listenURL != "" {
		return s.listenURL
	}
	return s.publicURL
}

// checkoutBase is the base of checkout URLs.
func (s *Server) checkoutBase(r *http.Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.publicURL != "":
		return s.publicURL
	case s.listenURL != "":
		return s.listenURL
	default:
		return "http://" + r.Host
	}
}

// Handler serves the StableMint API, the checkout pages and /_sandbox/.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops serving, cancels in-flight deliveries, stops every retry timer
// and waits for the delivery goroutines to end. Queued deliveries are dropped.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	timers := s.timers
	s.timers = make(map[int]*time.Timer)
	srv, done := s.httpSrv, s.serveDone
	s.mu.Unlock()

	s.cancel()
	for _, t := range timers {
		if t.Stop() {
			s.wg.Done() // its callback will never run
		}
	}
	var err error
	if srv != nil {
		err = srv.Close()
		<-done
	}
	s.wg.Wait()
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return err
}

// PublicKeyPEM is the PKIX PEM of the webhook signing key.
func (s *Server) PublicKeyPEM() []byte { return append([]byte(nil), s.pubPEM...) }

// SetWebhookURL changes where webhooks go from the next attempt on; "" stops
// delivery (attempts are recorded as not delivered).
func (s *Server) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("POST /session/hosted", s.handleCreate)
	mux.HandleFunc("GET /checkout/{ref}", s.handleCheckout)
	mux.HandleFunc("POST /checkout/{ref}", s.handleCheckoutPost)

	mux.HandleFunc("GET /_sandbox/public-key.pem", s.handlePublicKey)
	mux.HandleFunc("GET /_sandbox/sessions", s.handleSessions)
	mux.HandleFunc("GET /_sandbox/sessions/{ref}", s.handleSession)
	mux.HandleFunc("POST /_sandbox/sessions/{ref}/outcome", s.handleOutcome)
	mux.HandleFunc("POST /_sandbox/sessions/{ref}/expire", s.handleExpire)
	mux.HandleFunc("POST /_sandbox/sessions/{ref}/send", s.handleSend)
	mux.HandleFunc("GET /_sandbox/events", s.handleEvents)
	mux.HandleFunc("POST /_sandbox/events/{id}/redeliver", s.handleRedeliver)
	mux.HandleFunc("POST /_sandbox/events/{id}/duplicate", s.handleDuplicate)
	mux.HandleFunc("GET /_sandbox/deliveries", s.handleDeliveries)
	mux.HandleFunc("POST /_sandbox/corrupt-next-signature", s.handleCorrupt)
	mux.HandleFunc("POST /_sandbox/fail-next-deliveries", s.handleFailDeliveries)
	mux.HandleFunc("POST /_sandbox/fail-next-creates", s.handleFailCreates)
	mux.HandleFunc("POST /_sandbox/drop-next-create", s.handleDropCreate)
	mux.HandleFunc("POST /_sandbox/slow-next-creates", s.handleSlowCreates)
	mux.HandleFunc("POST /_sandbox/webhook-url", s.handleWebhookURL)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "StableMint sandbox (paylinks). Not StableMint; no real money moves.\n\n"+
		"POST /session/hosted  (scheme %s)\nGET  /checkout/{reference}\n"+
		"GET  /_sandbox/public-key.pem\nGET  /_sandbox/sessions\nGET  /_sandbox/deliveries\n",
		s.scheme)
}

func (s *Server) handlePublicKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(s.pubPEM)
}

// writeJSON writes v as the response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// What a refusal is, as the X-Sandbox-Refusal header and the body's
// "refusal" say.
const (
	refusalAlways   = "always"   // the sandbox refuses it in every mode
	refusalStrict   = "strict"   // only a Strict sandbox refuses it: the document allows it
	refusalInjected = "injected" // FailNextCreates
	refusalControl  = "control"  // a /_sandbox/ test control refused its argument
)

// apiError is the sandbox's own error body convention. "sandbox": true comes
// first, so that even the start of a stored body shows it is no StableMint
// refusal.
type apiError struct {
	Sandbox bool   `json:"sandbox"`
	Refusal string `json:"refusal"`
	Error   string `json:"error"`
	Field   string `json:"field"`
}

// writeError answers a refusal, marked as the sandbox's by the
// X-Sandbox-Refusal header and the body's "sandbox": true.
func writeError(w http.ResponseWriter, status int, refusal, field, msg string) {
	w.Header().Set("X-Sandbox-Refusal", refusal)
	writeJSON(w, status, apiError{Sandbox: true, Refusal: refusal, Error: msg, Field: field})
}
