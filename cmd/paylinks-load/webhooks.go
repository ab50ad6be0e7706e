package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// sandboxKey is the demo sandbox's webhook signing key, which serve keeps
// beside the database (cmd/paylinks/provider.go); serve trusts its public
// half, so deliveries signed with it verify as StableMint's.
func sandboxKey(dbPath string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dbPath), "sandbox", "sandbox-private.pem"))
	if err != nil {
		return nil, fmt.Errorf("demo webhook key: %w", err)
	}
	return stablemint.ParseRSAPrivateKeyPEM(b)
}

// depositEvents is the V2 success sequence, in order.
var depositEvents = []string{"created", "initiated", "submitted", "accepted", "completed"}

// Webhook plan: deliveries go to waves of waveLinks links at a time, each
// link getting the five events of its payment in order, one wave step
// apart (at 100/s a link's events come a second apart); every dupEvery-th
// delivery instead repeats the event sent dupLag deliveries earlier (same
// eventId, fresh signature), as StableMint's retries do.
const (
	waveLinks = 100
	dupEvery  = 20
	dupLag    = 50
)

// webhook is one signed delivery.
type webhook struct {
	body      []byte
	eventID   string
	ts, sig   string
	duplicate bool // repeats an earlier delivery's event
}

// webhookPlan builds the deliveries in order.
type webhookPlan struct {
	key    *rsa.PrivateKey
	links  []link   // open or processing links with a StableMint reference
	ids    []string // eventId of original event k
	bodies [][]byte // body of original event k
}

func newWebhookPlan(key *rsa.PrivateKey, sample []link) *webhookPlan {
	var links, fallback []link
	for _, l := range sample {
		if l.SMRef == "" {
			continue
		}
		fallback = append(fallback, l)
		if l.Status == string(paylink.StatusOpen) || l.Status == string(paylink.StatusProcessing) {
			links = append(links, l)
		}
	}
	if len(links) < waveLinks {
		links = fallback // small databases: any link StableMint knows
	}
	return &webhookPlan{key: key, links: links}
}

// event returns the link and event type of original delivery k.
func (p *webhookPlan) event(k int) (link, string) {
	wave, pos := k/(waveLinks*len(depositEvents)), k%(waveLinks*len(depositEvents))
	step, slot := pos/waveLinks, pos%waveLinks
	return p.links[(wave*waveLinks+slot)%len(p.links)], depositEvents[step]
}

// delivery builds delivery i, unsigned: original event k, or for every
// dupEvery-th delivery a repeat of an earlier event's exact body. Call it
// for i = 0, 1, 2, … in order.
func (p *webhookPlan) delivery(i int) webhook {
	k := i - i/dupEvery // original event index
	if i > 0 && i%dupEvery == 0 {
		k = max(0, k-dupLag)
		return webhook{body: p.bodies[k], eventID: p.ids[k], duplicate: true}
	}
	l, typ := p.event(k)
	d := sandbox.V2Data{
		EventType: "partner.customer.deposit." + typ, Timestamp: time.Now().UTC().Format(time.RFC3339),
		SessionID: l.SMRef, Reference: fmt.Sprintf("DEP%013d", l.ID),
		IdempotencyKey: &l.Key, WebsiteReference: &l.WebsiteRef,
		Amount: json.Number(l.AmountText), Currency: l.Currency,
		CustomerID: l.CustomerID, CustomerEmail: l.Email, PaymentMethod: "BANK_TRANSFER", PaymentCountryCode: l.Country,
	}
	if typ != "created" && typ != "initiated" {
		e2e := fmt.Sprintf("E2E%021d", l.ID)
		d.EndToEndID = &e2e
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	id := uuid.NewString()
	if err := enc.Encode(sandbox.V2Envelope{EventID: id, Data: d}); err != nil {
		panic(err) // strings and a valid number always encode
	}
	body := bytes.TrimRight(buf.Bytes(), "\n")
	p.ids = append(p.ids, id)
	p.bodies = append(p.bodies, body)
	return webhook{body: body, eventID: id}
}

// signAll builds and signs deliveries 0…n-1 on every CPU. A duplicate
// carries its event's body with a fresh timestamp and signature, as a
// StableMint retry does; the server tells it apart by eventId.
func (p *webhookPlan) signAll(ctx context.Context, n int) ([]webhook, error) {
	out := make([]webhook, n)
	for i := range out { // in order: eventID grows p.ids
		out[i] = p.delivery(i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				ts := stablemint.FormatWebhookTimestamp(time.Now())
				sig, err := stablemint.SignWebhook(p.key, ts, out[i].body)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i].ts, out[i].sig = ts, sig
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, firstErr
}

// maxInFlight bounds the sender's concurrent deliveries: beyond it a
// delivery is counted as dropped instead of queueing without bound.
const maxInFlight = 2000

// sendWebhooks posts hooks at rate per second, evenly paced from start
// (open model: a slow server does not slow the sender), round robin from
// the source addresses, until end. Each request gets reqTimeout.
func sendWebhooks(ctx context.Context, target string, hooks []webhook, rate float64, sources []netip.Addr,
	start, end time.Time, reqTimeout time.Duration, rec *recorder) {
	clients := make([]*http.Client, len(sources))
	for i, src := range sources {
		clients[i] = &http.Client{Transport: loopbackTransport(src, 64),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		defer clients[i].CloseIdleConnections()
	}
	interval := time.Duration(float64(time.Second) / rate)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) || i >= len(hooks) {
			return
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		if inflight.Load() >= maxInFlight {
			rec.drop()
			continue
		}
		inflight.Add(1)
		h, c := hooks[i], clients[i%len(clients)]
		wg.Go(func() {
			defer inflight.Add(-1)
			postWebhook(ctx, c, target, h, reqTimeout, rec)
		})
	}
}

func postWebhook(ctx context.Context, c *http.Client, target string, h webhook, timeout time.Duration, rec *recorder) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(h.body))
	if err != nil {
		rec.add(rWebhook, "", 0, 0, err, "")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paylinks-load/1")
	req.Header[stablemint.HeaderWebhookTimestamp] = []string{h.ts}
	req.Header[stablemint.HeaderWebhookSignature] = []string{h.sig}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		rec.add(rWebhook, "", time.Since(start), 0, err, "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		rec.add(rWebhook, "", d, 0, err, "")
		return
	}
	why := ""
	if resp.StatusCode == http.StatusOK {
		var ans struct {
			OK        bool `json:"ok"`
			Duplicate bool `json:"duplicate"`
		}
		if json.Unmarshal(body, &ans) != nil || !ans.OK {
			why = fmt.Sprintf("answer %q is not {\"ok\":true}", body)
		} else {
			rec.webhookAcked(h.eventID, ans.Duplicate)
		}
	} else if resp.StatusCode < 400 {
		why = "webhooks are answered 200"
	}
	rec.add(rWebhook, "", d, resp.StatusCode, nil, why)
}
