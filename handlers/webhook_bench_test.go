package handlers_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// benchLinks is how many open links the benchmark's events are spread over.
const benchLinks = 64

// signedPool holds pre-signed deliveries, made outside the timed loops and
// shared by the sub-benchmarks (each has its own database with the same
// links, so the same bodies apply). Delivery i is the ((i / benchLinks) %
// 5)-th event of V2's success sequence for link i % benchLinks, each with
// its own eventId: every delivery is a new event, never a duplicate.
type signedPool struct {
	key  *rsa.PrivateKey
	mu   sync.Mutex
	body [][]byte
	hdr  []http.Header
}

var benchTypes = []string{"created", "initiated", "submitted", "accepted", "completed"}

func benchLinkKey(n int) string { return fmt.Sprintf("bench-link-%d", n) }

// grow signs deliveries until there are at least n, on every CPU.
func (p *signedPool) grow(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := len(p.body)
	if n <= from {
		return
	}
	p.body = append(p.body, make([][]byte, n-from)...)
	p.hdr = append(p.hdr, make([]http.Header, n-from)...)
	stamp := stablemint.FormatWebhookTimestamp(time.Now())
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := from + w; i < n; i += workers {
				link := i % benchLinks
				body := fmt.Appendf(nil, `{"eventId":"bench-%d","data":{"eventType":"partner.customer.deposit.%s",`+
					`"timestamp":"2026-11-25T10:00:00Z","sessionId":"HS-BENCH-%d","reference":"DEP-BENCH-%d",`+
					`"idempotencyKey":"%s","websiteReference":"BENCH-%d","customFields":null,"amount":9.50,"currency":"EUR",`+
					`"customerId":"CUST-1","customerEmail":"ada@example.com","endToEndId":null,"paymentMethod":"BANK_TRANSFER",`+
					`"paymentCountryCode":"DE"}}`, i, benchTypes[(i/benchLinks)%len(benchTypes)], link, link, benchLinkKey(link), link)
				sig, err := stablemint.SignWebhook(p.key, stamp, body)
				if err != nil {
					panic(err)
				}
				p.body[i] = body
				p.hdr[i] = http.Header{"Content-Type": {"application/json"},
					stablemint.HeaderWebhookTimestamp: {stamp}, stablemint.HeaderWebhookSignature: {sig}}
			}
		})
	}
	wg.Wait()
}

// ensure makes delivery i available, signing more with the timer stopped.
func (p *signedPool) ensure(b *testing.B, i int) {
	p.mu.Lock()
	have := len(p.body)
	p.mu.Unlock()
	if i < have {
		return
	}
	b.StopTimer()
	p.grow(have + 2000)
	b.StartTimer()
}

// noSessions stands in for StableMint's API: the benchmark mints nothing.
type noSessions struct{}

func (noSessions) CreateHostedSession(context.Context, stablemint.Request) (stablemint.Session, error) {
	return stablemint.Session{}, fmt.Errorf("not in benchmarks")
}
func (noSessions) Limits() stablemint.Limits { return stablemint.SandboxLimits() }

// webhookBenchServer is the real router with webhooks on (a WebhookWriter
// behind the default ingester, as serve wires it), over a fresh database
// file (synchronous=FULL, as in production) holding the links the pool's
// events are for.
func webhookBenchServer(b *testing.B, v *stablemint.Verifier) (http.Handler, *db.Store) {
	b.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		b.Fatal(err)
	}
	u, err := st.CreateUser(ctx, db.NewUser{Email: "bench@example.com", Name: "Bench", Role: paylink.RoleFinance, PasswordHash: "!"}, db.AuditEntry{Action: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for n := range benchLinks {
		l, _, err := st.CreateLink(ctx, db.NewLink{IdempotencyKey: benchLinkKey(n), CustomerID: "CUST-1", CustomerEmail: "ada@example.com",
			Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: "BENCH-" + strconv.Itoa(n),
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: u.ID, AllowDuplicate: true}, db.AuditEntry{Action: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.CompleteLinkCreation(ctx, l.ID, "HS-BENCH-"+strconv.Itoa(n), "https://checkout.example/x", time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	key := bytes.Repeat([]byte{7}, 32)
	a, err := app.New(ctx, app.Config{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"}, SessionKeys: [][]byte{key, key},
		WebhookRatePerSecond: 1e9, WebhookBurst: 1 << 30, HashParams: testParams},
		app.Parts{Store: st, StableMint: noSessions{}, Verifier: v})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	return a.Handler, st
}

// postBench sends one delivery through the whole Echo stack, in process.
func postBench(e http.Handler, body []byte, h http.Header) error {
	req, _ := http.NewRequest(http.MethodPost, "/webhooks/stablemint", bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.1:40000" // as net/http sets it for a server request
	req.Header = h.Clone()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	return nil
}

// BenchmarkWebhookIngest measures verified deliveries per second through the
// real handler (Echo's ServeHTTP in process, as the search benchmarks do:
// every middleware, the rate limit, the signature check, parsing, matching,
// and the group-committing ingester's write transaction with the event, the
// link's new status and its timeline line) on a real SQLite file with
// synchronous=FULL, serially and with 8 concurrent senders, beside the raw
// baseline of the same run: one RSA verify plus one single-row committed
// insert, serially, on the same kind of file. Bodies are signed before the
// timed loops (more, if a loop outruns them, with the timer stopped). Each
// figure is reported as deliveries/s and as a multiple of the baseline
// (x-baseline); the 8-sender figure includes the deliveries still in flight
// when the loop ends.
func BenchmarkWebhookIngest(b *testing.B) {
	_, sbk := testKeys(b)
	v, err := stablemint.NewVerifier([]*rsa.PublicKey{&sbk.PublicKey}, 4*time.Hour, 5*time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	pool := &signedPool{key: sbk}
	pool.grow(4000)
	var baseline float64
	report := func(b *testing.B, n int, elapsed time.Duration) {
		rate := float64(n) / elapsed.Seconds()
		b.ReportMetric(rate, "deliveries/s")
		if baseline > 0 {
			b.ReportMetric(rate/baseline, "x-baseline")
		}
	}

	b.Run("baseline", func(b *testing.B) {
		raw, err := sql.Open("sqlite", db.DSN(filepath.Join(b.TempDir(), "baseline.db"), false))
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		raw.SetMaxOpenConns(1)
		if _, err := raw.Exec("CREATE TABLE deliveries (id INTEGER PRIMARY KEY, event_key TEXT NOT NULL UNIQUE, body BLOB NOT NULL) STRICT"); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			pool.ensure(b, i)
			if err := v.Verify(pool.hdr[i], pool.body[i]); err != nil {
				b.Fatal(err)
			}
			if _, err := raw.Exec("INSERT INTO deliveries (event_key, body) VALUES (?, ?)", "bench-"+strconv.Itoa(i), pool.body[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		baseline = float64(i) / b.Elapsed().Seconds()
		report(b, i, b.Elapsed())
	})

	b.Run("serial", func(b *testing.B) {
		h, _ := webhookBenchServer(b, v)
		i := 0
		for b.Loop() {
			pool.ensure(b, i)
			if err := postBench(h, pool.body[i], pool.hdr[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, i, b.Elapsed())
	})

	// The ceiling of the 8-sender figure: the writer alone committing
	// batches of 8 already verified and parsed deliveries, back to back, on
	// the same kind of database. 8 senders waiting for their answers never
	// give it more than 8 a transaction, nor keep it busier than this.
	b.Run("writer-alone-batches-of-8", func(b *testing.B) {
		_, st := webhookBenchServer(b, v)
		ctx := context.Background()
		w, err := st.NewWebhookWriter(ctx)
		if err != nil {
			b.Fatal(err)
		}
		pool.grow(24000)
		ds := make([]db.WebhookDelivery, 24000)
		for i := range ds {
			sum := sha256.Sum256(pool.body[i])
			ds[i] = db.WebhookDelivery{IP: "192.0.2.1", RequestID: "bench", BodySHA256: hex.EncodeToString(sum[:]),
				BodySize: len(pool.body[i]), SigTimestamp: pool.hdr[i].Get(stablemint.HeaderWebhookTimestamp),
				Signature: pool.hdr[i].Get(stablemint.HeaderWebhookSignature), Event: ingest.EventData(pool.body[i])}
		}
		i := 0
		for b.Loop() {
			batch := make([]db.WebhookDelivery, 8)
			for j := range batch {
				batch[j] = ds[(i+j)%len(ds)]
				batch[j].Event.Key += "-" + strconv.Itoa((i+j)/len(ds)) // new events on a second lap
				batch[j].ReceivedAt = time.Now()
			}
			if _, err := w.IngestWebhooks(ctx, batch); err != nil {
				b.Fatal(err)
			}
			i += len(batch)
		}
		report(b, i, b.Elapsed())
	})

	b.Run("8-senders", func(b *testing.B) {
		h, _ := webhookBenchServer(b, v)
		pool.grow(24000)
		jobs := make(chan int)
		var failed atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range jobs {
					if err := postBench(h, pool.body[i], pool.hdr[i]); err != nil {
						failed.Add(1)
					}
				}
			})
		}
		i := 0
		var cpu0 time.Duration
		for b.Loop() {
			if i == 0 {
				cpu0 = processCPU(b)
			}
			pool.ensure(b, i)
			jobs <- i
			i++
		}

		drain := time.Now()
		close(jobs)
		wg.Wait()
		elapsed := b.Elapsed() + time.Since(drain) // the deliveries still in flight count too
		if failed.Load() > 0 {
			b.Fatalf("%d deliveries failed", failed.Load())
		}
		report(b, i, elapsed)
		// How busy the machine's cores were: the process is the senders as
		// well as paylinks, and on 2 cores it is the CPU, not the disk,
		// that bounds this figure.
		b.ReportMetric((processCPU(b)-cpu0).Seconds()/elapsed.Seconds(), "cpu-cores")
	})
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
