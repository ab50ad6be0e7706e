package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// listenCmd is `paylinks listen [--forward-to URL] [--events a,b] [--addr
// host:port]`, the developer's receiver, as `stripe listen` is: it
// registers itself as an outbound-webhook endpoint of the local paylinks
// (sandbox mode only), verifies every delivery's signature with the
// Standard Webhooks reference library, prints it, and forwards it, headers
// and all, to --forward-to. It writes the endpoint straight into the
// database (PAYLINKS_DB) that the local `paylinks serve` uses, whose
// worker delivers to it; on exit it deletes the endpoint again.
func listenCmd(ctx context.Context, st *db.Store, sandboxMode bool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	forward := fs.String("forward-to", "", "URL to forward each verified event to (e.g. http://localhost:3000/webhooks)")
	events := fs.String("events", "", "comma-separated event types (default: all)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if !sandboxMode {
		return errors.New("listen: works only in sandbox mode (STABLEMINT_BASE_URL unset): a production paylinks refuses loopback endpoints")
	}
	types := db.OutboundEventTypes
	if *events != "" {
		types = strings.Split(*events, ",")
	}
	if *forward != "" {
		if u, err := url.Parse(*forward); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("listen: --forward-to must be an http(s) URL")
		}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("listen: --addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("listen: --addr must be a loopback address")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	secret := outbound.NewSecret()
	ep, err := st.CreateOutboundEndpoint(ctx, db.NewOutboundEndpoint{URL: "http://" + ln.Addr().String() + "/", Types: types,
		Secret: secret, Listener: true, Description: "paylinks listen"}, db.AuditEntry{Action: "webhook_endpoint.create", Details: "paylinks listen"})
	if err != nil {
		return fmt.Errorf("listen: register: %w", err)
	}
	defer func() {
		_ = st.DeleteOutboundEndpoint(context.WithoutCancel(ctx), ep.ID, db.AuditEntry{Action: "webhook_endpoint.delete"})
	}()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	l := &listener{wh: wh, forward: *forward, out: stdout, client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	fmt.Fprintf(stdout, "Ready! Listening on %s as webhook endpoint #%d (%d event types).\nYour webhook signing secret is %s\n",
		ep.URL, ep.ID, len(types), secret)
	if *forward != "" {
		fmt.Fprintf(stdout, "Forwarding verified events to %s\n", *forward)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop; the endpoint is removed when you do.")
	srv := &http.Server{Handler: l, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// listener verifies, prints and forwards one delivery at a time.
type listener struct {
	wh      *standardwebhooks.Webhook
	forward string
	client  *http.Client
	mu      sync.Mutex // one printed line at a time
	out     io.Writer
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	var p struct {
		Type   string `json:"type"`
		Replay bool   `json:"replay"`
		Data   struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	id := r.Header.Get("webhook-id")
	if err := l.wh.Verify(body, r.Header); err != nil {
		l.printf("%s  %-22s %s  signature NOT verified: %v -> 401\n", time.Now().Format(time.TimeOnly), p.Type, id, err)
		http.Error(w, "signature not verified", http.StatusUnauthorized)
		return
	}
	what := p.Type
	if p.Data.ID != 0 {
		what += fmt.Sprintf(" link #%d %s", p.Data.ID, p.Data.Status)
	}
	if p.Replay {
		what += " (replay)"
	}
	if l.forward == "" {
		l.printf("%s  %s  %s  verified\n", time.Now().Format(time.TimeOnly), what, id)
		w.WriteHeader(http.StatusOK)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, l.forward, bytes.NewReader(body))
	if err != nil {
		http.Error(w, "bad forward address", http.StatusInternalServerError)
		return
	}
	for _, h := range []string{"Content-Type", "webhook-id", "webhook-timestamp", "webhook-signature"} {
		req.Header.Set(h, r.Header.Get(h))
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.printf("%s  %s  %s  verified, forward failed: %v\n", time.Now().Format(time.TimeOnly), what, id, err)
		http.Error(w, "forward failed", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	l.printf("%s  %s  %s  verified -> [%d] %s\n", time.Now().Format(time.TimeOnly), what, id, resp.StatusCode, l.forward)
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

func (l *listener) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, format, args...)
}
